using System.Text.Json;
using System.Text.Json.Serialization;
using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

/// <summary>Tests/Fixtures/resize_pil.json, written by tools/reference/gen_resize_fixture.py with PIL.</summary>
internal sealed record ResizeFixture(
    [property: JsonPropertyName("pil_version")] string PilVersion,
    [property: JsonPropertyName("files")] List<ResizeFixture.Entry> Files,
    [property: JsonPropertyName("att_faces")] List<ResizeFixture.Face> AttFaces)
{
    /// <summary>An AT&amp;T face: PIL's output is kept only as its SHA-256 digest and byte sum, never as pixels.</summary>
    internal sealed record Face(
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("width")] int Width,
        [property: JsonPropertyName("height")] int Height,
        [property: JsonPropertyName("resized_width")] int ResizedWidth,
        [property: JsonPropertyName("resized_height")] int ResizedHeight,
        [property: JsonPropertyName("sha256")] string Sha256,
        [property: JsonPropertyName("sum")] long Sum);

    internal sealed record Entry(
        [property: JsonPropertyName("file")] string File,
        [property: JsonPropertyName("source")] string Source,
        [property: JsonPropertyName("width")] int Width,
        [property: JsonPropertyName("height")] int Height,
        [property: JsonPropertyName("gray")] byte[]? Gray,
        [property: JsonPropertyName("resized")] List<Resized> Resized);

    internal sealed record Resized(
        [property: JsonPropertyName("width")] int Width,
        [property: JsonPropertyName("height")] int Height,
        [property: JsonPropertyName("pixels")] byte[] Pixels);

    public static ResizeFixture Load() =>
        JsonSerializer.Deserialize<ResizeFixture>(File.ReadAllText(Path.Combine(Fixtures.Directory, "resize_pil.json")))!;
}

public class ResizeTests
{
    private static int MaxDifference(byte[] ours, byte[] pil)
    {
        Assert.That(ours, Has.Length.EqualTo(pil.Length));
        return ours.Zip(pil, (a, b) => Math.Abs(a - b)).Max();
    }

    [Test]
    public void GeneratedImagesDecodeAndResizeLikePil()
    {
        var fixture = ResizeFixture.Load();
        int worst = 0;
        foreach (var file in fixture.Files.Where(f => !IsJpeg(f)))
        {
            var gray = ImageLoader.Load(Path.Combine(Fixtures.Directory, file.File));
            Assert.That((gray.Width, gray.Height), Is.EqualTo((file.Width, file.Height)), file.File);
            Assert.That(gray.Pixels, Is.EqualTo(file.Gray), $"{file.File}: convert(\"L\")");
            foreach (var expected in file.Resized)
            {
                var resized = Resize.Bilinear(gray, expected.Width, expected.Height);
                int difference = MaxDifference(resized.Pixels, expected.Pixels);
                TestContext.Out.WriteLine($"{file.File} → {expected.Width}x{expected.Height}: max |ours − PIL {fixture.PilVersion}| = {difference}/255");
                worst = Math.Max(worst, difference);
            }
        }
        Assert.That(worst, Is.LessThanOrEqualTo(1));
    }

    private static bool IsJpeg(ResizeFixture.Entry file) => file.File.EndsWith(".jpg");

    [Test]
    public void JpegDecodesWithinALevelOfLibjpeg()
    {
        // stb's JPEG decoder is not libjpeg: its IDCT and chroma upsampling round differently
        var file = ResizeFixture.Load().Files.Single(IsJpeg);
        var gray = ImageLoader.Load(Path.Combine(Fixtures.Directory, file.File));
        int difference = MaxDifference(gray.Pixels, file.Gray!);
        TestContext.Out.WriteLine($"{file.File}: max |ours − PIL| = {difference}/255 after convert(\"L\")");
        Assert.That(difference, Is.LessThanOrEqualTo(1));
    }

    /// <summary>
    /// Exact, a stricter bound than the 1/255 the pipeline promises: the fixture keeps no face pixels (the data set
    /// stays outside the project), only the digest of PIL's output, so any difference at all fails. On a mismatch the
    /// message gives the difference of the byte sums; the generator script shows the pixels.
    /// </summary>
    [Test]
    public void AttFacesMatchPilExactly()
    {
        string att = Fixtures.AttFacesOrIgnore();
        var fixture = ResizeFixture.Load();
        Assert.That(fixture.AttFaces, Is.Not.Empty);
        foreach (var face in fixture.AttFaces)
        {
            var values = new float[face.ResizedWidth * face.ResizedHeight];
            ImageLoader.LoadResized(Path.Combine(att, face.Source), face.ResizedWidth, face.ResizedHeight, values);
            var bytes = values.Select(v => (byte)Math.Round(v * 255)).ToArray();
            var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
            long sum = bytes.Sum(b => (long)b);
            TestContext.Out.WriteLine($"{face.Source} {face.Width}x{face.Height} → {face.ResizedWidth}x{face.ResizedHeight}: digest {(digest == face.Sha256 ? "equals" : "differs from")} PIL {fixture.PilVersion}'s");
            Assert.That(digest, Is.EqualTo(face.Sha256), $"{face.Source}: differs from PIL's resize (byte sum {sum}, PIL's {face.Sum})");
        }
    }

    [Test]
    public void UnitRangeIsByteOver255InFloat()
    {
        var image = new GrayImage(3, 1, [0, 51, 255]);
        var values = new float[3];
        image.ToUnitRange(values);
        Assert.That(values, Is.EqualTo(new[] { 0f, 0.2f, 1f }));
    }

