using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// 2-D convolution (cross-correlation, zero padding) as implicit GEMM on the tiled product of Gemm.cs: the operands
// gather image patches on the fly, so no im2col buffer is materialised. With p = (oh, ow) and taps (r, s):
//   forward          y[n,k,p]      = Σ_{c,r,s} w[k,c,r,s] · x[n, c, oh·sh−ph+r, ow·sw−pw+s] + b[k]   (then max(·, 0) when
//                    a following ReLU is fused)
//                    product (K) × (N·OH·OW) over depth C·R·S
//   backward input   dx[n,c,h,w]   = Σ_{k,r,s} w[k,c,r,s] · dy[n, k, (h+ph−r)/sh, (w+pw−s)/sw]
//                    (terms where the division is inexact or out of range are 0); product (C) × (N·H·W) over K·R·S
//   backward weight  dw[k,c,r,s]   = Σ_{n,p} dy[n,k,p] · x[n, c, oh·sh−ph+r, ow·sw−pw+s]
//                    product (K) × (C·R·S) over the long depth N·OH·OW, cut in slices summed in order
//                    db[k]         = Σ_{n,p} dy[n,k,p]

/// <summary>The convolution's sizes, as the kernels read them.</summary>
internal readonly record struct ConvGeometry(
    int C, int H, int W, int K, int R, int S, int StrideH, int StrideW, int PadH, int PadW, int OutH, int OutW)
{
    public static ConvGeometry From(in Conv2dShape s) =>
        new(s.C, s.H, s.W, s.K, s.R, s.S, s.StrideH, s.StrideW, s.PadH, s.PadW, s.OutH, s.OutW);

    /// <summary>im2col (C·R·S, N·OH·OW) element (row, column) = x[n, c, oh·sh−ph+r, ow·sw−pw+s]; 0 in the padding.</summary>
    public float Patch(ArrayView<float> x, int row, int column)
    {
        int c = row / (R * S), r = row / S % R, s = row % S;
        int outPixels = OutH * OutW;
        int n = column / outPixels, p = column % outPixels;
        int ih = p / OutW * StrideH - PadH + r;
        int iw = p % OutW * StrideW - PadW + s;
        return ih >= 0 && ih < H && iw >= 0 && iw < W ? x[((n * C + c) * H + ih) * W + iw] : 0f;
    }

    /// <summary>
    /// (K·R·S, N·H·W) element (row, column) = dy[n, k, oh, ow] for the output pixel that reads input (h, w) through
    /// tap (r, s): h = oh·sh − ph + r; 0 where there is none.
    /// </summary>
    public float OutputGradientPatch(ArrayView<float> dy, int row, int column)
    {
        int k = row / (R * S), r = row / S % R, s = row % S;
        int pixels = H * W;
        int n = column / pixels, p = column % pixels;
        int th = p / W + PadH - r;
        int tw = p % W + PadW - s;
        if (th < 0 || tw < 0 || th % StrideH != 0 || tw % StrideW != 0) return 0f;
        int oh = th / StrideH, ow = tw / StrideW;
        return oh < OutH && ow < OutW ? dy[((n * K + k) * OutH + oh) * OutW + ow] : 0f;
    }
}

/// <summary>im2col of x as the B operand of the forward product: outer = output pixel column, depth = (c, r, s).</summary>
internal readonly record struct PatchColumns(ArrayView<float> X, ConvGeometry Geometry) : IGemmOperand
{
    public bool DepthContiguous => false;
    public float Load(int outer, int depth) => Geometry.Patch(X, depth, outer);
}

/// <summary>im2col of x as the B operand of the weight gradient: outer = (c, r, s), depth = output pixel column.</summary>
internal readonly record struct PatchRows(ArrayView<float> X, ConvGeometry Geometry) : IGemmOperand
{
    public bool DepthContiguous => true;
    public float Load(int outer, int depth) => Geometry.Patch(X, outer, depth);
}

/// <summary>w (K, C, R·S) read as (C, K·R·S): outer = c, depth = (k, r, s).</summary>
internal readonly record struct TransposedWeights(ArrayView<float> W, int C, int Taps) : IGemmOperand
{
    public bool DepthContiguous => true;
    public float Load(int outer, int depth) => W[(depth / Taps * C + outer) * Taps + depth % Taps];
}

