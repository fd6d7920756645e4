using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// One Adam step over every parameter of the network as one buffer (seed: 40,254,465 floats): reads param,
/// grad, m, v and writes param, m, v, 28 bytes an element.
/// </summary>
public class AdamBenchmarks : DeviceBenchmark
{
    private DeviceBuffer _param = null!, _grad = null!, _m = null!, _v = null!;

    // Step 10 of the seed's recipe: lr 5e-4, betas (0.9, 0.999), eps 1e-8.
    private static readonly AdamStepParameters Hyper = new(5e-4f, 0.9f, 0.999f, 1e-8f, 0f,
        1f - MathF.Pow(0.9f, 10), 1f - MathF.Pow(0.999f, 10));

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        long n = Scale.ParameterCount;
        _param = Random(n, 0.01f);
        _grad = Random(n, 1e-3f);
        _m = Filled(n, 0f);
        _v = Filled(n, 0f);
    }

    [Benchmark]
    public void Step()
    {
        Backend.AdamStep(_param, _grad, _m, _v, Hyper);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark) => benchmark == nameof(Step)
        ? Work.Floats(7.0 * Scale.ParameterCount)
        : throw new ArgumentException($"no work declared for {benchmark}");
}
