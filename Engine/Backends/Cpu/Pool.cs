namespace SimilarFaces.Engine.Backends.Cpu;

// Max pooling, x (planes, H, W) → y (planes, OH, OW), KH×KW windows at stride SH×SW, no padding:
//   y[p,oh,ow] = x[p, oh·SH + i*, ow·SW + j*] where (i*, j*) is the window's maximum as WindowMaximum decides:
//   the first of the largest values in row-major order, or the last NaN (as PyTorch).
// The backward pass adds each window's dy to that maximum, one plane per piece in window order.
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
            fixed (float* x0 = xs, y0 = ys)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * shape.H * shape.W;
                    float* yPlane = y0 + (long)plane * shape.OutH * shape.OutW;
                    for (int oh = 0; oh < shape.OutH; oh++)
                        for (int ow = 0; ow < shape.OutW; ow++)
                            yPlane[oh * shape.OutW + ow] = xPlane[WindowArgMax(shape, xPlane, oh, ow)];
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
            fixed (float* x0 = xs, dy0 = dys, dx0 = dxs)
                for (int plane = first; plane < end; plane++)
                {
                    float* xPlane = x0 + (long)plane * shape.H * shape.W;
                    float* dxPlane = dx0 + (long)plane * shape.H * shape.W;
                    float* dyPlane = dy0 + (long)plane * shape.OutH * shape.OutW;
                    new Span<float>(dxPlane, shape.H * shape.W).Clear();
                    for (int oh = 0; oh < shape.OutH; oh++)
                        for (int ow = 0; ow < shape.OutW; ow++)
                            dxPlane[WindowArgMax(shape, xPlane, oh, ow)] += dyPlane[oh * shape.OutW + ow];
                }
        });
    }

    /// <summary>The plane index of the maximum of window (oh, ow).</summary>
    private static int WindowArgMax(in Pool2dShape s, float* plane, int oh, int ow)
    {
        if (s is { KH: 2, KW: 2, SH: 2, SW: 2 })
        {
            // the common 2×2 window, unrolled: row-major order a b / c d
            int a = 2 * (oh * s.W + ow), c = a + s.W;
            int top = WindowMaximum.Replaces(plane[a + 1], plane[a]) ? a + 1 : a;
            if (WindowMaximum.Replaces(plane[c], plane[top])) top = c;
            return WindowMaximum.Replaces(plane[c + 1], plane[top]) ? c + 1 : top;
        }
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
