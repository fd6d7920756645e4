using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Nn;

/// <summary>y = x·Wᵀ + b; W (out,in), b (out), PyTorch's init U(±1/√in).</summary>
public sealed class Linear : Module
{
    /// <summary>
    /// A layer of <paramref name="outFeatures"/> outputs over <paramref name="inFeatures"/> inputs, initialised from
    /// <paramref name="rng"/>, or zero without it (for a state loaded next).
    /// </summary>
    public Linear(IBackend backend, int inFeatures, int outFeatures, SeededRandom? rng, bool bias = true)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", UniformParameter(backend, rng, inFeatures, outFeatures, inFeatures));
        if (bias) Bias = RegisterParameter("bias", UniformParameter(backend, rng, inFeatures, outFeatures));
    }

    /// <summary>Inputs per example.</summary>
    public int InFeatures { get; }
    /// <summary>Outputs per example.</summary>
    public int OutFeatures { get; }
    /// <summary>W (out,in).</summary>
    public Tensor Weight { get; }
    /// <summary>b (out), or null for a layer made without bias.</summary>
    public Tensor? Bias { get; }

    /// <summary>x (N,in) → (N,out).</summary>
    public override Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);
}

/// <summary>2-D convolution; W (out,in,kh,kw), b (out), PyTorch's init U(±1/√(in·kh·kw)).</summary>
public sealed class Conv2d : Module
{
    /// <summary>
    /// A convolution from <paramref name="inChannels"/> to <paramref name="outChannels"/> channels with a
    /// <paramref name="kernel"/> window, initialised from <paramref name="rng"/> (zero without it, for a state loaded
    /// next); stride (1,1) and padding (0,0) by default, the padding filled as <paramref name="paddingMode"/> says (zeros
    /// by default, as nn.Conv2d's padding_mode).
    /// </summary>
    public Conv2d(IBackend backend, int inChannels, int outChannels, (int H, int W) kernel, SeededRandom? rng,
        (int H, int W)? stride = null, (int H, int W)? padding = null, bool bias = true, PaddingMode paddingMode = PaddingMode.Zeros)
    {
        Stride = stride ?? (1, 1);
        Padding = padding ?? (0, 0);
        PaddingMode = paddingMode;
        int fanIn = inChannels * kernel.H * kernel.W;
        Weight = RegisterParameter("weight", UniformParameter(backend, rng, fanIn, outChannels, inChannels, kernel.H, kernel.W));
        if (bias) Bias = RegisterParameter("bias", UniformParameter(backend, rng, fanIn, outChannels));
    }

    /// <summary>W (out,in,kh,kw).</summary>
    public Tensor Weight { get; }
    /// <summary>b (out), or null for a layer made without bias.</summary>
    public Tensor? Bias { get; }
    /// <summary>The step between windows, in rows and columns.</summary>
    public (int H, int W) Stride { get; }
    /// <summary>Padding added on each side of the height and width.</summary>
    public (int H, int W) Padding { get; }
    /// <summary>What the padding is filled with.</summary>
    public PaddingMode PaddingMode { get; }

    /// <summary>x (N,C,H,W) → (N,K,OH,OW).</summary>
    public override Tensor Forward(Tensor x) => Forward(x, Padding, PaddingMode, relu: false);

    /// <summary>
    /// This layer with <paramref name="padding"/>, filled as <paramref name="mode"/> says, in place of its own, and a
    /// ReLU after it when <paramref name="relu"/>, as one op: x (N,C,H,W) → (N,K,OH,OW).
    /// </summary>
    public Tensor Forward(Tensor x, (int H, int W) padding, PaddingMode mode, bool relu) => relu
        ? Ops.Conv2dRelu(x, Weight, Bias, Stride, padding, mode)
        : Ops.Conv2d(x, Weight, Bias, Stride, padding, mode);

