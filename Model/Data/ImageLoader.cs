using StbImageSharp;

namespace SimilarFaces.Model.Data;

/// <summary>
/// Decodes image files to 8-bit grayscale as PIL's Image.open(p).convert("L") does, and applies the
/// seed model's input transform. Netpbm (P2, P3, P5, P6) is read by <see cref="Pgm"/>; PNG, JPEG,
/// BMP and TGA by StbImageSharp, always asked for RGB (dropping alpha, expanding gray and palettes,
/// 16-bit samples taken by their high byte) so that one luma rule serves every format.
/// Known differences from PIL: JPEG goes through stb's decoder, not libjpeg, and may differ by
/// a level or so; a 16-bit gray PNG keeps its high byte where PIL clips mode "I;16" to 255; a TGA
/// cut short is not detected.
/// </summary>
public static class ImageLoader
{
    /// <summary>File extensions treated as images (lower case, with the dot).</summary>
    public static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>([".pgm", ".ppm", ".pnm", ".png", ".jpg", ".jpeg", ".bmp", ".tga"]);

    public static GrayImage Load(string path) => Decode(File.ReadAllBytes(path), path);

    /// <summary>The seed notebook's input transform: convert("L"), Resize((height, width)) (PIL bilinear), ToTensor(),
    /// written into <paramref name="destination"/> as (height, width) values in [0, 1].</summary>
    public static void LoadResized(string path, int width, int height, Span<float> destination) =>
        Resize.Bilinear(Load(path), width, height).ToUnitRange(destination);

    /// <summary>Decodes a whole file's bytes; <paramref name="name"/> names the file in errors.</summary>
    public static GrayImage Decode(byte[] data, string name)
    {
        if (Pgm.IsNetpbm(data))
        {
            var netpbm = Pgm.Decode(data, name);
            var gray = netpbm.Channels == 1 ? netpbm.Samples : RgbToLuma(netpbm.Samples);
            return new GrayImage(netpbm.Width, netpbm.Height, gray);
        }
        if (CutShort(data) is { } missing)
            throw new InvalidDataException($"truncated data in {name}: {missing}");
        ImageResult decoded;
        try
        {
            decoded = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"cannot decode {name} as an image: {e.Message}", e);
        }
        return new GrayImage(decoded.Width, decoded.Height, RgbToLuma(decoded.Data));
    }

    /// <summary>stb decodes a JPEG or BMP that was cut short without complaint (the missing part
    /// comes out flat), so those two are checked for completeness first; null when nothing is
    /// missing or the layout is not one this check knows, which leaves the verdict to stb.</summary>
    private static string? CutShort(ReadOnlySpan<byte> data)
    {
        if (data is [0xFF, 0xD8, ..])
        {
            // marker segments, skipped by their lengths (so an EXIF thumbnail is passed over) up to
            // the first start-of-scan; the end-of-image marker must follow somewhere after it
            int at = 2;
            while (true)
            {
                if (at + 3 >= data.Length)
                    return "the JPEG ends before its first scan";
                if (data[at] != 0xFF)
                    return null;
                byte marker = data[at + 1];
                if (marker == 0xFF)
                {
                    at++; // fill byte
                    continue;
                }
                at += 2 + (data[at + 2] << 8 | data[at + 3]);
                if (marker == 0xDA)
                    break;
            }
            return at < data.Length && data[at..].IndexOf([(byte)0xFF, (byte)0xD9]) >= 0 ? null : "the JPEG has no end-of-image marker";
        }
        if (data is [(byte)'B', (byte)'M', ..] && data.Length >= 34)
        {
            // BITMAPINFOHEADER or later, uncompressed (BI_RGB) or BI_BITFIELDS: rows padded to 4 bytes
            int pixelsAt = BitConverter.ToInt32(data[10..]), headerSize = BitConverter.ToInt32(data[14..]);
            long width = BitConverter.ToInt32(data[18..]), height = Math.Abs((long)BitConverter.ToInt32(data[22..]));
            int bitsPerPixel = BitConverter.ToUInt16(data[28..]), compression = BitConverter.ToInt32(data[30..]);
            if (headerSize < 40 || compression is not (0 or 3) || width <= 0)
                return null;
            long needed = pixelsAt + (width * bitsPerPixel + 31) / 32 * 4 * height;
            return data.Length < needed ? $"the BMP needs {needed} bytes, found {data.Length}" : null;
        }
        return null;
    }

    /// <summary>PIL's RGB to L (Convert.c, L24): L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16,
    /// the 16-bit fixed-point form of 0.299 R + 0.587 G + 0.114 B, rounded.</summary>
    public static byte[] RgbToLuma(ReadOnlySpan<byte> rgb)
    {
        var luma = new byte[rgb.Length / 3];
        for (int i = 0; i < luma.Length; i++)
            luma[i] = (byte)((rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >> 16);
        return luma;
    }
}
