using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// Batch normalisation per channel C of x (N,C), (N,C,L) or (N,C,H,W), over the M = N·L values of each channel.
/// Training:
///   μ = mean(x), σ² = mean((x−μ)²) (biased), x̂ = (x−μ)/√(σ²+eps), y = γ·x̂ + β
///   running_mean ← (1−m)·running_mean + m·μ,  running_var ← (1−m)·running_var + m·σ²·M/(M−1) (unbiased)
///   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/(M·√(σ²+eps)) · (M·dy − Σdy − x̂·Σ(dy·x̂))
/// Eval: x̂ uses the running statistics, which are constants for backward:
///   dx = dy·γ/√(running_var+eps), dγ = Σ dy·x̂, dβ = Σ dy
/// </summary>
public static partial class Ops
{
    /// <summary>PyTorch's default momentum of the running statistics of <c>nn.BatchNorm</c>.</summary>
    public const float DefaultBatchNormMomentum = 0.1f;

    /// <summary>PyTorch's default eps of <c>nn.BatchNorm</c>.</summary>
    public const float DefaultBatchNormEps = 1e-5f;

    /// <summary>
    /// Batch normalisation of x (N,C), (N,C,L) or (N,C,H,W) per channel, as <c>F.batch_norm</c>: in training, with the
    /// batch's statistics, updating the running ones in place when they are given (null: nothing is updated);
    /// otherwise with the running statistics, which are then required. With <paramref name="batches"/> above 1, x's N
    /// rows are that many equal batches one after another, and training normalises each by its own statistics, as a
    /// call per batch would: the running statistics take each batch's update in turn, and dγ, dβ are each batch's
    /// added in order (in evaluation mode every row is normalised alike, whatever the batches).
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor? runningMean, Tensor? runningVar,
        bool training, float momentum = DefaultBatchNormMomentum, float eps = DefaultBatchNormEps, int batches = 1)
    {
        const string op = "BatchNorm";
        var s = CheckBatchNorm(op, x, gamma, beta, runningMean, runningVar, training, batches);
        var backend = x.Backend;

        if (!training)
        {
            var y = Tensor.Empty(x, x.Shape);
            Tensor storedMean = runningMean!, storedVar = runningVar!;
            backend.BatchNormEvalForward(s, x.Buffer, gamma.Buffer, beta.Buffer, storedMean.Buffer, storedVar.Buffer, y.Buffer, eps);
            return Tape.Record(y, op, [x, gamma, beta], dy =>
            {
                var dx = Tensor.Empty(x, x.Shape);
                var dgamma = Tensor.Empty(x, gamma.Shape);
                var dbeta = Tensor.Empty(x, beta.Shape);
                backend.BatchNormEvalBackward(s, x.Buffer, dy.Buffer, gamma.Buffer, storedMean.Buffer, storedVar.Buffer,
                    dx.Buffer, dgamma.Buffer, dbeta.Buffer, eps);
                Tape.Accumulate(x, dx);
                Tape.Accumulate(gamma, dgamma);
                Tape.Accumulate(beta, dbeta);
            });
        }

        var (normalized, statistics) = NormalizeByBatch(s, x, gamma, beta, runningMean, runningVar, momentum, eps);
        return Tape.Record(normalized, op, [x, gamma, beta], dy =>
            Tape.Accumulate(x, BatchNormBackward(s, x, dy, gamma, beta, statistics, afterRelu: false)));
    }

    /// <summary>The shape of a batch norm's input as (N, C, L), after checking every argument against it.</summary>
    private static NormShape CheckBatchNorm(string op, Tensor x, Tensor gamma, Tensor beta, Tensor? runningMean, Tensor? runningVar,
        bool training, int batches)
    {
        Check.Rank(op, "input", x, 2, 3, 4);
        int n = x.Shape[0], c = x.Shape[1];
        int l = (int)(x.Length / ((long)n * c));
        Check.That(batches >= 1 && n % batches == 0, op, $"batches must be at least 1 and divide the {n} rows of input {x.ShapeText}, got {batches}");
        Check.That((runningMean == null) == (runningVar == null), op, "running_mean and running_var must be given together");
        Check.That(training || runningMean != null, op, "evaluation mode needs the running statistics");
        foreach (var (name, t) in new[] { ("weight", gamma), ("bias", beta), ("running_mean", runningMean), ("running_var", runningVar) })
        {
            if (t == null) continue;
            Check.SameBackend(op, x, t);
            Check.That(t.Rank == 1 && t.Shape[0] == c, op, $"{name} {t.ShapeText} does not match the {c} channels of input {x.ShapeText}");
        }
        if (training)
            Check.That((long)n / batches * l > 1, op, batches == 1
                ? $"training needs more than one value per channel, got input {x.ShapeText}"
                : $"training needs more than one value per channel in each of {batches} batches, got input {x.ShapeText}");
        return new NormShape(n, c, l, batches);
    }

    /// <summary>
    /// y = γ·x̂ + β with the batch's statistics, updating the running ones when given; returns y and the batch's mean and
    /// 1/√(σ²+eps) (C each, per batch), which the backward reads.
    /// </summary>
    private static (Tensor Y, (Tensor Mean, Tensor InvStd) Statistics) NormalizeByBatch(NormShape s, Tensor x, Tensor gamma, Tensor beta,
        Tensor? runningMean, Tensor? runningVar, float momentum, float eps) =>
        NormalizeByBatch(s, x, runningMean, runningVar, (y, mean, invStd, runningMeanOut, runningVarOut) =>
            x.Backend.BatchNormTrainForward(s, x.Buffer, gamma.Buffer, beta.Buffer, y, mean, invStd, runningMeanOut, runningVarOut, eps, momentum));

    /// <summary>The kernel that writes BatchNorm's output and statistics in training and updates the running ones.</summary>
    private delegate void TrainingNormKernel(DeviceBuffer y, DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer runningMean, DeviceBuffer runningVar);

    /// <summary>
    /// <see cref="NormalizeByBatch(NormShape, Tensor, Tensor, Tensor, Tensor?, Tensor?, float, float)"/>'s tensors, over x's
    /// shape, written by <paramref name="kernel"/>.
    /// </summary>
    private static (Tensor Y, (Tensor Mean, Tensor InvStd) Statistics) NormalizeByBatch(NormShape s, Tensor x, Tensor? runningMean,
        Tensor? runningVar, TrainingNormKernel kernel)
    {
        var backend = x.Backend;
        var y = Tensor.Empty(x, x.Shape);
        var mean = Tensor.Empty(x, s.Batches * s.C);
        var invStd = Tensor.Empty(x, s.Batches * s.C);
        // Without running statistics, scratch ones take the kernel's update and are dropped with the scope.
        runningMean ??= Tensor.Zeros(backend, s.C);
        runningVar ??= Tensor.Full(backend, 1f, s.C);
        kernel(y.Buffer, mean.Buffer, invStd.Buffer, runningMean.Buffer, runningVar.Buffer);
        return (y, (mean, invStd));
    }

    /// <summary>
    /// The backward of <see cref="NormalizeByBatch(NormShape, Tensor, Tensor, Tensor, Tensor?, Tensor?, float, float)"/>:
    /// accumulates dγ and dβ and returns dx, which is also taken through the backward of the ReLU that produced x when
    /// <paramref name="afterRelu"/> (0 where x ≤ 0).
    /// </summary>
    private static Tensor BatchNormBackward(NormShape s, Tensor x, Tensor dy, Tensor gamma, Tensor beta,
        (Tensor Mean, Tensor InvStd) statistics, bool afterRelu)
    {
        var dx = Tensor.Empty(x, x.Shape);
        var dgamma = Tensor.Empty(x, gamma.Shape);
        var dbeta = Tensor.Empty(x, beta.Shape);
        x.Backend.BatchNormBackward(s, x.Buffer, dy.Buffer, gamma.Buffer, statistics.Mean.Buffer, statistics.InvStd.Buffer,
            dx.Buffer, dgamma.Buffer, dbeta.Buffer, afterRelu);
        Tape.Accumulate(gamma, dgamma);
        Tape.Accumulate(beta, dbeta);
        return dx;
    }
}
