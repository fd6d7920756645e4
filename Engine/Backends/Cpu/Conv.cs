using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SimilarFaces.Engine.Backends.Cpu;

// Direct 2-D convolution (cross-correlation, as PyTorch), x (N,C,H,W), w (K,C,R,S), y (N,K,OH,OW):
//   y[n,k,oh,ow]  = bias[k] + Σ_{c,r,s} w[k,c,r,s] · x[n, c, oh·sh + r − ph, ow·sw + s − pw]      (zero outside x)
//                   then max(y, 0) in the same store when a following ReLU is fused
//   dx[n,c,ih,iw] = Σ_{k,r,s} w[k,c,r,s] · dy[n,k,oh,ow]   over oh·sh + r − ph = ih, ow·sw + s − pw = iw
//   dw[k,c,r,s]   = Σ_{n,oh,ow} dy[n,k,oh,ow] · x[n, c, oh·sh + r − ph, ow·sw + s − pw];   dbias[k] = Σ dy[n,k,·,·]
// Every pass reads padded source rows (a copy unless the padding is 0: zeros, or the edges replicated or reflected as
// the shape's mode says), so the kernels never test bounds.
// At stride 1 the input gradient is itself a correlation: dy padded by (R−1−ph, S−1−pw) with w flipped and its
// channels swapped (other strides scatter, scalar). Correlations keep eight output channels (four with 256-bit
// vectors) × one vector of two output rows in registers; outputs narrower than a vector or a single row, and strides
// above 1, take a scalar path with the same FMA order. At stride 1 the weight gradient reads each image's dy padded
// with zeros in a per-thread copy whose rows have the padded source's stride, so that each weight's sum runs over the
// whole image as one stretch of vectors (the zero columns add nothing); it keeps four output channels (eight with
// AVX-512) × three kernel columns in registers (other strides: scalar). When the input gradient is wanted too, it
// reads the same copy of dy while it is in the cache; each plane of dy is summed for the bias's gradient as it is
// copied. Behind a BatchNorm in training (Conv2dReluBatchNormBackward) the copy is made from BatchNorm's input
// gradient, plane by plane in a per-thread buffer, after all channels' sums: dy is never written whole and read back
// (the seed's three blocks 0.84–0.96× the time of the two kernels). The weight gradient is summed per group of images
// (groups fixed by the shape) and the groups added in order. Outputs narrower than two vectors whose patches are deep
// take the lowered path instead (ConvLowered.cs). In training's forward, a BatchNorm after the convolution (and its
// ReLU) takes each row's sums from the convolution, summed as each image is written, while it is in the cache. A plain
// forward (as the folded tower runs it) asks for the next image's source into L2, spread over this image's tiles.
internal sealed unsafe partial class CpuBackend
{
    private const int ChannelBlock = 4;   // output channels per register block

    [ThreadStatic] private static float[]? t_paddedSource;
    [ThreadStatic] private static float[]? t_paddedGradient;
    [ThreadStatic] private static float[]? t_paddedOutputGradient;
    [ThreadStatic] private static float[]? t_normGradient;

    /// <summary>
    /// One image's correlation: source (Ci, Hs, Ws) padded by (PadH, PadW) with zeros or as <see cref="Mode"/> says,
    /// kernel R×S, output (Co, Ho, Wo).
    /// </summary>
    private readonly record struct Correlation(int Ci, int Hs, int Ws, int PadH, int PadW, int Co, int R, int S, int StrideH, int StrideW, int Ho, int Wo,
        PadMode? Mode = null)
    {
        /// <summary>The correlation a convolution of shape <paramref name="s"/> runs over each image.</summary>
        public static Correlation Of(in Conv2dShape s) =>
            new(s.C, s.H, s.W, s.PadH, s.PadW, s.K, s.R, s.S, s.StrideH, s.StrideW, s.OutH, s.OutW, s.Mode);

        public int PaddedWidth => Ws + 2 * PadW;
        public long SourceLength => (long)Ci * Hs * Ws;
        public long OutputLength => (long)Co * Ho * Wo;
        /// <summary>Packed weights: [Co/4 blocks][Ci][R][S][4 channels], zero past Co.</summary>
        public int PackedWeightLength => (Co + ChannelBlock - 1) / ChannelBlock * ChannelBlock * Ci * R * S;
    }

