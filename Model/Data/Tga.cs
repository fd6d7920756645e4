using System.Buffers.Binary;

namespace SimilarFaces.Model.Data;

/// <summary>
/// The checks a Truevision TGA file passes before it is decoded. TGA has no magic number: an image is
/// recognised by an 18-byte header whose fields hold legal values (the test stb_image applies, so that
/// a file accepted here is decoded as a TGA and nothing else):
/// <code>
/// 0 id length | 1 colour-map type (0, 1) | 2 image type (1, 9 colour-mapped; 2, 10 true-colour; 3, 11 gray; 8+ = RLE)
/// 3..7 colour map: first index, length, entry bits (8, 15, 16, 24, 32) | 12 width | 14 height | 16 bits per pixel
/// </code>
/// then the id, the colour map and the pixels, raw or as run-length packets (a count byte c: c ≥ 128 repeats
/// one pixel c − 127 times, else c + 1 raw pixels follow). The check walks the packets, so a file cut short is
/// found before decoding rather than coming out with missing rows.
/// </summary>
public static class Tga
{
    private const int HeaderBytes = 18;

    public static bool Looks(ReadOnlySpan<byte> data)
    {
        if (data.Length < HeaderBytes) return false;
        byte colorMapType = data[1], imageType = data[2], bitsPerPixel = data[16];
        bool mapped = imageType is 1 or 9;
        if (colorMapType > 1 || imageType is not (1 or 2 or 3 or 9 or 10 or 11) || mapped != (colorMapType == 1))
            return false;
        if (mapped && data[7] is not (8 or 15 or 16 or 24 or 32)) return false;
        if (Width(data) < 1 || Height(data) < 1) return false;
        return mapped ? bitsPerPixel is 8 or 16 : bitsPerPixel is 8 or 15 or 16 or 24 or 32;
    }

    /// <summary>The image's size, once the header is legal and the file holds every pixel it promises.</summary>
    public static (int Width, int Height) Check(ReadOnlySpan<byte> data, string name)
    {
        if (!Looks(data))
            throw new InvalidDataException($"cannot decode {name} as an image: not a TGA header");
        int width = Width(data), height = Height(data);
        ImageLoader.CheckSize(width, height, name);
        int pixelBytes = (data[16] + 7) / 8;
        long at = HeaderBytes + data[0];
        if (data[1] == 1)
            at += BinaryPrimitives.ReadUInt16LittleEndian(data[5..]) * (long)((data[7] + 7) / 8);
        long pixels = (long)width * height;
        if (data[2] < 8)
            at += pixels * pixelBytes;
        else
        {
            for (long decoded = 0; decoded < pixels; )
            {
                if (at >= data.Length)
                    throw new InvalidDataException($"truncated data in {name}: the TGA ends after {decoded} of its {pixels} pixels");
                int count = (data[(int)at] & 0x7F) + 1;
                at += 1 + (data[(int)at] >= 0x80 ? 1 : count) * pixelBytes;
                decoded += count;
            }
        }
        if (at > data.Length)
            throw new InvalidDataException($"truncated data in {name}: the TGA ends before its last pixel");
        return (width, height);
    }

    private static int Width(ReadOnlySpan<byte> data) => BinaryPrimitives.ReadUInt16LittleEndian(data[12..]);
    private static int Height(ReadOnlySpan<byte> data) => BinaryPrimitives.ReadUInt16LittleEndian(data[14..]);
}
