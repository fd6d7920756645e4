using BenchmarkDotNet.Attributes;
using SimilarFaces.Model;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The whole network: one training step on a batch of pairs (seed: 64 pairs, 128 images through the tower),
/// and embedding inference in eval mode without a graph (seed: 128 images), through the <see cref="FoldedTower"/> that
/// `embed` and `eval` run (folded once in the setup, as they fold once per dataset). FLOPs are those of every GEMM and
/// convolution pass (<see cref="Scale.TrainingStepFlops"/>, <see cref="Scale.ForwardFlops"/>), so the "% FMA"
/// column is the time those FLOPs would take at the measured FMA peak over the time the step takes.
/// </summary>
public class TrainingBenchmarks : DeviceBenchmark
{
    private TrainingSession _session = null!;
    private InferenceSession _inference = null!;

    [GlobalSetup(Target = nameof(TrainingStep))]
    public void SetupTraining()
    {
        OpenDevice();
        _session = new TrainingSession(Backend, Scale.Architecture, Scale.PairBatch);
    }

    [GlobalSetup(Target = nameof(Inference))]
    public void SetupInference()
    {
        OpenDevice();
        _inference = new InferenceSession(Backend, Scale.Architecture, Scale.ImageBatch);
    }

    [Benchmark]
    public float TrainingStep() => _session.Step();

    [Benchmark]
    public void Inference() => _inference.Embed();

    public override Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(TrainingStep) => new Work(Flops: Scale.TrainingStepFlops(Scale.PairBatch), Items: Scale.PairBatch, ItemName: "pairs"),
        nameof(Inference) => new Work(Flops: Scale.ForwardFlops(Scale.ImageBatch), Items: Scale.ImageBatch, ItemName: "embeddings"),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };

    public override void Release()
    {
        _session?.Dispose();
        _inference?.Dispose();
        base.Release();
    }
}
