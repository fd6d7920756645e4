using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Engine.Backends.Cpu;

// Element-wise kernels: y[i] = f(x[i]) or f(a[i], b[i]), in parallel over fixed chunks. Each op is a small
// struct with a scalar and a vector form of the same arithmetic, so the vector body and the scalar tail agree;
// the unary maps and their derivatives are the shared ones of UnaryOps.cs.
// Sum adds each chunk's vector partial sums in a fixed order, then the chunk totals in order (in double).
internal sealed unsafe partial class CpuBackend
{
    public void Fill(DeviceBuffer y, float value)
    {
        float[] ys = Data(y);
        ForEachChunk(ys.Length, (start, length) => ys.AsSpan((int)start, length).Fill(value));
    }

    public void Copy(DeviceBuffer x, long xStart, DeviceBuffer y, long yStart, long length)
    {
        float[] xs = Data(x), ys = Data(y);
        ForEachChunk(length, (start, n) => xs.AsSpan((int)(xStart + start), n).CopyTo(ys.AsSpan((int)(yStart + start), n)));
    }

    public void Unary(UnaryKind kind, DeviceBuffer x, DeviceBuffer y, float scalar)
    {
        var forward = new UnaryForward(_wide, Data(x), Data(y), scalar);
        UnaryOps.With(kind, ref forward);
    }

    public void UnaryBackward(UnaryKind kind, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx, float scalar)
    {
        var backward = new UnaryBackwardPass(_wide, Data(x), Data(dy), Data(dx), scalar);
        UnaryOps.With(kind, ref backward);
    }

