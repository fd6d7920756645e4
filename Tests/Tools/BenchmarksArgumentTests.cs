using NUnit.Framework;

namespace SimilarFaces.Tests.Tools;

/// <summary>
/// The benchmark suite's own options (the step timer's) and its scripts' arguments: what they are given wrong must end
/// them at once with exit code 2 and a line that names the option, before they build or run anything.
/// </summary>
[TestFixture]
public sealed class BenchmarksArgumentTests
{
    // The suite's build beside this one: Benchmarks/bin/<configuration>/<framework>/ for Tests/bin/<configuration>/<framework>/.
    private static readonly string Suite = Path.Combine(Fixtures.RepositoryRoot, "Benchmarks",
        Path.GetRelativePath(Path.Combine(Fixtures.RepositoryRoot, "Tests"), AppContext.BaseDirectory), "SimilarFaces.Benchmarks.dll");

    private static ChildProcess.Result Run(params string[] args) => ChildProcess.Run("dotnet", ["exec", Suite, .. args], TimeSpan.FromMinutes(1));

    [TestCase("--warmup", "-1", "--warmup must be a whole number of 0 or more, got '-1'")]
    [TestCase("--warmup", "two", "--warmup must be a whole number of 0 or more, got 'two'")]
    [TestCase("--steps", "0", "--steps must be a positive integer, got '0'")]
    public void AnOptionOutOfRangeIsNamed(string option, string value, string message)
    {
        var run = Run("--memory", option, value);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo(message));
    }

    [Test]
    public void AnOptionWithoutItsValueIsNamed()
    {
        var run = Run("--memory", "--warmup");
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo("--warmup needs a value"));
    }

    [TestCase("0")]
    [TestCase("three")]
    public void TheSharesScriptNamesARoundCountItCannotRun(string rounds)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Assert.Ignore("the script is for bash");
        var run = ChildProcess.Run("bash", [Path.Combine(Fixtures.RepositoryRoot, "Benchmarks", "shares.sh"), rounds], TimeSpan.FromMinutes(1));
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo($"Benchmarks/shares.sh: ROUNDS must be a whole number of 1 or more, not '{rounds}'"));
    }
}
