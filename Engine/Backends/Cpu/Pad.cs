namespace SimilarFaces.Engine.Backends.Cpu;

// y (planes, OH, OW) = x (planes, H, W) read at a source index per output row and column:
//   replication  i ↦ clamp(i − pad, 0, n − 1)
//   reflection   i ↦ mirror of i − pad at 0 and n − 1, the edge not repeated (−1 ↦ 1, n ↦ n − 2)
// The backward pass adds each dy element into the x element it was copied from, one plane per piece, rows in
// order, so overlapping copies add in a fixed order.
internal sealed unsafe partial class CpuBackend
{
    public void Pad2dForward(PadMode mode, in Pad2dShape s, DeviceBuffer x, DeviceBuffer y)
    {
        float[] xs = Data(x), ys = Data(y);
        var shape = s;
        int pieces = PlanePieces(s.Planes, (long)s.OutH * s.OutW);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(shape.Planes, pieces, piece);
            for (int plane = first; plane < end; plane++)
            {
                var xPlane = xs.AsSpan(plane * shape.H * shape.W, shape.H * shape.W);
                var yPlane = ys.AsSpan(plane * shape.OutH * shape.OutW, shape.OutH * shape.OutW);
                for (int oh = 0; oh < shape.OutH; oh++)
                {
                    var source = xPlane.Slice(SourceIndex(mode, oh - shape.Top, shape.H) * shape.W, shape.W);
                    var target = yPlane.Slice(oh * shape.OutW, shape.OutW);
                    source.CopyTo(target[shape.Left..]);
                    for (int ow = 0; ow < shape.Left; ow++) target[ow] = source[SourceIndex(mode, ow - shape.Left, shape.W)];
                    for (int ow = shape.Left + shape.W; ow < shape.OutW; ow++) target[ow] = source[SourceIndex(mode, ow - shape.Left, shape.W)];
                }
            }
        });
    }

    public void Pad2dBackward(PadMode mode, in Pad2dShape s, DeviceBuffer dy, DeviceBuffer dx)
    {
        float[] dys = Data(dy), dxs = Data(dx);
        var shape = s;
        int pieces = PlanePieces(s.Planes, (long)s.OutH * s.OutW);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(shape.Planes, pieces, piece);
            fixed (float* dy0 = dys, dx0 = dxs)
                FoldPadding(mode, shape with { Planes = end - first }, dy0 + (long)first * shape.OutH * shape.OutW,
                    dx0 + (long)first * shape.H * shape.W);
        });
    }

    /// <summary>
    /// dx (s.Planes, H, W) = the padding's backward of dy (s.Planes, OH, OW), plane by plane, rows in order. Every row of
    /// dx is some padded row's copy; the first to reach it is written as itself + 0 (so −0 gives +0, as a sum from zero
    /// does) and later ones added, without clearing dx first.
    /// </summary>
    private void FoldPadding(PadMode mode, in Pad2dShape s, float* dy, float* dx)
    {
        Span<bool> written = s.H <= 1024 ? stackalloc bool[s.H] : new bool[s.H];
        for (int plane = 0; plane < s.Planes; plane++)
        {
            float* dxPlane = dx + (long)plane * s.H * s.W;
            float* dyPlane = dy + (long)plane * s.OutH * s.OutW;
            written.Clear();
            for (int oh = 0; oh < s.OutH; oh++)
            {
                int row = SourceIndex(mode, oh - s.Top, s.H);
                float* target = dxPlane + (long)row * s.W;
                float* source = dyPlane + (long)oh * s.OutW;
                if (written[row]) AddInto(target, source + s.Left, s.W);
                else RowAffine(source + s.Left, target, s.W, 0f, 1f, 0f);
                written[row] = true;
                for (int ow = 0; ow < s.Left; ow++) target[SourceIndex(mode, ow - s.Left, s.W)] += source[ow];
                for (int ow = s.Left + s.W; ow < s.OutW; ow++) target[SourceIndex(mode, ow - s.Left, s.W)] += source[ow];
            }
        }
    }

    /// <summary>The source index of padded position <paramref name="i"/> (relative to the first source element) in a length-n axis.</summary>
    private static int SourceIndex(PadMode mode, int i, int n)
    {
        if ((uint)i < (uint)n) return i;
        if (mode == PadMode.Replication) return i < 0 ? 0 : n - 1;
        return i < 0 ? -i : 2 * (n - 1) - i;
    }

    /// <summary>Pieces of whole planes, about <see cref="ChunkLength"/> elements each.</summary>
    private static int PlanePieces(int planes, long planeLength) =>
        (int)Math.Clamp(planes * planeLength / ChunkLength, 1, Math.Max(1, planes));
}
