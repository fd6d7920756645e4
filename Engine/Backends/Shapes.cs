namespace SimilarFaces.Engine.Backends;

/// <summary>
/// Shapes of a 2-D convolution: x (N,C,H,W), w (K,C,R,S), y (N,K,OH,OW); x padded by (PadH, PadW) on each side with
/// zeros, or, when <see cref="Mode"/> is set, by replicating or reflecting its edges.
/// </summary>
internal readonly record struct Conv2dShape(
    int N, int C, int H, int W, int K, int R, int S,
    int StrideH, int StrideW, int PadH, int PadW, PadMode? Mode = null)
{
    // methods, not properties: a record prints its properties, and a shape printing its own kind of shape would recurse

    /// <summary>The padding of x that <see cref="Mode"/> describes, as the pad kernels take it.</summary>
    public Pad2dShape Padding() => new(N * C, H, W, PadH, PadH, PadW, PadW);

    /// <summary>The same convolution over x already padded: no padding of its own.</summary>
    public Conv2dShape OnPaddedInput() => this with { H = H + 2 * PadH, W = W + 2 * PadW, PadH = 0, PadW = 0, Mode = null };

    public int OutH => (H + 2 * PadH - R) / StrideH + 1;
    public int OutW => (W + 2 * PadW - S) / StrideW + 1;
    public long InputLength => (long)N * C * H * W;
    public long WeightLength => (long)K * C * R * S;
    public long OutputLength => (long)N * K * OutH * OutW;
    /// <summary>Multiply-adds of the forward pass (each backward costs the same).</summary>
    public long MultiplyAdds => OutputLength * C * R * S;
}

/// <summary>x (Planes,H,W) padded by Top/Bottom/Left/Right to y (Planes,OH,OW).</summary>
internal readonly record struct Pad2dShape(int Planes, int H, int W, int Top, int Bottom, int Left, int Right)
{
    public int OutH => H + Top + Bottom;
    public int OutW => W + Left + Right;
}

/// <summary>x (Planes,H,W) max-pooled by KH×KW windows with stride SH,SW to y (Planes,OH,OW); no padding.</summary>
internal readonly record struct Pool2dShape(int Planes, int H, int W, int KH, int KW, int SH, int SW)
{
    public int OutH => (H - KH) / SH + 1;
    public int OutW => (W - KW) / SW + 1;
    /// <summary>2×2 windows at stride 2, the common pooling: they tile the input without overlapping.</summary>
    public bool IsTwoByTwo => KH == 2 && KW == 2 && SH == 2 && SW == 2;
}

/// <summary>
/// Batch norm layout: x (N,C,L) normalised per channel C over N·L values (L = H·W for 2-D, 1 for 1-D). The N images may
/// be <see cref="Batches"/> equal batches one after another: in training each is then normalised by its own statistics
/// over its N/Batches·L values (C per batch, batch after batch), as a call per batch would be.
/// </summary>
internal readonly record struct NormShape(int N, int C, int L, int Batches = 1)
{
    public long Length => (long)N * C * L;

    /// <summary>The shape of one of the batches.</summary>
    public NormShape Batch() => new(N / Batches, C, L);
}

/// <summary>Padding done apart from a convolution, where a kernel reads zero padding only.</summary>
internal static class ConvolutionPadding
{
    /// <summary>x padded as <paramref name="s"/> says (by <paramref name="mode"/>), in a new buffer (N, C, H + 2·PadH, W + 2·PadW).</summary>
    public static DeviceBuffer PaddedInput(this IBackend backend, in Conv2dShape s, PadMode mode, DeviceBuffer x)
    {
        var padded = backend.Allocate(s.OnPaddedInput().InputLength);
        backend.Pad2dForward(mode, s.Padding(), x, padded);
        return padded;
    }

    /// <summary>
    /// dx (N, C, H, W): the input gradient of the convolution over the padded input (a new buffer), folded back by the
    /// padding's backward.
    /// </summary>
    public static void InputGradientThroughPadding(this IBackend backend, in Conv2dShape s, PadMode mode, DeviceBuffer dy, DeviceBuffer w,
        DeviceBuffer dx)
    {
        var onPadded = s.OnPaddedInput();
        using var paddedGradient = backend.Allocate(onPadded.InputLength);
        backend.Conv2dBackwardInput(onPadded, dy, w, paddedGradient);
        backend.Pad2dBackward(mode, s.Padding(), paddedGradient, dx);
    }
}
