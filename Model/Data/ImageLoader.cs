using System.Buffers;
using SkiaSharp;
using StbImageSharp;

namespace SimilarFaces.Model.Data;

/// <summary>
/// Decodes image files to 8-bit grayscale as PIL's Image.open(p).convert("L") does, and applies the
/// seed model's input transform. Netpbm (P2, P3, P5, P6) is read by <see cref="Pgm"/>; PNG, JPEG and BMP
/// by Skia's codecs (libpng, libjpeg-turbo — the decoders PIL uses for the first two — and Skia's own BMP
/// reader); TGA by StbImageSharp once <see cref="Tga"/> has checked the file. Colours become RGB with alpha
/// dropped, so that one luma rule serves every format.
/// <para>Every file is read within a budget: at most <see cref="MaxFileBytes"/> bytes and
/// <see cref="MaxPixels"/> pixels, the size taken from the header before any pixel is decoded, and a
/// file that ends before its last row is an error rather than a picture with a flat bottom.</para>
/// <para>Known differences from PIL: a 16-bit PNG is scaled to 8 bits by Skia (round(v·255/65535)) where
/// PIL keeps the high byte of RGB and clips gray mode "I;16" to 255.</para>
/// </summary>
public static class ImageLoader
{
    /// <summary>File extensions treated as images (lower case, with the dot).</summary>
    public static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>([".pgm", ".ppm", ".pnm", ".png", ".jpg", ".jpeg", ".bmp", ".tga"]);

    /// <summary>The largest image file read: 256 MiB.</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>The most pixels an image may have: 40 megapixels (a 7,300 × 5,480 photograph).</summary>
    public const long MaxPixels = 40_000_000;

