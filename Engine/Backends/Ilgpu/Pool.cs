using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Max pooling x (planes, H, W) → y (planes, OH, OW) over KH×KW windows with stride SH×SW, no padding:
//   y[p, oh, ow] = max_{i<KH, j<KW} x[p, oh·SH + i, ow·SW + j]
// Each window's gradient goes to its maximum as WindowMaximum decides (the first of the largest values in row-major
// order, or the last NaN, as PyTorch); overlapping windows add. Backward
// gathers (no atomics): input (h, w) sums dy over the windows that contain it and pick it as their maximum.

internal readonly record struct PoolArgs(ArrayView<float> X, ArrayView<float> Y, Pool2dShape Shape);
internal readonly record struct PoolBackwardArgs(ArrayView<float> X, ArrayView<float> Dy, ArrayView<float> Dx, Pool2dShape Shape);

internal sealed partial class IlgpuBackend
{
    private static readonly PointwiseKernel<PoolArgs> s_maxPool = new(MaxPoolKernel);
    private static readonly PointwiseKernel<PoolBackwardArgs> s_maxPoolBackward = new(MaxPoolBackwardKernel);

    public void MaxPool2dForward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer y)
    {
        long outLength = (long)s.Planes * s.OutH * s.OutW;
        Launch(s_maxPool, outLength, new PoolArgs(View(x, (long)s.Planes * s.H * s.W), View(y, outLength), s));
    }

    public void MaxPool2dBackward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx)
    {
        long inLength = (long)s.Planes * s.H * s.W;
        Launch(s_maxPoolBackward, inLength,
            new PoolBackwardArgs(View(x, inLength), View(dy, (long)s.Planes * s.OutH * s.OutW), View(dx, inLength), s));
    }

    /// <summary>Offset within the plane of the maximum of window (oh, ow).</summary>
    private static int WindowArgMax(ArrayView<float> x, in Pool2dShape s, int planeBase, int oh, int ow)
    {
        int top = oh * s.SH, left = ow * s.SW;
        int best = top * s.W + left;
        float bestValue = x[planeBase + best];
        for (int i = 0; i < s.KH; i++)
            for (int j = 0; j < s.KW; j++)
            {
                int offset = (top + i) * s.W + left + j;
                float v = x[planeBase + offset];
                if (WindowMaximum.Replaces(v, bestValue))
                {
                    bestValue = v;
                    best = offset;
                }
            }
        return best;
    }

    // x (planes, H, W) → y (planes, OH, OW); one thread per output
    internal static void MaxPoolKernel(Index1D i, PoolArgs a)
    {
        var s = a.Shape;
        int outW = s.OutW, outH = s.OutH;
        int ow = i % outW, oh = i / outW % outH, plane = i / (outW * outH);
        int planeBase = plane * s.H * s.W;
        a.Y[i] = a.X[planeBase + WindowArgMax(a.X, s, planeBase, oh, ow)];
    }

    // x, dx (planes, H, W), dy (planes, OH, OW); one thread per input
    internal static void MaxPoolBackwardKernel(Index1D i, PoolBackwardArgs a)
    {
        var s = a.Shape;
        int outW = s.OutW, outH = s.OutH;
        int w = i % s.W, h = i / s.W % s.H, plane = i / (s.W * s.H);
        int planeBase = plane * s.H * s.W;
        int offset = h * s.W + w;
        // windows oh with oh·SH ≤ h < oh·SH + KH
        int ohFirst = h < s.KH ? 0 : (h - s.KH) / s.SH + 1, ohLast = Math.Min(h / s.SH, outH - 1);
        int owFirst = w < s.KW ? 0 : (w - s.KW) / s.SW + 1, owLast = Math.Min(w / s.SW, outW - 1);
        float sum = 0f;
        for (int oh = ohFirst; oh <= ohLast; oh++)
            for (int ow = owFirst; ow <= owLast; ow++)
                if (WindowArgMax(a.X, s, planeBase, oh, ow) == offset)
                    sum += a.Dy[(plane * outH + oh) * outW + ow];
        a.Dx[i] = sum;
    }
}