    public void Conv2dForward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, bool relu, DeviceBuffer y) =>
        Conv2dForward(s, x, w, bias, relu, y, rowsOut: null);

    /// <summary>
    /// Where each image's correlation is one piece (enough images for every core), its rows are summed for BatchNorm's
    /// statistics right after, while they are in the cache, and BatchNorm takes those sums instead of reading every row
    /// once more: the same values as the two kernels one after the other.
    /// </summary>
    public void Conv2dReluBatchNormForward(in Conv2dShape s, in NormShape norm, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias,
        DeviceBuffer activation, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y, DeviceBuffer mean, DeviceBuffer invStd,
        DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum)
    {
        RowSums? rows = Lowered(s) || RowBlocks(s.N, s.OutH, fold: false) > 1 ? null : new RowSums(_wide, norm);
        Conv2dForward(s, x, w, bias, relu: true, activation, rows);
        BatchNormTrainForward(norm, activation, gamma, beta, y, mean, invStd, runningMean, runningVar, eps, momentum, rows);
    }

    /// <summary>
    /// <see cref="Conv2dForward(in Conv2dShape, DeviceBuffer, DeviceBuffer, DeviceBuffer?, bool, DeviceBuffer)"/>, each
    /// image's rows summed into <paramref name="rowsOut"/> when given (only where an image is one piece, not lowered).
    /// </summary>
    private void Conv2dForward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, bool relu, DeviceBuffer y, RowSums? rowsOut)
    {
        if (Lowered(s))
        {
            if (s.Mode is { } mode)
            {
                using var padded = this.PaddedInput(s, mode, x);
                Conv2dForwardLowered(s.OnPaddedInput(), padded, w, bias, relu, y);
            }
            else Conv2dForwardLowered(s, x, w, bias, relu, y);
            return;
        }
        Correlate(Correlation.Of(s), s.N, Data(x), Data(w), flipped: false, bias == null ? null : Data(bias), relu, Data(y), rowsOut: rowsOut);
    }

    public void Conv2dBackwardInput(in Conv2dShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx)
    {
        if (s.Mode is { } mode)
        {
            // The gradient of the padded input, one image at a time in a per-thread buffer, folded back onto dx there.
            var onPadded = s.OnPaddedInput();
            if (!Lowered(onPadded) && s.StrideH == 1 && s.StrideW == 1)
            {
                Correlate(InputGradientCorrelation(onPadded), s.N, Data(dy), Data(w), flipped: true, null, relu: false, Data(dx),
                    (mode, s.Padding() with { Planes = s.C }));
                return;
            }
            this.InputGradientThroughPadding(s, mode, dy, w, dx);
            return;
        }
        if (Lowered(s))
        {
            Conv2dBackwardInputLowered(s, dy, w, dx);
            return;
        }
        float[] dys = Data(dy), ws = Data(w), dxs = Data(dx);
        if (s.StrideH == 1 && s.StrideW == 1 && s.PadH < s.R && s.PadW < s.S)
        {
            Correlate(InputGradientCorrelation(s), s.N, dys, ws, flipped: true, null, relu: false, dxs);
            return;
        }
        // Other strides, or padding as wide as the kernel: each image scatters w · dy into its own dx, in order.
        var shape = s;
        ForEachPiece(s.N, n =>
        {
            fixed (float* dy0 = dys, w0 = ws, dx0 = dxs)
            {
                float* dyImage = dy0 + n * (long)shape.K * shape.OutH * shape.OutW;
                float* dxImage = dx0 + n * (long)shape.C * shape.H * shape.W;
                new Span<float>(dxImage, shape.C * shape.H * shape.W).Clear();
                for (int k = 0; k < shape.K; k++)
                    for (int oh = 0; oh < shape.OutH; oh++)
                        for (int ow = 0; ow < shape.OutW; ow++)
                        {
                            float g = dyImage[((long)k * shape.OutH + oh) * shape.OutW + ow];
                            for (int c = 0; c < shape.C; c++)
                                for (int r = 0; r < shape.R; r++)
                                {
                                    int ih = oh * shape.StrideH + r - shape.PadH;
                                    if ((uint)ih >= (uint)shape.H) continue;
                                    for (int q = 0; q < shape.S; q++)
                                    {
                                        int iw = ow * shape.StrideW + q - shape.PadW;
                                        if ((uint)iw >= (uint)shape.W) continue;
                                        float* target = dxImage + ((long)c * shape.H + ih) * shape.W + iw;
                                        *target = MathF.FusedMultiplyAdd(w0[((k * shape.C + c) * shape.R + r) * shape.S + q], g, *target);
                                    }
                                }
                        }
            }
        });
    }

    public void Conv2dBackwardWeight(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? dbias) =>
        Conv2dBackward(s, x, dy, null, null, dw, dbias);

    /// <summary>
    /// dw and dbias, and dx when given (with w): at stride 1 each image's dy is padded once, in a per-thread buffer, and
    /// both gradients read it there while it is in the cache: the input gradient's correlation and the weight gradient's
    /// flat sums (<see cref="FlatWeightGradient{TS,TV}"/>).
    /// </summary>
    public void Conv2dBackward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer? w, DeviceBuffer? dx, DeviceBuffer dw, DeviceBuffer? dbias) =>
        Conv2dBackward(s, x, dy, null, w, dx, dw, dbias);

    /// <summary>
    /// Where the convolution's backward pads each image's dy itself (stride 1, not lowered), BatchNorm's input gradient is
    /// made there, an image at a time in a per-thread buffer, from the sums of all channels taken first; the same values
    /// as the two kernels one after the other, without writing dy whole and reading it back.
    /// </summary>
    public void Conv2dReluBatchNormBackward(in Conv2dShape s, in NormShape norm, DeviceBuffer x, DeviceBuffer activation, DeviceBuffer dz,
        DeviceBuffer gamma, DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer w, DeviceBuffer? dx, DeviceBuffer dw, DeviceBuffer? dbias,
        DeviceBuffer dgamma, DeviceBuffer dbeta)
    {
        if (Lowered(s) || OutputGradientLayout(s).InputGradient == null)
        {
            IBackend.NormThenConv2dBackward(this, s, norm, x, activation, dz, gamma, mean, invStd, w, dx, dw, dbias, dgamma, dbeta);
            return;
        }
        var gradient = NormGradientOf(norm, activation, dz, gamma, mean, invStd);
        float[] dgammas = Data(dgamma), dbetas = Data(dbeta);
        int groups = NormGroups(norm.Batch());
        for (int c = 0; c < norm.C; c++) ChannelGradientMeans(gradient, c, groups, dgammas, dbetas);
        Conv2dBackward(s, x, null, gradient, w, dx, dw, dbias);
    }

    /// <summary>
    /// <see cref="Conv2dBackward(in Conv2dShape, DeviceBuffer, DeviceBuffer, DeviceBuffer?, DeviceBuffer?, DeviceBuffer, DeviceBuffer?)"/>
    /// with dy either given or made image by image through BatchNorm (<paramref name="throughNorm"/>: only at stride 1,
    /// not lowered).
    /// </summary>
    private void Conv2dBackward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer? dy, NormGradient? throughNorm, DeviceBuffer? w,
        DeviceBuffer? dx, DeviceBuffer dw, DeviceBuffer? dbias)
    {
        var layout = OutputGradientLayout(s);
        if (dx != null && (Lowered(s) || layout.InputGradient == null))
        {
            Conv2dBackwardInput(s, dy!, w!, dx);
            dx = null;
        }
        if (Lowered(s))
        {
            if (s.Mode is { } mode)
            {
                using var padded = this.PaddedInput(s, mode, x);
                Conv2dBackwardWeightLowered(s.OnPaddedInput(), padded, dy!, dw, dbias);
            }
            else Conv2dBackwardWeightLowered(s, x, dy!, dw, dbias);
            return;
        }
        float[] xs = Data(x), dws = Data(dw);
        float[]? dys = dy == null ? null : Data(dy);
        float[]? dxs = dx == null ? null : Data(dx), dbiases = dbias == null ? null : Data(dbias);
        var g = Correlation.Of(s);
        int weights = (int)s.WeightLength, partialLength = weights + s.K;
        int groups = (int)Math.Clamp((1 << 22) / partialLength, 1, Math.Min(s.N, 64));
        double[] partials = ArrayPool<double>.Shared.Rent(groups * partialLength);
        var inputGradient = dx == null ? null : layout.InputGradient;
        float[]? packed = inputGradient is { } c ? ArrayPool<float>.Shared.Rent(c.PackedWeightLength) : null;
        try
        {
            if (inputGradient is { } correlation) PackConvWeights(correlation, Data(w!), flipped: true, packed!);
            int images = s.N, lanes = VectorLanes;
            var fold = s.Mode is { } foldMode ? (foldMode, s.Padding() with { Planes = s.C }) : ((PadMode, Pad2dShape)?)null;
            // dy: Ho + 2·top rows of `stride` floats, the image at (top, left), zero around it and for a vector past the
            // end; the source: its padded rows at the same stride, and a vector and S floats past the end.
            int stride = layout.Stride, sourceRows = g.Hs + 2 * g.PadH;
            long dyPlane = ((long)(g.Ho + 2 * layout.Top) * stride + layout.Left + 2 * lanes) / CacheLineFloats * CacheLineFloats;
            // the copy starts where each plane's first output lands on a cache line, so that the flat sums' dy loads never straddle two
            int dyShift = (int)((CacheLineFloats - ((long)layout.Top * stride + layout.Left) % CacheLineFloats) % CacheLineFloats);
            long sourcePlane = ((long)sourceRows * stride + g.S + lanes + CacheLineFloats - 1) / CacheLineFloats * CacheLineFloats;
            long outputPlane = (long)g.Ho * g.Wo;
            ForEachPiece(groups, group =>
            {
                var (first, end) = PieceRange(images, groups, group);
                var partial = partials.AsSpan(group * partialLength, partialLength);
                partial.Clear();
                fixed (float* x0 = xs, dy0 = dys, dx0 = dxs, wPacked = packed)
                fixed (double* sums = partial)
                    for (int n = first; n < end; n++)
                    {
                        float* image = x0 + n * g.SourceLength, dyImage = dy0 + n * g.OutputLength;
                        if (g.StrideH != 1 || g.StrideW != 1)
                        {
                            float* padded = PaddedSource(g, image, 0, sourceRows, out long plane);
                            AccumulateWeightGradientScalar(g, padded, plane, dyImage, sums);
                            for (int k = 0; k < g.Co; k++) sums[weights + k] += SumOf(dyImage + k * outputPlane, (int)outputPlane);
                        }
                        else
                        {
                            // Each plane of dy (made through BatchNorm, when it comes that way, in a per-thread buffer) is
                            // padded, and summed for the bias's gradient while it is in the cache.
                            float* paddedDy = ThreadScratch(ref t_paddedOutputGradient, g.Co * dyPlane + dyShift) + dyShift;
                            for (int k = 0; k < g.Co; k++)
                            {
                                float* plane = dyImage + k * outputPlane;
                                if (throughNorm is { } norm) norm.Row(n, k, plane = ThreadScratch(ref t_normGradient, outputPlane), afterRelu: true);
                                CopyPadded(plane, 1, g.Ho, g.Wo, layout.Top, layout.Left, null, paddedDy + k * dyPlane, 0, g.Ho + 2 * layout.Top, stride, dyPlane);
                                sums[weights + k] += SumOf(plane, (int)outputPlane);
                            }
                            if (inputGradient is { } ig)
                            {
                                // The correlation over dy as padded here (no padding of its own), into dx or, with a padding
                                // mode, into the gradient of the padded image, folded back onto dx.
                                var onPaddedDy = ig with { Hs = ig.Hs + 2 * ig.PadH, Ws = stride, PadH = 0, PadW = 0 };
                                float* outRows = fold != null ? ThreadScratch(ref t_paddedGradient, ig.OutputLength) : dx0 + n * ig.OutputLength;
                                CorrelateRows(onPaddedDy, paddedDy, dyPlane, wPacked, null, relu: false, outRows, ig.Ho);
                                if (fold is var (mode, shape)) FoldPadding(mode, shape, outRows, dx0 + n * g.SourceLength);
                            }
                            float* source = ThreadScratch(ref t_paddedSource, g.Ci * sourcePlane);
                            CopyPadded(image, g.Ci, g.Hs, g.Ws, g.PadH, g.PadW, g.Mode, source, 0, sourceRows, stride, sourcePlane);
                            float* dyOrigin = paddedDy + (long)layout.Top * stride + layout.Left;
                            if (_wide) FlatWeightGradient<Simd512, Vector512<float>>(g, source, sourcePlane, stride, dyOrigin, dyPlane, sums);
                            else FlatWeightGradient<Simd256, Vector256<float>>(g, source, sourcePlane, stride, dyOrigin, dyPlane, sums);
                        }
                    }
            });
            for (int i = 0; i < weights; i++) dws[i] = (float)SumPartials(partials, groups, partialLength, i);
            if (dbiases != null)
                for (int k = 0; k < s.K; k++) dbiases[k] = (float)SumPartials(partials, groups, partialLength, weights + k);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partials);
            if (packed != null) ArrayPool<float>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// How the convolution's backward
    /// (<see cref="Conv2dBackward(in Conv2dShape, DeviceBuffer, DeviceBuffer?, NormGradient?, DeviceBuffer?, DeviceBuffer?, DeviceBuffer, DeviceBuffer?)"/>)
    /// pads each image's dy, from the shape alone (so dw is the same whether or not dx is asked for): as the input
    /// gradient's correlation reads it (<c>InputGradient</c>: by (R−1−ph, S−1−pw) with zeros, or by (R−1, S−1) for the
    /// gradient of an input padded by a mode), else by (R−1, S−1). Either way the flat
    /// sums come out right. Padded by (·, S−1) or more, dy's rows leave S−1 zero columns or more between them, so an
    /// output window that runs past the source's row only meets zero dy. Only zero padding can leave fewer
    /// (pw &gt; (S−1)/2): then the row stride is W + S − 1 ≥ W + pw, so the copied row holds all of x and a window
    /// that runs past it reads the next row's left padding, zeros, where x padded holds zeros too.
    /// </summary>
    private OutputGradientLayoutOf OutputGradientLayout(in Conv2dShape s)
    {
        Correlation? inputGradient = s.StrideH != 1 || s.StrideW != 1 ? null
            : s.Mode != null ? InputGradientCorrelation(s.OnPaddedInput())
            : s.PadH < s.R && s.PadW < s.S ? InputGradientCorrelation(s) : null;
        return inputGradient is { } c
            ? new(c.PadH, c.PadW, s.OutW + 2 * c.PadW, c)
            : new(s.R - 1, s.S - 1, s.OutW + 2 * (s.S - 1), null);
    }

    private readonly record struct OutputGradientLayoutOf(int Top, int Left, int Stride, Correlation? InputGradient);

    /// <summary>The input gradient at stride 1 as a correlation: dy padded by (R−1−ph, S−1−pw), out onto x's shape.</summary>
    private static Correlation InputGradientCorrelation(in Conv2dShape s) =>
        new(s.K, s.OutH, s.OutW, s.R - 1 - s.PadH, s.S - 1 - s.PadW, s.C, s.R, s.S, 1, 1, s.H, s.W);

    private int VectorLanes => _wide ? Vector512<float>.Count : Vector256<float>.Count;

    /// <summary>
    /// out (N images of g.OutputLength) = bias + correlation of each source image (N of g.SourceLength) with
    /// weights (Co,Ci,R,S), or, when <paramref name="flipped"/>, with weights stored (Ci,Co,R,S) and read
    /// rotated by 180°; floored at 0 as ReLU when <paramref name="relu"/>. Pieces are (image, block of output rows).
    /// With <paramref name="fold"/>, each output image is the gradient of a padded image: it is made whole in a
    /// per-thread buffer and folded back, as the padding's backward, onto an image of <c>fold.Shape</c> in outputs.
    /// </summary>
    private void Correlate(Correlation g, int images, float[] sources, float[] weights, bool flipped, float[]? biases, bool relu, float[] outputs,
        (PadMode Mode, Pad2dShape Shape)? fold = null, RowSums? rowsOut = null)
    {
        float[] packed = ArrayPool<float>.Shared.Rent(g.PackedWeightLength);
        try
        {
            PackConvWeights(g, weights, flipped, packed);
            int rowBlocks = RowBlocks(images, g.Ho, fold != null);
            ForEachPiece(images * rowBlocks, piece =>
            {
                int n = piece / rowBlocks;
                var (firstRow, endRow) = PieceRange(g.Ho, rowBlocks, piece % rowBlocks);
                if (firstRow == endRow) return;
                fixed (float* source = sources, w = packed, bias = biases, output = outputs)
                {
                    float* outRows = fold != null ? ThreadScratch(ref t_paddedGradient, g.OutputLength)
                        : output + n * g.OutputLength + (long)firstRow * g.Wo;
                    int rows = endRow - firstRow;
                    int sourceRows = (rows - 1) * g.StrideH + g.R;
                    float* padded = PaddedSource(g, source + n * g.SourceLength, firstRow * g.StrideH, sourceRows, out long plane);
                    // A plain forward asks for the next image's source while it computes this one (pieces run in
                    // order on each worker, so the next image is most often this thread's next piece).
                    var ahead = rowBlocks == 1 && !flipped && fold == null && rowsOut == null && n + 1 < images
                        ? new Lookahead(source + (n + 1) * g.SourceLength, g.SourceLength / CacheLineFloats) : default;
                    CorrelateRows(g, padded, plane, w, bias, relu, outRows, rows, ahead);
                    if (fold is var (mode, shape))
                        FoldPadding(mode, shape, outRows, output + (long)n * shape.Planes * shape.H * shape.W);
                    if (rowsOut != null)
                        for (int k = 0; k < g.Co; k++) rowsOut.Take(n, k, outRows + k * (long)g.Ho * g.Wo);
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// How many pieces of its output rows each image's correlation is cut into: enough pieces for every core, of two rows
    /// or more (the vector path computes rows in pairs); a fold needs whole images.
    /// </summary>
    private static int RowBlocks(int images, int outputRows, bool fold) =>
        fold ? 1 : Math.Clamp((4 * Environment.ProcessorCount + images - 1) / images, 1, Math.Max(1, outputRows / 2));

    /// <summary>Output rows [0, rows) of one image from its padded source rows: in vectors where it can, else one output at a time.</summary>
    private void CorrelateRows(in Correlation g, float* padded, long plane, float* w, float* bias, bool relu, float* outRows, int rows,
        Lookahead ahead = default)
    {
        if (g.StrideH == 1 && g.StrideW == 1 && g.Wo >= VectorLanes && rows >= 2)
        {
            if (_wide) CorrelateRowPairs<Simd512, Vector512<float>>(g, padded, plane, w, bias, relu, outRows, rows, ahead);
            else CorrelateRowPairs<Simd256, Vector256<float>>(g, padded, plane, w, bias, relu, outRows, rows, ahead);
        }
        else CorrelateRowsScalar(g, padded, plane, w, bias, relu, outRows, rows);
    }

    /// <summary>
    /// Padded rows [firstRow, firstRow + rows) of one source image, as Ci planes of stride <paramref name="plane"/>
    /// and row stride g.PaddedWidth: the image itself when there is no padding, else a per-thread copy.
    /// </summary>
    private static float* PaddedSource(in Correlation g, float* image, int firstRow, int rows, out long plane)
    {
        if (g.PadH == 0 && g.PadW == 0)
        {
            plane = (long)g.Hs * g.Ws;
            return image + (long)firstRow * g.Ws;
        }
        plane = (long)rows * g.PaddedWidth;
        float* copy = ThreadScratch(ref t_paddedSource, g.Ci * plane);
        CopyPadded(image, g.Ci, g.Hs, g.Ws, g.PadH, g.PadW, g.Mode, copy, firstRow, rows, g.PaddedWidth, plane);
        return copy;
    }

    /// <summary>
    /// target (planes, rows, width), plane stride targetPlane, = rows [firstRow, firstRow + rows) of image (planes,
    /// h, w) shifted down by <paramref name="top"/> and right by <paramref name="left"/>; outside the image zero, or,
    /// with a <paramref name="mode"/>, the image's edge replicated or reflected as <see cref="SourceIndex"/> maps it;
    /// each plane's tail up to targetPlane zero.
    /// </summary>
    private static void CopyPadded(float* image, int planes, int h, int w, int top, int left, PadMode? mode,
        float* target, int firstRow, int rows, int width, long targetPlane)
    {
        bool zeros = mode == null;
        var edges = mode.GetValueOrDefault();
        for (int p = 0; p < planes; p++)
        {
            float* plane = target + p * targetPlane;
            for (int row = 0; row < rows; row++)
            {
                var line = new Span<float>(plane + (long)row * width, width);
                int sourceRow = firstRow + row - top;
                if ((uint)sourceRow >= (uint)h && zeros)
                {
                    line.Clear();
                    continue;
                }
                var source = new ReadOnlySpan<float>(image + ((long)p * h + (zeros ? sourceRow : SourceIndex(edges, sourceRow, h))) * w, w);
                source.CopyTo(line[left..]);
                for (int column = 0; column < left; column++) line[column] = zeros ? 0 : source[SourceIndex(edges, column - left, w)];
                for (int column = left + w; column < width; column++) line[column] = zeros ? 0 : source[SourceIndex(edges, column - left, w)];
            }
            new Span<float>(plane + (long)rows * width, (int)(targetPlane - (long)rows * width)).Clear();
        }
    }

    /// <summary>packed[kb][c][r][s][kk] = w[kb·4 + kk, c, r, s] (zero past Co); flipped reads w (Ci,Co,R,S) at [c, k, R−1−r, S−1−s].</summary>
    private static void PackConvWeights(in Correlation g, float[] w, bool flipped, float[] packed)
    {
        int index = 0;
        for (int kb = 0; kb < g.Co; kb += ChannelBlock)
            for (int c = 0; c < g.Ci; c++)
                for (int r = 0; r < g.R; r++)
                    for (int s = 0; s < g.S; s++)
                        for (int kk = 0; kk < ChannelBlock; kk++, index++)
                        {
                            int k = kb + kk;
                            packed[index] = k >= g.Co ? 0
                                : flipped ? w[((c * g.Co + k) * g.R + g.R - 1 - r) * g.S + g.S - 1 - s]
                                : w[((k * g.Ci + c) * g.R + r) * g.S + s];
                        }
    }

    /// <summary>
    /// Stride-1 correlation of output rows [0, rows ≥ 2) (out: Co planes of g.Ho·g.Wo, starting at the block's first
    /// row) from padded source rows. A register block is eight output channels with 512-bit vectors (four with
    /// 256-bit ones, and when no more than four remain) × two rows × one vector: each source vector loaded feeds four
    /// or eight FMAs, each weight broadcast two. The taps (c, r, s) run as one loop over a table of where each reads
    /// (three nested loops, whose innermost runs S = 3 times, took 1.07–1.18× the time). The last vector of a row is
    /// shifted left to end at Wo, and with an odd row count the last pair shifted up a row, recomputing a few outputs
    /// identically.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CorrelateRowPairs<TS, TV>(in Correlation g, float* source, long plane, float* w, float* bias, bool relu, float* output, int rows,
        Lookahead ahead) where TS : ISimd<TV> where TV : struct
    {
        // Eight channels take 16 accumulators plus the two source vectors and a weight: past the 16 registers of
        // AVX2, within the 32 of AVX-512. Packed weights run to the next multiple of four channels, so an
        // eight-channel block past Co reads zeros.
        bool eight = TS.Lanes == Vector512<float>.Count;
        nint* tapOffsets = TapOffsets(g, plane);
        for (int kb = 0; kb < g.Co;)
        {
            if (eight && kb + ChannelBlock < g.Co)
            {
                CorrelateRowPairBlock<TS, TV, EightChannels>(g, source, tapOffsets, w, bias, relu, output, rows, kb, kb == 0 ? ahead : default);
                kb += 2 * ChannelBlock;
            }
            else
            {
                CorrelateRowPairBlock<TS, TV, FourChannels>(g, source, tapOffsets, w, bias, relu, output, rows, kb, kb == 0 ? ahead : default);
                kb += ChannelBlock;
            }
        }
    }

    /// <summary>
    /// Lines of memory to ask for into L2 while a kernel computes (none by default): each of a kernel's tiles asks for
    /// its share, so that the requests spread over the work instead of queueing at once.
    /// </summary>
    private readonly struct Lookahead(float* start, long lines, long perTile = 0)
    {
        /// <summary>The same lines shared out over <paramref name="tiles"/> tiles.</summary>
        public Lookahead Over(long tiles) => new(start, lines, (lines + tiles - 1) / tiles);

        /// <summary>Asks for tile <paramref name="tile"/>'s share of the lines.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Ask(long tile)
        {
            if (start == null || !Sse.IsSupported) return;
            for (long line = tile * perTile, end = Math.Min(lines, line + perTile); line < end; line++)
                Sse.Prefetch1(start + line * CacheLineFloats);
        }
    }

    [ThreadStatic] private static nint[]? t_tapOffsets;

    /// <summary>
    /// Where each tap (c, r, s), in packing order, reads the source relative to the output's position: c·plane +
    /// r·stride + s, so that a kernel runs all taps as one loop. Per thread; valid until its next call.
    /// </summary>
    private static nint* TapOffsets(in Correlation g, long plane)
    {
        int count = g.Ci * g.R * g.S;
        if (t_tapOffsets == null || t_tapOffsets.Length < count) t_tapOffsets = GC.AllocateArray<nint>(count, pinned: true);
        var offsets = t_tapOffsets;
        int t = 0;
        for (int c = 0; c < g.Ci; c++)
            for (int r = 0; r < g.R; r++)
                for (int s = 0; s < g.S; s++) offsets[t++] = (nint)(c * plane + (long)r * g.PaddedWidth + s);
        return (nint*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(offsets));
    }

    private interface IChannelBlock { static abstract bool Eight { get; } }
    private readonly struct FourChannels : IChannelBlock { public static bool Eight => false; }
    private readonly struct EightChannels : IChannelBlock { public static bool Eight => true; }

    /// <summary>Output channels kb… (four or eight, as TB says) of <see cref="CorrelateRowPairs{TS,TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CorrelateRowPairBlock<TS, TV, TB>(in Correlation g, float* source, nint* tapOffsets, float* w, float* bias, bool relu,
        float* output, int rows, int kb, Lookahead ahead) where TS : ISimd<TV> where TV : struct where TB : IChannelBlock
    {
        int lanes = TS.Lanes, stride = g.PaddedWidth, taps = g.Ci * g.R * g.S, wo = g.Wo;
        long outPlane = (long)g.Ho * wo;
        float* block = w + (long)kb * taps;   // packed [Ci][R][S][4]; the next four channels follow at + 4·taps
        long tile = 0;
        ahead = ahead.Over((rows + 1) / 2 * ((wo + lanes - 1) / lanes));
        for (int row0 = 0; row0 < rows; row0 += 2)
        {
            int row = Math.Min(row0, rows - 2);
            for (int col0 = 0; col0 < wo; col0 += lanes, tile++)
            {
                int col = Math.Min(col0, wo - lanes);
                ahead.Ask(tile);
                TV a00 = TS.Zero, a01 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero, a20 = TS.Zero, a21 = TS.Zero, a30 = TS.Zero, a31 = TS.Zero;
                TV a40 = TS.Zero, a41 = TS.Zero, a50 = TS.Zero, a51 = TS.Zero, a60 = TS.Zero, a61 = TS.Zero, a70 = TS.Zero, a71 = TS.Zero;
                float* wk = block, origin = source + (long)row * stride + col;
                for (int t = 0; t < taps; t++, wk += ChannelBlock)
                {
                    float* x = origin + tapOffsets[t];
                    TV top = TS.Load(x), bottom = TS.Load(x + stride);
                    TV wv = TS.Splat(wk[0]);
                    a00 = TS.MultiplyAdd(wv, top, a00); a01 = TS.MultiplyAdd(wv, bottom, a01);
                    wv = TS.Splat(wk[1]);
                    a10 = TS.MultiplyAdd(wv, top, a10); a11 = TS.MultiplyAdd(wv, bottom, a11);
                    wv = TS.Splat(wk[2]);
                    a20 = TS.MultiplyAdd(wv, top, a20); a21 = TS.MultiplyAdd(wv, bottom, a21);
                    wv = TS.Splat(wk[3]);
                    a30 = TS.MultiplyAdd(wv, top, a30); a31 = TS.MultiplyAdd(wv, bottom, a31);
                    if (!TB.Eight) continue;
                    float* wk4 = wk + 4 * taps;
                    wv = TS.Splat(wk4[0]);
                    a40 = TS.MultiplyAdd(wv, top, a40); a41 = TS.MultiplyAdd(wv, bottom, a41);
                    wv = TS.Splat(wk4[1]);
                    a50 = TS.MultiplyAdd(wv, top, a50); a51 = TS.MultiplyAdd(wv, bottom, a51);
                    wv = TS.Splat(wk4[2]);
                    a60 = TS.MultiplyAdd(wv, top, a60); a61 = TS.MultiplyAdd(wv, bottom, a61);
                    wv = TS.Splat(wk4[3]);
                    a70 = TS.MultiplyAdd(wv, top, a70); a71 = TS.MultiplyAdd(wv, bottom, a71);
                }
                float* o = output + (long)row * wo + col;
                StoreRowPair<TS, TV>(o, wo, outPlane, kb, g.Co, a00, a01, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 1, g.Co, a10, a11, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 2, g.Co, a20, a21, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 3, g.Co, a30, a31, bias, relu);
                if (!TB.Eight) continue;
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 4, g.Co, a40, a41, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 5, g.Co, a50, a51, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 6, g.Co, a60, a61, bias, relu);
                StoreRowPair<TS, TV>(o, wo, outPlane, kb + 7, g.Co, a70, a71, bias, relu);
            }
        }
    }

    /// <summary>Channel k's two vectors (at o and one row below, in plane k), plus its bias, then ReLU when asked; nothing past Co.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRowPair<TS, TV>(float* o, int wo, long outPlane, int k, int co, TV top, TV bottom, float* bias, bool relu)
        where TS : ISimd<TV> where TV : struct
    {
        if (k >= co) return;
        if (bias != null)
        {
            TV b = TS.Splat(bias[k]);
            top = TS.Add(top, b);
            bottom = TS.Add(bottom, b);
        }
        if (relu)
        {
            top = default(Relu).Forward<TS, TV>(top, TS.Zero);
            bottom = default(Relu).Forward<TS, TV>(bottom, TS.Zero);
        }
        o += k * outPlane;
        TS.Store(top, o);
        TS.Store(bottom, o + wo);
    }

    /// <summary>Any-stride correlation, one output at a time, with the FMA order of <see cref="CorrelateRowPairs{TS,TV}"/>.</summary>
    private static void CorrelateRowsScalar(in Correlation g, float* source, long plane, float* w, float* bias, bool relu, float* output, int rows)
    {
        int stride = g.PaddedWidth, taps = g.Ci * g.R * g.S;
        long outPlane = (long)g.Ho * g.Wo;
        for (int k = 0; k < g.Co; k++)
        {
            float* wk = w + (long)(k - k % ChannelBlock) * taps + k % ChannelBlock;
            for (int row = 0; row < rows; row++)
                for (int col = 0; col < g.Wo; col++)
                {
                    float sum = 0;
                    float* tap = wk;
                    for (int c = 0; c < g.Ci; c++)
                        for (int r = 0; r < g.R; r++)
                        {
                            float* x = source + c * plane + (long)(row * g.StrideH + r) * stride + col * g.StrideW;
                            for (int s = 0; s < g.S; s++, tap += ChannelBlock) sum = MathF.FusedMultiplyAdd(*tap, x[s], sum);
                        }
                    if (bias != null) sum += bias[k];
                    output[k * outPlane + (long)row * g.Wo + col] = relu ? default(Relu).Forward(sum, 0) : sum;
                }
        }
    }

    /// <summary>
    /// sums[k,c,r,s] += Σ_j dy[k·dyPlane + j] · source[c·plane + r·stride + s + j] over j in [0, Ho·stride) rounded up
    /// to a vector: one image at stride 1, dy and the source in rows of the same stride, dy's columns past Wo and its
    /// rows past Ho zero. Each sum is one run of vectors over the whole image: no row ends, no tail vectors, and the
    /// products of dy's zero columns add nothing. A register block is four output channels (eight with AVX-512, whose 32
    /// registers hold 24 accumulators) × three kernel columns: each dy vector feeds three FMAs, each source vector four
    /// or eight; the lanes are summed at the end. Channels past Co reread the last channel and columns past S the last
    /// column; their sums are dropped.
    /// </summary>
    private static void FlatWeightGradient<TS, TV>(in Correlation g, float* source, long plane, int stride, float* dy, long dyPlane, double* sums)
        where TS : ISimd<TV> where TV : struct
    {
        bool eight = TS.Lanes == Vector512<float>.Count;
        for (int k0 = 0; k0 < g.Co;)
        {
            if (eight && k0 + ChannelBlock < g.Co)
            {
                FlatWeightGradientBlock<TS, TV, EightChannels>(g, source, plane, stride, dy, dyPlane, sums, k0);
                k0 += 2 * ChannelBlock;
            }
            else
            {
                FlatWeightGradientBlock<TS, TV, FourChannels>(g, source, plane, stride, dy, dyPlane, sums, k0);
                k0 += ChannelBlock;
            }
        }
    }

    /// <summary>Output channels k0… (four or eight, as TB says) of <see cref="FlatWeightGradient{TS,TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FlatWeightGradientBlock<TS, TV, TB>(in Correlation g, float* source, long plane, int stride, float* dy, long dyPlane,
        double* sums, int k0) where TS : ISimd<TV> where TV : struct where TB : IChannelBlock
    {
        int lanes = TS.Lanes;
        nint count = ((nint)g.Ho * stride + lanes - 1) / lanes * lanes;
        long kStride = (long)g.Ci * g.R * g.S;
        int k1 = Math.Min(k0 + 1, g.Co - 1), k2 = Math.Min(k0 + 2, g.Co - 1), k3 = Math.Min(k0 + 3, g.Co - 1);
        int k4 = Math.Min(k0 + 4, g.Co - 1), k5 = Math.Min(k0 + 5, g.Co - 1), k6 = Math.Min(k0 + 6, g.Co - 1), k7 = Math.Min(k0 + 7, g.Co - 1);
        float* e0 = dy + k0 * dyPlane, e1 = dy + k1 * dyPlane, e2 = dy + k2 * dyPlane, e3 = dy + k3 * dyPlane;
        float* e4 = dy + k4 * dyPlane, e5 = dy + k5 * dyPlane, e6 = dy + k6 * dyPlane, e7 = dy + k7 * dyPlane;
        for (int c = 0; c < g.Ci; c++)
            for (int r = 0; r < g.R; r++)
                for (int s0 = 0; s0 < g.S; s0 += 3)
                {
                    int s1 = Math.Min(s0 + 1, g.S - 1), s2 = Math.Min(s0 + 2, g.S - 1);
                    float* xRow = source + c * plane + (long)r * stride;
                    float* x0 = xRow + s0, x1 = xRow + s1, x2 = xRow + s2;
                    TV a00 = TS.Zero, a01 = TS.Zero, a02 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero, a12 = TS.Zero;
                    TV a20 = TS.Zero, a21 = TS.Zero, a22 = TS.Zero, a30 = TS.Zero, a31 = TS.Zero, a32 = TS.Zero;
                    TV a40 = TS.Zero, a41 = TS.Zero, a42 = TS.Zero, a50 = TS.Zero, a51 = TS.Zero, a52 = TS.Zero;
                    TV a60 = TS.Zero, a61 = TS.Zero, a62 = TS.Zero, a70 = TS.Zero, a71 = TS.Zero, a72 = TS.Zero;
                    for (nint j = 0; j < count; j += lanes)
                    {
                        TV v0 = TS.Load(x0 + j), v1 = TS.Load(x1 + j), v2 = TS.Load(x2 + j);
                        TV d = TS.Load(e0 + j);
                        a00 = TS.MultiplyAdd(d, v0, a00); a01 = TS.MultiplyAdd(d, v1, a01); a02 = TS.MultiplyAdd(d, v2, a02);
                        d = TS.Load(e1 + j);
                        a10 = TS.MultiplyAdd(d, v0, a10); a11 = TS.MultiplyAdd(d, v1, a11); a12 = TS.MultiplyAdd(d, v2, a12);
                        d = TS.Load(e2 + j);
                        a20 = TS.MultiplyAdd(d, v0, a20); a21 = TS.MultiplyAdd(d, v1, a21); a22 = TS.MultiplyAdd(d, v2, a22);
                        d = TS.Load(e3 + j);
                        a30 = TS.MultiplyAdd(d, v0, a30); a31 = TS.MultiplyAdd(d, v1, a31); a32 = TS.MultiplyAdd(d, v2, a32);
                        if (!TB.Eight) continue;
                        d = TS.Load(e4 + j);
                        a40 = TS.MultiplyAdd(d, v0, a40); a41 = TS.MultiplyAdd(d, v1, a41); a42 = TS.MultiplyAdd(d, v2, a42);
                        d = TS.Load(e5 + j);
                        a50 = TS.MultiplyAdd(d, v0, a50); a51 = TS.MultiplyAdd(d, v1, a51); a52 = TS.MultiplyAdd(d, v2, a52);
                        d = TS.Load(e6 + j);
                        a60 = TS.MultiplyAdd(d, v0, a60); a61 = TS.MultiplyAdd(d, v1, a61); a62 = TS.MultiplyAdd(d, v2, a62);
                        d = TS.Load(e7 + j);
                        a70 = TS.MultiplyAdd(d, v0, a70); a71 = TS.MultiplyAdd(d, v1, a71); a72 = TS.MultiplyAdd(d, v2, a72);
                    }
                    long tap = (c * g.R + r) * g.S;
                    AddBlockSums<TS, TV>(sums + k0 * kStride + tap, s0, s1, s2, a00, a01, a02);
                    if (k1 > k0) AddBlockSums<TS, TV>(sums + k1 * kStride + tap, s0, s1, s2, a10, a11, a12);
                    if (k2 > k1) AddBlockSums<TS, TV>(sums + k2 * kStride + tap, s0, s1, s2, a20, a21, a22);
                    if (k3 > k2) AddBlockSums<TS, TV>(sums + k3 * kStride + tap, s0, s1, s2, a30, a31, a32);
                    if (!TB.Eight) continue;
                    if (k4 > k3) AddBlockSums<TS, TV>(sums + k4 * kStride + tap, s0, s1, s2, a40, a41, a42);
                    if (k5 > k4) AddBlockSums<TS, TV>(sums + k5 * kStride + tap, s0, s1, s2, a50, a51, a52);
                    if (k6 > k5) AddBlockSums<TS, TV>(sums + k6 * kStride + tap, s0, s1, s2, a60, a61, a62);
                    if (k7 > k6) AddBlockSums<TS, TV>(sums + k7 * kStride + tap, s0, s1, s2, a70, a71, a72);
                }
    }

    /// <summary>Adds the lane sums of one channel's three kernel columns, skipping the repeated ones past S.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddBlockSums<TS, TV>(double* row, int s0, int s1, int s2, TV v0, TV v1, TV v2) where TS : ISimd<TV> where TV : struct
    {
        row[s0] += TS.Sum(v0);
        if (s1 > s0) row[s1] += TS.Sum(v1);
        if (s2 > s1) row[s2] += TS.Sum(v2);
    }

    /// <summary>sums[k,c,r,s] += Σ_{oh,ow} dy[k,oh,ow] · source[c, oh·sh + r, ow·sw + s] for one image, any stride.</summary>
    private static void AccumulateWeightGradientScalar(in Correlation g, float* source, long plane, float* dy, double* sums)
    {
        int stride = g.PaddedWidth;
        for (int k = 0; k < g.Co; k++)
            for (int c = 0; c < g.Ci; c++)
                for (int r = 0; r < g.R; r++)
                    for (int s = 0; s < g.S; s++)
                    {
                        float sum = 0;
                        for (int oh = 0; oh < g.Ho; oh++)
                        {
                            float* x = source + c * plane + (long)(oh * g.StrideH + r) * stride + s;
                            float* d = dy + ((long)k * g.Ho + oh) * g.Wo;
                            for (int ow = 0; ow < g.Wo; ow++) sum = MathF.FusedMultiplyAdd(d[ow], x[ow * g.StrideW], sum);
                        }
                        sums[((k * g.Ci + c) * g.R + r) * g.S + s] += sum;
                    }
    }
}
