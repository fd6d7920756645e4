using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Batch norm over x (N, C, L) per channel c, with m = N·L values per channel:
//   mean = Σx/m,  var = Σ(x − mean)²/m  (second pass over x: no cancellation),  invStd = 1/√(var + eps)
//   y = γ·(x − mean)·invStd + β
//   running ← (1 − momentum)·running + momentum·batch, using the unbiased var·m/(m − 1) for runningVar
// backward, with x̂ = (x − mean)·invStd:
//   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·invStd/m · (m·dy − dβ − x̂·dγ);  after a ReLU (afterRelu), dx = 0 where x ≤ 0
// eval:  y = γ·(x − runningMean)/√(runningVar + eps) + β; backward with invStd = 1/√(runningVar + eps) constant:
//   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·invStd·dy
// The per-channel sums are the deterministic reductions of Reduction.cs. A shape of several batches (NormShape.Batches)
// runs these per batch, on its images and its C statistics.

/// <summary>(x − mean[c])² of x (N, C, L): segment = channel.</summary>
internal readonly record struct SquaredDeviation(ArrayView<float> X, ArrayView<float> Mean, int Channels, int Length) : IReductionSource
{
    public float Load(int c, int j)
    {
        float d = X[IlgpuBackend.ChannelIndex(c, j, Channels, Length)] - Mean[c];
        return d * d;
    }
}

/// <summary>dy·x̂ = dy·(x − mean[c])·invStd[c] of x, dy (N, C, L): segment = channel.</summary>
internal readonly record struct GradientTimesNormalized(
    ArrayView<float> Dy, ArrayView<float> X, ArrayView<float> Mean, ArrayView<float> InvStd, int Channels, int Length) : IReductionSource
{
    public float Load(int c, int j)
    {
        int index = IlgpuBackend.ChannelIndex(c, j, Channels, Length);
        return Dy[index] * (X[index] - Mean[c]) * InvStd[c];
    }
}

/// <summary>On entry InvStd holds the biased batch variance.</summary>
internal readonly record struct BatchStatisticsArgs(
    ArrayView<float> Mean, ArrayView<float> InvStd, ArrayView<float> RunningMean, ArrayView<float> RunningVar,
    float Eps, float Momentum, float Count);

internal readonly record struct NormalizeArgs(
    ArrayView<float> X, ArrayView<float> Y, ArrayView<float> Gamma, ArrayView<float> Beta, ArrayView<float> Mean,
    ArrayView<float> InvStd, int Channels, int Length);

internal readonly record struct NormalizeEvalArgs(
    ArrayView<float> X, ArrayView<float> Y, ArrayView<float> Gamma, ArrayView<float> Beta, ArrayView<float> RunningMean,
    ArrayView<float> RunningVar, float Eps, int Channels, int Length);

internal readonly record struct NormBackwardArgs(
    ArrayView<float> X, ArrayView<float> Dy, ArrayView<float> Dx, ArrayView<float> Gamma, ArrayView<float> Mean,
    ArrayView<float> InvStd, ArrayView<float> DGamma, ArrayView<float> DBeta, int Channels, int Length, float Count, int AfterRelu);

internal readonly record struct EvalInvStdArgs(ArrayView<float> RunningVar, ArrayView<float> InvStd, float Eps);

internal readonly record struct EvalBackwardArgs(
    ArrayView<float> Dy, ArrayView<float> Dx, ArrayView<float> Gamma, ArrayView<float> InvStd, int Channels, int Length);

