using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// Max pooling over KH×KW windows with stride (no padding, floor mode, as nn.MaxPool2d).
///   y[i,j] = max_{r,s} x[i·sh + r, j·sw + s]
///   dx[h,w] = Σ dy[i,j] over windows whose maximum is x[h,w]: the FIRST of the largest values in row-major window
///   order, or the LAST NaN, which makes y NaN (as PyTorch)
/// x (N,C,H,W) → y (N,C,OH,OW).
/// </summary>
public static partial class Ops
{
    /// <summary>Maximum over kernel windows of the last two dimensions of x (N,C,H,W) or (C,H,W); stride defaults to the kernel.</summary>
    public static Tensor MaxPool2d(Tensor x, (int H, int W) kernel, (int H, int W)? stride = null)
    {
        const string op = "MaxPool2d";
        Check.Rank(op, "input", x, 3, 4);
        var (sh, sw) = stride ?? kernel;
        Check.That(kernel.H > 0 && kernel.W > 0 && sh > 0 && sw > 0, op,
            $"kernel ({kernel.H},{kernel.W}) and stride ({sh},{sw}) must be positive");
        int h = x.Dim(-2), w = x.Dim(-1);
        Check.That(kernel.H <= h && kernel.W <= w, op, $"kernel ({kernel.H},{kernel.W}) is larger than input {x.ShapeText}");
        var s = new Pool2dShape((int)(x.Length / ((long)h * w)), h, w, kernel.H, kernel.W, sh, sw);
        var shape = (int[])x.Shape.Clone();
        shape[^2] = s.OutH;
        shape[^1] = s.OutW;

        var backend = x.Backend;
        var y = Tensor.Empty(x, shape);
        backend.MaxPool2dForward(s, x.Buffer, y.Buffer);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.MaxPool2dBackward(s, x.Buffer, dy.Buffer, dx.Buffer);
            Tape.Accumulate(x, dx);
        });
    }
}
