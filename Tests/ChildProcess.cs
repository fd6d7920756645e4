using System.Diagnostics;
using NUnit.Framework;

namespace SimilarFaces.Tests;

/// <summary>Runs a program to its end with its output and error captured; one still running at the limit is killed and fails the test.</summary>
public static class ChildProcess
{
    public sealed record Result(int ExitCode, string Output, string Error);

    /// <param name="environment">Variables to set, or with a null value to remove, in the child's environment.</param>
    public static Result Run(string program, IEnumerable<string> args, TimeSpan limit, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value == null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {limit.TotalMinutes} min");
        }
        return new Result(process.ExitCode, output.Result, error.Result);
    }
}