internal sealed partial class IlgpuBackend
{
    private static readonly GroupedKernel<ReduceArgs<SquaredDeviation>> s_squaredDeviationSum = new(ReduceKernel);
    private static readonly GroupedKernel<ReduceArgs<GradientTimesNormalized>> s_gradientTimesNormalizedSum = new(ReduceKernel);
    private static readonly PointwiseKernel<BatchStatisticsArgs> s_batchStatistics = new(BatchStatisticsKernel);
    private static readonly PointwiseKernel<NormalizeArgs> s_normalize = new(NormalizeKernel);
    private static readonly PointwiseKernel<NormalizeEvalArgs> s_normalizeEval = new(NormalizeEvalKernel);
    private static readonly PointwiseKernel<NormBackwardArgs> s_normBackward = new(NormBackwardKernel);
    private static readonly PointwiseKernel<EvalInvStdArgs> s_evalInvStd = new(EvalInvStdKernel);
    private static readonly PointwiseKernel<EvalBackwardArgs> s_evalBackward = new(EvalBackwardKernel);

    public void BatchNormTrainForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y,
        DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum)
    {
        var shape = s.Batch();
        long count = (long)shape.N * shape.L;
        var (xs, ys, means, invStds) = (View(x, s.Length), View(y, s.Length), View(mean, s.Batches * s.C), View(invStd, s.Batches * s.C));
        for (int batch = 0; batch < s.Batches; batch++)
        {
            // This batch's images and statistics; the running ones take each batch's update in turn.
            var xv = xs.SubView(batch * shape.Length, shape.Length);
            var meanView = means.SubView(batch * s.C, s.C);
            var invStdView = invStds.SubView(batch * s.C, s.C);
            Reduce(s_channelSum, new ChannelMajor(xv, s.C, s.L), s.C, count, meanView, 1f / count);
            Reduce(s_squaredDeviationSum, new SquaredDeviation(xv, meanView, s.C, s.L), s.C, count, invStdView, 1f / count);
            Launch(s_batchStatistics, s.C, new BatchStatisticsArgs(meanView, invStdView, View(runningMean, s.C), View(runningVar, s.C),
                eps, momentum, count));
            Launch(s_normalize, shape.Length, new NormalizeArgs(xv, ys.SubView(batch * shape.Length, shape.Length), View(gamma, s.C),
                View(beta, s.C), meanView, invStdView, s.C, s.L));
        }
    }

    public void BatchNormEvalForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta,
        DeviceBuffer runningMean, DeviceBuffer runningVar, DeviceBuffer y, float eps) =>
        Launch(s_normalizeEval, s.Length, new NormalizeEvalArgs(View(x, s.Length), View(y, s.Length), View(gamma, s.C),
            View(beta, s.C), View(runningMean, s.C), View(runningVar, s.C), eps, s.C, s.L));

    public void BatchNormBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer mean,
        DeviceBuffer invStd, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, bool afterRelu)
    {
        var shape = s.Batch();
        long count = (long)shape.N * shape.L;
        var (xs, dys, dxs) = (View(x, s.Length), View(dy, s.Length), View(dx, s.Length));
        var (means, invStds) = (View(mean, s.Batches * s.C), View(invStd, s.Batches * s.C));
        // The first batch's dγ and dβ go straight out; each later one's into scratch, then added on, batch after batch.
        using var batchDgamma = s.Batches > 1 ? Scratch(s.C) : null;
        using var batchDbeta = s.Batches > 1 ? Scratch(s.C) : null;
        for (int batch = 0; batch < s.Batches; batch++)
        {
            var (xv, dyView, dxView) = (xs.SubView(batch * shape.Length, shape.Length), dys.SubView(batch * shape.Length, shape.Length),
                dxs.SubView(batch * shape.Length, shape.Length));
            var (meanView, invStdView) = (means.SubView(batch * s.C, s.C), invStds.SubView(batch * s.C, s.C));
            var (dgammaView, dbetaView) = batch == 0 ? (View(dgamma, s.C), View(dbeta, s.C)) : (View(batchDgamma!, s.C), View(batchDbeta!, s.C));
            Reduce(s_channelSum, new ChannelMajor(dyView, s.C, s.L), s.C, count, dbetaView, 1f);
            Reduce(s_gradientTimesNormalizedSum, new GradientTimesNormalized(dyView, xv, meanView, invStdView, s.C, s.L), s.C, count,
                dgammaView, 1f);
            Launch(s_normBackward, shape.Length, new NormBackwardArgs(xv, dyView, dxView, View(gamma, s.C), meanView,
                invStdView, dgammaView, dbetaView, s.C, s.L, count, afterRelu ? 1 : 0));
            if (batch == 0) continue;
            Axpy(1f, batchDgamma!, dgamma);
            Axpy(1f, batchDbeta!, dbeta);
        }
    }

    public void BatchNormEvalBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer runningMean,
        DeviceBuffer runningVar, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, float eps)
    {
        var dyView = View(dy, s.Length);
        using var invStd = Allocate(s.C);
        var invStdView = View(invStd, s.C);
        Launch(s_evalInvStd, s.C, new EvalInvStdArgs(View(runningVar, s.C), invStdView, eps));
        long count = (long)s.N * s.L;
        Reduce(s_channelSum, new ChannelMajor(dyView, s.C, s.L), s.C, count, View(dbeta, s.C), 1f);
        Reduce(s_gradientTimesNormalizedSum, new GradientTimesNormalized(dyView, View(x, s.Length), View(runningMean, s.C), invStdView, s.C, s.L),
            s.C, count, View(dgamma, s.C), 1f);
        Launch(s_evalBackward, s.Length, new EvalBackwardArgs(dyView, View(dx, s.Length), View(gamma, s.C), invStdView, s.C, s.L));
    }

    // runningVar, invStd (C); one thread per channel
    internal static void EvalInvStdKernel(Index1D c, EvalInvStdArgs a) => a.InvStd[c] = 1f / MathF.Sqrt(a.RunningVar[c] + a.Eps);

    // dy, dx (N, C, L); gamma, invStd (C)
    internal static void EvalBackwardKernel(Index1D i, EvalBackwardArgs a)
    {
        int c = i / a.Length % a.Channels;
        a.Dx[i] = a.Gamma[c] * a.InvStd[c] * a.Dy[i];
    }

    // mean, invStd (holding var), runningMean, runningVar (C); one thread per channel
    internal static void BatchStatisticsKernel(Index1D c, BatchStatisticsArgs a)
    {
        float variance = a.InvStd[c];
        a.InvStd[c] = 1f / MathF.Sqrt(variance + a.Eps);
        a.RunningMean[c] = (1f - a.Momentum) * a.RunningMean[c] + a.Momentum * a.Mean[c];
        a.RunningVar[c] = (1f - a.Momentum) * a.RunningVar[c] + a.Momentum * (variance * a.Count / (a.Count - 1f));
    }

    // x, y (N, C, L); gamma, beta, mean, invStd (C)
    internal static void NormalizeKernel(Index1D i, NormalizeArgs a)
    {
        int c = i / a.Length % a.Channels;
        a.Y[i] = a.Gamma[c] * (a.X[i] - a.Mean[c]) * a.InvStd[c] + a.Beta[c];
    }

    // x, y (N, C, L); gamma, beta, runningMean, runningVar (C)
    internal static void NormalizeEvalKernel(Index1D i, NormalizeEvalArgs a)
    {
        int c = i / a.Length % a.Channels;
        a.Y[i] = a.Gamma[c] * (a.X[i] - a.RunningMean[c]) / MathF.Sqrt(a.RunningVar[c] + a.Eps) + a.Beta[c];
    }

    // x, dy, dx (N, C, L); gamma, mean, invStd, dgamma, dbeta (C)
    internal static void NormBackwardKernel(Index1D i, NormBackwardArgs a)
    {
        int c = i / a.Length % a.Channels;
        float normalized = (a.X[i] - a.Mean[c]) * a.InvStd[c];
        float gradient = a.Gamma[c] * a.InvStd[c] / a.Count * (a.Count * a.Dy[i] - a.DBeta[c] - normalized * a.DGamma[c]);
        a.Dx[i] = a.AfterRelu != 0 && a.X[i] <= 0f ? 0f : gradient;
    }
}
