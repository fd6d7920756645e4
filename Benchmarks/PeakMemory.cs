using System.Diagnostics;
using System.Globalization;
using SimilarFaces.Engine;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The time and resident memory a training run needs: builds the seed network (at another image size when asked)
/// with Adam on a device, runs a few training steps at a batch of pairs, and prints the resident set after each stage,
/// its peak (VmHWM from /proc/self/status where present, else Process.PeakWorkingSet64) and the median step time
/// after the first step. One configuration per process, so each peak is its own.
/// </summary>
public static class PeakMemory
{
    public static void Run(string device, int steps, int pairs, int imageSize)
    {
        var architecture = Scale.Seed.Architecture with { ImageSize = imageSize };
        Report("start");
        using var backend = Devices.Open(device);
        using var session = new TrainingSession(backend, architecture, pairs);
        Report($"seed network at {imageSize}×{imageSize} and Adam state built on {device}: {backend.Description} ({session.Model.ParameterCount:N0} parameters)");
        var seconds = new List<double>();
        for (int step = 1; step <= steps; step++)
        {
            var start = Stopwatch.GetTimestamp();
            float loss = session.Step();
            seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            Report(string.Create(CultureInfo.InvariantCulture,
                $"step {step} at batch {pairs} pairs: loss {loss:F4}, {seconds[^1]:F3} s"));
        }
        var timed = seconds.Skip(1).Order().ToList();
        if (timed.Count > 0)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"median step after the first: {timed[timed.Count / 2] * 1000:F0} ms ({pairs / timed[timed.Count / 2]:F1} pairs/s)"));
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
