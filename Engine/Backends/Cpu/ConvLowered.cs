namespace SimilarFaces.Engine.Backends.Cpu;

// Convolutions whose output rows are too narrow for the direct kernels' row vectors (the deep, small feature maps
// after pooling) run as GEMMs over the lowered input ("im2col"), with M = N·OH·OW output positions and D = C·R·S:
//   Pᵀ (D, M):   Pᵀ[(c,r,s), (n,oh,ow)] = x[n, c, oh·sh + r − ph, ow·sw + s − pw]   (0 outside x)
//   forward:     Y (K, M) = W · Pᵀ,            y[n,k,oh,ow] = Y[k, (n,oh,ow)] + bias[k]  (then ReLU when fused)
//   input grad:  dPᵀ (D, M) = Wᵀ · dY,          dx[n,c,ih,iw] = Σ dPᵀ over the positions that read x[n,c,ih,iw]
//   weight grad: dW (K, D) = dY · (Pᵀ)ᵀ,         dbias[k] = Σ_M dY[k, ·]
// W (K,C,R,S) is already the (K, D) matrix; dY (K, M) is dy (N,K,OH,OW) with its first two axes swapped. Each row of
// Pᵀ is made of runs of OW positions that read one image row, so the lowering and its adjoint move whole rows. The
// GEMM fixes each output's order of additions, and the rest splits work by row of Pᵀ or by image, so results do not
// depend on threads.
internal sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// True when output rows are narrower than two vectors (the direct kernels would run scalar, or recompute much of
    /// each row in shifted vectors) and the patches are deep enough for a GEMM.
    /// </summary>
    private bool Lowered(in Conv2dShape s) => s.OutW < 2 * VectorLanes && s.C * s.R * s.S >= 32;

    private void Conv2dForwardLowered(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, bool relu, DeviceBuffer y)
    {
        int positions = checked(s.N * s.OutH * s.OutW), depth = s.C * s.R * s.S;
        using var lowered = Allocate((long)depth * positions);
        using var product = Allocate((long)s.K * positions);
        Lower(s, Data(x), Data(lowered));
        Gemm(false, false, s.K, positions, depth, 1f, w, lowered, 0f, product);
        SwapImagesAndChannels(s.K, s.N, s.OutH * s.OutW, Data(product), Data(y), bias == null ? null : Data(bias), relu);
    }

    private void Conv2dBackwardInputLowered(in Conv2dShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx)
    {
        int positions = checked(s.N * s.OutH * s.OutW), depth = s.C * s.R * s.S;
        using var gradient = Allocate((long)s.K * positions);
        using var loweredGradient = Allocate((long)depth * positions);
        SwapImagesAndChannels(s.N, s.K, s.OutH * s.OutW, Data(dy), Data(gradient), null, relu: false);
        Gemm(true, false, depth, positions, s.K, 1f, w, gradient, 0f, loweredGradient);
        Raise(s, Data(loweredGradient), Data(dx));
    }

    private void Conv2dBackwardWeightLowered(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? dbias)
    {
        int positions = checked(s.N * s.OutH * s.OutW), depth = s.C * s.R * s.S;
        using var lowered = Allocate((long)depth * positions);
        using var gradient = Allocate((long)s.K * positions);
        Lower(s, Data(x), Data(lowered));
        SwapImagesAndChannels(s.N, s.K, s.OutH * s.OutW, Data(dy), Data(gradient), null, relu: false);
        Gemm(false, true, s.K, depth, positions, 1f, gradient, lowered, 0f, dw);
        if (dbias == null) return;
        float[] g = Data(gradient), db = Data(dbias);
        for (int k = 0; k < s.K; k++)
            fixed (float* row = &g[(long)k * positions])
                db[k] = (float)SumOf(row, positions);
    }

    // source (A, B, L) → target (B, A, L), plus bias[i] on every element that came from source plane i, when given,
    // then ReLU when asked
    private static void SwapImagesAndChannels(int a, int b, int length, float[] source, float[] target, float[]? bias, bool relu) =>
        ForEachPiece(b, j =>
        {
            for (int i = 0; i < a; i++)
            {
                var from = source.AsSpan((int)(((long)i * b + j) * length), length);
                var to = target.AsSpan((int)(((long)j * a + i) * length), length);
                if (bias == null && !relu) from.CopyTo(to);
                else
                    for (int p = 0; p < length; p++)
                    {
                        float value = bias == null ? from[p] : from[p] + bias[i];
                        to[p] = relu ? default(Relu).Forward(value, 0) : value;
                    }
            }
        });

    // x (N,C,H,W) → Pᵀ (D, M): row (c, r, q), position run (n, oh) = x[n, c, oh·sh + r − ph, ow·sw + q − pw] over ow
    private static void Lower(Conv2dShape s, float[] xs, float[] lowered) =>
        ForEachPiece(s.C * s.R * s.S, row =>
        {
            var (c, r, q) = (row / (s.R * s.S), row / s.S % s.R, row % s.S);
            var target = lowered.AsSpan((int)((long)row * s.N * s.OutH * s.OutW), s.N * s.OutH * s.OutW);
            for (int n = 0; n < s.N; n++)
                for (int oh = 0; oh < s.OutH; oh++)
                {
                    var run = target.Slice((n * s.OutH + oh) * s.OutW, s.OutW);
                    int ih = oh * s.StrideH + r - s.PadH;
                    if ((uint)ih >= (uint)s.H)
                    {
                        run.Clear();
                        continue;
                    }
                    var source = xs.AsSpan((int)((((long)n * s.C + c) * s.H + ih) * s.W), s.W);
                    var (first, end) = InsideColumns(s, q);
                    run[..first].Clear();
                    run[end..].Clear();
                    if (s.StrideW == 1) source.Slice(first + q - s.PadW, end - first).CopyTo(run[first..end]);
                    else for (int ow = first; ow < end; ow++) run[ow] = source[ow * s.StrideW + q - s.PadW];
                }
        });

    // the adjoint of Lower: dPᵀ (D, M) → dx (N,C,H,W), each image's rows added up in the order of (r, q), then oh
    private static void Raise(Conv2dShape s, float[] loweredGradient, float[] dxs) =>
        ForEachPiece(s.N, n =>
        {
            int positions = s.N * s.OutH * s.OutW;
            dxs.AsSpan((int)((long)n * s.C * s.H * s.W), s.C * s.H * s.W).Clear();
            for (int c = 0; c < s.C; c++)
                for (int r = 0; r < s.R; r++)
                    for (int q = 0; q < s.S; q++)
                    {
                        var (first, end) = InsideColumns(s, q);
                        long row = (long)((c * s.R + r) * s.S + q) * positions;
                        for (int oh = 0; oh < s.OutH; oh++)
                        {
                            int ih = oh * s.StrideH + r - s.PadH;
                            if ((uint)ih >= (uint)s.H) continue;
                            var run = loweredGradient.AsSpan((int)(row + (n * s.OutH + oh) * s.OutW), s.OutW);
                            var target = dxs.AsSpan((int)((((long)n * s.C + c) * s.H + ih) * s.W), s.W);
                            for (int ow = first; ow < end; ow++) target[ow * s.StrideW + q - s.PadW] += run[ow];
                        }
                    }
        });

    /// <summary>The output columns [first, end) whose kernel column q falls inside the image.</summary>
    private static (int First, int End) InsideColumns(in Conv2dShape s, int q)
    {
        // iw = ow·sw + q − pw must lie in [0, W): ow ≥ ⌈(pw − q)/sw⌉ and ow ≤ ⌊(W − 1 + pw − q)/sw⌋
        int first = Math.Clamp((int)Math.Ceiling((s.PadW - q) / (double)s.StrideW), 0, s.OutW);
        int end = Math.Clamp((int)Math.Floor((s.W - 1 + s.PadW - q) / (double)s.StrideW) + 1, first, s.OutW);
        return (first, end);
    }
}
