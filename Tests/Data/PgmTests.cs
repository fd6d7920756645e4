using System.Text;
using NUnit.Framework;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

public class PgmTests
{
    private string _dir = "";

    [SetUp]
    public void CreateFolder() => _dir = Fixtures.NewScratchFolder();

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string header, params byte[] raster)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, [.. Encoding.ASCII.GetBytes(header), .. raster]);
        return path;
    }

    private static InvalidDataException Fails(string path) => Assert.Throws<InvalidDataException>(() => Pgm.Read(path))!;

    [Test]
    public void PlainGrayWithComments()
    {
        var image = Pgm.Read(Write("a.pgm", "P2\n# made by hand\n3 2 # size\n255\n0 128 255\n# row two\n1 2\t3\n"));
        Assert.That((image.Width, image.Height, image.Channels), Is.EqualTo((3, 2, 1)));
        Assert.That(image.Samples, Is.EqualTo(new byte[] { 0, 128, 255, 1, 2, 3 }));
    }

    [Test]
    public void BinaryGrayWithMixedWhitespace()
    {
        var image = Pgm.Read(Write("a.pgm", "P5 #comment\r\n2\t2\r\n255\n", 10, 20, 30, 40));
        Assert.That((image.Width, image.Height, image.Channels), Is.EqualTo((2, 2, 1)));
        Assert.That(image.Samples, Is.EqualTo(new byte[] { 10, 20, 30, 40 }));
    }

    [Test]
    public void CommentInsideANumberIsRemoved()
    {
        // Netpbm spec: a comment may stand in the middle of a token; "1#c\n2" is 12
        var image = Pgm.Read(Write("a.pgm", "P5\n1#c\n2 1\n255\n", new byte[12]));
        Assert.That(image.Width, Is.EqualTo(12));
    }

    [Test]
    public void OneWhitespaceByteEndsTheHeaderSoAFollowingCommentIsRaster()
    {
        var image = Pgm.Read(Write("a.pgm", "P5 2 1 255\n#x"));
        Assert.That(image.Samples, Is.EqualTo("#x"u8.ToArray()));
    }

    [Test]
    public void PlainAndBinaryRgb()
    {
        var plain = Pgm.Read(Write("a.ppm", "P3\n2 1\n255\n255 0 0  0 0 255\n"));
        var binary = Pgm.Read(Write("b.ppm", "P6\n2 1\n255\n", 255, 0, 0, 0, 0, 255));
        Assert.That((plain.Width, plain.Height, plain.Channels), Is.EqualTo((2, 1, 3)));
        Assert.That(plain.Samples, Is.EqualTo(new byte[] { 255, 0, 0, 0, 0, 255 }));
        Assert.That(binary.Samples, Is.EqualTo(plain.Samples));
    }

    [Test]
    public void RgbBecomesGrayByPilsLumaRule()
    {
        // PIL: Image.new("RGB", (1, 1), c).convert("L") gives 76 for red, 150 for green, 29 for blue
        var path = Write("a.ppm", "P6 4 1 255\n", 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255);
        Assert.That(ImageLoader.Load(path).Pixels, Is.EqualTo(new byte[] { 76, 150, 29, 255 }));
    }

    [Test]
    public void SixteenBitSamplesAreBigEndianAndScaled()
    {
        // 0xFF00 = 65280 → 254.0; read little-endian it would be 255 → 1
        var image = Pgm.Read(Write("a.pgm", "P5 4 1 65535\n", 0x00, 0x00, 0xFF, 0x00, 0x80, 0x00, 0xFF, 0xFF));
        Assert.That(image.Samples, Is.EqualTo(new byte[] { 0, 254, 128, 255 }));
        var rgb = Pgm.Read(Write("a.ppm", "P6 1 1 1000\n", 0x00, 0x00, 0x01, 0xF4, 0x03, 0xE8));
        Assert.That(rgb.Samples, Is.EqualTo(new byte[] { 0, 128, 255 })); // 500/1000·255 = 127.5 → 128
    }

    [Test]
    public void MaxvalOneIsBlackAndWhite()
    {
        Assert.That(Pgm.Read(Write("a.pgm", "P5 3 1 1\n", 0, 1, 0)).Samples, Is.EqualTo(new byte[] { 0, 255, 0 }));
        Assert.That(Pgm.Read(Write("b.pgm", "P2 3 1 1\n1 0 1")).Samples, Is.EqualTo(new byte[] { 255, 0, 255 }));
    }

    [Test]
    public void OddMaxvalRoundsHalfToEvenLikePython()
    {
        // 3/10·255 = 76.5 → 76, 1/6·255 = 42.5 → 42, 1/2·255 = 127.5 → 128
        Assert.That(Pgm.Read(Write("a.pgm", "P2 4 1 10\n0 3 7 10")).Samples, Is.EqualTo(new byte[] { 0, 76, 178, 255 }));
        Assert.That(Pgm.Read(Write("b.pgm", "P5 2 1 6\n", 1, 6)).Samples, Is.EqualTo(new byte[] { 42, 255 }));
        Assert.That(Pgm.Read(Write("c.pgm", "P5 3 1 2\n", 0, 1, 2)).Samples, Is.EqualTo(new byte[] { 0, 128, 255 }));
    }

    [Test]
    public void MaxvalOutOfRangeIsNamed()
    {
        string path = Write("big.pgm", "P5 1 1 70000\n", 0, 0);
        Assert.That(Fails(path).Message, Is.EqualTo($"unsupported PGM maxval 70000 in {path} (must be 1..65535)"));
        string zero = Write("zero.ppm", "P3 1 1 0\n0 0 0");
        Assert.That(Fails(zero).Message, Is.EqualTo($"unsupported PPM maxval 0 in {zero} (must be 1..65535)"));
    }

    [TestCase("P7 1 1 255\n", "bad magic 'P7'")]
    [TestCase("GIF89a", "bad magic 'GI'")]
    [TestCase("P", "bad magic 'P'")]
    [TestCase("P52 1 255\n", "bad magic 'P52'")]
    [TestCase("P5 0 1 255\n", "bad PGM width 0")]
    [TestCase("P6 1 0 255\n", "bad PPM height 0")]
    [TestCase("P5 -3 1 255\n", "bad width '-3'")]
    [TestCase("P5 4x 1 255\n", "bad width '4x'")]
    [TestCase("P5 99999999999 1 255\n", "bad PGM width")]
    [TestCase("P5 2 1 25.5\n", "bad maxval '25.5'")]
    [TestCase("P5\n92 112", "truncated data")]
    [TestCase("P5 92 112 255", "truncated data")]
    [TestCase("P5 3 2 255\n\x01\x02\x03", "truncated data")]
    [TestCase("P5 2 1 65535\n\x01\x02\x03", "truncated data")]
    [TestCase("P2 3 2 255\n1 2 3 4 5", "truncated data")]
    [TestCase("P3 2 1 255\n1 2 3 4 5 # six missing\n", "truncated data")]
    [TestCase("P2 2 1 6\n3 7", "sample 7 exceeds maxval 6")]
    [TestCase("P5 2 1 100\n\x05\x65", "sample 101 exceeds maxval 100")]
    [TestCase("P2 2 1 255\n3 x", "bad sample 'x'")]
    public void MalformedFilesAreRejectedNamingTheFile(string content, string problem)
    {
        string path = Write("bad.pgm", content);
        var error = Fails(path);
        Assert.That(error.Message, Does.StartWith(problem).And.Contains(path));
    }

    [Test]
    public void FixtureFilesMatchPil()
    {
        // odd maxvals in plain and binary rasters; PIL's convert("L") output is in the fixture
        var fixture = ResizeFixture.Load();
        var netpbm = fixture.Files.Where(f => f.File.EndsWith(".pgm") || f.File.EndsWith(".ppm")).ToList();
        Assert.That(netpbm, Has.Count.EqualTo(4));
        foreach (var file in netpbm)
        {
            var gray = ImageLoader.Load(Path.Combine(Fixtures.Directory, file.File));
            Assert.That(gray.Pixels, Is.EqualTo(file.Gray), file.File);
        }
    }
}
