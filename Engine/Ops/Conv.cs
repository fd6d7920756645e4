using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// 2-D convolution (cross-correlation, as torch.nn.functional.conv2d) with zero padding.
///   y[n,k,i,j] = b[k] + Σ_{c,r,s} w[k,c,r,s] · x[n, c, i·sh + r − ph, j·sw + s − pw]
///   dx[n,c,h,w] = Σ_{k,r,s} w[k,c,r,s] · dy[n,k,i,j] over (i,j) with i·sh + r − ph = h, j·sw + s − pw = w
///   dw[k,c,r,s] = Σ_{n,i,j} dy[n,k,i,j] · x[n, c, i·sh + r − ph, j·sw + s − pw]
///   db[k] = Σ_{n,i,j} dy[n,k,i,j]
/// x (N,C,H,W), w (K,C,R,S), b (K), y (N,K,OH,OW).
/// Padding replicates or reflects x's edges instead of adding zeros when the mode says so (PyTorch's padding_mode):
/// the convolution reads the padded rows as it reads zero-padded ones, and no padded copy of x is kept; its input
/// gradient is the gradient of the padded input folded back onto x (the padding's backward).
/// Fused with a ReLU after it (Conv2dRelu): y = max(conv, 0) in the convolution's own store, so the pre-activation is
/// never written; the backward masks dy where y ≤ 0, which is where the convolution was ≤ 0 (and passes NaN, as ReLU),
/// then runs the convolution's backward. Results equal Relu(Conv2d(...)) bit for bit.
/// Fused further with a BatchNorm in training after the ReLU (Conv2dReluBatchNorm, the block of the seed's towers): the
/// forward is one backend call, which may sum the convolution's rows for BatchNorm's statistics as it writes them (the
/// cpu: image by image); the backward of BatchNorm makes its dx already masked where its input ≤ 0, which is the ReLU's
/// backward, so the mask takes no pass of its own; and where the weight wants a gradient, one backend call takes
/// BatchNorm's sums and then the convolution's backward, which may make that dx as it reads it (the cpu: an image at a
/// time, never written whole). Results equal BatchNorm(Relu(Conv2d(...))) bit for bit.
/// </summary>
public static partial class Ops
{
    /// <summary>
    /// 2-D convolution of x (N,C,H,W) with weight (K,C,R,S) and an optional bias (K), as <c>nn.Conv2d</c>;
    /// stride defaults to (1,1), padding to (0,0), filled as <paramref name="paddingMode"/> says (zeros by default).
    /// Returns y (N,K,OH,OW).
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null,
        (int H, int W)? stride = null, (int H, int W)? padding = null, PaddingMode paddingMode = PaddingMode.Zeros) =>
        Convolve("Conv2d", x, weight, bias, stride, padding, paddingMode, relu: false);

    /// <summary>
    /// <see cref="Conv2d"/> followed by <see cref="Relu"/>, as one op: max(conv2d(x, weight, bias), 0), written once.
    /// </summary>
    public static Tensor Conv2dRelu(Tensor x, Tensor weight, Tensor? bias = null,
        (int H, int W)? stride = null, (int H, int W)? padding = null, PaddingMode paddingMode = PaddingMode.Zeros) =>
        Convolve("Conv2dRelu", x, weight, bias, stride, padding, paddingMode, relu: true);

    /// <summary>
    /// <see cref="BatchNorm"/> in training (with the batch's statistics, updating the running ones when given) of
    /// <see cref="Conv2dRelu"/>'s output, as one op. The backward takes the gradient through BatchNorm and the ReLU's
    /// mask (where BatchNorm's input x ≤ 0) into the convolution's backward, in one backend call. With
    /// <paramref name="batches"/> above 1, BatchNorm normalises each of that many equal batches of x by its own statistics
    /// (<see cref="BatchNorm"/>). Results equal BatchNorm(Conv2dRelu(...)) bit for bit.
    /// </summary>
    public static Tensor Conv2dReluBatchNorm(Tensor x, Tensor weight, Tensor? bias, Tensor gamma, Tensor beta,
        Tensor? runningMean, Tensor? runningVar, float momentum = DefaultBatchNormMomentum, float eps = DefaultBatchNormEps,
        (int H, int W)? stride = null, (int H, int W)? padding = null, PaddingMode paddingMode = PaddingMode.Zeros, int batches = 1)
    {
        const string op = "Conv2dReluBatchNorm";
        var s = CheckConvolution(op, x, weight, bias, stride, padding, paddingMode);
        var activation = Tensor.Empty(x, s.N, s.K, s.OutH, s.OutW);
        var norm = CheckBatchNorm(op, activation, gamma, beta, runningMean, runningVar, training: true, batches);
        var (y, statistics) = NormalizeByBatch(norm, activation, runningMean, runningVar, (normalized, mean, invStd, runningMeanOut, runningVarOut) =>
            x.Backend.Conv2dReluBatchNormForward(s, norm, x.Buffer, weight.Buffer, bias?.Buffer, activation.Buffer, gamma.Buffer, beta.Buffer,
                normalized, mean, invStd, runningMeanOut, runningVarOut, eps, momentum));
        Tensor[] inputs = bias == null ? [x, weight, gamma, beta] : [x, weight, bias, gamma, beta];
        return Tape.Record(y, op, inputs, dy =>
        {
            if (!NeedsParameterGradients(weight, bias))
            {
                using var preActivationGradient = BatchNormBackward(norm, activation, dy, gamma, beta, statistics, afterRelu: true);
                ConvolutionBackward(s, x, weight, bias, preActivationGradient);
                return;
            }
            var dgamma = Tensor.Empty(x, gamma.Shape);
            var dbeta = Tensor.Empty(x, beta.Shape);
            var (dx, dw, db) = ConvolutionGradients(x, weight, bias);
            x.Backend.Conv2dReluBatchNormBackward(s, norm, x.Buffer, activation.Buffer, dy.Buffer, gamma.Buffer, statistics.Mean.Buffer,
                statistics.InvStd.Buffer, weight.Buffer, dx?.Buffer, dw.Buffer, db?.Buffer, dgamma.Buffer, dbeta.Buffer);
            Tape.Accumulate(gamma, dgamma);
            Tape.Accumulate(beta, dbeta);
            AccumulateConvolutionGradients(x, weight, bias, dx, dw, db);
        });
    }

    private static Tensor Convolve(string op, Tensor x, Tensor weight, Tensor? bias,
        (int H, int W)? stride, (int H, int W)? padding, PaddingMode paddingMode, bool relu)
    {
        var s = CheckConvolution(op, x, weight, bias, stride, padding, paddingMode);
        var backend = x.Backend;
        var y = Tensor.Empty(x, s.N, s.K, s.OutH, s.OutW);
        backend.Conv2dForward(s, x.Buffer, weight.Buffer, bias?.Buffer, relu, y.Buffer);

        Tensor[] inputs = bias == null ? [x, weight] : [x, weight, bias];
        return Tape.Record(y, op, inputs, outputGradient =>
        {
            if (!relu)
            {
                ConvolutionBackward(s, x, weight, bias, outputGradient);
                return;
            }
            using var masked = Tensor.Empty(x, y.Shape);
            backend.UnaryBackward(UnaryKind.Relu, y.Buffer, outputGradient.Buffer, masked.Buffer, 0f);
            ConvolutionBackward(s, x, weight, bias, masked);
        });
    }

    /// <summary>The convolution's shape, after checking every argument.</summary>
    private static Conv2dShape CheckConvolution(string op, Tensor x, Tensor weight, Tensor? bias,
        (int H, int W)? stride, (int H, int W)? padding, PaddingMode paddingMode)
    {
        Check.Rank(op, "input", x, 4);
        Check.Rank(op, "weight", weight, 4);
        Check.SameBackend(op, x, weight);
        var (sh, sw) = stride ?? (1, 1);
        var (ph, pw) = padding ?? (0, 0);
        Check.That(sh > 0 && sw > 0, op, $"stride must be positive, got ({sh},{sw})");
        Check.That(ph >= 0 && pw >= 0, op, $"padding must be non-negative, got ({ph},{pw})");
        Check.That(weight.Shape[1] == x.Shape[1], op,
            $"input {x.ShapeText} has {x.Shape[1]} channels but weight {weight.ShapeText} expects {weight.Shape[1]}");
        Check.That(Enum.IsDefined(paddingMode), op, $"unknown padding mode {(int)paddingMode}");
        if (paddingMode == PaddingMode.Reflect)
            Check.That(ph < x.Shape[2] && pw < x.Shape[3], op,
                $"reflection padding ({ph},{pw}) must be smaller than the input's {x.Shape[2]}×{x.Shape[3]} (input {x.ShapeText})");
        PadMode? mode = paddingMode switch
        {
            PaddingMode.Reflect => PadMode.Reflection,
            PaddingMode.Replicate => PadMode.Replication,
            _ => null,
        };
        var s = new Conv2dShape(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], weight.Shape[0], weight.Shape[2], weight.Shape[3], sh, sw, ph, pw,
            ph == 0 && pw == 0 ? null : mode);
        Check.That(x.Shape[2] + 2 * ph >= s.R && x.Shape[3] + 2 * pw >= s.S, op,
            $"kernel {s.R}×{s.S} is larger than the padded input {x.Shape[2] + 2 * ph}×{x.Shape[3] + 2 * pw} (input {x.ShapeText})");
        if (bias != null)
        {
            Check.SameBackend(op, x, bias);
            Check.That(bias.Rank == 1 && bias.Shape[0] == s.K, op,
                $"bias {bias.ShapeText} does not match weight {weight.ShapeText} (needs ({s.K}))");
        }
        return s;
    }

    /// <summary>Accumulates the gradients of x, the weight and the bias (those that need one) from dy, the gradient of the convolution's output.</summary>
    private static void ConvolutionBackward(Conv2dShape s, Tensor x, Tensor weight, Tensor? bias, Tensor dy)
    {
        var backend = x.Backend;
        if (!NeedsParameterGradients(weight, bias))
        {
            if (!Tape.Needs(x)) return;
            var dxOnly = Tensor.Empty(x, x.Shape);
            backend.Conv2dBackwardInput(s, dy.Buffer, weight.Buffer, dxOnly.Buffer);
            Tape.Accumulate(x, dxOnly);
            return;
        }
        var (dx, dw, db) = ConvolutionGradients(x, weight, bias);
        backend.Conv2dBackward(s, x.Buffer, dy.Buffer, weight.Buffer, dx?.Buffer, dw.Buffer, db?.Buffer);
        AccumulateConvolutionGradients(x, weight, bias, dx, dw, db);
    }

    private static bool NeedsParameterGradients(Tensor weight, Tensor? bias) => Tape.Needs(weight) || bias != null && Tape.Needs(bias);

    /// <summary>The tensors a backward with the weight's or the bias's gradient writes: dx only where x needs it, dw always.</summary>
    private static (Tensor? Dx, Tensor Dw, Tensor? Db) ConvolutionGradients(Tensor x, Tensor weight, Tensor? bias) =>
        (Tape.Needs(x) ? Tensor.Empty(x, x.Shape) : null, Tensor.Empty(x, weight.Shape),
            bias != null && Tape.Needs(bias) ? Tensor.Empty(x, bias.Shape) : null);

    private static void AccumulateConvolutionGradients(Tensor x, Tensor weight, Tensor? bias, Tensor? dx, Tensor dw, Tensor? db)
    {
        if (dx != null) Tape.Accumulate(x, dx);
        if (Tape.Needs(weight)) Tape.Accumulate(weight, dw); else dw.Dispose();
        if (db != null) Tape.Accumulate(bias!, db);
    }
}

/// <summary>What a convolution's padding is filled with, as PyTorch's <c>padding_mode</c>.</summary>
public enum PaddingMode
{
    /// <summary>Zeros ('zeros').</summary>
    Zeros,
    /// <summary>The input mirrored at its edges, the edge itself not repeated ('reflect'; each pad smaller than the side it pads).</summary>
    Reflect,
    /// <summary>The input's edge values repeated ('replicate').</summary>
    Replicate,
}
