using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Tests.Autograd;

/// <summary>
/// What the ops promise besides their math: arguments they cannot compute with are refused before any kernel runs,
/// with a message naming the op and what is wrong; the edge cases they accept (a kernel as large as the input,
/// a 3-d input) give the right shape; dropout is the identity outside training; a bias alone gets its gradient.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class OpContractTests(string device) : DeviceTest(device)
{
    private Tensor T(params int[] shape) => Tensor.Full(Backend, 0.5f, shape);

    private static void Refused(Func<Tensor> op, params string[] fragments)
    {
        var e = Assert.Throws<ArgumentException>(() => op())!;
        foreach (var fragment in fragments) Assert.That(e.Message, Does.Contain(fragment));
    }

    [Test]
    public void LinearRefusesBadShapesAndDevices()
    {
        using var other = new CpuBackend();
        using var scope = new TensorScope();
        Refused(() => Ops.Linear(T(2, 3, 1), T(4, 3)), "Linear", "input must have rank 2", "(2,3,1)");
        Refused(() => Ops.Linear(T(2, 3), T(4, 3, 1)), "Linear", "weight must have rank 2");
        Refused(() => Ops.Linear(T(2, 3), Tensor.Zeros(other, 4, 3)), "Linear", "different devices");
        Refused(() => Ops.Linear(T(2, 3), T(4, 3), Tensor.Zeros(other, 4)), "Linear", "different devices");
        Refused(() => Ops.Linear(T(2, 3), T(4, 3), T(4, 1)), "Linear", "bias (4,1)", "needs (4)");
    }

    [Test]
    public void Conv2dRefusesBadShapesStridesAndPadding()
    {
        using var other = new CpuBackend();
        using var scope = new TensorScope();
        Refused(() => Ops.Conv2d(T(1, 5, 5), T(2, 1, 3, 3)), "Conv2d", "input must have rank 4");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3)), "Conv2d", "weight must have rank 4");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), Tensor.Zeros(other, 2, 1, 3, 3)), "Conv2d", "different devices");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), stride: (0, 1)), "Conv2d", "stride must be positive, got (0,1)");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), stride: (1, 0)), "Conv2d", "stride must be positive, got (1,0)");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), padding: (-1, 0)), "Conv2d", "padding must be non-negative, got (-1,0)");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), padding: (0, -1)), "Conv2d", "padding must be non-negative, got (0,-1)");
        Refused(() => Ops.Conv2d(T(1, 2, 5, 5), T(2, 1, 3, 3)), "Conv2d", "has 2 channels", "expects 1");
        Refused(() => Ops.Conv2d(T(1, 1, 2, 9), T(2, 1, 3, 3)), "Conv2d", "kernel 3×3 is larger than the padded input 2×9");
        Refused(() => Ops.Conv2d(T(1, 1, 9, 2), T(2, 1, 3, 3)), "Conv2d", "padded input 9×2");
        Refused(() => Ops.Conv2d(T(1, 1, 2, 2), T(2, 1, 5, 5), padding: (1, 1)), "Conv2d", "padded input 4×4");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), Tensor.Zeros(other, 2)), "Conv2d", "different devices");
        Refused(() => Ops.Conv2d(T(1, 1, 5, 5), T(2, 1, 3, 3), T(2, 1)), "Conv2d", "bias (2,1)", "needs (2)");
        Refused(() => Ops.Conv2d(T(1, 1, 3, 5), T(2, 1, 3, 3), padding: (3, 1), paddingMode: PaddingMode.Reflect), "Conv2d",
            "reflection padding (3,1) must be smaller than the input's 3×5");
        Refused(() => Ops.Conv2dRelu(T(1, 1, 5, 5), T(2, 1, 3, 3), paddingMode: (PaddingMode)7), "Conv2dRelu", "unknown padding mode 7");
    }

    [Test]
    public void Conv2dAcceptsAKernelAsLargeAsThePaddedInput()
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Backend, [2f], 1, 1, 1, 1);
        var w = Tensor.FromArray(Backend, [1f, 1f, 1f, 1f, 3f, 1f, 1f, 1f, 1f], 1, 1, 3, 3);
        var y = Ops.Conv2d(x, w, padding: (1, 1));
        Assert.That(y.Shape, Is.EqualTo(new[] { 1, 1, 1, 1 }));
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 6f }), "only the centre tap sees the input: 3·2, the zero padding adds nothing");
        Assert.That(Ops.Conv2d(T(1, 1, 3, 3), w).Shape, Is.EqualTo(new[] { 1, 1, 1, 1 }));
    }

    [Test]
    public void PoolAndPadRefuseBadArguments()
    {
        using var scope = new TensorScope();
        Refused(() => Ops.MaxPool2d(T(4, 4), (2, 2)), "MaxPool2d", "input must have rank 3 or 4");
        Refused(() => Ops.MaxPool2d(T(1, 4, 4), (0, 2), (1, 1)), "MaxPool2d", "kernel (0,2) and stride (1,1) must be positive");
        Refused(() => Ops.MaxPool2d(T(1, 4, 4), (2, 0), (1, 1)), "MaxPool2d", "kernel (2,0) and stride (1,1) must be positive");
        Refused(() => Ops.MaxPool2d(T(1, 4, 4), (2, 2), (0, 1)), "MaxPool2d", "stride (0,1) must be positive");
        Refused(() => Ops.MaxPool2d(T(1, 4, 4), (2, 2), (1, 0)), "MaxPool2d", "stride (1,0) must be positive");
        Refused(() => Ops.MaxPool2d(T(1, 3, 6), (4, 2)), "MaxPool2d", "kernel (4,2) is larger than input (1,3,6)");
        Refused(() => Ops.MaxPool2d(T(1, 6, 3), (2, 4)), "MaxPool2d", "kernel (2,4) is larger");
        Assert.That(Ops.MaxPool2d(T(1, 3, 6), (3, 6)).Shape, Is.EqualTo(new[] { 1, 1, 1 }), "a kernel as large as the input");

        Refused(() => Ops.ReplicationPad2d(T(4, 4), 1, 1, 1, 1), "ReplicationPad2d", "input must have rank 3 or 4");
        Refused(() => Ops.ReplicationPad2d(T(1, 4, 4), -1, 0, 0, 0), "ReplicationPad2d", "padding must be non-negative", "left -1");
        Refused(() => Ops.ReplicationPad2d(T(1, 4, 4), 0, -1, 0, 0), "right -1");
        Refused(() => Ops.ReplicationPad2d(T(1, 4, 4), 0, 0, -1, 0), "top -1");
        Refused(() => Ops.ReplicationPad2d(T(1, 4, 4), 0, 0, 0, -1), "bottom -1");
        Refused(() => Ops.ReflectionPad2d(T(1, 3, 5), 5, 0, 0, 0), "ReflectionPad2d", "must be smaller than the input's 3×5");
        Refused(() => Ops.ReflectionPad2d(T(1, 3, 5), 0, 5, 0, 0), "ReflectionPad2d", "right 5");
        Refused(() => Ops.ReflectionPad2d(T(1, 3, 5), 0, 0, 3, 0), "ReflectionPad2d", "top 3");
        Refused(() => Ops.ReflectionPad2d(T(1, 3, 5), 0, 0, 0, 3), "ReflectionPad2d", "bottom 3");
    }

    [Test]
    public void PoolAndPadTakeAThreeDimensionalInput()
    {
        using var scope = new TensorScope();
        // one 4×6 image holding 0..23 row by row: each 2×2 window's maximum is its bottom-right value
        var x = Tensor.FromArray(Backend, Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 1, 4, 6);
        var pooled = Ops.MaxPool2d(x, (2, 2));
        Assert.That(pooled.Shape, Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(pooled.ToArray(), Is.EqualTo(new[] { 7f, 9f, 11f, 19f, 21f, 23f }));
        var padded = Ops.ReplicationPad2d(x, 0, 1, 2, 0);
        Assert.That(padded.Shape, Is.EqualTo(new[] { 1, 6, 7 }));
        Assert.That(padded.ToArray()[..7], Is.EqualTo(new[] { 0f, 1f, 2f, 3f, 4f, 5f, 5f }), "the top rows repeat row 0, the last column repeats");
    }

    [Test]
    public void BatchNormWithoutRunningStatisticsNormalisesAsTrainingAndUpdatesNothing()
    {
        using var scope = new TensorScope();
        var values = Enumerable.Range(0, 24).Select(i => MathF.Sin(i * 1.7f) * (1 + i % 3)).ToArray();
        Tensor Input() => Tensor.FromArray(Backend, values, 4, 3, 2);
        Tensor Parameter(params float[] v)
        {
            var t = Tensor.FromArray(Backend, v, 3);
            t.RequiresGrad = true;
            return t;
        }
        var (gamma, beta) = (Parameter(1.5f, 0.5f, -1f), Parameter(0.1f, 0f, -0.2f));
        var (mean, variance) = (Tensor.FromArray(Backend, [0.3f, -0.1f, 2f], 3), Tensor.FromArray(Backend, [0.5f, 1f, 4f], 3));
        var (meanBefore, varianceBefore) = (mean.ToArray(), variance.ToArray());

        var alone = Ops.BatchNorm(Input(), gamma, beta, null, null, training: true);
        Ops.Sum(Ops.Square(alone)).Backward();
        var (dgammaAlone, dbetaAlone) = (gamma.Grad!.ToArray(), beta.Grad!.ToArray());
        Assert.That(mean.ToArray(), Is.EqualTo(meanBefore));
        Assert.That(variance.ToArray(), Is.EqualTo(varianceBefore));

        gamma.ZeroGrad();
        beta.ZeroGrad();
        var tracked = Ops.BatchNorm(Input(), gamma, beta, mean, variance, training: true);
        Ops.Sum(Ops.Square(tracked)).Backward();
        Assert.That(alone.ToArray(), Is.EqualTo(tracked.ToArray()), "the batch's own statistics either way");
        Assert.That(gamma.Grad!.ToArray(), Is.EqualTo(dgammaAlone));
        Assert.That(beta.Grad!.ToArray(), Is.EqualTo(dbetaAlone));
        Assert.That(mean.ToArray(), Is.Not.EqualTo(meanBefore), "given running statistics are updated");
    }

    [Test]
    public void HostDistanceIsTheOpsDistance()
    {
        using var scope = new TensorScope();
        var values = Enumerable.Range(0, 30).Select(i => MathF.Cos(i * 0.7f) * (i % 4)).ToArray();
        var d = Ops.PairwiseDistance(Tensor.FromArray(Backend, values[..15], 3, 5), Tensor.FromArray(Backend, values[15..], 3, 5)).ToArray();
        for (int r = 0; r < 3; r++)
            Assert.That(Ops.PairwiseDistance(values.AsSpan(r * 5, 5), values.AsSpan(15 + r * 5, 5)), Is.EqualTo(d[r]).Within(1e-4).Percent, $"row {r}");
        Assert.Throws<ArgumentException>(() => Ops.PairwiseDistance(new float[3], new float[4]));
    }

    [Test]
    public void NormalisationDistanceAndLossesRefuseBadArguments()
    {
        using var other = new CpuBackend();
        using var scope = new TensorScope();
        Tensor BatchNorm(Tensor x, bool training, int weight = 3, int bias = 3, int mean = 3, int variance = 3, Tensor? onOther = null) =>
            Ops.BatchNorm(x, onOther ?? T(weight), T(bias), T(mean), T(variance), training);
        Refused(() => BatchNorm(T(3), true), "BatchNorm", "input must have rank 2 or 3 or 4", "(3)");
        Refused(() => BatchNorm(T(2, 3), true, weight: 4), "BatchNorm", "weight (4) does not match the 3 channels of input (2,3)");
        Refused(() => BatchNorm(T(2, 3), true, bias: 4), "bias (4)");
        Refused(() => BatchNorm(T(2, 3), true, mean: 4), "running_mean (4)");
        Refused(() => BatchNorm(T(2, 3), true, variance: 4), "running_var (4)");
        Refused(() => Ops.BatchNorm(T(2, 3), T(3, 1), T(3), T(3), T(3), true), "weight (3,1)");
        Refused(() => BatchNorm(T(2, 3), true, onOther: Tensor.Zeros(other, 3)), "BatchNorm", "different devices");
        Refused(() => BatchNorm(T(1, 3), true), "BatchNorm", "training needs more than one value per channel, got input (1,3)");
        Refused(() => Ops.BatchNorm(T(4, 3), T(3), T(3), T(3), T(3), true, batches: 3), "BatchNorm",
            "batches must be at least 1 and divide the 4 rows of input (4,3), got 3");
        Refused(() => Ops.BatchNorm(T(4, 3), T(3), T(3), T(3), T(3), true, batches: 0), "batches must be at least 1", "got 0");
        Refused(() => Ops.BatchNorm(T(4, 3), T(3), T(3), T(3), T(3), true, batches: 4), "BatchNorm",
            "training needs more than one value per channel in each of 4 batches, got input (4,3)");
        Assert.That(Ops.BatchNorm(T(4, 3), T(3), T(3), T(3), T(3), false, batches: 4).Shape, Is.EqualTo(new[] { 4, 3 }),
            "evaluation normalises every row alike: one row per batch is enough");
        Assert.That(BatchNorm(T(1, 3), false).Shape, Is.EqualTo(new[] { 1, 3 }), "evaluation uses the running statistics: one row is enough");
        Refused(() => Ops.BatchNorm(T(2, 3), T(3), T(3), null, null, false), "BatchNorm", "evaluation mode needs the running statistics");
        Refused(() => Ops.BatchNorm(T(2, 3), T(3), T(3), T(3), null, true), "BatchNorm", "running_mean and running_var must be given together");
        Refused(() => Ops.BatchNorm(T(2, 3), T(3), T(3), null, T(3), true), "running_mean and running_var must be given together");

        Refused(() => Ops.L2Normalize(T(2, 3, 1)), "L2Normalize", "input must have rank 2");
        Refused(() => Ops.L2Normalize(T(2, 3), eps: 0f), "L2Normalize", "eps must be positive, got 0");

        Refused(() => Ops.PairwiseDistance(T(2, 3, 1), T(2, 3, 1)), "PairwiseDistance", "first input must have rank 2");
        Refused(() => Ops.PairwiseDistance(T(2, 3), T(2, 4)), "PairwiseDistance", "(2,3) and (2,4) differ");

        Refused(() => Ops.ContrastiveLoss(T(2, 1, 1), T(2, 1, 1)), "ContrastiveLoss", "distance must have rank 1 or 2");
        Refused(() => Ops.ContrastiveLoss(T(2, 1), T(3, 1)), "ContrastiveLoss", "(2,1) and (3,1) differ");
        Refused(() => Ops.ContrastiveLoss(T(2, 2), T(2, 2)), "ContrastiveLoss", "distance must be (N) or (N,1), got (2,2)");

        Refused(() => Ops.CrossEntropy(T(2, 3, 1), [0, 1]), "CrossEntropy", "logits must have rank 2");
        Refused(() => Ops.CrossEntropy(T(2, 3), [0]), "CrossEntropy", "1 labels for logits (2,3) (needs 2)");
        Refused(() => Ops.CrossEntropy(T(2, 3), [0, 3]), "CrossEntropy", "label 3 of row 1 is not a class of logits (2,3)");
        Refused(() => Ops.CrossEntropy(T(2, 3), [-1, 0]), "CrossEntropy", "label -1 of row 0");
    }

    [Test]
    public void ElementwiseShapesAndDropoutRefuseBadArguments()
    {
        using var other = new CpuBackend();
        using var scope = new TensorScope();
        Refused(() => Ops.Add(T(2, 3), Tensor.Zeros(other, 2, 3)), "Add", "different devices");
        Refused(() => Ops.Reshape(T(2, 3), 4, 2), "Reshape", "cannot view (2,3) (6 elements) as (4,2) (8 elements)");
        Refused(() => Ops.Flatten(Tensor.Zeros(Backend)), "Flatten", "needs a batch dimension, got shape ()");
        Assert.That(Ops.Flatten(T(3)).Shape, Is.EqualTo(new[] { 3, 1 }));
        Refused(() => Ops.Dropout(T(4), -0.1f, 1, true), "Dropout", "probability must be in [0, 1), got -0.1");
        Refused(() => Ops.Dropout(T(4), 1f, 1, true), "Dropout", "got 1");
    }

    [Test]
    public void DropoutIsTheIdentityOutsideTrainingAndAtZero()
    {
        using var scope = new TensorScope();
        var x = T(100);
        Assert.That(Ops.Dropout(x, 0.5f, 7, training: false), Is.SameAs(x));
        Assert.That(Ops.Dropout(x, 0f, 7, training: true), Is.SameAs(x));
    }

    [Test]
    public void ABiasAloneGetsItsGradient()
    {
        using var scope = new TensorScope();
        using var linearBias = Tensor.Persistent(Backend, [0f, 0f, 0f], 3);
        using var convBias = Tensor.Persistent(Backend, [0f, 0f], 2);
        linearBias.RequiresGrad = true;
        convBias.RequiresGrad = true;
        // d/db Σ(x·Wᵀ + b) = N for every output feature; d/db_k Σ conv = N·OH·OW for every output channel
        Ops.Sum(Ops.Linear(T(4, 5), T(3, 5), linearBias)).Backward();
        Assert.That(linearBias.Grad!.ToArray(), Is.EqualTo(new[] { 4f, 4f, 4f }));
        Ops.Sum(Ops.Conv2d(T(2, 1, 4, 5), T(2, 1, 3, 3), convBias)).Backward();
        Assert.That(convBias.Grad!.ToArray(), Is.EqualTo(new[] { 12f, 12f }), "2 images × 2×3 outputs");
    }
}
