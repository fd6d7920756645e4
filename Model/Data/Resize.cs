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
/// point with 22 fraction bits. Pass order: horizontal first (only over the rows the vertical pass
/// reads), then vertical; each pass rounds (adds ½) and clips its result to a byte, so the
/// intermediate image is 8-bit too. An axis whose size does not change has no pass.
/// </summary>
public static class Resize
{
    private const int PrecisionBits = 32 - 8 - 2;

    public static GrayImage Bilinear(GrayImage source, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var horizontal = Weights.For(source.Width, width);
        var vertical = Weights.For(source.Height, height);
        var image = source;
        if (width != source.Width)
        {
            // rows [first, last) of the source are all the vertical pass reads
            int first = vertical.Start[0];
            int last = vertical.Start[height - 1] + vertical.Count[height - 1];
            image = ResampleRows(image, horizontal, first, last - first);
            if (height != source.Height)
                vertical = vertical.Shifted(-first);
        }
        if (height != source.Height)
            image = ResampleColumns(image, vertical);
        return image == source ? new GrayImage(width, height, (byte[])source.Pixels.Clone()) : image;
    }

    // source (H, W) rows [firstRow, firstRow + rows) → (rows, weights.Outputs)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static GrayImage ResampleRows(GrayImage source, Weights weights, int firstRow, int rows)
    {
        int width = weights.Outputs, stride = weights.Stride;
        int[] starts = weights.Start, counts = weights.Count;
        var output = new byte[rows * width];
        ref int fixedWeights = ref MemoryMarshal.GetArrayDataReference(weights.Fixed);
        for (int y = 0; y < rows; y++)
        {
            // Weights.For keeps every output's taps inside the input row: Start[x] + Count[x] ≤ source.Width
            ref byte input = ref source.Pixels[(firstRow + y) * source.Width];
            var outputRow = output.AsSpan(y * width, width);
            for (int x = 0; x < outputRow.Length; x++)
            {
                ref byte taps = ref Unsafe.Add(ref input, starts[x]);
                ref int weight = ref Unsafe.Add(ref fixedWeights, x * stride);
                int sum = 1 << (PrecisionBits - 1);
                for (int t = 0, count = counts[x]; t < count; t++)
                    sum += Unsafe.Add(ref taps, t) * Unsafe.Add(ref weight, t);
                outputRow[x] = Clip8(sum);
            }
        }
        return new GrayImage(width, rows, output);
    }

    // source (H, W) → (weights.Outputs, W): each output row a weighted sum of whole input rows, a vector of columns at a time
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static GrayImage ResampleColumns(GrayImage source, Weights weights)
    {
        int width = source.Width, height = weights.Outputs;
        var output = new byte[height * width];
        var widened = new int[source.Height * width];   // the input's bytes as ints
        GrayImage.Widen(source.Pixels, widened);
        var sums = new int[width];
        for (int y = 0; y < height; y++)
        {
            sums.AsSpan().Fill(1 << (PrecisionBits - 1));
            for (int t = 0; t < weights.Count[y]; t++)
                AddScaled(sums, widened.AsSpan((weights.Start[y] + t) * width, width), weights.Fixed[y * weights.Stride + t]);
            ClipToBytes(sums, output.AsSpan(y * width, width));
        }
        return new GrayImage(width, height, output);
    }

    // sums += weight · row
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaled(Span<int> sums, ReadOnlySpan<int> row, int weight)
    {
        int x = 0;
        for (; x <= sums.Length - Vector<int>.Count; x += Vector<int>.Count)
            (new Vector<int>(sums[x..]) + new Vector<int>(row[x..]) * weight).CopyTo(sums[x..]);
        for (; x < sums.Length; x++)
            sums[x] += row[x] * weight;
    }

    // each fixed-point sum as Clip8 makes it: clamped to [0, 2^30 − 1], then its top 8 bits
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ClipToBytes(ReadOnlySpan<int> sums, Span<byte> bytes)
    {
        int lanes = Vector<int>.Count, x = 0;
        var top = new Vector<int>((1 << PrecisionBits << 8) - 1);
        for (; x <= sums.Length - 4 * lanes; x += 4 * lanes)
        {
            var low = Vector.Narrow(Scaled(sums[x..], top), Scaled(sums[(x + lanes)..], top));
            var high = Vector.Narrow(Scaled(sums[(x + 2 * lanes)..], top), Scaled(sums[(x + 3 * lanes)..], top));
            Vector.Narrow(low, high).CopyTo(bytes[x..]);
        }
        for (; x < sums.Length; x++) bytes[x] = Clip8(sums[x]);
    }

    private static Vector<uint> Scaled(ReadOnlySpan<int> sums, Vector<int> top) =>
        Vector.AsVectorUInt32(Vector.ShiftRightArithmetic(Vector.Min(Vector.Max(new Vector<int>(sums), Vector<int>.Zero), top), PrecisionBits));

    private static byte Clip8(int sum) =>
        sum >= 1 << PrecisionBits << 8 ? (byte)255 : sum <= 0 ? (byte)0 : (byte)(sum >> PrecisionBits);

    /// <summary>Per output sample: the first input it reads, how many, and their fixed-point weights
    /// (row o of <see cref="Fixed"/> starts at o·Stride).</summary>
    private sealed record Weights(int Outputs, int Stride, int[] Start, int[] Count, int[] Fixed)
    {
        public static Weights For(int inputs, int outputs)
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
            return new Weights(outputs, stride, start, count, fixedWeights);
        }

        public Weights Shifted(int offset) => this with { Start = Start.Select(s => s + offset).ToArray() };

        private static double Triangle(double x) => Math.Max(0, 1 - Math.Abs(x));
    }
}
