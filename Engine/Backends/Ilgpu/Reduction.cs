using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Deterministic segmented sums, shared by Sum, SumRows, batch-norm statistics, conv bias gradients and the loss:
//   out[s] = scale · Σ_{j<count} source(s, j)      for every segment s
// Stage 1: each group sums one chunk of ReduceChunk values of one segment (threads stride through the chunk, then a
// tree in shared memory). Stage 2, only when a segment spans several chunks, sums the chunk totals the same way.
// The chunking depends on count alone, so the order of additions (and the result) is the same on every run and device.

/// <summary>Value j of segment s of a reduction.</summary>
internal interface IReductionSource
{
    float Load(int segment, int j);
}

// Matrix views that serve as reduction sources and as product operands (IGemmOperand) alike:
// DepthMajor (Gemm.cs) sums the columns of a row-major matrix; ChannelMajor sums per channel.

/// <summary>x (n): one segment.</summary>
internal readonly record struct ContiguousSource(ArrayView<float> X) : IReductionSource
{
    public float Load(int segment, int j) => X[j];
}

/// <summary>x (N, C, L) read as (C, N·L): segment or outer = channel c, j = n·L + l.</summary>
internal readonly record struct ChannelMajor(ArrayView<float> X, int Channels, int Length) : IReductionSource, IGemmOperand
{
    public bool DepthContiguous => true;
    public float Load(int c, int j) => X[IlgpuBackend.ChannelIndex(c, j, Channels, Length)];
}

/// <summary>A reduction launch; Partials holds chunk totals (segments · ChunksPerSegment), used when ChunksPerSegment &gt; 1.</summary>
internal readonly record struct ReduceArgs<TSource>(
    TSource Source, int Count, int ChunksPerSegment, ArrayView<float> Partials, ArrayView<float> Output, float Scale)
    where TSource : struct, IReductionSource;

internal readonly record struct ReduceChunksArgs(ArrayView<float> Partials, int ChunksPerSegment, ArrayView<float> Output, float Scale);

internal sealed partial class IlgpuBackend
{
    internal const int ReduceThreads = 128;
    private const int ReduceChunk = ReduceThreads * 32;

    private static readonly GroupedKernel<ReduceChunksArgs> s_reduceChunks = new(ReduceChunksKernel);
    private static readonly GroupedKernel<ReduceArgs<ChannelMajor>> s_channelSum = new(ReduceKernel);

    /// <summary>Index of x[n, c, l] in x (N, C, L) for j = n·L + l.</summary>
    internal static int ChannelIndex(int c, int j, int channels, int length) => (j / length * channels + c) * length + j % length;

    /// <summary>output (segments) = scale · Σ_j source(s, j), j &lt; count.</summary>
    private void Reduce<TSource>(GroupedKernel<ReduceArgs<TSource>> kernel, in TSource source, int segments, long count,
        ArrayView<float> output, float scale) where TSource : struct, IReductionSource
    {
        if (count == 0)
        {
            Launch(s_fill, segments, new FillArgs(output, 0f));
            return;
        }
        int chunks = checked((int)((count + ReduceChunk - 1) / ReduceChunk));
        if (chunks == 1)
        {
            Launch(kernel, segments, ReduceThreads, new ReduceArgs<TSource>(source, (int)count, 1, output, output, scale));
            return;
        }
        using var partials = Scratch((long)segments * chunks);
        Launch(kernel, checked(segments * chunks), ReduceThreads,
            new ReduceArgs<TSource>(source, (int)count, chunks, partials.Storage, output, scale));
        Launch(s_reduceChunks, segments, ReduceThreads, new ReduceChunksArgs(partials.Storage, chunks, output, scale));
    }

    // group g = segment·chunks + chunk: sums source(segment, j) for j in the chunk
    internal static void ReduceKernel<TSource>(ReduceArgs<TSource> a) where TSource : struct, IReductionSource
    {
        var shared = SharedMemory.Allocate<float>(ReduceThreads);
        int segment = Grid.IdxX / a.ChunksPerSegment;
        int begin = Grid.IdxX % a.ChunksPerSegment * ReduceChunk;
        int end = Math.Min(a.Count, begin + ReduceChunk);
        float sum = 0f;
        for (int j = begin + Group.IdxX; j < end; j += ReduceThreads)
            sum += a.Source.Load(segment, j);
        float total = GroupSum(shared, sum);
        if (Group.IdxX != 0) return;
        if (a.ChunksPerSegment == 1) a.Output[segment] = a.Scale * total;
        else a.Partials[Grid.IdxX] = total;
    }

    // partials (segments, chunks) → output (segments); one group per segment
    internal static void ReduceChunksKernel(ReduceChunksArgs a)
    {
        var shared = SharedMemory.Allocate<float>(ReduceThreads);
        int first = Grid.IdxX * a.ChunksPerSegment;
        float sum = 0f;
        for (int chunk = Group.IdxX; chunk < a.ChunksPerSegment; chunk += ReduceThreads)
            sum += a.Partials[first + chunk];
        float total = GroupSum(shared, sum);
        if (Group.IdxX == 0) a.Output[Grid.IdxX] = a.Scale * total;
    }

    /// <summary>Σ value over the ReduceThreads threads of the group, as a fixed tree; every thread must call it.</summary>
    private static float GroupSum(ArrayView<float> shared, float value)
    {
        int t = Group.IdxX;
        shared[t] = value;
        Group.Barrier();
        for (int stride = ReduceThreads / 2; stride > 0; stride >>= 1)
        {
            if (t < stride) shared[t] += shared[t + stride];
            Group.Barrier();
        }
        return shared[0];
    }
}