/// <summary>dy gathered for the input gradient: outer = input pixel column (n, h, w), depth = (k, r, s).</summary>
internal readonly record struct OutputGradientColumns(ArrayView<float> Dy, ConvGeometry Geometry) : IGemmOperand
{
    public bool DepthContiguous => false;
    public float Load(int outer, int depth) => Geometry.OutputGradientPatch(Dy, depth, outer);
}

/// <summary>
/// Product element (c, n·L + l) → y[n, c, l] of y (N, C, L), plus bias[c] when Bias (C) is not empty, then ReLU when
/// Relu is 1. Never split. (An empty view marks "no bias", and Relu is an int: kernel arguments must be blittable,
/// which rules out a bool.)
/// </summary>
internal readonly record struct ChannelOutput(ArrayView<float> Y, ArrayView<float> Bias, int Relu, int Channels, int Length) : IGemmOutput
{
    public void Store(int slice, int row, int col, float value)
    {
        if (Bias.Length > 0) value += Bias[row];
        Y[IlgpuBackend.ChannelIndex(row, col, Channels, Length)] = Relu != 0 ? default(Relu).Forward(value, 0f) : value;
    }
}

internal sealed partial class IlgpuBackend
{
    private static readonly GroupedKernel<GemmArgs<OuterMajor, PatchColumns, ChannelOutput>> s_convForward = new(GemmKernel);
    private static readonly GroupedKernel<GemmArgs<TransposedWeights, OutputGradientColumns, ChannelOutput>> s_convBackwardInput = new(GemmKernel);
    private static readonly GroupedKernel<GemmArgs<ChannelMajor, PatchRows, DenseOutput>> s_convBackwardWeight = new(GemmKernel);

    public void Conv2dForward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, bool relu, DeviceBuffer y)
    {
        // The patch gathers read zero padding only: the other modes pad into a buffer first.
        if (s.Mode is { } mode)
        {
            using var padded = this.PaddedInput(s, mode, x);
            Conv2dForward(s.OnPaddedInput(), padded, w, bias, relu, y);
            return;
        }
        var geometry = ConvGeometry.From(s);
        int taps = s.R * s.S;
        int columns = checked(s.N * s.OutH * s.OutW);
        var yv = View(y, s.OutputLength);
        var output = new ChannelOutput(yv, bias is null ? Prefix(yv, 0) : Prefix(View(bias, s.K), s.K), relu ? 1 : 0, s.K, s.OutH * s.OutW);
        var tiling = Tiling(s.K, columns, s.C * taps, splitDepth: false);
        Launch(s_convForward, tiling.Groups, GemmThreads, new GemmArgs<OuterMajor, PatchColumns, ChannelOutput>(
            new OuterMajor(View(w, s.WeightLength), s.C * taps), new PatchColumns(View(x, s.InputLength), geometry), output, tiling));
    }

    public void Conv2dBackwardInput(in Conv2dShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx)
    {
        if (s.Mode is { } mode)
        {
            this.InputGradientThroughPadding(s, mode, dy, w, dx);
            return;
        }
        var geometry = ConvGeometry.From(s);
        int taps = s.R * s.S;
        int columns = checked(s.N * s.H * s.W);
        var dxv = View(dx, s.InputLength);
        var tiling = Tiling(s.C, columns, s.K * taps, splitDepth: false);
        Launch(s_convBackwardInput, tiling.Groups, GemmThreads, new GemmArgs<TransposedWeights, OutputGradientColumns, ChannelOutput>(
            new TransposedWeights(View(w, s.WeightLength), s.C, taps), new OutputGradientColumns(View(dy, s.OutputLength), geometry),
            new ChannelOutput(dxv, Prefix(dxv, 0), 0, s.C, s.H * s.W), tiling));
    }

    public void Conv2dBackwardWeight(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? dbias)
    {
        if (s.Mode is { } mode)
        {
            using var padded = this.PaddedInput(s, mode, x);
            Conv2dBackwardWeight(s.OnPaddedInput(), padded, dy, dw, dbias);
            return;
        }
        var geometry = ConvGeometry.From(s);
        int outPixels = s.OutH * s.OutW;
        int depth = checked(s.N * outPixels);
        var dyv = View(dy, s.OutputLength);
        DenseProduct(s_convBackwardWeight, new ChannelMajor(dyv, s.K, outPixels), new PatchRows(View(x, s.InputLength), geometry),
            s.K, s.C * s.R * s.S, depth, 1f, 0f, View(dw, s.WeightLength));
        if (dbias is not null)
            Reduce(s_channelSum, new ChannelMajor(dyv, s.K, outPixels), s.K, depth, View(dbias, s.K), 1f);
    }
}
