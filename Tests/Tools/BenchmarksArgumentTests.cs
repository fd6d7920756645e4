using NUnit.Framework;

namespace SimilarFaces.Tests.Tools;

/// <summary>
/// The benchmark suite's own options (the step timer's): what it is given wrong must end it at once with exit code 2
/// and a line that names the option, before it builds a network or runs a benchmark.
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
}
