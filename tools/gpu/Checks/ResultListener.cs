using System.Globalization;
using NUnit.Framework.Interfaces;

namespace SimilarFaces.GpuChecks;

/// <summary>
/// Counts test results, prints each failure and each skipped fixture as one line, and writes one CSV row per test
/// case: fixture, test, outcome, seconds, message (one line).
/// </summary>
public sealed class ResultListener : ITestListener, IDisposable
{
    private readonly TextWriter? _csv;

    public ResultListener(string? path)
    {
        if (path == null) return;
        _csv = new StreamWriter(path);
        _csv.WriteLine("fixture,test,outcome,seconds,message");
    }

    public int Passed { get; private set; }
    public int Failed { get; private set; }
    public int Skipped { get; private set; }

    public void TestStarted(ITest test) { }

    public void TestFinished(ITestResult result)
    {
        var status = result.ResultState.Status;
        if (result.Test.IsSuite)
        {
            // A fixture ignored in its one-time set-up (a device that is absent) reports its reason once, here.
            if (result.Test.TestType == "TestFixture" && status == TestStatus.Skipped)
                Console.WriteLine($"skipped {result.Test.FullName}: {OneLine(result.Message)}");
            return;
        }
        switch (status)
        {
            case TestStatus.Passed: Passed++; break;
            case TestStatus.Failed:
                Failed++;
                Console.WriteLine($"FAILED {result.Test.FullName}: {OneLine(result.Message)}");
                break;
            default: Skipped++; break;
        }
        _csv?.WriteLine(string.Join(",", Csv(Fixture(result.Test)), Csv(result.Test.Name), status.ToString(),
            result.Duration.ToString("F3", CultureInfo.InvariantCulture), Csv(OneLine(result.Message))));
    }

    public void TestOutput(TestOutput output) { }

    public void SendMessage(TestMessage message) { }

    public void Dispose() => _csv?.Dispose();

    /// <summary>The fixture a test case belongs to, with its device: "KernelTests(cuda:0)".</summary>
    private static string Fixture(ITest test)
    {
        for (var t = test.Parent; t != null; t = t.Parent)
            if (t.TestType == "TestFixture") return t.Name;
        return "";
    }

    private static string OneLine(string? message) => string.Join(" ", (message ?? "").Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    private static string Csv(string value) => $"\"{value.Replace("\"", "\"\"")}\"";
}
