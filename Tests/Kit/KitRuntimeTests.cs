using System.Runtime.InteropServices;
using NUnit.Framework;

namespace SimilarFaces.Tests.Kit;

/// <summary>
/// The GPU kit (tools/gpu/pack.sh) carries the .NET runtime that tools/gpu/runtime.sh copies out of the SDK, and
/// starts its framework-dependent programs as <c>kit/dotnet/dotnet PROGRAM.dll</c>. This test builds that runtime
/// folder and starts the CLI of this build through it with no dotnet on PATH and no DOTNET_ROOT, and reads the host's
/// trace: the runtime must come from the copy, never from the installation the test itself runs on. (The whole pack
/// publishes and compresses for minutes; this is the part of it that decides whether the kit needs .NET installed.)
/// </summary>
[TestFixture]
public sealed class KitRuntimeTests
{
    [Test]
    public void TheCopiedRuntimeStartsTheCliWithoutAnInstalledDotnet()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("the kit is built for Linux");
        var scratch = Fixtures.NewScratchFolder();
        var runtime = Path.Combine(scratch, "dotnet");
        var copy = ChildProcess.Run("bash", [Path.Combine(Fixtures.RepositoryRoot, "tools", "gpu", "runtime.sh"), runtime], TimeSpan.FromMinutes(2));
        Assert.That(copy.ExitCode, Is.EqualTo(0), $"runtime.sh: {copy.Error}");

        // PATH names no folder that exists, so no dotnet can be found through it.
        var trace = Path.Combine(scratch, "host-trace.txt");
        var environment = new Dictionary<string, string?>
        {
            ["PATH"] = Path.Combine(scratch, "no-such-folder"),
            ["DOTNET_ROOT"] = null,
            ["DOTNET_ROOT_X64"] = null,
            ["COREHOST_TRACE"] = "1",
            ["COREHOST_TRACEFILE"] = trace,
        };
        var cli = ChildProcess.Run(Path.Combine(runtime, "dotnet"), [Path.Combine(AppContext.BaseDirectory, "similar-faces.dll"), "devices"],
            TimeSpan.FromMinutes(2), environment);
        Assert.That(cli.ExitCode, Is.EqualTo(0), $"similar-faces devices through the copied runtime: {cli.Error}");
        Assert.That(cli.Output, Does.Contain("cpu"));

        var installed = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var coreLib = File.ReadLines(trace).FirstOrDefault(l => l.StartsWith("Adding tpa entry:") && l.Contains("System.Private.CoreLib.dll"));
        Assert.That(coreLib, Does.Contain(Path.Combine(runtime, "shared", "Microsoft.NETCore.App")), "the runtime the host loaded");
        Assert.That(File.ReadAllText(trace), Does.Not.Contain(installed + "/shared"), $"the host looked at the installed runtime under {installed}");
    }
}
