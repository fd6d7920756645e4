using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The seed's loss on a batch of P pairs of E-dimensional embeddings (seed: 64×5), forward and backward as a
/// training step runs them: d = PairwiseDistance(a, b), loss = ContrastiveLoss(d, y), then dd and da, db.
/// So small that it measures launch and synchronisation cost; bytes are every tensor each kernel reads and writes.
/// </summary>
public class DistanceLossBenchmarks : DeviceBenchmark
{
    private const float Eps = 1e-6f, Margin = 2f;
    private DeviceBuffer _a = null!, _b = null!, _d = null!, _label = null!, _loss = null!, _dloss = null!, _dd = null!, _da = null!, _db = null!;

    private int P => Scale.PairBatch;
    private int E => Scale.Architecture.EmbeddingSize;

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        _a = Random((long)P * E);
        _b = Random((long)P * E);
        _d = Output(P);
        _label = Filled(P, 1f);
        _loss = Output(1);
        _dloss = Filled(1, 1f);
        _dd = Output(P);
        _da = Output((long)P * E);
        _db = Output((long)P * E);
    }

    [Benchmark]
    public void ForwardBackward()
    {
        Backend.PairwiseDistanceForward(P, E, _a, _b, _d, Eps);
        Backend.ContrastiveLossForward(P, _d, _label, _loss, Margin);
        Backend.ContrastiveLossBackward(P, _d, _label, _dloss, _dd, Margin);
        Backend.PairwiseDistanceBackward(P, E, _a, _b, _d, _dd, _da, _db, Eps);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark)
    {
        double embeddings = (double)P * E;
        double distanceForward = 2 * embeddings + P, lossForward = 2 * P + 1, lossBackward = 3 * P + 1;
        double distanceBackward = 4 * embeddings + 2 * P;
        return benchmark == nameof(ForwardBackward)
            ? Work.Floats(distanceForward + lossForward + lossBackward + distanceBackward)
            : throw new ArgumentException($"no work declared for {benchmark}");
    }
}