    /// <summary>
    /// This layer with <paramref name="padding"/> as above, a ReLU after it and <paramref name="norm"/> after that,
    /// normalising with the batch's statistics (<see cref="BatchNorm.NormalisesByBatch"/>), as one op; x's images are
    /// <paramref name="batches"/> equal batches, each normalised by its own (<see cref="BatchNorm.Forward(Tensor, int)"/>).
    /// </summary>
    internal Tensor Forward(Tensor x, (int H, int W) padding, PaddingMode mode, BatchNorm norm, int batches)
    {
        var (runningMean, runningVar) = norm.RunningStatisticsToUpdate(batches);
        return Ops.Conv2dReluBatchNorm(x, Weight, Bias, norm.Weight, norm.Bias, runningMean, runningVar, norm.Momentum, norm.Eps,
            Stride, padding, mode, batches);
    }
}

/// <summary>
/// Pads height and width by <c>padding</c> on every side with the input's own values, filled as <see cref="Mode"/>
/// says; a <see cref="Conv2d"/> after it can do the same padding itself (<see cref="Sequential"/> lets it).
/// </summary>
public abstract class EdgePad2d(int padding, PaddingMode mode) : Module
{
    /// <summary>Rows or columns added on each side.</summary>
    public int Padding { get; } = padding;
    /// <summary>How the added rows and columns are filled: replicated or reflected edges.</summary>
    public PaddingMode Mode { get; } = mode;
}

/// <summary>Pads height and width by <c>padding</c> on every side, repeating edge values.</summary>
public sealed class ReplicationPad2d(int padding) : EdgePad2d(padding, PaddingMode.Replicate)
{
    /// <summary>x (N,C,H,W) → (N,C,H+2p,W+2p).</summary>
    public override Tensor Forward(Tensor x) => Ops.ReplicationPad2d(x, Padding, Padding, Padding, Padding);
}

/// <summary>Pads height and width by <c>padding</c> on every side, mirroring at the edges.</summary>
public sealed class ReflectionPad2d(int padding) : EdgePad2d(padding, PaddingMode.Reflect)
{
    /// <summary>x (N,C,H,W) → (N,C,H+2p,W+2p).</summary>
    public override Tensor Forward(Tensor x) => Ops.ReflectionPad2d(x, Padding, Padding, Padding, Padding);
}

/// <summary>Maximum over <c>kernel</c> windows, moved by <c>stride</c> (the kernel by default).</summary>
public sealed class MaxPool2d((int H, int W) kernel, (int H, int W)? stride = null) : Module
{
    /// <summary>The window size.</summary>
    public (int H, int W) Kernel { get; } = kernel;
    /// <summary>The step between windows.</summary>
    public (int H, int W) Stride { get; } = stride ?? kernel;
    /// <summary>x (N,C,H,W) → (N,C,OH,OW).</summary>
    public override Tensor Forward(Tensor x) => Ops.MaxPool2d(x, Kernel, Stride);
}

/// <summary>max(x, 0) element-wise.</summary>
public sealed class ReLU : Module
{
    /// <summary>Same shape as x.</summary>
    public override Tensor Forward(Tensor x) => Ops.Relu(x);
}

/// <summary>(N, ...) → (N, product of the rest).</summary>
public sealed class Flatten : Module
{
    /// <summary>A view of x as (N, features).</summary>
    public override Tensor Forward(Tensor x) => Ops.Flatten(x);
}

/// <summary>Dropout whose masks come from its own seeded stream: one new seed per forward pass.</summary>
public sealed class Dropout(float p, SeededRandom rng) : Module
{
    /// <summary>The probability that an element is dropped.</summary>
    public float P { get; } = p;

    /// <summary>Drops elements in training mode; the identity in evaluation mode.</summary>
    public override Tensor Forward(Tensor x) => Ops.Dropout(x, P, rng.NextUInt64(), Training);
}

/// <summary>
/// Batch normalisation over channel dimension 1 (BatchNorm1d for (N,C)/(N,C,L), BatchNorm2d for (N,C,H,W)).
/// weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked counts training forwards.
/// </summary>
public class BatchNorm : Module
{
    private long _batchesTracked;

    /// <summary>Channel-wise normalisation of inputs whose rank is one of <paramref name="ranks"/>.</summary>
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

