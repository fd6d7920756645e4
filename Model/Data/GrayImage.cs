using System.Numerics;
using System.Runtime.CompilerServices;

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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ToUnitRange(Span<float> destination)
    {
        if (destination.Length != Pixels.Length)
            throw new ArgumentException($"destination holds {destination.Length} values, image has {Pixels.Length}", nameof(destination));
        int lanes = Vector<float>.Count, i = 0;
        var divisor = new Vector<float>(255f);
        for (; i <= Pixels.Length - Vector<byte>.Count; i += Vector<byte>.Count)
        {
            Vector.Widen(new Vector<byte>(Pixels.AsSpan(i)), out var low, out var high);
            Vector.Widen(low, out var first, out var second);
            Vector.Widen(high, out var third, out var fourth);
            (Vector.ConvertToSingle(first) / divisor).CopyTo(destination[i..]);
            (Vector.ConvertToSingle(second) / divisor).CopyTo(destination[(i + lanes)..]);
            (Vector.ConvertToSingle(third) / divisor).CopyTo(destination[(i + 2 * lanes)..]);
            (Vector.ConvertToSingle(fourth) / divisor).CopyTo(destination[(i + 3 * lanes)..]);
        }
        for (; i < Pixels.Length; i++)
            destination[i] = Pixels[i] / 255f;
    }
}
