using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The machine's peaks, measured rather than looked up, over all cores:
/// FMA throughput — every core runs <see cref="Chains"/> independent FMA chains s = s·a + b on the widest
/// accelerated vectors (enough chains to cover the FMA latency on every FMA port, few enough to stay in
/// registers); and streaming-copy bandwidth — every core copies its share of an array far larger than any
/// cache, counting the bytes read plus the bytes written.
/// </summary>
public static class PeakKernels
{
    public const int Chains = 12;

    /// <summary>Per-core FMA iterations of one <see cref="RunFma"/>: about 0.1 s on a 3 GHz core issuing two 256-bit FMAs a cycle.</summary>
    public const long FmaIterations = 25_000_000;

    /// <summary>Floats in each copy array: 256 MB, far beyond the last-level cache.</summary>
    public const int CopyLength = 1 << 26;

    public static int VectorBits => Vector512.IsHardwareAccelerated ? 512 : 256;

    public static double FmaFlops => FmaFlopsOf(FmaIterations);

    /// <summary>FLOPs of one <see cref="RunFma(long)"/> of <paramref name="iterations"/> per core.</summary>
    public static double FmaFlopsOf(long iterations) => 2.0 * Environment.ProcessorCount * iterations * Chains * (VectorBits / 32);

    public static double CopyBytes => 2.0 * sizeof(float) * CopyLength;

    private static float _sink;

    public static void RunFma() => RunFma(FmaIterations);

    public static void RunFma(long iterations)
    {
        float[] results = new float[Environment.ProcessorCount];
        Parallel.For(0, results.Length, core =>
            results[core] = Vector512.IsHardwareAccelerated ? FmaChains512(iterations) : FmaChains256(iterations));
        _sink = results.Sum();
    }

    /// <summary>
    /// The FMA peak now, from one short run (a tenth of <see cref="RunFma()"/>'s, some 10–20 ms): for a figure timed
    /// right beside it, on a shared machine whose speed drifts between runs far more than within a second.
    /// </summary>
    public static double FmaFlopsPerSecondNow()
    {
        const long iterations = FmaIterations / 10;
        long start = Stopwatch.GetTimestamp();
        RunFma(iterations);
        return FmaFlopsOf(iterations) / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/>, one contiguous share per core.</summary>
    public static void RunCopy(float[] source, float[] destination)
    {
        int parts = Environment.ProcessorCount;
        Parallel.For(0, parts, part =>
        {
            long start = (long)source.Length * part / parts, end = (long)source.Length * (part + 1) / parts;
            source.AsSpan((int)start, (int)(end - start)).CopyTo(destination.AsSpan((int)start));
        });
    }

    /// <summary>Pre-faulted copy arrays (so that page faults stay out of the timing).</summary>
    public static (float[] Source, float[] Destination) CopyArrays()
    {
        var source = GC.AllocateUninitializedArray<float>(CopyLength);
        var destination = GC.AllocateUninitializedArray<float>(CopyLength);
        source.AsSpan().Fill(1f);
        destination.AsSpan().Clear();
        return (source, destination);
    }

    /// <summary>
    /// The peaks by Stopwatch, for when the run did not include <see cref="PeakBenchmarks"/>: the median
    /// rate of seven timed runs of each kernel after one warm-up run.
    /// </summary>
    public static (double FlopsPerSecond, double BytesPerSecond) Calibrate()
    {
        double fma = FmaFlops / MedianSeconds(RunFma);
        var (source, destination) = CopyArrays();
        double copy = CopyBytes / MedianSeconds(() => RunCopy(source, destination));
        return (fma, copy);
    }

    private static double MedianSeconds(Action run)
    {
        run();
        var seconds = new double[7];
        for (int i = 0; i < seconds.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            run();
            seconds[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Array.Sort(seconds);
        return seconds[seconds.Length / 2];
    }

    // s converges to b / (1 − a) = 1: no overflow, no denormals, whatever the iteration count.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains256(long iterations)
    {
        var a = Vector256.Create(0.9999999f);
        var b = Vector256.Create(1e-7f);
        Vector256<float> s0 = Vector256<float>.Zero, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,
            s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
        for (long i = 0; i < iterations; i++)
        {
            s0 = Vector256.FusedMultiplyAdd(s0, a, b);
            s1 = Vector256.FusedMultiplyAdd(s1, a, b);
            s2 = Vector256.FusedMultiplyAdd(s2, a, b);
            s3 = Vector256.FusedMultiplyAdd(s3, a, b);
            s4 = Vector256.FusedMultiplyAdd(s4, a, b);
            s5 = Vector256.FusedMultiplyAdd(s5, a, b);
            s6 = Vector256.FusedMultiplyAdd(s6, a, b);
            s7 = Vector256.FusedMultiplyAdd(s7, a, b);
            s8 = Vector256.FusedMultiplyAdd(s8, a, b);
            s9 = Vector256.FusedMultiplyAdd(s9, a, b);
            s10 = Vector256.FusedMultiplyAdd(s10, a, b);
            s11 = Vector256.FusedMultiplyAdd(s11, a, b);
        }
        return Vector256.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains512(long iterations)
    {
        var a = Vector512.Create(0.9999999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> s0 = Vector512<float>.Zero, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,
            s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
        for (long i = 0; i < iterations; i++)
        {
            s0 = Vector512.FusedMultiplyAdd(s0, a, b);
            s1 = Vector512.FusedMultiplyAdd(s1, a, b);
            s2 = Vector512.FusedMultiplyAdd(s2, a, b);
            s3 = Vector512.FusedMultiplyAdd(s3, a, b);
            s4 = Vector512.FusedMultiplyAdd(s4, a, b);
            s5 = Vector512.FusedMultiplyAdd(s5, a, b);
            s6 = Vector512.FusedMultiplyAdd(s6, a, b);
            s7 = Vector512.FusedMultiplyAdd(s7, a, b);
            s8 = Vector512.FusedMultiplyAdd(s8, a, b);
            s9 = Vector512.FusedMultiplyAdd(s9, a, b);
            s10 = Vector512.FusedMultiplyAdd(s10, a, b);
            s11 = Vector512.FusedMultiplyAdd(s11, a, b);
        }
        return Vector512.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11);
    }
}
