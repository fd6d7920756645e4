using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Optim;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// One Adam step over every parameter of the network as one buffer (seed: 40,254,465 floats): reads param,
/// grad, m, v and writes param, m, v, 28 bytes an element.
/// </summary>
public class AdamBenchmarks : DeviceBenchmark
{
    private DeviceBuffer _param = null!, _grad = null!, _m = null!, _v = null!;

    // Step 10 of the seed's recipe: lr 5e-4, Adam's default betas and eps.
    private static readonly AdamStepParameters Hyper = Adam.StepParameters(5e-4f, Adam.DefaultBeta1, Adam.DefaultBeta2, Adam.DefaultEps, 0f, 10);

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
