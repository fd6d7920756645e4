using System.Reflection;
using System.Text.RegularExpressions;
using NUnit.Framework.Api;
using NUnit.Framework.Internal;
using SimilarFaces.Tests;

namespace SimilarFaces.GpuChecks;

/// <summary>
/// Loads the test assembly into NUnit's framework runner and runs the fixtures made per device
/// (<see cref="TestDevices.Fixtures"/>) for the chosen devices only: their full names hold "(device)" after the
/// class name, e.g. "SimilarFaces.Tests.Backends.KernelTests(cuda:0).Gemm(...)".
/// </summary>
public static class DeviceTestRun
{
    public static Outcome Run(IReadOnlyList<string> devices, string? resultsPath)
    {
        var assembly = typeof(TestDevices).Assembly;
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        runner.Load(assembly, new Dictionary<string, object>
        {
            ["WorkDirectory"] = AppContext.BaseDirectory,
            ["NumberOfTestWorkers"] = 0,
        });
        var pattern = $@"^SimilarFaces\.Tests\.[A-Za-z.]+\(({string.Join("|", devices.Select(Regex.Escape))})\)\.";
        var filter = TestFilter.FromXml($"<filter><test re=\"1\">{System.Security.SecurityElement.Escape(pattern)}</test></filter>");
        using var listener = new ResultListener(resultsPath);
        runner.Run(listener, filter);
        Console.WriteLine($"checks on {string.Join(", ", devices)}: {listener.Passed} passed, {listener.Failed} failed, {listener.Skipped} skipped");
        return new Outcome(listener.Passed, listener.Failed, listener.Skipped);
    }

    public sealed record Outcome(int Passed, int Failed, int Skipped);
}
