using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Nn;

/// <summary>y = x·Wᵀ + b; W (out,in), b (out), PyTorch's init U(±1/√in).</summary>
public sealed class Linear : Module
{
    public Linear(IBackend backend, int inFeatures, int outFeatures, SeededRandom rng, bool bias = true)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", UniformParameter(backend, rng, inFeatures, outFeatures, inFeatures));
        if (bias) Bias = RegisterParameter("bias", UniformParameter(backend, rng, inFeatures, outFeatures));
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);
}

/// <summary>2-D convolution; W (out,in,kh,kw), b (out), PyTorch's init U(±1/√(in·kh·kw)).</summary>
public sealed class Conv2d : Module
{
    public Conv2d(IBackend backend, int inChannels, int outChannels, (int H, int W) kernel, SeededRandom rng,
        (int H, int W)? stride = null, (int H, int W)? padding = null, bool bias = true)
    {
        Stride = stride ?? (1, 1);
        Padding = padding ?? (0, 0);
        int fanIn = inChannels * kernel.H * kernel.W;
        Weight = RegisterParameter("weight", UniformParameter(backend, rng, fanIn, outChannels, inChannels, kernel.H, kernel.W));
        if (bias) Bias = RegisterParameter("bias", UniformParameter(backend, rng, fanIn, outChannels));
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }

    public override Tensor Forward(Tensor x) => Ops.Conv2d(x, Weight, Bias, Stride, Padding);
}

public sealed class ReplicationPad2d(int padding) : Module
{
    public int Padding { get; } = padding;
    public override Tensor Forward(Tensor x) => Ops.ReplicationPad2d(x, Padding, Padding, Padding, Padding);
}

public sealed class ReflectionPad2d(int padding) : Module
{
    public int Padding { get; } = padding;
    public override Tensor Forward(Tensor x) => Ops.ReflectionPad2d(x, Padding, Padding, Padding, Padding);
}

public sealed class MaxPool2d((int H, int W) kernel, (int H, int W)? stride = null) : Module
{
    public (int H, int W) Kernel { get; } = kernel;
    public (int H, int W) Stride { get; } = stride ?? kernel;
    public override Tensor Forward(Tensor x) => Ops.MaxPool2d(x, Kernel, Stride);
}

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor x) => Ops.Relu(x);
}

public sealed class Flatten : Module
{
    public override Tensor Forward(Tensor x) => Ops.Flatten(x);
}

/// <summary>Dropout whose masks come from its own seeded stream: one new seed per forward pass.</summary>
public sealed class Dropout(float p, SeededRandom rng) : Module
{
    public float P { get; } = p;

    public override Tensor Forward(Tensor x) => Ops.Dropout(x, P, rng.NextUInt64(), Training);
}

/// <summary>
/// Batch normalisation over channel dimension 1 (BatchNorm1d for (N,C)/(N,C,L), BatchNorm2d for (N,C,H,W)).
/// weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked counts training forwards.
/// </summary>
public class BatchNorm : Module
{
    private long _batchesTracked;

    protected BatchNorm(IBackend backend, int channels, int[] ranks, float eps, float momentum)
    {
        Ranks = ranks;
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", Tensor.PersistentFull(backend, 1f, [channels]));
        Bias = RegisterParameter("bias", Tensor.PersistentFull(backend, 0f, [channels]));
        RunningMean = RegisterBuffer("running_mean", Tensor.PersistentFull(backend, 0f, [channels]));
        RunningVar = RegisterBuffer("running_var", Tensor.PersistentFull(backend, 1f, [channels]));
    }

    public int[] Ranks { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }
    public long BatchesTracked => _batchesTracked;

    public override Tensor Forward(Tensor x)
    {
        if (Array.IndexOf(Ranks, x.Rank) < 0)
            throw new ArgumentException($"{GetType().Name}: input must have rank {string.Join(" or ", Ranks)}, got shape {x.ShapeText}");
        if (Training) _batchesTracked++;
        return Ops.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);
    }

    protected override IEnumerable<(string Name, long Value)> OwnCounters() => [("num_batches_tracked", _batchesTracked)];

    protected override void SetOwnCounter(string name, long value)
    {
        if (name != "num_batches_tracked") base.SetOwnCounter(name, value);
        _batchesTracked = value;
    }
}

public sealed class BatchNorm1d(IBackend backend, int channels, float eps = 1e-5f, float momentum = 0.1f)
    : BatchNorm(backend, channels, [2, 3], eps, momentum);

public sealed class BatchNorm2d(IBackend backend, int channels, float eps = 1e-5f, float momentum = 0.1f)
    : BatchNorm(backend, channels, [4], eps, momentum);
