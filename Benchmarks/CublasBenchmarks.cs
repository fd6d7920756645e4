using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// Our GEMM and cuBLAS SGEMM (FP32, no tensor cores) on the same buffers of a CUDA device, at the seed's GEMMs
/// (B 128, F 80000, H 500, as in <see cref="GemmBenchmarks"/>) and at 4096³, so that ours reads as a share of cuBLAS.
/// Setup runs both once and refuses to time them if they disagree beyond float rounding.
/// </summary>
public class CublasBenchmarks : IDeclaresWork
{
    private IlgpuBackend _backend = null!;
    private Cublas _cublas = null!;
    private DeviceBuffer _a = null!, _b = null!, _c = null!;

    [ParamsSource(typeof(Targets), nameof(Targets.Cuda))]
    public Target On { get; set; } = null!;

    [Params("Forward", "InputGrad", "WeightGrad", "Hidden", "4096^3")]
    public string Shape { get; set; } = null!;

    /// <summary>(transA, transB, m, n, k) of <see cref="Shape"/>.</summary>
    private (bool TransA, bool TransB, int M, int N, int K) Dims
    {
        get
        {
            int b = Scale.Seed.ImageBatch, f = Scale.Seed.Features, h = Scale.Seed.Hidden;
            return Shape switch
            {
                "Forward" => (false, true, b, h, f),
                "InputGrad" => (false, false, b, f, h),
                "WeightGrad" => (true, false, h, f, b),
                "Hidden" => (false, true, b, h, h),
                "4096^3" => (false, false, 4096, 4096, 4096),
                _ => throw new ArgumentException($"unknown GEMM shape {Shape}"),
            };
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        _backend = (IlgpuBackend)Devices.Open(On.Device);
        _cublas = new Cublas(_backend);
        var (_, _, m, n, k) = Dims;
        var random = new SeededRandom(3);
        _a = Upload(random, (long)m * k, 1f);
        _b = Upload(random, (long)k * n, 1f / MathF.Sqrt(k));
        _c = _backend.Allocate((long)m * n);
        CheckAgreement();
    }

    [Benchmark]
    public void Ours()
    {
        var (ta, tb, m, n, k) = Dims;
        _backend.Gemm(ta, tb, m, n, k, 1f, _a, _b, 0f, _c);
        _backend.Synchronize();
    }

    [Benchmark(Description = "cuBLAS")]
    public void CuBlas()
    {
        var (ta, tb, m, n, k) = Dims;
        _cublas.Sgemm(ta, tb, m, n, k, 1f, _a, _b, 0f, _c);
        _backend.Synchronize();
    }

    /// <summary>|ours − cuBLAS| ≤ 1e-4·max|C| everywhere (the entries are sums of k products of order 1/√k).</summary>
    private void CheckAgreement()
    {
        var ours = new float[_c.Length];
        var theirs = new float[_c.Length];
        Ours();
        _backend.Download(_c, ours);
        CuBlas();
        _backend.Download(_c, theirs);
        double scale = theirs.Max(v => Math.Abs((double)v)), worst = 0;
        for (int i = 0; i < ours.Length; i++) worst = Math.Max(worst, Math.Abs((double)ours[i] - theirs[i]));
        if (!(worst <= 1e-4 * scale))
            throw new InvalidOperationException($"GEMM {Shape}: ours and cuBLAS {_cublas.Version} differ by {worst:G3} (max |C| {scale:G3})");
    }

    private DeviceBuffer Upload(SeededRandom random, long length, float bound)
    {
        var values = new float[length];
        for (long i = 0; i < length; i++) values[i] = random.NextSymmetric(bound);
        var buffer = _backend.Allocate(length);
        _backend.Upload(values, buffer);
        return buffer;
    }

    [GlobalCleanup]
    public void Release()
    {
        _a.Dispose();
        _b.Dispose();
        _c.Dispose();
        _cublas.Dispose();
        _backend.Dispose();
    }

    public Work WorkOf(string benchmark)
    {
        var (_, _, m, n, k) = Dims;
        return new Work(Flops: 2.0 * m * n * k);
    }
}