    public static GrayImage Load(string path)
    {
        using var file = File.OpenRead(path);
        long length = file.Length;
        if (length > MaxFileBytes)
            throw new InvalidDataException($"{path} is {length:N0} bytes; image files over {MaxFileBytes >> 20} MiB are not read");
        var data = ArrayPool<byte>.Shared.Rent((int)length);
        try
        {
            int read = file.ReadAtLeast(data.AsSpan(0, (int)length), (int)length, throwOnEndOfStream: false);   // less if it shrank since: a truncated image
            return Decode(data.AsSpan(0, read), path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(data);
        }
    }

    /// <summary>The seed notebook's input transform: convert("L"), Resize((height, width)) (PIL bilinear), ToTensor(),
    /// written into <paramref name="destination"/> as (height, width) values in [0, 1].</summary>
    public static void LoadResized(string path, int width, int height, Span<float> destination)
    {
        var image = Load(path);
        var resized = ArrayPool<byte>.Shared.Rent(width * height);
        try
        {
            Resize.Bilinear(image, width, height, resized.AsSpan(0, width * height));
            GrayImage.ToUnitRange(resized.AsSpan(0, width * height), destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(resized);
        }
    }

    /// <summary>Throws unless a <paramref name="width"/> × <paramref name="height"/> image fits the pixel budget.</summary>
    public static void CheckSize(long width, long height, string name)
    {
        if (width < 1 || height < 1)
            throw new InvalidDataException($"cannot decode {name} as an image: its header gives a size of {width}x{height}");
        if (width * height > MaxPixels)
            throw new InvalidDataException($"{name} is {width}x{height} pixels; images over {MaxPixels / 1_000_000} megapixels are not read");
    }

    /// <summary>Decodes a whole file's bytes; <paramref name="name"/> names the file in errors.</summary>
    public static GrayImage Decode(ReadOnlySpan<byte> data, string name)
    {
        if (Pgm.IsNetpbm(data))
        {
            var netpbm = Pgm.Decode(data, name);
            var gray = netpbm.Channels == 1 ? netpbm.Samples : RgbToLuma(netpbm.Samples, 3);
            return new GrayImage(netpbm.Width, netpbm.Height, gray);
        }
        if (data.StartsWith(PngSignature))
            CheckPngChunks(data, name);
        using var encoded = SKData.CreateCopy(data);
        using var stream = new SKMemoryStream(encoded);
        using var codec = SKCodec.Create(stream, out var opened);
        if (codec is null)
            return Tga.Looks(data) ? DecodeTga(data, name)
                : throw new InvalidDataException($"cannot decode {name} as an image: not a PNG, JPEG, BMP, TGA or Netpbm file ({opened})");
        var format = codec.EncodedFormat.ToString().ToUpperInvariant();
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg or SKEncodedImageFormat.Bmp))
            throw new InvalidDataException($"cannot decode {name} as an image: {format} files are not read (PNG, JPEG, BMP, TGA and Netpbm are)");

        int width = codec.Info.Width, height = codec.Info.Height;
        CheckSize(width, height, name);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize64];
        SKCodecResult decoded;
        unsafe
        {
            fixed (byte* pixels = rgba)
                decoded = codec.GetPixels(info, (IntPtr)pixels);
        }
        return decoded switch
        {
            SKCodecResult.Success => new GrayImage(width, height, RgbToLuma(rgba, 4)),
            SKCodecResult.IncompleteInput =>
                throw new InvalidDataException($"truncated data in {name}: the {format} data ends before the last of its {height} rows"),
            SKCodecResult.ErrorInInput =>
                throw new InvalidDataException($"cannot decode {name} as an image: its {format} data is corrupt"),
            _ => throw new InvalidDataException($"cannot decode {name} as an image: the {format} decoder says {decoded}"),
        };
    }

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>libpng reads a chunk as a stream and stops when the picture is whole, so a chunk that claims more
    /// bytes than the file holds would pass unnoticed; the chunks (4-byte length, 4-byte type, data, 4-byte CRC)
    /// are walked up to IEND first.</summary>
    private static void CheckPngChunks(ReadOnlySpan<byte> data, string name)
    {
        for (long at = PngSignature.Length; ;)
        {
            if (at + 8 > data.Length)
                throw new InvalidDataException($"truncated data in {name}: the PNG ends before its IEND chunk");
            uint length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data[(int)at..]);
            var type = string.Concat(data.Slice((int)at + 4, 4).ToArray().Select(b => b is >= 0x20 and < 0x7F ? (char)b : '?'));
            if (at + 12 + length > data.Length)
                throw new InvalidDataException($"cannot decode {name} as an image: its PNG chunk '{type}' at byte {at} claims {length:N0} bytes, {data.Length - at - 12:N0} remain");
            if (type == "IEND")
                return;
            at += 12 + length;
        }
    }

    private static readonly Lock StbImageSharpLock = new();

    private static GrayImage DecodeTga(ReadOnlySpan<byte> data, string name)
    {
        var (width, height) = Tga.Check(data, name);
        CheckSize(width, height, name);
        ImageResult decoded;
        try
        {
            // StbImageSharp keeps the reason for a failure in one static field, so two decodes at once could report
            // each other's error: TGA files are decoded one at a time (every other format is safe to decode in parallel).
            lock (StbImageSharpLock) decoded = ImageResult.FromMemory(data.ToArray(), ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"cannot decode {name} as an image: {e.Message}", e);
        }
        return new GrayImage(decoded.Width, decoded.Height, RgbToLuma(decoded.Data, 3));
    }

    /// <summary>PIL's RGB to L (Convert.c, L24): L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16,
    /// the 16-bit fixed-point form of 0.299 R + 0.587 G + 0.114 B, rounded. <paramref name="stride"/>
    /// is the bytes per pixel (3 for RGB, 4 for RGBA, whose alpha is dropped).</summary>
    public static byte[] RgbToLuma(ReadOnlySpan<byte> pixels, int stride)
    {
        var luma = new byte[pixels.Length / stride];
        for (int i = 0; i < luma.Length; i++)
        {
            var p = pixels.Slice(stride * i, 3);
            luma[i] = (byte)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
        }
        return luma;
    }
}
