using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Engine.Backends.Cpu;

/// <summary>
/// The managed CPU backend: SIMD kernels (512-bit vectors where the hardware accelerates them, 256-bit
/// otherwise) spread over every core. Work is always split into pieces fixed by the problem's shape,
/// and reductions add per-piece partial sums in piece order, so a result never depends on thread timing.
/// The op families live in the other files of this folder.
/// </summary>
internal sealed unsafe partial class CpuBackend : IBackend
{
    /// <summary>Elements per piece of an element-wise kernel (256 KB of floats).</summary>
    private const int ChunkLength = 1 << 16;

    private readonly BufferPool<float[]> _pool = new(length => HugePages.Advise(GC.AllocateUninitializedArray<float>((int)length)));
    private readonly bool _wide;

    public CpuBackend() : this(Vector512.IsHardwareAccelerated) { }

    /// <param name="wideVectors">
    /// Use 512-bit vectors. Where the hardware lacks them .NET emulates them (slowly but exactly), which lets
    /// tests cover that path on any machine.
    /// </param>
    internal CpuBackend(bool wideVectors)
    {
        _wide = wideVectors;
        Description = $"{ProcessorModel()}, {Environment.ProcessorCount} cores, {VectorBits}-bit SIMD";
    }

    public string Name => "cpu";
    public string Description { get; }
    private int VectorBits => _wide ? 512 : 256;

    /// <summary>
    /// For tests: every buffer handed out, new or reused, is filled with NaN first, so a kernel that reads memory it
    /// has not written (a scratch buffer still holding a previous kernel's values) fails its check.
    /// </summary>
    internal bool PoisonAllocations { get; init; }

    public DeviceBuffer Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Array.MaxLength);
        var buffer = new CpuBuffer(this, _pool, length);
        if (PoisonAllocations) buffer.Storage.AsSpan().Fill(float.NaN);
        return buffer;
    }

    public PoolStatistics PoolStatistics => _pool.Statistics;

    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationStart = 0) =>
        source.CopyTo(Data(destination).AsSpan(checked((int)destinationStart)));
    public void Download(DeviceBuffer source, Span<float> destination) => Data(source).CopyTo(destination);

    /// <summary>Kernels run synchronously on the calling thread (and the pool threads it waits for).</summary>
    public void Synchronize() { }

    public void Dispose() => _pool.Clear();

    /// <summary>The storage of a buffer of this backend; throws when the buffer belongs elsewhere or is disposed.</summary>
    internal float[] Data(DeviceBuffer buffer, [CallerArgumentExpression(nameof(buffer))] string argument = "")
    {
        if (buffer is not CpuBuffer cpu || !ReferenceEquals(cpu.Backend, this))
            throw new ArgumentException($"The buffer belongs to backend '{buffer.Backend.Name}', not to this '{Name}' backend.", argument);
        ObjectDisposedException.ThrowIf(cpu.IsDisposed, cpu);
        return cpu.Storage;
    }

    private static readonly ParallelOptions OnWorkers = Workers.Shared.Options;

    /// <summary>Runs body(0) … body(count − 1) on all cores (the backend's own threads). Callers fix what each index computes.</summary>
    private static void ForEachPiece(int count, Action<int> body)
    {
        if (count == 1) body(0);
        else Parallel.For(0, count, OnWorkers, body);
    }

    /// <summary>Runs body(start, length) over [0, n) cut into <see cref="ChunkLength"/> pieces, in parallel.</summary>
    private static void ForEachChunk(long n, Action<long, int> body) =>
        ForEachPiece(ChunkCount(n), piece =>
        {
            long start = (long)piece * ChunkLength;
            body(start, (int)Math.Min(ChunkLength, n - start));
        });

    private static int ChunkCount(long n) => (int)Math.Max(1, (n + ChunkLength - 1) / ChunkLength);

    /// <summary>The half-open range [first, end) of piece <paramref name="piece"/> when <paramref name="count"/> items are cut into equal pieces.</summary>
    private static (int First, int End) PieceRange(int count, int pieces, int piece) =>
        ((int)((long)count * piece / pieces), (int)((long)count * (piece + 1) / pieces));

    /// <summary>Σ_piece partials[piece·stride + index] over <paramref name="pieces"/> pieces, in piece order.</summary>
    private static double SumPartials(double[] partials, int pieces, int stride, int index)
    {
        double sum = 0;
        for (int piece = 0; piece < pieces; piece++) sum += partials[piece * stride + index];
        return sum;
    }

    /// <summary>How many pieces of whole rows a (rows, cols) array is cut into: about <see cref="ChunkLength"/> elements each.</summary>
    private static int RowPieces(int rows, int cols) =>
        (int)Math.Clamp((long)rows * cols / ChunkLength, 1, Math.Max(1, rows));

    /// <summary>
    /// A per-thread scratch area of at least <paramref name="length"/> floats, aligned to a cache line so that
    /// vector loads never straddle two lines. The array is pinned and held by the thread's slot, so the pointer
    /// stays valid until the next, larger request on the same thread.
    /// </summary>
    private static float* ThreadScratch(ref float[]? slot, long length)
    {
        if (slot == null || slot.Length < length + CacheLineFloats)
            slot = GC.AllocateUninitializedArray<float>(checked((int)(length + CacheLineFloats)), pinned: true);
        var start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(slot));
        return (float*)((start + 63) & ~(nint)63);
    }

    private const int CacheLineFloats = 16;

    private static string ProcessorModel()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is var colon and >= 0)
                    return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "CPU";
    }
}

/// <summary>A float array rented from the CPU backend's pool, of exactly the requested length.</summary>
internal sealed class CpuBuffer : DeviceBuffer
{
    private readonly BufferPool<float[]> _pool;

    public CpuBuffer(CpuBackend backend, BufferPool<float[]> pool, long length) : base(backend, length)
    {
        _pool = pool;
        Storage = pool.Rent(length);
    }

    public float[] Storage { get; }

    protected override void Release() => _pool.Return(Length, Storage);
}
