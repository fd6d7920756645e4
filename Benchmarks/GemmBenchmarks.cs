using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The GEMMs of the seed's fully connected layers at batch B (seed: B 128, F 80000, H 500):
///   Forward      y (B,H) = x (B,F) · W (H,F)ᵀ        Linear(F,H) forward
///   InputGrad    dx (B,F) = dy (B,H) · W (H,F)       its input gradient
///   WeightGrad   dW (H,F) = dy (B,H)ᵀ · x (B,F)      its weight gradient
///   Hidden       y (B,H) = h (B,H) · W2 (H,H)ᵀ       Linear(H,H) forward
///   ForwardOne   y (1,H) = x (1,F) · W (H,F)ᵀ        Linear(F,H) forward on one image: W streams once, for a single row
/// </summary>
public class GemmBenchmarks : DeviceBenchmark
{
    private DeviceBuffer _x = null!, _w = null!, _y = null!, _dy = null!, _dx = null!, _dw = null!, _w2 = null!, _y2 = null!;

    private int B => Scale.ImageBatch;
    private int F => Scale.Features;
    private int H => Scale.Hidden;

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        _x = Random((long)B * F);
        _w = Random((long)H * F, 1f / MathF.Sqrt(F));
        _y = Output((long)B * H);
        _dy = Random((long)B * H);
        _dx = Output((long)B * F);
        _dw = Output((long)H * F);
        _w2 = Random((long)H * H, 1f / MathF.Sqrt(H));
        _y2 = Output((long)B * H);
    }

    [Benchmark]
    public void Forward()
    {
        Backend.Gemm(false, true, B, H, F, 1f, _x, _w, 0f, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void InputGrad()
    {
        Backend.Gemm(false, false, B, F, H, 1f, _dy, _w, 0f, _dx);
        Backend.Synchronize();
    }

    [Benchmark]
    public void WeightGrad()
    {
        Backend.Gemm(true, false, H, F, B, 1f, _dy, _x, 0f, _dw);
        Backend.Synchronize();
    }

    [Benchmark]
    public void ForwardOne()
    {
        Backend.Gemm(false, true, 1, H, F, 1f, _x, _w, 0f, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void Hidden()
    {
        Backend.Gemm(false, true, B, H, H, 1f, _y, _w2, 0f, _y2);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(Forward) or nameof(InputGrad) or nameof(WeightGrad) => new Work(Flops: 2.0 * B * H * F),
        nameof(Hidden) => new Work(Flops: 2.0 * B * H * H),
        nameof(ForwardOne) => new Work(Flops: 2.0 * H * F, Bytes: sizeof(float) * ((double)H * F + F + H)),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };
}
