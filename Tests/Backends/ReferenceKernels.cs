using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every kernel of <see cref="IBackend"/> written the plainest way: scalar loops in double precision, read straight
/// off the formulas in the seam's doc comments, with no blocking, tiling or splitting. The kernel tests compare each
/// device with these. The sums are linear in every input, so the same function applied to |inputs| gives Σ|terms|
/// of each result: the scale of the float rounding error a correct kernel may make.
/// </summary>
internal static class ReferenceKernels
{
    public static float[] Abs(float[] x) => x.Select(MathF.Abs).ToArray();

    // ---- element-wise ------------------------------------------------------------------------

    /// <summary>
    /// y = f(x, s) and dx = dy · f'(x, s) by the scalar form of the op's one definition (UnaryOps.cs), which PyTorch's
    /// fixtures check: the kernels' vector bodies, tails and every device are held to it.
    /// </summary>
    public static (float Y, float Dx) Unary(UnaryKind kind, float x, float dy, float scalar)
    {
        var scalarForm = new ScalarForm(x, dy, scalar);
        UnaryOps.With(kind, ref scalarForm);
        return (scalarForm.Y, scalarForm.Dx);
    }

    private struct ScalarForm(float x, float dy, float s) : IUnaryOpUser
    {
        public float Y { get; private set; }
        public float Dx { get; private set; }

        public void Use<TOp>() where TOp : struct, IUnaryOp => (Y, Dx) = (default(TOp).Forward(x, s), default(TOp).Backward(x, dy, s));
    }

