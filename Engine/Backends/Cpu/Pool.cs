using System.Runtime.CompilerServices;

namespace SimilarFaces.Engine.Backends.Cpu;

// Max pooling, x (planes, H, W) → y (planes, OH, OW), KH×KW windows at stride SH×SW, no padding:
//   y[p,oh,ow] = x[p, oh·SH + i*, ow·SW + j*] where (i*, j*) is the window's maximum as WindowMaximum decides:
//   the first of the largest values in row-major order, or the last NaN (as PyTorch).
// The backward pass adds each window's dy to that maximum, one plane per piece in window order (2×2 windows at
// stride 2 do not overlap: each dy is written, not added).
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
            bool twoByTwo = shape.IsTwoByTwo;
            fixed (float* x0 = xs, y0 = ys)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * shape.H * shape.W;
                    float* yPlane = y0 + (long)plane * outH * outW;
                    for (int oh = 0; oh < outH; oh++)
                        if (twoByTwo)
                        {
                            float* top = xPlane + 2 * oh * w;
                            for (int ow = 0; ow < outW; ow++)
                                yPlane[oh * outW + ow] = top[2 * ow + TwoByTwoArgMax(top + 2 * ow, w)];
                        }
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
            int outH = shape.OutH, outW = shape.OutW, w = shape.W;
            bool twoByTwo = shape.IsTwoByTwo;
            fixed (float* x0 = xs, dy0 = dys, dx0 = dxs)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * shape.H * shape.W;
                    float* dxPlane = dx0 + (long)plane * shape.H * shape.W;
                    float* dyPlane = dy0 + (long)plane * outH * outW;
                    new Span<float>(dxPlane, shape.H * shape.W).Clear();
                    for (int oh = 0; oh < outH; oh++)
                        if (twoByTwo)
                        {
                            long top = 2L * oh * w;
                            for (int ow = 0; ow < outW; ow++)
                                dxPlane[top + 2 * ow + TwoByTwoArgMax(xPlane + top + 2 * ow, w)] = dyPlane[oh * outW + ow];
                        }
                        else
                            for (int ow = 0; ow < outW; ow++)
                                dxPlane[WindowArgMax(shape, xPlane, oh, ow)] += dyPlane[oh * outW + ow];
                }
        });
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
