using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

/// <summary>Small TGA files written by hand in each layout the reader accepts, with the gray pixels PIL's
/// convert("L") gives for their colours.</summary>
public static class TgaFiles
{
    private const int Width = 5, Height = 3;

    // (R, G, B) of pixel (x, y), top row first; runs of equal pixels give RLE something to compress
    private static (byte R, byte G, byte B) Colour(int x, int y) => ((byte)(x < 2 ? 200 : 40 * x), (byte)(60 * y + 10), (byte)(x * y * 17));

    private static byte Luma((byte R, byte G, byte B) c) => (byte)((c.R * 19595 + c.G * 38470 + c.B * 7471 + 0x8000) >> 16);

    public static byte[] ExpectedGray() =>
        Enumerable.Range(0, Width * Height).Select(i => Luma(Colour(i % Width, i / Width))).ToArray();

    private static byte[] Header(byte imageType, byte bitsPerPixel, bool topDown, int colourMapLength = 0) =>
    [
        0, (byte)(colourMapLength > 0 ? 1 : 0), imageType,
        0, 0, (byte)colourMapLength, (byte)(colourMapLength >> 8), (byte)(colourMapLength > 0 ? 24 : 0),
        0, 0, 0, 0, Width, 0, Height, 0, bitsPerPixel, (byte)(topDown ? 0x20 : 0),
    ];

    // rows in file order: bottom-up unless the descriptor says top-down
    private static IEnumerable<(byte R, byte G, byte B)> Pixels(bool topDown) =>
        from y in topDown ? Enumerable.Range(0, Height) : Enumerable.Range(0, Height).Reverse()
        from x in Enumerable.Range(0, Width)
        select Colour(x, y);

    private static byte[] Bgr((byte R, byte G, byte B) c) => [c.B, c.G, c.R];

    /// <summary>Run-length packets: a run of equal pixels as one repeat packet, everything else as raw packets of one.</summary>
    private static byte[] RunLength(IEnumerable<byte[]> pixels)
    {
        var list = pixels.ToList();
        var bytes = new List<byte>();
        for (int i = 0; i < list.Count;)
        {
            int run = 1;
            while (i + run < list.Count && run < 128 && list[i + run].SequenceEqual(list[i])) run++;
            bytes.Add(run > 1 ? (byte)(0x80 | (run - 1)) : (byte)0);
            bytes.AddRange(list[i]);
            i += run;
        }
        return bytes.ToArray();
    }

    public static IEnumerable<(string Layout, byte[] File, byte[] Gray)> Examples()
    {
        var gray = ExpectedGray();
        yield return ("24-bit bottom-up", [.. Header(2, 24, false), .. Pixels(false).SelectMany(Bgr)], gray);
        yield return ("32-bit top-down", [.. Header(2, 32, true), .. Pixels(true).SelectMany(c => Bgr(c).Append((byte)99))], gray);
        yield return ("24-bit run-length", [.. Header(10, 24, true), .. RunLength(Pixels(true).Select(Bgr))], gray);
        yield return ("8-bit gray", [.. Header(3, 8, true), .. Pixels(true).Select(Luma)], gray);
        var palette = Pixels(true).Distinct().ToList();
        yield return ("8-bit colour-mapped", [.. Header(1, 8, true, palette.Count), .. palette.SelectMany(Bgr), .. Pixels(true).Select(c => (byte)palette.IndexOf(c))], gray);
    }
}

public sealed class TgaTests
{
    [Test]
    public void EveryLayoutDecodesToPilsGray()
    {
        foreach (var (layout, file, gray) in TgaFiles.Examples())
        {
            var image = ImageLoader.Decode(file, layout);
            Assert.That((image.Width, image.Height), Is.EqualTo((5, 3)), layout);
            Assert.That(image.Pixels, Is.EqualTo(gray), layout);
        }
    }

    [Test]
    public void FileCutShortIsRefused()
    {
        foreach (var (layout, file, _) in TgaFiles.Examples())
        {
            var error = Assert.Throws<InvalidDataException>(() => ImageLoader.Decode(file[..^1], layout), layout)!;
            Assert.That(error.Message, Does.StartWith($"truncated data in {layout}: the TGA ends"));
        }
    }
}
