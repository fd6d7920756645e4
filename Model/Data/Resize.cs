using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SimilarFaces.Model.Data;

/// <summary>
/// PIL 9.4's Image.resize(size, Image.BILINEAR) for 8-bit images (Resample.c, ImagingResample):
/// separable convolution with the triangle filter tri(x) = max(0, 1 − |x|). Output sample i of an
/// axis mapping n inputs to m outputs has centre c = (i + ½)·n/m; when shrinking the filter widens
/// by s = n/m (antialiasing), so input j weighs tri((j + ½ − c)/s) over j in
/// [round(c − s), round(c + s)), then the weights are normalised to sum 1 and turned into fixed
/// point with 22 fraction bits. Pass order: horizontal first, then vertical (PIL's horizontal pass
/// covers only the rows the vertical one reads, but without a crop box those are all of them: the
/// first output's taps start at row 0 and the last one's end at the last row at any scale); each
/// pass rounds (adds ½) and clips its result to a byte, so the intermediate image is 8-bit too. An
/// axis whose size does not change has no pass.
/// </summary>
public static class Resize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Columns the vertical pass sums at a time, in a stack buffer.</summary>
    private const int ColumnBlock = 256;

    public static GrayImage Bilinear(GrayImage source, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var output = new byte[width * height];
        Bilinear(source, width, height, output);
        return new GrayImage(width, height, output);
    }

    /// <summary>The same resize into <paramref name="destination"/> (<paramref name="height"/> rows of <paramref name="width"/>).</summary>
    public static void Bilinear(GrayImage source, int width, int height, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (destination.Length != (long)width * height)
            throw new ArgumentException($"destination holds {destination.Length} pixels, a {width}x{height} image has {(long)width * height}", nameof(destination));
        bool horizontal = width != source.Width, vertical = height != source.Height;
        if (!horizontal && !vertical)
            source.Pixels.CopyTo(destination);
        else if (!vertical)
            ResampleRows(source, Weights.For(source.Width, width), destination);
        else if (!horizontal)
            ResampleColumns(source.Pixels, width, Weights.For(source.Height, height), destination);
        else
        {
            var between = ArrayPool<byte>.Shared.Rent(source.Height * width);
            try
            {
                ResampleRows(source, Weights.For(source.Width, width), between);
                ResampleColumns(between.AsSpan(0, source.Height * width), width, Weights.For(source.Height, height), destination);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(between);
            }
        }
    }

    // source (H, W) → output (H, weights.Outputs): Vector<int>.Count outputs at a time, each block of them summed over
    // the input columns its taps span, one broadcast column × one vector of weights per column (Weights.Bands)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ResampleRows(GrayImage source, Weights weights, Span<byte> output)
    {
        int width = weights.Outputs, lanes = Vector<int>.Count;
        var bands = weights.Bands;
        int blocks = bands.First.Length;
        int[] sums = ArrayPool<int>.Shared.Rent(2 * blocks * lanes);
        try
        {
            var rounding = new Vector<int>(1 << (PrecisionBits - 1));
            ref int bandWeights = ref MemoryMarshal.GetArrayDataReference(bands.Weights);
            for (int y = 0; y < source.Height; y += 2)
            {
                // two rows at a time (the last one twice when the count is odd), each weight vector loaded once for both;
                // Bands keeps every block's columns inside the input row: First[b] + Span[b] ≤ source.Width
                int next = Math.Min(y + 1, source.Height - 1);
                ref byte input = ref source.Pixels[y * source.Width];
                ref byte below = ref source.Pixels[next * source.Width];
                for (int b = 0; b < blocks; b++)
                {
                    ref byte columns = ref Unsafe.Add(ref input, bands.First[b]);
                    ref byte columnsBelow = ref Unsafe.Add(ref below, bands.First[b]);
                    ref int blockWeights = ref Unsafe.Add(ref bandWeights, bands.Offset[b]);
                    Vector<int> sum = rounding, sumBelow = rounding;
                    for (int j = 0, span = bands.Span[b]; j < span; j++)
                    {
                        var weight = Vector.LoadUnsafe(ref blockWeights, (nuint)(j * lanes));
                        sum += new Vector<int>(Unsafe.Add(ref columns, j)) * weight;
                        sumBelow += new Vector<int>(Unsafe.Add(ref columnsBelow, j)) * weight;
                    }
                    sum.CopyTo(sums, b * lanes);
                    sumBelow.CopyTo(sums, (blocks + b) * lanes);
                }
                ClipToBytes(sums.AsSpan(0, width), output.Slice(y * width, width));
                ClipToBytes(sums.AsSpan(blocks * lanes, width), output.Slice(next * width, width));
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(sums);
        }
    }

    // source (H, width) → output (weights.Outputs, width): each output row a weighted sum of whole input rows,
    // ColumnBlock columns at a time
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ResampleColumns(ReadOnlySpan<byte> source, int width, Weights weights, Span<byte> output)
    {
        Span<int> sums = stackalloc int[ColumnBlock];
        for (int y = 0; y < weights.Outputs; y++)
        {
            int taps = weights.Count[y], top = weights.Start[y];
            var rowWeights = weights.Fixed.AsSpan(y * weights.Stride, taps);
            for (int x = 0; x < width; x += ColumnBlock)
            {
                var block = sums[..Math.Min(ColumnBlock, width - x)];
                block.Fill(1 << (PrecisionBits - 1));
                for (int t = 0; t < taps; t++)
                    AddScaled(block, source.Slice((top + t) * width + x, block.Length), rowWeights[t]);
                ClipToBytes(block, output.Slice(y * width + x, block.Length));
            }
        }
    }

    // sums += weight · row, the row's bytes widened to ints a vector at a time; a row at least a vector long ends on
    // the vector that ends with it, its lanes already added masked out
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaled(Span<int> sums, ReadOnlySpan<byte> row, int weight)
    {
        int x = 0, step = Vector<byte>.Count;
        for (; x <= sums.Length - step; x += step)
            AddScaled(sums[x..], new Vector<byte>(row[x..]), weight, 0);
        if (x == sums.Length) return;
        if (sums.Length >= step)
        {
            int end = x;
            x = sums.Length - step;
            AddScaled(sums[x..], new Vector<byte>(row[x..]), weight, end - x);
            return;
        }
        for (; x < sums.Length; x++)
            sums[x] += row[x] * weight;
    }

    // sums[0, Vector<byte>.Count) += weight · bytes, except in the lanes below firstLane
    private static void AddScaled(Span<int> sums, Vector<byte> bytes, int weight, int firstLane)
    {
        int lanes = Vector<int>.Count;
        var (first, second, third, fourth) = GrayImage.Widen(bytes);
        var lane = Vector<int>.Indices - new Vector<int>(firstLane);
        AddScaled(sums, first, weight, lane);
        AddScaled(sums[lanes..], second, weight, lane + new Vector<int>(lanes));
        AddScaled(sums[(2 * lanes)..], third, weight, lane + new Vector<int>(2 * lanes));
        AddScaled(sums[(3 * lanes)..], fourth, weight, lane + new Vector<int>(3 * lanes));
    }

    // sums[0, Vector<int>.Count) += weight · values where lane ≥ 0
    private static void AddScaled(Span<int> sums, Vector<int> values, int weight, Vector<int> lane)
    {
        var added = values * weight & ~Vector.LessThan(lane, Vector<int>.Zero);
        (new Vector<int>(sums) + added).CopyTo(sums);
    }

    // each fixed-point sum as Clip8 makes it: clamped to [0, 2^30 − 1], then its top 8 bits; a stretch at least four
    // vectors long ends on the four vectors that end with it (writing some bytes twice, the same)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ClipToBytes(ReadOnlySpan<int> sums, Span<byte> bytes)
    {
        int lanes = Vector<int>.Count, step = 4 * lanes, x = 0;
        var top = new Vector<int>((1 << PrecisionBits << 8) - 1);
        for (; x <= sums.Length - step; x += step)
            ClipToBytes(sums[x..], bytes[x..], top);
        if (x == sums.Length) return;
        if (sums.Length >= step)
        {
            ClipToBytes(sums[^step..], bytes[^step..], top);
            return;
        }
        for (; x < sums.Length; x++) bytes[x] = Clip8(sums[x]);
    }

    private static void ClipToBytes(ReadOnlySpan<int> sums, Span<byte> bytes, Vector<int> top)
    {
        int lanes = Vector<int>.Count;
        var low = Vector.Narrow(Scaled(sums, top), Scaled(sums[lanes..], top));
        var high = Vector.Narrow(Scaled(sums[(2 * lanes)..], top), Scaled(sums[(3 * lanes)..], top));
        Vector.Narrow(low, high).CopyTo(bytes);
    }

    private static Vector<uint> Scaled(ReadOnlySpan<int> sums, Vector<int> top) =>
        Vector.AsVectorUInt32(Vector.ShiftRightArithmetic(Vector.Min(Vector.Max(new Vector<int>(sums), Vector<int>.Zero), top), PrecisionBits));

    private static byte Clip8(int sum) =>
        sum >= 1 << PrecisionBits << 8 ? (byte)255 : sum <= 0 ? (byte)0 : (byte)(sum >> PrecisionBits);

    /// <summary>Per output sample: the first input it reads, how many, and their fixed-point weights
    /// (row o of <see cref="Fixed"/> starts at o·Stride).</summary>
    private sealed record Weights(int Inputs, int Outputs, int Stride, int[] Start, int[] Count, int[] Fixed)
    {
        private Bands? _bands;

        /// <summary>The same weights by blocks of Vector&lt;int&gt;.Count outputs, made when the horizontal pass first asks
        /// (a vertical axis never does).</summary>
        public Bands Bands => _bands ??= Bands.Of(this);

        // the last few axes each thread resized, most recent first: a folder's images mostly share one size
        [ThreadStatic] private static Weights?[]? _recent;

        public static Weights For(int inputs, int outputs)
        {
            var recent = _recent ??= new Weights?[4];
            foreach (var known in recent)
                if (known is not null && known.Inputs == inputs && known.Outputs == outputs) return known;
            var made = Compute(inputs, outputs);
            Array.Copy(recent, 0, recent, 1, recent.Length - 1);
            recent[0] = made;
            return made;
        }

        private static Weights Compute(int inputs, int outputs)
        {
            double scale = (double)inputs / outputs;
            double filterScale = Math.Max(scale, 1.0);
            double support = filterScale; // the triangle's support is 1
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outputs];
            var count = new int[outputs];
            var fixedWeights = new int[outputs * stride];
            var weights = new double[stride];
            double inverseScale = 1.0 / filterScale; // PIL multiplies by it rather than dividing
            for (int o = 0; o < outputs; o++)
            {
                double centre = (o + 0.5) * scale;
                // (int) truncates as C does; both bounds are meant as round-half-up
                int min = Math.Max((int)(centre - support + 0.5), 0);
                int max = Math.Min((int)(centre + support + 0.5), inputs);
                double total = 0;
                for (int j = 0; j < max - min; j++)
                {
                    weights[j] = Triangle((j + min - centre + 0.5) * inverseScale);
                    total += weights[j];
                }
                for (int j = 0; j < max - min; j++)
                {
                    double w = total != 0 ? weights[j] / total : weights[j];
                    fixedWeights[o * stride + j] = (int)(w < 0 ? w * (1 << PrecisionBits) - 0.5 : w * (1 << PrecisionBits) + 0.5);
                }
                start[o] = min;
                count[o] = max - min;
            }
            return new Weights(inputs, outputs, stride, start, count, fixedWeights);
        }

        private static double Triangle(double x) => Math.Max(0, 1 - Math.Abs(x));
    }

    /// <summary>
    /// Weights by blocks of L = Vector&lt;int&gt;.Count outputs: block b (outputs b·L … b·L + L − 1, the last block's
    /// lanes past the outputs all zero) reads input columns First[b] … First[b] + Span[b] − 1, and column j's weight
    /// for each of its L outputs (zero where an output does not read it) is Weights[Offset[b] + j·L + lane]. An output's
    /// sum takes the same products as its own taps, plus zeros: integers, so the same sum.
    /// </summary>
    private sealed record Bands(int[] First, int[] Span, int[] Offset, int[] Weights)
    {
        public static Bands Of(Weights axis)
        {
            var (outputs, start, count) = (axis.Outputs, axis.Start, axis.Count);
            int lanes = Vector<int>.Count, blocks = (outputs + lanes - 1) / lanes;
            var first = new int[blocks];
            var span = new int[blocks];
            var offset = new int[blocks];
            int total = 0;
            for (int b = 0; b < blocks; b++)
            {
                int from = b * lanes, to = Math.Min(outputs, from + lanes), end = 0;
                first[b] = int.MaxValue;
                for (int o = from; o < to; o++)
                {
                    first[b] = Math.Min(first[b], start[o]);
                    end = Math.Max(end, start[o] + count[o]);
                }
                span[b] = end - first[b];
                offset[b] = total;
                total += span[b] * lanes;
            }
            var weights = new int[total];
            for (int o = 0; o < outputs; o++)
            {
                int b = o / lanes, lane = o % lanes;
                for (int t = 0; t < count[o]; t++)
                    weights[offset[b] + (start[o] + t - first[b]) * lanes + lane] = axis.Fixed[o * axis.Stride + t];
            }
            return new Bands(first, span, offset, weights);
        }
    }
}
