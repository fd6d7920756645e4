using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SimilarFaces.Model.Data;

/// <summary>An 8-bit grayscale image, PIL mode "L": pixels row-major, top row first.</summary>
public sealed class GrayImage
{
    public GrayImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if (pixels.Length != (long)width * height)
            throw new ArgumentException($"{width}x{height} image needs {(long)width * height} pixels, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    /// <summary>torchvision's ToTensor: each byte divided by 255 in float32, into (Height, Width).</summary>
    public void ToUnitRange(Span<float> destination) => ToUnitRange(Pixels, destination);

    /// <summary>torchvision's ToTensor of any pixels: each byte divided by 255 in float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToUnitRange(ReadOnlySpan<byte> pixels, Span<float> destination)
    {
        if (destination.Length != pixels.Length)
            throw new ArgumentException($"destination holds {destination.Length} values, image has {pixels.Length}", nameof(destination));
        var values = MemoryMarshal.Cast<float, int>(destination);   // the bytes as ints first, then each int as its float in place
        Widen(pixels, values);
        int i = 0;
        var divisor = new Vector<float>(255f);
        for (; i <= values.Length - Vector<int>.Count; i += Vector<int>.Count)
            (Vector.ConvertToSingle(new Vector<int>(values[i..])) / divisor).CopyTo(destination[i..]);
        for (; i < values.Length; i++)
            destination[i] = values[i] / 255f;
    }

    // each byte as an int, a vector of bytes at a time
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen(ReadOnlySpan<byte> bytes, Span<int> ints)
    {
        int i = 0, lanes = Vector<int>.Count;
        for (; i <= bytes.Length - Vector<byte>.Count; i += Vector<byte>.Count)
        {
            var (first, second, third, fourth) = Widen(new Vector<byte>(bytes[i..]));
            first.CopyTo(ints[i..]);
            second.CopyTo(ints[(i + lanes)..]);
            third.CopyTo(ints[(i + 2 * lanes)..]);
            fourth.CopyTo(ints[(i + 3 * lanes)..]);
        }
        for (; i < bytes.Length; i++) ints[i] = bytes[i];
    }

    /// <summary>A vector of bytes as four vectors of ints, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector<int> First, Vector<int> Second, Vector<int> Third, Vector<int> Fourth) Widen(Vector<byte> bytes)
    {
        Vector.Widen(bytes, out var low, out var high);
        Vector.Widen(low, out var first, out var second);
        Vector.Widen(high, out var third, out var fourth);
        return (Vector.AsVectorInt32(first), Vector.AsVectorInt32(second), Vector.AsVectorInt32(third), Vector.AsVectorInt32(fourth));
    }
}