    public void Binary(BinaryKind kind, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y)
    {
        float[] aValues = Data(a), bValues = Data(b), ys = Data(y);
        switch (kind)
        {
            case BinaryKind.Add: Zip(new AddOp(), aValues, bValues, ys); break;
            case BinaryKind.Sub: Zip(new SubtractOp(), aValues, bValues, ys); break;
            case BinaryKind.Mul: Zip(new MultiplyOp(), aValues, bValues, ys); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    public void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y)
    {
        float[] xs = Data(x), ys = Data(y);
        Zip(new AxpyOp(alpha), xs, ys, ys);
    }

    public void Sum(DeviceBuffer x, DeviceBuffer result, float scale)
    {
        float[] xs = Data(x), results = Data(result);
        var chunkSums = new double[ChunkCount(xs.Length)];
        ForEachChunk(xs.Length, (start, length) =>
        {
            fixed (float* p = xs) chunkSums[start / ChunkLength] = SumOf(p + start, length);
        });
        results[0] = (float)(scale * SumPartials(chunkSums, chunkSums.Length, 1, 0));
    }

    public void Broadcast(DeviceBuffer scalar, DeviceBuffer y, float scale)
    {
        float[] scalars = Data(scalar), ys = Data(y);
        float value = scale * scalars[0];
        ForEachChunk(ys.Length, (start, length) => ys.AsSpan((int)start, length).Fill(value));
    }

    /// <summary>Σ x[0..n), on the calling thread.</summary>
    private double SumOf(float* x, int n) =>
        _wide ? SumRange<Simd512, Vector512<float>>(x, n) : SumRange<Simd256, Vector256<float>>(x, n);

    /// <summary>Σ x[0..n) with four vector accumulators, combined in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumRange<TS, TV>(float* x, int n) where TS : ISimd<TV> where TV : struct
    {
        int lanes = TS.Lanes, i = 0;
        TV s0 = TS.Zero, s1 = TS.Zero, s2 = TS.Zero, s3 = TS.Zero;
        for (; i <= n - 4 * lanes; i += 4 * lanes)
        {
            s0 = TS.Add(s0, TS.Load(x + i));
            s1 = TS.Add(s1, TS.Load(x + i + lanes));
            s2 = TS.Add(s2, TS.Load(x + i + 2 * lanes));
            s3 = TS.Add(s3, TS.Load(x + i + 3 * lanes));
        }
        double sum = TS.Sum(TS.Add(TS.Add(s0, s1), TS.Add(s2, s3)));
        for (; i < n; i++) sum += x[i];
        return sum;
    }

    // ---- the map/zip machinery --------------------------------------------------------------

    /// <summary>target[0..n) += addend[0..n), on the calling thread.</summary>
    private void AddInto(float* target, float* addend, int n)
    {
        if (_wide) ZipRange<AddOp, Simd512, Vector512<float>>(default, target, addend, target, n);
        else ZipRange<AddOp, Simd256, Vector256<float>>(default, target, addend, target, n);
    }

    private interface IMapOp
    {
        float Apply(float x);
        TV Apply<TS, TV>(TV x) where TS : ISimd<TV> where TV : struct;
    }

    private interface IZipOp
    {
        float Apply(float a, float b);
        TV Apply<TS, TV>(TV a, TV b) where TS : ISimd<TV> where TV : struct;
    }

    /// <summary>y = op(x), element by element; y may be x.</summary>
    private void Map<TOp>(TOp op, float[] xs, float[] ys) where TOp : struct, IMapOp =>
        ForEachChunk(ys.Length, (start, length) =>
        {
            fixed (float* x = xs, y = ys)
            {
                if (_wide) MapRange<TOp, Simd512, Vector512<float>>(op, x + start, y + start, length);
                else MapRange<TOp, Simd256, Vector256<float>>(op, x + start, y + start, length);
            }
        });

    /// <summary>y = op(a, b), element by element; y may be a or b.</summary>
    private void Zip<TOp>(TOp op, float[] aValues, float[] bValues, float[] ys) where TOp : struct, IZipOp =>
        ForEachChunk(ys.Length, (start, length) =>
        {
            fixed (float* a = aValues, b = bValues, y = ys)
            {
                if (_wide) ZipRange<TOp, Simd512, Vector512<float>>(op, a + start, b + start, y + start, length);
                else ZipRange<TOp, Simd256, Vector256<float>>(op, a + start, b + start, y + start, length);
            }
        });

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MapRange<TOp, TS, TV>(TOp op, float* x, float* y, int n)
        where TOp : struct, IMapOp where TS : ISimd<TV> where TV : struct
    {
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes) TS.Store(op.Apply<TS, TV>(TS.Load(x + i)), y + i);
        for (; i < n; i++) y[i] = op.Apply(x[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ZipRange<TOp, TS, TV>(TOp op, float* a, float* b, float* y, int n)
        where TOp : struct, IZipOp where TS : ISimd<TV> where TV : struct
    {
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes) TS.Store(op.Apply<TS, TV>(TS.Load(a + i), TS.Load(b + i)), y + i);
        for (; i < n; i++) y[i] = op.Apply(a[i], b[i]);
    }

    /// <summary>ys = f(xs, s) for the op the kind names.</summary>
    private readonly struct UnaryForward(bool wide, float[] xs, float[] ys, float s) : IUnaryOpUser
    {
        public void Use<TOp>() where TOp : struct, IUnaryOp
        {
            float[] xValues = xs, yValues = ys;
            float scalar = s;
            bool isWide = wide;
            ForEachChunk(yValues.Length, (start, length) =>
            {
                fixed (float* x = xValues, y = yValues)
                {
                    if (isWide) UnaryRange<TOp, Simd512, Vector512<float>>(x + start, y + start, length, scalar);
                    else UnaryRange<TOp, Simd256, Vector256<float>>(x + start, y + start, length, scalar);
                }
            });
        }
    }

    /// <summary>dxs = dys · f'(xs, s) for the op the kind names.</summary>
    private readonly struct UnaryBackwardPass(bool wide, float[] xs, float[] dys, float[] dxs, float s) : IUnaryOpUser
    {
        public void Use<TOp>() where TOp : struct, IUnaryOp
        {
            float[] xValues = xs, dyValues = dys, dxValues = dxs;
            float scalar = s;
            bool isWide = wide;
            ForEachChunk(dxValues.Length, (start, length) =>
            {
                fixed (float* x = xValues, dy = dyValues, dx = dxValues)
                {
                    if (isWide) UnaryBackwardRange<TOp, Simd512, Vector512<float>>(x + start, dy + start, dx + start, length, scalar);
                    else UnaryBackwardRange<TOp, Simd256, Vector256<float>>(x + start, dy + start, dx + start, length, scalar);
                }
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UnaryRange<TOp, TS, TV>(float* x, float* y, int n, float s)
        where TOp : struct, IUnaryOp where TS : ISimd<TV> where TV : struct
    {
        TOp op = default;
        TV sv = TS.Splat(s);
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes) TS.Store(op.Forward<TS, TV>(TS.Load(x + i), sv), y + i);
        for (; i < n; i++) y[i] = op.Forward(x[i], s);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void UnaryBackwardRange<TOp, TS, TV>(float* x, float* dy, float* dx, int n, float s)
        where TOp : struct, IUnaryOp where TS : ISimd<TV> where TV : struct
    {
        TOp op = default;
        TV sv = TS.Splat(s);
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes) TS.Store(op.Backward<TS, TV>(TS.Load(x + i), TS.Load(dy + i), sv), dx + i);
        for (; i < n; i++) dx[i] = op.Backward(x[i], dy[i], s);
    }

    private readonly struct AddOp : IZipOp
    {
        public float Apply(float a, float b) => a + b;
        public TV Apply<TS, TV>(TV a, TV b) where TS : ISimd<TV> where TV : struct => TS.Add(a, b);
    }

    private readonly struct SubtractOp : IZipOp
    {
        public float Apply(float a, float b) => a - b;
        public TV Apply<TS, TV>(TV a, TV b) where TS : ISimd<TV> where TV : struct => TS.Subtract(a, b);
    }

    private readonly struct MultiplyOp : IZipOp
    {
        public float Apply(float a, float b) => a * b;
        public TV Apply<TS, TV>(TV a, TV b) where TS : ISimd<TV> where TV : struct => TS.Multiply(a, b);
    }

    /// <summary>alpha·a + b in one rounding.</summary>
    private readonly struct AxpyOp(float alpha) : IZipOp
    {
        public float Apply(float a, float b) => MathF.FusedMultiplyAdd(alpha, a, b);
        public TV Apply<TS, TV>(TV a, TV b) where TS : ISimd<TV> where TV : struct => TS.MultiplyAdd(TS.Splat(alpha), a, b);
    }
}
