using ILGPU;
using ILGPU.Runtime;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Element-wise maps, one thread per element:
//   unary   y = f(x, s)             dx = dy · f'(x)          (the shared ops of UnaryOps.cs)
//   binary  y = a ∘ b               axpy  y += α·x
//   sum     r = scale · Σ x         broadcast  y = scale · r  (the backward of sum)
//   dropout mask = 0 where u(seed, i) < p, else 1/(1−p)

internal interface IBinaryOp
{
    float Apply(float a, float b);
}

internal readonly struct Add : IBinaryOp
{
    public float Apply(float a, float b) => a + b;
}

internal readonly struct Subtract : IBinaryOp
{
    public float Apply(float a, float b) => a - b;
}

internal readonly struct Multiply : IBinaryOp
{
    public float Apply(float a, float b) => a * b;
}

internal readonly record struct FillArgs(ArrayView<float> Y, float Value);
internal readonly record struct UnaryArgs(ArrayView<float> X, ArrayView<float> Y, float Scalar);
internal readonly record struct UnaryBackwardArgs(ArrayView<float> X, ArrayView<float> Dy, ArrayView<float> Dx, float Scalar);
internal readonly record struct BinaryArgs(ArrayView<float> A, ArrayView<float> B, ArrayView<float> Y);
internal readonly record struct AxpyArgs(float Alpha, ArrayView<float> X, ArrayView<float> Y);
internal readonly record struct BroadcastArgs(ArrayView<float> Scalar, ArrayView<float> Y, float Scale);
internal readonly record struct DropoutArgs(ArrayView<float> Mask, float P, float KeepScale, ulong Seed);

internal sealed partial class IlgpuBackend
{
    private sealed record UnaryKernels(PointwiseKernel<UnaryArgs> Forward, PointwiseKernel<UnaryBackwardArgs> Backward);

    /// <summary>Builds the forward and backward kernels of the op type it is given.</summary>
    private struct UnaryKernelBuilder : IUnaryOpUser
    {
        public UnaryKernels Built { get; private set; }
        public void Use<TOp>() where TOp : struct, IUnaryOp => Built = new(new(UnaryKernel<TOp>), new(UnaryBackwardKernel<TOp>));
    }

    private static readonly PointwiseKernel<FillArgs> s_fill = new(FillKernel);
    private static readonly Dictionary<UnaryKind, UnaryKernels> s_unary = Enum.GetValues<UnaryKind>().ToDictionary(kind => kind, kind =>
    {
        var builder = new UnaryKernelBuilder();
        UnaryOps.With(kind, ref builder);
        return builder.Built;
    });
    private static readonly Dictionary<BinaryKind, PointwiseKernel<BinaryArgs>> s_binary = new()
    {
        [BinaryKind.Add] = new(BinaryKernel<Add>),
        [BinaryKind.Sub] = new(BinaryKernel<Subtract>),
        [BinaryKind.Mul] = new(BinaryKernel<Multiply>),
    };
    private static readonly PointwiseKernel<AxpyArgs> s_axpy = new(AxpyKernel);
    private static readonly GroupedKernel<ReduceArgs<ContiguousSource>> s_sum = new(ReduceKernel);
    private static readonly PointwiseKernel<BroadcastArgs> s_broadcast = new(BroadcastKernel);
    private static readonly PointwiseKernel<DropoutArgs> s_dropout = new(DropoutKernel);

    public void Fill(DeviceBuffer y, float value) => Launch(s_fill, y.Length, new FillArgs(View(y, y.Length), value));

    public void Copy(DeviceBuffer x, long xStart, DeviceBuffer y, long yStart, long length)
    {
        ArrayView1D<float, Stride1D.Dense> source = View(x, xStart + length), target = View(y, yStart + length);
        if (length > 0) source.SubView(xStart, length).CopyTo(_accelerator.DefaultStream, target.SubView(yStart, length));
    }

    public void Unary(UnaryKind kind, DeviceBuffer x, DeviceBuffer y, float scalar)
    {
        long n = y.Length;
        Launch(s_unary[kind].Forward, n, new UnaryArgs(View(x, n), View(y, n), scalar));
    }

    public void UnaryBackward(UnaryKind kind, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx, float scalar)
    {
        long n = dx.Length;
        Launch(s_unary[kind].Backward, n, new UnaryBackwardArgs(View(x, n), View(dy, n), View(dx, n), scalar));
    }

    public void Binary(BinaryKind kind, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
    {
        long n = y.Length;
        Launch(s_binary[kind], n, new BinaryArgs(View(a, n), View(b, n), View(y, n)));
    }

    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y)
    {
        long n = y.Length;
        Launch(s_axpy, n, new AxpyArgs(alpha, View(x, n), View(y, n)));
    }

    public void Sum(DeviceBuffer x, DeviceBuffer result, float scale) =>
        Reduce(s_sum, new ContiguousSource(View(x, x.Length)), 1, x.Length, View(result, 1), scale);

    public void Broadcast(DeviceBuffer scalar, DeviceBuffer y, float scale) =>
        Launch(s_broadcast, y.Length, new BroadcastArgs(View(scalar, 1), View(y, y.Length), scale));

    public void DropoutMask(DeviceBuffer mask, float p, ulong seed) =>
        Launch(s_dropout, mask.Length, new DropoutArgs(View(mask, mask.Length), p, 1f / (1f - p), seed));

    // y (n)
    internal static void FillKernel(Index1D i, FillArgs a) => a.Y[i] = a.Value;

    // x, y (n)
    internal static void UnaryKernel<TOp>(Index1D i, UnaryArgs a) where TOp : struct, IUnaryOp =>
        a.Y[i] = default(TOp).Forward(a.X[i], a.Scalar);

    // x, dy, dx (n)
    internal static void UnaryBackwardKernel<TOp>(Index1D i, UnaryBackwardArgs a) where TOp : struct, IUnaryOp =>
        a.Dx[i] = default(TOp).Backward(a.X[i], a.Dy[i], a.Scalar);

    // a, b, y (n)
    internal static void BinaryKernel<TOp>(Index1D i, BinaryArgs a) where TOp : struct, IBinaryOp =>
        a.Y[i] = default(TOp).Apply(a.A[i], a.B[i]);

    // x, y (n)
    internal static void AxpyKernel(Index1D i, AxpyArgs a) => a.Y[i] += a.Alpha * a.X[i];

    // scalar (1), y (n)
    internal static void BroadcastKernel(Index1D i, BroadcastArgs a) => a.Y[i] = a.Scale * a.Scalar[0];

    // mask (n)
    internal static void DropoutKernel(Index1D i, DropoutArgs a) =>
        a.Mask[i] = DropoutHash.Uniform(a.Seed, i) < a.P ? 0f : a.KeepScale;
}