    [Test]
    public void SameSizeIsACopyAndConstantImagesStayConstant()
    {
        var image = new GrayImage(5, 4, Enumerable.Range(0, 20).Select(i => (byte)(i * 12)).ToArray());
        var copy = Resize.Bilinear(image, 5, 4);
        Assert.That(copy.Pixels, Is.EqualTo(image.Pixels).And.Not.SameAs(image.Pixels));
        var flat = new GrayImage(92, 112, Enumerable.Repeat((byte)77, 92 * 112).ToArray());
        Assert.That(Resize.Bilinear(flat, 100, 100).Pixels, Is.All.EqualTo((byte)77));
    }
    /// <summary>The vertical pass sums whole rows a vector of columns at a time, blocks of 256 columns, and ends a row on
    /// the vector that ends with it: each column must still come out as that column resized alone (a one-pixel-wide image,
    /// summed one value at a time). Widths on both sides of the vector sizes and of the block.</summary>
    [Test]
    public void EachColumnOfAVerticalResizeIsThatColumnResizedAlone()
    {
        var random = new Random(7);
        foreach (int width in new[] { 15, 16, 17, 31, 33, 63, 64, 65, 92, 100, 127, 129, 255, 256, 257, 300, 513 })
            foreach (var (height, resizedHeight) in new[] { (112, 100), (37, 80), (50, 17) })
            {
                var pixels = new byte[width * height];
                random.NextBytes(pixels);
                var resized = Resize.Bilinear(new GrayImage(width, height, pixels), width, resizedHeight);
                for (int x = 0; x < width; x++)
                {
                    var column = new GrayImage(1, height, Enumerable.Range(0, height).Select(y => pixels[y * width + x]).ToArray());
                    var alone = Resize.Bilinear(column, 1, resizedHeight).Pixels;
                    var inPlace = Enumerable.Range(0, resizedHeight).Select(y => resized.Pixels[y * width + x]).ToArray();
                    Assert.That(inPlace, Is.EqualTo(alone), $"{width}x{height} → {width}x{resizedHeight}, column {x}");
                }
            }
    }

    /// <summary>The horizontal pass sums blocks of a vector of outputs over the columns their taps span, two rows at a
    /// time (the last row twice when the count is odd); the vertical pass sums each output's own taps. Resizing the width
    /// must equal resizing the height of the transposed image, transposed back: widths and heights on both sides of the
    /// vector sizes, odd and even row counts, growing and shrinking by small and large factors.</summary>
    [Test]
    public void AHorizontalResizeIsTheVerticalResizeOfTheTransposedImage()
    {
        var random = new Random(9);
        foreach (var (width, resizedWidth) in new[] { (92, 100), (7, 100), (100, 92), (33, 8), (1, 17), (17, 1), (64, 65), (300, 31), (1000, 9), (9, 1000), (129, 127) })
            foreach (int height in new[] { 1, 2, 3, 8, 17 })
            {
                var pixels = new byte[width * height];
                random.NextBytes(pixels);
                var resized = Resize.Bilinear(new GrayImage(width, height, pixels), resizedWidth, height);
                var viaColumns = Transposed(Resize.Bilinear(Transposed(new GrayImage(width, height, pixels)), height, resizedWidth));
                Assert.That(resized.Pixels, Is.EqualTo(viaColumns.Pixels), $"{width}x{height} → {resizedWidth}x{height}");
            }
    }

    private static GrayImage Transposed(GrayImage image) =>
        new(image.Height, image.Width,
            Enumerable.Range(0, image.Width * image.Height).Select(i => image.Pixels[i % image.Height * image.Width + i / image.Height]).ToArray());

    /// <summary>Both axes: the horizontal pass over the rows the vertical one reads, then the vertical pass, which must
    /// equal the two resizes one after the other.</summary>
    [Test]
    public void BothAxesAreTheRowPassThenTheColumnPass()
    {
        var random = new Random(8);
        foreach (var (width, height, resizedWidth, resizedHeight) in new[] { (92, 112, 100, 100), (300, 200, 100, 100), (40, 30, 70, 90), (123, 77, 64, 65) })
        {
            var pixels = new byte[width * height];
            random.NextBytes(pixels);
            var image = new GrayImage(width, height, pixels);
            var stepwise = Resize.Bilinear(Resize.Bilinear(image, resizedWidth, height), resizedWidth, resizedHeight);
            var destination = new byte[resizedWidth * resizedHeight];
            Resize.Bilinear(image, resizedWidth, resizedHeight, destination);
            Assert.That(Resize.Bilinear(image, resizedWidth, resizedHeight).Pixels, Is.EqualTo(stepwise.Pixels), $"{width}x{height} → {resizedWidth}x{resizedHeight}");
            Assert.That(destination, Is.EqualTo(stepwise.Pixels), $"{width}x{height} → {resizedWidth}x{resizedHeight} into a span");
        }
    }

    [Test]
    public void ADestinationOfTheWrongSizeIsRefused()
    {
        var image = new GrayImage(4, 4, new byte[16]);
        var error = Assert.Throws<ArgumentException>(() => Resize.Bilinear(image, 3, 3, new byte[8]))!;
        Assert.That(error.Message, Does.Contain("destination holds 8 pixels, a 3x3 image has 9"));
    }
}
