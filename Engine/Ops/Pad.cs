using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// Replication and reflection padding of the last two dimensions (as nn.ReplicationPad2d / nn.ReflectionPad2d).
///   replication: y[i,j] = x[clamp(i − top, 0, H−1), clamp(j − left, 0, W−1)]
///   reflection:  y[i,j] = x[reflect(i − top), reflect(j − left)], reflect(t) = |t| mirrored at 0 and H−1 (edge not repeated)
///   dx[h,w] = Σ dy[i,j] over every output (i,j) that copied x[h,w]
/// x (N,C,H,W) → y (N,C,H+top+bottom, W+left+right).
/// </summary>
public static partial class Ops
{
    /// <summary>Pads the last two dimensions by repeating the edge values, as <c>nn.ReplicationPad2d</c>.</summary>
    public static Tensor ReplicationPad2d(Tensor x, int left, int right, int top, int bottom) =>
        Pad2d("ReplicationPad2d", PadMode.Replication, x, left, right, top, bottom);

    /// <summary>
    /// Pads the last two dimensions by mirroring at the edges (the edge not repeated), as <c>nn.ReflectionPad2d</c>;
    /// each pad must be smaller than the dimension it pads.
    /// </summary>
    public static Tensor ReflectionPad2d(Tensor x, int left, int right, int top, int bottom) =>
        Pad2d("ReflectionPad2d", PadMode.Reflection, x, left, right, top, bottom);

    private static Tensor Pad2d(string op, PadMode mode, Tensor x, int left, int right, int top, int bottom)
    {
        Check.Rank(op, "input", x, 3, 4);
        Check.That(left >= 0 && right >= 0 && top >= 0 && bottom >= 0, op,
            $"padding must be non-negative, got (left {left}, right {right}, top {top}, bottom {bottom})");
        int h = x.Dim(-2), w = x.Dim(-1);
        if (mode == PadMode.Reflection)
            Check.That(left < w && right < w && top < h && bottom < h, op,
                $"padding (left {left}, right {right}, top {top}, bottom {bottom}) must be smaller than the input's {h}×{w} for input {x.ShapeText}");
        var s = new Pad2dShape((int)(x.Length / ((long)h * w)), h, w, top, bottom, left, right);
        var shape = (int[])x.Shape.Clone();
        shape[^2] = s.OutH;
        shape[^1] = s.OutW;

        var backend = x.Backend;
        var y = Tensor.Empty(x, shape);
        backend.Pad2dForward(mode, s, x.Buffer, y.Buffer);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.Pad2dBackward(mode, s, dy.Buffer, dx.Buffer);
            Tape.Accumulate(x, dx);
        });
    }
}