    /// <summary>The input ranks this layer accepts.</summary>
    public int[] Ranks { get; }
    /// <summary>Added to the variance before the square root.</summary>
    public float Eps { get; }
    /// <summary>Weight of the batch statistic in each running-statistic update.</summary>
    public float Momentum { get; }
    /// <summary>γ (C), initialised to 1.</summary>
    public Tensor Weight { get; }
    /// <summary>β (C), initialised to 0.</summary>
    public Tensor Bias { get; }
    /// <summary>The running mean (C), used in evaluation mode.</summary>
    public Tensor RunningMean { get; }
    /// <summary>The running unbiased variance (C), used in evaluation mode.</summary>
    public Tensor RunningVar { get; }
    /// <summary>How many training forwards have updated the running statistics (PyTorch's num_batches_tracked).</summary>
    public long BatchesTracked => _batchesTracked;

    /// <summary>
    /// When set, every batch is normalised with its own statistics in either mode, and the running statistics and
    /// <see cref="BatchesTracked"/> are left alone: inference as the seed notebook tests, one image per batch.
    /// </summary>
    public bool UseBatchStatistics { get; set; }

    /// <summary>
    /// Normalises x with batch statistics in training mode (updating the running ones) or with
    /// <see cref="UseBatchStatistics"/>, else with the running statistics.
    /// </summary>
    public override Tensor Forward(Tensor x) => Forward(x, 1);

    /// <summary>
    /// x's N rows as <paramref name="batches"/> equal batches one after another, each normalised as a
    /// <see cref="Forward(Tensor)"/> of its own would: with its own statistics when normalising by batch (the running
    /// statistics take each batch's update in turn, and <see cref="BatchesTracked"/> counts each), else all alike with
    /// the running statistics.
    /// </summary>
    public Tensor Forward(Tensor x, int batches)
    {
        if (Array.IndexOf(Ranks, x.Rank) < 0)
            throw new ArgumentException($"{GetType().Name}: input must have rank {string.Join(" or ", Ranks)}, got shape {x.ShapeText}");
        if (!NormalisesByBatch) return Ops.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, training: false, Momentum, Eps, batches);
        var (runningMean, runningVar) = RunningStatisticsToUpdate(batches);
        return Ops.BatchNorm(x, Weight, Bias, runningMean, runningVar, training: true, Momentum, Eps, batches);
    }

    /// <summary>Whether a forward now normalises with the batch's statistics: in training, or with <see cref="UseBatchStatistics"/>.</summary>
    internal bool NormalisesByBatch => Training || UseBatchStatistics;

    /// <summary>
    /// For a forward of <paramref name="batches"/> batches with their own statistics: the running statistics it updates,
    /// counting each batch in <see cref="BatchesTracked"/>, or none with <see cref="UseBatchStatistics"/>.
    /// </summary>
    internal (Tensor? Mean, Tensor? Var) RunningStatisticsToUpdate(int batches)
    {
        if (UseBatchStatistics) return (null, null);
        _batchesTracked += batches;
        return (RunningMean, RunningVar);
    }

    /// <summary>num_batches_tracked.</summary>
    protected override IEnumerable<(string Name, long Value)> OwnCounters() => [("num_batches_tracked", _batchesTracked)];

    /// <summary>Restores num_batches_tracked.</summary>
    protected override void SetOwnCounter(string name, long value)
    {
        if (name != "num_batches_tracked") base.SetOwnCounter(name, value);
        _batchesTracked = value;
    }
}

/// <summary>Batch normalisation of (N,C) or (N,C,L) inputs, as <c>nn.BatchNorm1d</c>.</summary>
public sealed class BatchNorm1d(IBackend backend, int channels, float eps = Ops.DefaultBatchNormEps, float momentum = Ops.DefaultBatchNormMomentum)
    : BatchNorm(backend, channels, [2, 3], eps, momentum);

/// <summary>Batch normalisation of (N,C,H,W) inputs, as <c>nn.BatchNorm2d</c>.</summary>
public sealed class BatchNorm2d(IBackend backend, int channels, float eps = Ops.DefaultBatchNormEps, float momentum = Ops.DefaultBatchNormMomentum)
    : BatchNorm(backend, channels, [4], eps, momentum);
