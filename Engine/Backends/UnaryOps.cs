using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Engine.Backends;

// The element-wise maps y = f(x, s), each written once with its derivative, dx = dy · f'(x):
//   Relu       y = max(x, 0)    dx = dy where x > 0, else 0
//   Square     y = x²           dx = 2x·dy
//   Sqrt       y = √x           dx = dy / 2√x
//   ClampMin   y = max(x, s)    dx = dy where x ≥ s, else 0
//   AddScalar  y = x + s        dx = dy
//   MulScalar  y = x·s          dx = s·dy
//   LeakyRelu  y = x if x > 0, else s·x       dx = dy where x > 0, else s·dy
// Each op is a struct with a scalar form (the ILGPU kernels, the cpu backend's tails and the kernel tests' reference)
// and a vector form (the cpu backend's SIMD body) of the same arithmetic, rounding for rounding.
// NaN as PyTorch: relu(NaN) = clamp(NaN) = NaN; ReLU's gradient passes at NaN (threshold_backward tests x ≤ 0),
// clamp's does not (it tests x ≥ s); leaky_relu(NaN) = NaN, with gradient s·dy (it tests x > 0).

/// <summary>The element-wise maps of <see cref="IBackend.Unary"/>, with the derivative <see cref="IBackend.UnaryBackward"/> applies.</summary>
internal enum UnaryKind { Relu, Square, Sqrt, ClampMin, AddScalar, MulScalar, LeakyRelu }

/// <summary>y = f(x, s) and dx = dy · f'(x, s), in scalar and vector form.</summary>
internal interface IUnaryOp
{
    float Forward(float x, float s);
    float Backward(float x, float dy, float s);
    TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct;
    TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct;
}

/// <summary>Something done with the op type of a <see cref="UnaryKind"/> (launching its kernel, building it...).</summary>
internal interface IUnaryOpUser
{
    void Use<TOp>() where TOp : struct, IUnaryOp;
}

internal static class UnaryOps
{
    /// <summary>Calls <paramref name="user"/> with the op type of <paramref name="kind"/>.</summary>
    public static void With<TUser>(UnaryKind kind, ref TUser user) where TUser : struct, IUnaryOpUser
    {
        switch (kind)
        {
            case UnaryKind.Relu: user.Use<Relu>(); break;
            case UnaryKind.Square: user.Use<Square>(); break;
            case UnaryKind.Sqrt: user.Use<Sqrt>(); break;
            case UnaryKind.ClampMin: user.Use<ClampMin>(); break;
            case UnaryKind.AddScalar: user.Use<AddScalar>(); break;
            case UnaryKind.MulScalar: user.Use<MulScalar>(); break;
            case UnaryKind.LeakyRelu: user.Use<LeakyRelu>(); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}

internal readonly struct Relu : IUnaryOp
{
    public float Forward(float x, float s) => x <= 0f ? 0f : x;
    public float Backward(float x, float dy, float s) => x <= 0f ? 0f : dy;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Max(x, TS.Zero);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => TS.ZeroWhereAtMost(x, TS.Zero, dy);
}

internal readonly struct Square : IUnaryOp
{
    public float Forward(float x, float s) => x * x;
    public float Backward(float x, float dy, float s) => (x + x) * dy;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Multiply(x, x);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => TS.Multiply(TS.Add(x, x), dy);
}

internal readonly struct Sqrt : IUnaryOp
{
    public float Forward(float x, float s) => MathF.Sqrt(x);
    public float Backward(float x, float dy, float s)
    {
        float y = MathF.Sqrt(x);
        return dy / (y + y);
    }
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Sqrt(x);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct
    {
        TV y = TS.Sqrt(x);
        return TS.Divide(dy, TS.Add(y, y));
    }
}

internal readonly struct ClampMin : IUnaryOp
{
    public float Forward(float x, float s) => x < s ? s : x;
    public float Backward(float x, float dy, float s) => x >= s ? dy : 0f;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Max(x, s);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => TS.KeepWhereGreaterOrEqual(x, s, dy);
}

internal readonly struct AddScalar : IUnaryOp
{
    public float Forward(float x, float s) => x + s;
    public float Backward(float x, float dy, float s) => dy;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Add(x, s);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => dy;
}

internal readonly struct MulScalar : IUnaryOp
{
    public float Forward(float x, float s) => x * s;
    public float Backward(float x, float dy, float s) => dy * s;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Multiply(x, s);
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => TS.Multiply(dy, s);
}

internal readonly struct LeakyRelu : IUnaryOp
{
    public float Forward(float x, float s) => x > 0f ? x : x * s;
    public float Backward(float x, float dy, float s) => x > 0f ? dy : dy * s;
    public TV Forward<TS, TV>(TV x, TV s) where TS : ISimd<TV> where TV : struct => TS.Select(TS.GreaterThan(x, TS.Zero), x, TS.Multiply(x, s));
    public TV Backward<TS, TV>(TV x, TV dy, TV s) where TS : ISimd<TV> where TV : struct => TS.Select(TS.GreaterThan(x, TS.Zero), dy, TS.Multiply(dy, s));
}
