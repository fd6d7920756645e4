using NUnit.Framework;

namespace SimilarFaces.Tests.Tools;

/// <summary>
/// tools/ab compares two engine builds kernel by kernel; what it is given wrong must end it at once with exit code 2 and
/// a line that names the mistake, before it loads anything or allocates the seed's buffers.
/// </summary>
[TestFixture]
public sealed class EngineAbTests
{
    private static readonly string Tool = Path.Combine(AppContext.BaseDirectory, "SimilarFaces.EngineAb.dll");
    private static readonly string Engine = Path.Combine(AppContext.BaseDirectory, "SimilarFaces.Engine.dll");

    private static ChildProcess.Result Run(params string[] args) => ChildProcess.Run("dotnet", ["exec", Tool, .. args], TimeSpan.FromMinutes(1));

    [Test]
    public void AMissingBuildIsNamed()
    {
        var missing = Path.Combine(Fixtures.NewScratchFolder(), "SimilarFaces.Engine.dll");
        var run = Run(Engine, missing);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo($"no engine build at {missing}"));
    }

    [Test]
    public void AnUnknownKernelFamilyIsNamed()
    {
        var run = Run(Engine, Engine, "gemm,pool");
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo("unknown kernel family 'pool': gemm, conv, norm, step or inference"));
    }

    [TestCase("conv,step")]
    [TestCase("inference")]
    public void TheStepAndInferenceFamiliesNameAnEngineWithoutItsBenchmarksBuild(string families)
    {
        var folder = Fixtures.NewScratchFolder();
        var engine = Path.Combine(folder, "SimilarFaces.Engine.dll");
        File.Copy(Engine, engine);
        var run = Run(engine, engine, families);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo(
            $"the step and inference families need SimilarFaces.Benchmarks.dll beside {engine}: give the engine in a Benchmarks build's folder"));
    }

    [TestCase("x")]
    [TestCase("1")]
    public void ARoundCountThatIsNotAtLeastTwoIsNamed(string rounds)
    {
        var run = Run(Engine, Engine, "conv", rounds);
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo($"ROUNDS must be a whole number of at least 2, not '{rounds}'"));
    }

    [Test]
    public void TheScriptNamesARevisionThatIsNotACommit()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Assert.Ignore("the script is for bash");
        var run = ChildProcess.Run("bash", [Path.Combine(Fixtures.RepositoryRoot, "tools", "ab", "run.sh"), "no-such-revision"], TimeSpan.FromMinutes(1));
        Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
        Assert.That(run.Error.Trim(), Is.EqualTo("tools/ab/run.sh: 'no-such-revision' is not a commit here"));
    }
}
