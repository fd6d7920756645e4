using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Engine.Backends.Cpu;

/// <summary>
/// The vector operations the CPU kernels are written against, so one generic kernel serves every
/// hardware width. The JIT specialises a kernel per struct type argument and inlines these calls, so the
/// generic code compiles to the same instructions as hand-written Vector256 or Vector512 code.
/// </summary>
internal unsafe interface ISimd<TVector> where TVector : struct
{
    static abstract int Lanes { get; }
    static abstract TVector Zero { get; }
    /// <summary>0, 1, 2, …: lane i holds i.</summary>
    static abstract TVector LaneIndices { get; }
    static abstract TVector Splat(float value);
    static abstract TVector Load(float* source);
    static abstract void Store(TVector value, float* destination);

    static abstract TVector Add(TVector a, TVector b);
    static abstract TVector Subtract(TVector a, TVector b);
    static abstract TVector Multiply(TVector a, TVector b);
    static abstract TVector Divide(TVector a, TVector b);
    /// <summary>a·b + c, rounded once.</summary>
    static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);
    /// <summary>IEEE 754 maximum: NaN in either operand gives NaN, max(−0, +0) = +0 (as MathF.Max).</summary>
    static abstract TVector Max(TVector a, TVector b);
    static abstract TVector Sqrt(TVector a);
    /// <summary>zero where a ≤ b, else value (a NaN keeps the value).</summary>
    static abstract TVector ZeroWhereAtMost(TVector a, TVector b, TVector value);
    /// <summary>value where a ≥ b, else zero.</summary>
    static abstract TVector KeepWhereGreaterOrEqual(TVector a, TVector b, TVector value);
    /// <summary>All bits set in the lanes where a &gt; b (false where either is NaN), else clear: a mask for <see cref="Select"/>.</summary>
    static abstract TVector GreaterThan(TVector a, TVector b);
    /// <summary>ifTrue in the lanes where mask is set, else ifFalse.</summary>
    static abstract TVector Select(TVector mask, TVector ifTrue, TVector ifFalse);
    /// <summary>Sum of the lanes in a fixed order.</summary>
    static abstract float Sum(TVector a);
}

internal readonly unsafe struct Simd256 : ISimd<Vector256<float>>
{
    public static int Lanes => Vector256<float>.Count;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    public static Vector256<float> LaneIndices => Vector256<float>.Indices;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* source) => Vector256.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> value, float* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> ZeroWhereAtMost(Vector256<float> a, Vector256<float> b, Vector256<float> value) => Vector256.AndNot(value, Vector256.LessThanOrEqual(a, b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> KeepWhereGreaterOrEqual(Vector256<float> a, Vector256<float> b, Vector256<float> value) => Vector256.GreaterThanOrEqual(a, b) & value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> GreaterThan(Vector256<float> a, Vector256<float> b) => Vector256.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> mask, Vector256<float> ifTrue, Vector256<float> ifFalse) => Vector256.ConditionalSelect(mask, ifTrue, ifFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> a) => Vector256.Sum(a);
}

internal readonly unsafe struct Simd512 : ISimd<Vector512<float>>
{
    public static int Lanes => Vector512<float>.Count;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    public static Vector512<float> LaneIndices => Vector512<float>.Indices;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* source) => Vector512.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> value, float* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> ZeroWhereAtMost(Vector512<float> a, Vector512<float> b, Vector512<float> value) => Vector512.AndNot(value, Vector512.LessThanOrEqual(a, b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> KeepWhereGreaterOrEqual(Vector512<float> a, Vector512<float> b, Vector512<float> value) => Vector512.GreaterThanOrEqual(a, b) & value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> GreaterThan(Vector512<float> a, Vector512<float> b) => Vector512.GreaterThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> mask, Vector512<float> ifTrue, Vector512<float> ifFalse) => Vector512.ConditionalSelect(mask, ifTrue, ifFalse);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> a) => Vector512.Sum(a);
}
