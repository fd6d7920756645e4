using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// Element-wise ops and reductions.
///   add: y = a + b        da = dy,      db = dy
///   sub: y = a − b        da = dy,      db = −dy
///   mul: y = a·b          da = dy·b,    db = dy·a
///   add_scalar: y = x + s dx = dy;   mul_scalar: y = x·s   dx = s·dy
///   square: y = x²        dx = 2x·dy;  sqrt: y = √x   dx = dy/(2y)
///   relu: y = max(x,0)    dx = dy·[x > 0]   (0 at x = 0, as PyTorch)
///   clamp_min: y = max(x,m) dx = dy·[x ≥ m] (passes at x = m, as PyTorch)
///   leaky_relu: y = x if x > 0 else s·x   dx = dy if x > 0 else s·dy (s·dy at x = 0, as PyTorch)
///   sum: y = Σx           dx = dy (broadcast);  mean: y = Σx/n  dx = dy/n
/// </summary>
public static partial class Ops
{
    /// <summary>a + b, element-wise; a and b have the same shape.</summary>
    public static Tensor Add(Tensor a, Tensor b) => Binary("Add", BinaryKind.Add, a, b);
    /// <summary>a − b, element-wise; a and b have the same shape.</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Binary("Sub", BinaryKind.Sub, a, b);
    /// <summary>a · b, element-wise; a and b have the same shape.</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Binary("Mul", BinaryKind.Mul, a, b);

    private static Tensor Binary(string op, BinaryKind kind, Tensor a, Tensor b)
    {
        Check.SameShape(op, a, b);
        var backend = a.Backend;
        var y = Tensor.Empty(a, a.Shape);
        backend.Binary(kind, a.Buffer, b.Buffer, y.Buffer);
        return Tape.Record(y, op, [a, b], dy =>
        {
            if (Tape.Needs(a)) Tape.Accumulate(a, kind == BinaryKind.Mul ? Product(dy, b) : Copy(dy));
            if (Tape.Needs(b))
                Tape.Accumulate(b, kind switch
                {
                    BinaryKind.Mul => Product(dy, a),
                    BinaryKind.Sub => Scaled(dy, -1f),
                    _ => Copy(dy),
                });
        });
    }

    /// <summary>x + s for every element.</summary>
    public static Tensor AddScalar(Tensor x, float s) => Unary("AddScalar", UnaryKind.AddScalar, x, s);
    /// <summary>x · s for every element.</summary>
    public static Tensor MulScalar(Tensor x, float s) => Unary("MulScalar", UnaryKind.MulScalar, x, s);
    /// <summary>x² for every element.</summary>
    public static Tensor Square(Tensor x) => Unary("Square", UnaryKind.Square, x, 0f);
    /// <summary>√x for every element; its gradient is infinite at 0.</summary>
    public static Tensor Sqrt(Tensor x) => Unary("Sqrt", UnaryKind.Sqrt, x, 0f);
    /// <summary>max(x, 0) for every element; the gradient at 0 is 0, as PyTorch.</summary>
    public static Tensor Relu(Tensor x) => Unary("Relu", UnaryKind.Relu, x, 0f);
    /// <summary>max(x, min) for every element; the gradient passes where x ≥ min, as <c>torch.clamp</c>.</summary>
    public static Tensor ClampMin(Tensor x, float min) => Unary("ClampMin", UnaryKind.ClampMin, x, min);
    /// <summary>x where x &gt; 0, else negativeSlope · x, for every element, as <c>F.leaky_relu</c>; the gradient at 0 is negativeSlope.</summary>
    public static Tensor LeakyRelu(Tensor x, float negativeSlope = 0.01f) => Unary("LeakyRelu", UnaryKind.LeakyRelu, x, negativeSlope);

    private static Tensor Unary(string op, UnaryKind kind, Tensor x, float scalar)
    {
        var backend = x.Backend;
        var y = Tensor.Empty(x, x.Shape);
        backend.Unary(kind, x.Buffer, y.Buffer, scalar);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.UnaryBackward(kind, x.Buffer, dy.Buffer, dx.Buffer, scalar);
            Tape.Accumulate(x, dx);
        });
    }

    /// <summary>Σ of every element, as a scalar.</summary>
    public static Tensor Sum(Tensor x) => Reduce("Sum", x, 1f);

    /// <summary>Mean of every element, as a scalar.</summary>
    public static Tensor Mean(Tensor x) => Reduce("Mean", x, 1f / x.Length);

    private static Tensor Reduce(string op, Tensor x, float scale)
    {
        var backend = x.Backend;
        var y = Tensor.Empty(x, []);
        backend.Sum(x.Buffer, y.Buffer, scale);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.Broadcast(dy.Buffer, dx.Buffer, scale);
            Tape.Accumulate(x, dx);
        });
    }

    private static Tensor Copy(Tensor x)
    {
        var y = Tensor.Empty(x, x.Shape);
        x.Backend.Copy(x.Buffer, 0, y.Buffer, 0, y.Length);
        return y;
    }

    private static Tensor Scaled(Tensor x, float s)
    {
        var y = Tensor.Empty(x, x.Shape);
        x.Backend.Unary(UnaryKind.MulScalar, x.Buffer, y.Buffer, s);
        return y;
    }

    private static Tensor Product(Tensor a, Tensor b)
    {
        var y = Tensor.Empty(a, a.Shape);
        a.Backend.Binary(BinaryKind.Mul, a.Buffer, b.Buffer, y.Buffer);
        return y;
    }
}
