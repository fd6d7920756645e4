using System.Diagnostics;
using System.Globalization;
using SimilarFaces.Engine;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The resident memory a training run needs: builds the seed network with Adam on a device, runs a few
/// training steps at the seed's batch, and prints the resident set after each stage and its peak
/// (VmHWM from /proc/self/status where present, else Process.PeakWorkingSet64).
/// </summary>
public static class PeakMemory
{
    public static void Run(string device, int steps)
    {
        var scale = Scale.Seed;
        Report("start");
        using var backend = Devices.Open(device);
        using var session = new TrainingSession(backend, scale.Architecture, scale.PairBatch);
        Report($"seed network and Adam state built on {device} ({session.Model.ParameterCount:N0} parameters)");
        for (int step = 1; step <= steps; step++)
        {
            var start = Stopwatch.GetTimestamp();
            float loss = session.Step();
            Report(string.Create(CultureInfo.InvariantCulture,
                $"step {step} at batch {scale.PairBatch} pairs: loss {loss:F4}, {Stopwatch.GetElapsedTime(start).TotalSeconds:F2} s"));
        }
        var pool = backend.PoolStatistics;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"device buffers: {pool.BytesAllocated / 1048576.0:F0} MiB allocated by the pool in {pool.Allocations} buffers, {pool.BuffersLive} live"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak resident memory: {PeakResidentBytes() / 1048576.0:F0} MiB"));
    }

    private static void Report(string stage)
    {
        using var process = Process.GetCurrentProcess();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{stage}: resident {process.WorkingSet64 / 1048576.0:F0} MiB, peak {PeakResidentBytes() / 1048576.0:F0} MiB, managed heap {GC.GetTotalMemory(false) / 1048576.0:F0} MiB"));
    }

    private static long PeakResidentBytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }
}
