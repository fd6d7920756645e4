using ILGPU;
using ILGPU.Runtime;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// The device's FP32 arithmetic peak, the denominator of the benchmarks' "% FMA peak" on GPUs: every thread runs
// FmaPeakChains independent chains s = s·a + b (ptxas fuses each step into one FMA), two steps of each per loop turn
// so that the loop's own instructions take few issue slots, and writes their sum; nothing else touches memory.
// s converges to b / (1 − a) = 1: no overflow, no denormals, whatever the iteration count.

internal readonly record struct FmaPeakArgs(ArrayView<float> Sink, int Iterations);

internal sealed partial class IlgpuBackend
{
    internal const int FmaPeakChains = 16;

    private static readonly PointwiseKernel<FmaPeakArgs> s_fmaPeak = new(FmaPeakKernel);

    /// <summary>Threads of one <see cref="FmaPeak"/> launch: four times what the device holds resident.</summary>
    internal int FmaPeakThreads => 4 * _accelerator.NumMultiprocessors * _accelerator.MaxNumThreadsPerMultiprocessor;

    /// <summary>FLOPs of one launch of <paramref name="threads"/> threads: 2 per FMA.</summary>
    internal static double FmaPeakFlops(long threads, int iterations) => 2.0 * threads * iterations * 2 * FmaPeakChains;

    internal void FmaPeak(DeviceBuffer sink, int iterations) =>
        Launch(s_fmaPeak, sink.Length, new FmaPeakArgs(View(sink, sink.Length), iterations));

    // sink (threads)
    internal static void FmaPeakKernel(Index1D i, FmaPeakArgs a)
    {
        const float m = 0.9999999f, b = 1e-7f;
        float s0 = i * 1e-9f, s1 = s0 + b, s2 = s1 + b, s3 = s2 + b, s4 = s3 + b, s5 = s4 + b, s6 = s5 + b, s7 = s6 + b;
        float s8 = s7 + b, s9 = s8 + b, s10 = s9 + b, s11 = s10 + b, s12 = s11 + b, s13 = s12 + b, s14 = s13 + b, s15 = s14 + b;
        for (int n = 0; n < a.Iterations; n++)
        {
            s0 = s0 * m + b; s1 = s1 * m + b; s2 = s2 * m + b; s3 = s3 * m + b;
            s4 = s4 * m + b; s5 = s5 * m + b; s6 = s6 * m + b; s7 = s7 * m + b;
            s8 = s8 * m + b; s9 = s9 * m + b; s10 = s10 * m + b; s11 = s11 * m + b;
            s12 = s12 * m + b; s13 = s13 * m + b; s14 = s14 * m + b; s15 = s15 * m + b;
            s0 = s0 * m + b; s1 = s1 * m + b; s2 = s2 * m + b; s3 = s3 * m + b;
            s4 = s4 * m + b; s5 = s5 * m + b; s6 = s6 * m + b; s7 = s7 * m + b;
            s8 = s8 * m + b; s9 = s9 * m + b; s10 = s10 * m + b; s11 = s11 * m + b;
            s12 = s12 * m + b; s13 = s13 * m + b; s14 = s14 * m + b; s15 = s15 * m + b;
        }
        a.Sink[i] = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11 + s12 + s13 + s14 + s15;
    }
}