    public static double Binary(BinaryKind kind, double a, double b) => kind switch
    {
        BinaryKind.Add => a + b,
        BinaryKind.Sub => a - b,
        BinaryKind.Mul => a * b,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static double[] Axpy(double alpha, float[] x, float[] y) => y.Select((v, i) => v + alpha * x[i]).ToArray();

    public static double Sum(float[] x, double scale) => scale * x.Sum(v => (double)v);

    /// <summary>mask[i] = 0 where the shared hash falls below p, else 1/(1 − p) in float as the kernels compute it.</summary>
    public static double[] DropoutMask(int n, float p, ulong seed) =>
        Enumerable.Range(0, n).Select(i => DropoutHash.Uniform(seed, i) < p ? 0.0 : 1f / (1f - p)).ToArray();

    // ---- dense -------------------------------------------------------------------------------

    /// <summary>C (m,n) = alpha · op(A) · op(B) + beta · C; beta = 0 ignores C.</summary>
    public static double[] Gemm(bool transA, bool transB, int m, int n, int k, double alpha, float[] a, float[] b, double beta, float[] c)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                result[i * n + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * n + j]);
            }
        return result;
    }

    public static double[] AddRowVector(float[] y, float[] bias, int cols) => y.Select((v, i) => (double)v + bias[i % cols]).ToArray();

    public static double[] SumRows(float[] x, int rows, int cols)
    {
        var sums = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) sums[j] += x[r * cols + j];
        return sums;
    }

    // ---- convolution -------------------------------------------------------------------------

    /// <summary>visit(x index, w index, y index) for every tap of the convolution that reads inside the unpadded x.</summary>
    private static void ForEachTap(Conv2dShape s, Action<int, int, int> visit)
    {
        for (int n = 0; n < s.N; n++)
            for (int k = 0; k < s.K; k++)
                for (int oh = 0; oh < s.OutH; oh++)
                    for (int ow = 0; ow < s.OutW; ow++)
                        for (int c = 0; c < s.C; c++)
                            for (int r = 0; r < s.R; r++)
                                for (int q = 0; q < s.S; q++)
                                {
                                    int ih = oh * s.StrideH - s.PadH + r, iw = ow * s.StrideW - s.PadW + q;
                                    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                    visit(((n * s.C + c) * s.H + ih) * s.W + iw, ((k * s.C + c) * s.R + r) * s.S + q,
                                        ((n * s.K + k) * s.OutH + oh) * s.OutW + ow);
                                }
    }

    /// <summary>y (N,K,OH,OW) = bias[k] + Σ_{c,r,s} w[k,c,r,s] · x[n, c, oh·sh + r − ph, ow·sw + s − pw].</summary>
    public static double[] Conv2dForward(Conv2dShape s, float[] x, float[] w, float[]? bias)
    {
        var y = new double[s.OutputLength];
        int outPixels = s.OutH * s.OutW;
        for (int i = 0; i < y.Length; i++) y[i] = bias?[i / outPixels % s.K] ?? 0;
        ForEachTap(s, (xi, wi, yi) => y[yi] += (double)x[xi] * w[wi]);
        return y;
    }

    public static double[] Conv2dBackwardInput(Conv2dShape s, float[] dy, float[] w)
    {
        var dx = new double[s.InputLength];
        ForEachTap(s, (xi, wi, yi) => dx[xi] += (double)dy[yi] * w[wi]);
        return dx;
    }

    public static (double[] Dw, double[] Dbias) Conv2dBackwardWeight(Conv2dShape s, float[] x, float[] dy)
    {
        var dw = new double[s.WeightLength];
        ForEachTap(s, (xi, wi, yi) => dw[wi] += (double)dy[yi] * x[xi]);
        var dbias = new double[s.K];
        int outPixels = s.OutH * s.OutW;
        for (int i = 0; i < dy.Length; i++) dbias[i / outPixels % s.K] += dy[i];
        return (dw, dbias);
    }

    // ---- padding, pooling --------------------------------------------------------------------

    /// <summary>The input index that padded output (oh, ow) copies: replication clamps, reflection mirrors without repeating the edge.</summary>
    private static int PadSource(PadMode mode, Pad2dShape s, int plane, int oh, int ow)
    {
        static int Source(PadMode mode, int i, int size) => mode == PadMode.Replication
            ? Math.Clamp(i, 0, size - 1)
            : i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
        return (plane * s.H + Source(mode, oh - s.Top, s.H)) * s.W + Source(mode, ow - s.Left, s.W);
    }

    public static double[] Pad2dForward(PadMode mode, Pad2dShape s, float[] x)
    {
        var y = new double[s.Planes * s.OutH * s.OutW];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                    y[(p * s.OutH + oh) * s.OutW + ow] = x[PadSource(mode, s, p, oh, ow)];
        return y;
    }

    public static double[] Pad2dBackward(PadMode mode, Pad2dShape s, float[] dy)
    {
        var dx = new double[s.Planes * s.H * s.W];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                    dx[PadSource(mode, s, p, oh, ow)] += dy[(p * s.OutH + oh) * s.OutW + ow];
        return dx;
    }

    /// <summary>The input index of the first maximum of window (oh, ow) in row-major window order.</summary>
    private static int WindowArgMax(Pool2dShape s, float[] x, int plane, int oh, int ow)
    {
        int best = -1;
        for (int i = 0; i < s.KH; i++)
            for (int j = 0; j < s.KW; j++)
            {
                int index = (plane * s.H + oh * s.SH + i) * s.W + ow * s.SW + j;
                if (best < 0 || x[index] > x[best]) best = index;
            }
        return best;
    }

    public static double[] MaxPool2dForward(Pool2dShape s, float[] x)
    {
        var y = new double[s.Planes * s.OutH * s.OutW];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                    y[(p * s.OutH + oh) * s.OutW + ow] = x[WindowArgMax(s, x, p, oh, ow)];
        return y;
    }

    public static double[] MaxPool2dBackward(Pool2dShape s, float[] x, float[] dy)
    {
        var dx = new double[x.Length];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                    dx[WindowArgMax(s, x, p, oh, ow)] += dy[(p * s.OutH + oh) * s.OutW + ow];
        return dx;
    }

    // ---- batch norm --------------------------------------------------------------------------

    /// <summary>Channel of element i of x (N,C,L).</summary>
    public static int Channel(NormShape s, long i) => (int)(i / s.L % s.C);

    public sealed record BatchNormTraining(double[] Y, double[] Mean, double[] InvStd, double[] RunningMean, double[] RunningVar);

    /// <summary>
    /// Mean and biased variance over N·L per channel, y = γ·(x − mean)·invStd + β with invStd = 1/√(var + eps);
    /// running = (1 − momentum)·running + momentum·batch, with the unbiased variance for runningVar.
    /// </summary>
    public static BatchNormTraining BatchNormTrainForward(NormShape s, float[] x, float[] gamma, float[] beta,
        float[] runningMean, float[] runningVar, double eps, double momentum)
    {
        double count = (double)s.N * s.L;
        double[] mean = new double[s.C], variance = new double[s.C];
        for (int i = 0; i < x.Length; i++) mean[Channel(s, i)] += x[i] / count;
        for (int i = 0; i < x.Length; i++) variance[Channel(s, i)] += Math.Pow(x[i] - mean[Channel(s, i)], 2) / count;
        double[] invStd = variance.Select(v => 1 / Math.Sqrt(v + eps)).ToArray();
        var y = x.Select((v, i) => gamma[Channel(s, i)] * (v - mean[Channel(s, i)]) * invStd[Channel(s, i)] + beta[Channel(s, i)]).ToArray();
        return new BatchNormTraining(y, mean, invStd,
            mean.Select((m, c) => (1 - momentum) * runningMean[c] + momentum * m).ToArray(),
            variance.Select((v, c) => (1 - momentum) * runningVar[c] + momentum * v * count / (count - 1)).ToArray());
    }

    /// <summary>
    /// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ·invStd/m · (m·dy − dβ − x̂·dγ) with x̂ = (x − mean)·invStd; after a ReLU, dx = 0
    /// where x ≤ 0.
    /// </summary>
    public static (double[] Dx, double[] Dgamma, double[] Dbeta) BatchNormBackward(NormShape s, float[] x, float[] dy, float[] gamma,
        float[] mean, float[] invStd, bool afterRelu = false)
    {
        double count = (double)s.N * s.L;
        double Normalized(int i) => ((double)x[i] - mean[Channel(s, i)]) * invStd[Channel(s, i)];
        double[] dgamma = new double[s.C], dbeta = new double[s.C];
        for (int i = 0; i < x.Length; i++)
        {
            dbeta[Channel(s, i)] += dy[i];
            dgamma[Channel(s, i)] += dy[i] * Normalized(i);
        }
        var dx = x.Select((_, i) =>
        {
            int c = Channel(s, i);
            return afterRelu && x[i] <= 0 ? 0 : (double)gamma[c] * invStd[c] / count * (count * dy[i] - dbeta[c] - Normalized(i) * dgamma[c]);
        }).ToArray();
        return (dx, dgamma, dbeta);
    }

    /// <summary>y = γ·(x − runningMean)/√(runningVar + eps) + β.</summary>
    public static double[] BatchNormEvalForward(NormShape s, float[] x, float[] gamma, float[] beta, float[] runningMean, float[] runningVar,
        double eps) =>
        x.Select((v, i) =>
        {
            int c = Channel(s, i);
            return gamma[c] * (v - runningMean[c]) / Math.Sqrt(runningVar[c] + eps) + beta[c];
        }).ToArray();

    /// <summary>Running statistics are constants: dx = dy·γ/√(runningVar + eps), dγ = Σ dy·x̂, dβ = Σ dy.</summary>
    public static (double[] Dx, double[] Dgamma, double[] Dbeta) BatchNormEvalBackward(NormShape s, float[] x, float[] dy, float[] gamma,
        float[] runningMean, float[] runningVar, double eps)
    {
        double[] invStd = runningVar.Select(v => 1 / Math.Sqrt(v + eps)).ToArray();
        double[] dgamma = new double[s.C], dbeta = new double[s.C];
        for (int i = 0; i < x.Length; i++)
        {
            int c = Channel(s, i);
            dbeta[c] += dy[i];
            dgamma[c] += dy[i] * (x[i] - runningMean[c]) * invStd[c];
        }
        return (dy.Select((v, i) => v * gamma[Channel(s, i)] * invStd[Channel(s, i)]).ToArray(), dgamma, dbeta);
    }

    // ---- distance and loss -------------------------------------------------------------------

    /// <summary>d (rows) = ‖a − b + eps‖₂ per row.</summary>
    public static double[] PairwiseDistanceForward(int rows, int dim, float[] a, float[] b, double eps) =>
        Enumerable.Range(0, rows).Select(r =>
            Math.Sqrt(Enumerable.Range(r * dim, dim).Sum(j => Math.Pow((double)a[j] - b[j] + eps, 2)))).ToArray();

    /// <summary>da = dd·(a − b + eps)/d (db = −da) for the given d.</summary>
    public static double[] PairwiseDistanceBackward(int dim, float[] a, float[] b, float[] d, float[] dd, double eps) =>
        a.Select((v, j) => dd[j / dim] * ((double)v - b[j] + eps) / d[j / dim]).ToArray();

    /// <summary>mean((1 − y)·d² + y·max(margin − d, 0)²).</summary>
    public static double ContrastiveLossForward(float[] d, float[] label, double margin) =>
        d.Select((v, i) => (1 - label[i]) * v * (double)v + label[i] * Math.Pow(Math.Max(margin - v, 0), 2)).Average();

    /// <summary>dd = dloss/n · (2(1 − y)·d − 2y·max(margin − d, 0)).</summary>
    public static double[] ContrastiveLossBackward(float[] d, float[] label, double dloss, double margin) =>
        d.Select((v, i) => dloss / d.Length * (2 * (1 - label[i]) * v - 2 * label[i] * Math.Max(margin - v, 0))).ToArray();

    /// <summary>y = x / max(‖x‖, eps) per row, and the norms ‖x‖.</summary>
    public static (double[] Y, double[] Norms) L2NormalizeForward(int rows, int dim, float[] x, double eps)
    {
        var norms = Enumerable.Range(0, rows).Select(r => Math.Sqrt(Enumerable.Range(r * dim, dim).Sum(j => (double)x[j] * x[j]))).ToArray();
        return (x.Select((v, j) => v / Math.Max(norms[j / dim], eps)).ToArray(), norms);
    }

    /// <summary>dx = (dy − y·⟨y, dy⟩)/‖x‖ per row, dy/eps where ‖x‖ &lt; eps.</summary>
    public static double[] L2NormalizeBackward(int rows, int dim, float[] y, float[] norms, float[] dy, double eps)
    {
        var radial = Enumerable.Range(0, rows).Select(r => Enumerable.Range(r * dim, dim).Sum(j => (double)y[j] * dy[j])).ToArray();
        return dy.Select((g, j) => norms[j / dim] < eps ? g / eps : (g - y[j] * radial[j / dim]) / norms[j / dim]).ToArray();
    }

    /// <summary>softmax per row and −mean log p[label].</summary>
    public static (double[] P, double Loss) CrossEntropyForward(int rows, int classes, float[] logits, float[] label)
    {
        var p = new double[rows * classes];
        double loss = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = logits.Skip(r * classes).Take(classes).Select(v => (double)v).ToArray();
            double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            for (int k = 0; k < classes; k++) p[r * classes + k] = Math.Exp(row[k] - max) / sum;
            loss -= row[(int)label[r]] - max - Math.Log(sum);
        }
        return (p, loss / rows);
    }

    /// <summary>dlogits = dloss/rows · (p − onehot(label)).</summary>
    public static double[] CrossEntropyBackward(int rows, int classes, float[] p, float[] label, double dloss) =>
        p.Select((v, i) => dloss / rows * (v - (i % classes == (int)label[i / classes] ? 1.0 : 0.0))).ToArray();

    // ---- optimisers --------------------------------------------------------------------------

    /// <summary>torch.optim.Adam's step (L2 decay added to the gradient), in place on param, m and v.</summary>
    public static void AdamStep(double[] param, float[] grad, double[] m, double[] v, AdamStepParameters h)
    {
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i] + (double)h.WeightDecay * param[i];
            m[i] = h.Beta1 * m[i] + (1 - (double)h.Beta1) * g;
            v[i] = h.Beta2 * v[i] + (1 - (double)h.Beta2) * g * g;
            param[i] -= (double)h.LearningRate / h.BiasCorrection1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(h.BiasCorrection2) + h.Eps);
        }
    }

    /// <summary>torch.optim.SGD's step (momentum, dampening, Nesterov, L2 decay), in place on param and the momentum buffer.</summary>
    public static void SgdStep(double[] param, float[] grad, double[] buffer, SgdStepParameters h)
    {
        for (int i = 0; i < param.Length; i++)
        {
            double g = grad[i] + (double)h.WeightDecay * param[i];
            if (h.Momentum != 0)
            {
                buffer[i] = h.FirstStep ? g : h.Momentum * buffer[i] + (1 - (double)h.Dampening) * g;
                g = h.Nesterov ? g + h.Momentum * buffer[i] : buffer[i];
            }
            param[i] -= h.LearningRate * g;
        }
    }
}
