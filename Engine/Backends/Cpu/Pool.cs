using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SimilarFaces.Engine.Backends.Cpu;

// Max pooling, x (planes, H, W) → y (planes, OH, OW), KH×KW windows at stride SH×SW, no padding:
//   y[p,oh,ow] = x[p, oh·SH + i*, ow·SW + j*] where (i*, j*) is the window's maximum as WindowMaximum decides:
//   the first of the largest values in row-major order, or the last NaN (as PyTorch).
// The backward pass adds each window's dy to that maximum, one plane per piece in window order.
// 2×2 windows at stride 2, the common case, tile the input without overlapping: each output row reads two input
// rows, eight windows at a time in 256-bit vectors (even and odd columns split apart), and its backward writes every
// element of those two rows, dy at each window's maximum and 0 elsewhere, so nothing is cleared first.
internal sealed unsafe partial class CpuBackend
{
    public void MaxPool2dForward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer y)
    {
        float[] xs = Data(x), ys = Data(y);
        var shape = s;
        int pieces = PlanePieces(s.Planes, (long)s.OutH * s.OutW * s.KH * s.KW);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(shape.Planes, pieces, piece);
            int outH = shape.OutH, outW = shape.OutW, w = shape.W;
            fixed (float* x0 = xs, y0 = ys)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * shape.H * w;
                    float* yPlane = y0 + (long)plane * outH * outW;
                    for (int oh = 0; oh < outH; oh++)
                        if (shape.IsTwoByTwo) TwoByTwoForwardRow(xPlane + 2L * oh * w, w, yPlane + (long)oh * outW, outW);
                        else
                            for (int ow = 0; ow < outW; ow++)
                                yPlane[oh * outW + ow] = xPlane[WindowArgMax(shape, xPlane, oh, ow)];
                }
        });
    }

    public void MaxPool2dBackward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx)
    {
        float[] xs = Data(x), dys = Data(dy), dxs = Data(dx);
        var shape = s;
        int pieces = PlanePieces(s.Planes, (long)s.OutH * s.OutW * s.KH * s.KW);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(shape.Planes, pieces, piece);
            int h = shape.H, w = shape.W, outH = shape.OutH, outW = shape.OutW;
            fixed (float* x0 = xs, dy0 = dys, dx0 = dxs)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * h * w;
                    float* dxPlane = dx0 + (long)plane * h * w;
                    float* dyPlane = dy0 + (long)plane * outH * outW;
                    if (shape.IsTwoByTwo)
                    {
                        for (int oh = 0; oh < outH; oh++)
                            TwoByTwoBackwardRow(xPlane + 2L * oh * w, dyPlane + (long)oh * outW, dxPlane + 2L * oh * w, w, outW);
                        // an odd height leaves the last row outside every window
                        new Span<float>(dxPlane + 2L * outH * w, (h - 2 * outH) * w).Clear();
                        continue;
                    }
                    new Span<float>(dxPlane, h * w).Clear();
                    for (int oh = 0; oh < outH; oh++)
                        for (int ow = 0; ow < outW; ow++)
                            dxPlane[WindowArgMax(shape, xPlane, oh, ow)] += dyPlane[oh * outW + ow];
                }
        });
    }

    /// <summary>y[ow] = the maximum of the 2×2 window at columns 2ow, 2ow + 1 of rows <paramref name="top"/> and top + w.</summary>
    private static void TwoByTwoForwardRow(float* top, int w, float* y, int outW)
    {
        int ow = 0;
        if (Avx2.IsSupported)
            for (; ow + 8 <= outW; ow += 8)
            {
                var (best, _) = TwoByTwoMaxima(top + 2 * ow, w);
                Avx.Store(y + ow, best);
            }
        for (; ow < outW; ow++) y[ow] = top[2 * ow + TwoByTwoArgMax(top + 2 * ow, w)];
    }

    /// <summary>
    /// Rows <paramref name="dxTop"/> and dxTop + w of dx: each window's dy at its maximum, 0 at its three other places
    /// and in a last column outside every window.
    /// </summary>
    private static void TwoByTwoBackwardRow(float* top, float* dy, float* dxTop, int w, int outW)
    {
        float* dxBottom = dxTop + w;
        int ow = 0;
        if (Avx2.IsSupported)
            for (; ow + 8 <= outW; ow += 8)
            {
                var (_, at) = TwoByTwoMaxima(top + 2 * ow, w);
                var g = Avx.LoadVector256(dy + ow);
                StoreInterleaved(Avx.And(Avx.CompareEqual(at, Vector256.Create(0f)), g),
                    Avx.And(Avx.CompareEqual(at, Vector256.Create(1f)), g), dxTop + 2 * ow);
                StoreInterleaved(Avx.And(Avx.CompareEqual(at, Vector256.Create(2f)), g),
                    Avx.And(Avx.CompareEqual(at, Vector256.Create(3f)), g), dxBottom + 2 * ow);
            }
        for (; ow < outW; ow++)
        {
            int at = TwoByTwoArgMax(top + 2 * ow, w);
            dxTop[2 * ow] = at == 0 ? dy[ow] : 0;
            dxTop[2 * ow + 1] = at == 1 ? dy[ow] : 0;
            dxBottom[2 * ow] = at == w ? dy[ow] : 0;
            dxBottom[2 * ow + 1] = at == w + 1 ? dy[ow] : 0;
        }
        if (w > 2 * outW) dxTop[w - 1] = dxBottom[w - 1] = 0;
    }

    /// <summary>
    /// Eight 2×2 windows side by side (16 columns of rows <paramref name="top"/> and top + w): their maxima, and where
    /// each lies as 0 1 / 2 3 (row-major), chosen as <see cref="WindowMaximum.Replaces"/> does: a later element
    /// replaces the maximum so far when larger (an ordered compare: false against NaN) or when NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Best, Vector256<float> At) TwoByTwoMaxima(float* top, int w)
    {
        var (a, b) = EvenAndOdd(top);
        var (c, d) = EvenAndOdd(top + w);
        Vector256<float> best = a, at = Vector256<float>.Zero;
        Consider(b, 1f, ref best, ref at);
        Consider(c, 2f, ref best, ref at);
        Consider(d, 3f, ref best, ref at);
        return (best, at);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Consider(Vector256<float> candidate, float place, ref Vector256<float> best, ref Vector256<float> at)
    {
        var replaces = Avx.Or(Avx.CompareGreaterThan(candidate, best), Avx.CompareUnordered(candidate, candidate));
        best = Avx.BlendVariable(best, candidate, replaces);
        at = Avx.BlendVariable(at, Vector256.Create(place), replaces);
    }

    /// <summary>16 consecutive floats split into the 8 at even and the 8 at odd places, each in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Even, Vector256<float> Odd) EvenAndOdd(float* source)
    {
        Vector256<float> low = Avx.LoadVector256(source), high = Avx.LoadVector256(source + 8);
        // per 128-bit half: low's two then high's two of each parity; then the 64-bit quarters back in order
        var even = Avx2.Permute4x64(Avx.Shuffle(low, high, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle();
        var odd = Avx2.Permute4x64(Avx.Shuffle(low, high, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle();
        return (even, odd);
    }

    /// <summary>destination[2i] = even[i], destination[2i + 1] = odd[i] for i &lt; 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreInterleaved(Vector256<float> even, Vector256<float> odd, float* destination)
    {
        Vector256<float> low = Avx.UnpackLow(even, odd), high = Avx.UnpackHigh(even, odd);
        Avx.Store(destination, Avx.Permute2x128(low, high, 0x20));
        Avx.Store(destination + 8, Avx.Permute2x128(low, high, 0x31));
    }

    /// <summary>
    /// The offset of the maximum of the 2×2 window at <paramref name="window"/> (row stride <paramref name="w"/>) from
    /// its top left, in row-major order a b / c d, without a branch: maxima of noisy data are a coin toss, which a
    /// branch mispredicts half the time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TwoByTwoArgMax(float* window, int w)
    {
        int at = WindowMaximum.ReplacesAsFlag(window[1], window[0]);               // 0 or 1
        at += (w - at) & -WindowMaximum.ReplacesAsFlag(window[w], window[at]);     // −1 is all ones: take w
        return at + ((w + 1 - at) & -WindowMaximum.ReplacesAsFlag(window[w + 1], window[at]));
    }

    /// <summary>The plane index of the maximum of window (oh, ow).</summary>
    private static int WindowArgMax(in Pool2dShape s, float* plane, int oh, int ow)
    {
        int best = oh * s.SH * s.W + ow * s.SW;
        float max = plane[best];
        for (int i = 0; i < s.KH; i++)
        {
            int row = (oh * s.SH + i) * s.W + ow * s.SW;
            for (int j = 0; j < s.KW; j++)
                if (WindowMaximum.Replaces(plane[row + j], max))
                {
                    max = plane[row + j];
                    best = row + j;
                }
        }
        return best;
    }
}
