using System.Diagnostics;
using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The time and resident memory a training run needs: builds the seed network (at another image size when asked) with
/// Adam on a device, runs a few training steps at a batch of pairs, and prints the resident set after each stage, its
/// peak (VmHWM from /proc/self/status where present, else Process.PeakWorkingSet64) and the median step time after
/// the first step (or, after warm-up steps, of every timed step: on two cores the JIT's background recompiles slow
/// the first twenty or so steps of a process). One configuration per process, so each peak is its own. With
/// <c>inference</c>, the same for embedding a batch of images through the folded tower that `embed` and `eval` run.
/// On cpu each step is followed by a short run of the FMA peak (<see cref="PeakKernels.FmaFlopsPerSecondNow"/>; one
/// more before the first), and the step's FLOPs are given as a share of the higher of the peaks just before and after
/// it: a figure that holds on a shared machine whose speed drifts by tens of percent between runs. A short run can
/// only lose time (to a core taken away for a few milliseconds, which halves a 10 ms reading on two cores), never
/// gain it, so the higher one is the nearer to the peak of that moment. Where both readings beside a step lose time
/// the share comes out high, so the median step is also given as a share of the highest reading of the whole run.
/// </summary>
public static class PeakMemory
{
    public static void Run(string device, int steps, int warmup, int pairs, int imageSize, bool inference)
    {
        var scale = Scale.Seed with { Architecture = Scale.Seed.Architecture with { ImageSize = imageSize } };
        Report("start");
        using var backend = Devices.Open(device);
        using TimedWork work = inference ? Inference.Build(backend, scale) : Training.Build(backend, scale, pairs);
        Report($"seed network at {imageSize}×{imageSize} {work.Built} on {device}: {backend.Description} ({work.ParameterCount:N0} parameters)");
        bool besidePeak = device == "cpu";
        var seconds = new List<double>();
        var shares = new List<double>();
        for (int step = 1; step <= warmup; step++)
        {
            var start = Stopwatch.GetTimestamp();
            string result = work.Step();
            Report(string.Create(CultureInfo.InvariantCulture,
                $"warm-up {work.StepName} {step} {work.Batch}: {result}, {Stopwatch.GetElapsedTime(start).TotalSeconds:F3} s"));
        }
        if (besidePeak) PeakKernels.FmaFlopsPerSecondNow();  // the first run starts the threads and compiles
        double peakBefore = besidePeak ? PeakKernels.FmaFlopsPerSecondNow() : 0, highestPeak = peakBefore;
        for (int step = 1; step <= steps; step++)
        {
            var start = Stopwatch.GetTimestamp();
            string result = work.Step();
            seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            Report(string.Create(CultureInfo.InvariantCulture, $"{work.StepName} {step} {work.Batch}: {result}, {seconds[^1]:F3} s"));
            if (!besidePeak) continue;
            double peakAfter = PeakKernels.FmaFlopsPerSecondNow();
            highestPeak = Math.Max(highestPeak, peakAfter);
            shares.Add(work.Flops / seconds[^1] / Math.Max(peakBefore, peakAfter));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  FMA peak just before and after it: {peakBefore / 1e9:F1} and {peakAfter / 1e9:F1} GFLOP/s; the {work.StepName} ran at {100 * shares[^1]:F1} % of the higher"));
            peakBefore = peakAfter;
        }
        if (steps > 1 || warmup > 0)
        {
            // Without warm-up the first step, which compiles and fills the buffer pool, counts in no median.
            int skipped = warmup > 0 ? 0 : 1;
            string which = warmup > 0 ? $"after {warmup} warm-up {work.StepName}s" : "after the first";
            double median = Median(seconds.Skip(skipped));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"median {work.StepName} {which}: {median * 1000:F0} ms ({work.Items / median:F1} {work.ItemName}/s)"));
            if (besidePeak)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"median share of the FMA peak beside each {work.StepName} {which}: {100 * Median(shares.Skip(skipped)):F1} %"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"highest FMA peak of the run: {highestPeak / 1e9:F1} GFLOP/s; the median {work.StepName} ran at {100 * work.Flops / median / highestPeak:F1} % of it"));
            }
        }
        var pool = backend.PoolStatistics;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"device buffers: {pool.BytesAllocated / 1048576.0:F0} MiB allocated by the pool in {pool.Allocations} buffers, {pool.BuffersLive} live"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"peak resident memory: {PeakResidentBytes() / 1048576.0:F0} MiB"));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>What is timed: one step of it, its FLOPs, and what it produces.</summary>
    private abstract class TimedWork : IDisposable
    {
        public abstract string Built { get; }
        public abstract long ParameterCount { get; }
        public abstract string StepName { get; }
        public abstract string Batch { get; }
        public abstract double Flops { get; }
        public abstract int Items { get; }
        public abstract string ItemName { get; }
        /// <summary>Runs one step and waits for the device; returns what to print of it.</summary>
        public abstract string Step();
        public abstract void Dispose();
    }

    private sealed class Training(TrainingSession session, Scale scale, int pairs) : TimedWork
    {
        public static Training Build(IBackend backend, Scale scale, int pairs) =>
            new(new TrainingSession(backend, scale.Architecture, pairs), scale, pairs);

        public override string Built => "and Adam state built";
        public override long ParameterCount => session.Model.ParameterCount;
        public override string StepName => "step";
        public override string Batch => $"at batch {pairs} pairs";
        public override double Flops => scale.TrainingStepFlops(pairs);
        public override int Items => pairs;
        public override string ItemName => "pairs";
        public override string Step() => string.Create(CultureInfo.InvariantCulture, $"loss {session.Step():F4}");
        public override void Dispose() => session.Dispose();
    }

    private sealed class Inference(InferenceSession session, Scale scale) : TimedWork
    {
        public static Inference Build(IBackend backend, Scale scale) =>
            new(new InferenceSession(backend, scale.Architecture, scale.ImageBatch), scale);

        public override string Built => "folded for inference";
        public override long ParameterCount => session.Model.ParameterCount;
        public override string StepName => "inference";
        public override string Batch => $"on {scale.ImageBatch} images";
        public override double Flops => scale.ForwardFlops(scale.ImageBatch);
        public override int Items => scale.ImageBatch;
        public override string ItemName => "embeddings";

        public override string Step()
        {
            session.Embed();
            return $"{scale.ImageBatch} embeddings";
        }

        public override void Dispose() => session.Dispose();
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
