using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Model;
using SimilarFaces.Tests.Cli;

namespace SimilarFaces.Tests.IO;

/// <summary>
/// The inputs in Fixtures/hostile (written by tools/fuzz/make_regression_inputs.py) once hung a decoder, aborted the
/// process, leaked a framework exception or were accepted. Through `compare`, as a user meets them, each now ends
/// in one error line naming the file, in bounded time.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);
    private string _dir = null!;
    private string _model = null!;

    [OneTimeSetUp]
    public void SmallModel()
    {
        _dir = Fixtures.NewScratchFolder();
        _model = Path.Combine(_dir, "model.safetensors");
        using var backend = new CpuBackend();
        var architecture = new SiameseArchitecture { ImageSize = 8, Channels = [2], Hidden = [4], EmbeddingSize = 2 };
        using var network = new SiameseNetwork(backend, architecture, new SeededRandom(0));
        Checkpoint.Save(_model, network);
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static string Hostile(string name) => Path.Combine(Fixtures.Directory, "hostile", name);
    private static string Image(string name) => Path.Combine(Fixtures.Directory, "images", name);

    public static IEnumerable<TestCaseData> Images() =>
    [
        new TestCaseData("jpeg_app0_insertions.jpg", "not a PNG, JPEG, BMP, TGA or Netpbm file"),
        new TestCaseData("png_chunk_length_2e9.png", "chunk 'IDAT' at byte 33 claims 2,000,000,000 bytes"),
        new TestCaseData("bmp_width_0.bmp", "cannot decode"),
        new TestCaseData("bmp_height_0.bmp", "cannot decode"),
    ];

    public static IEnumerable<TestCaseData> Models() =>
    [
        new TestCaseData("name_byte_ff.safetensors", "not valid UTF-8"),
        new TestCaseData("offsets_null.safetensors", "data_offsets [null, 8]; they must be two integers"),
        new TestCaseData("offsets_string.safetensors", "data_offsets [\"0\", 8]"),
        new TestCaseData("offsets_array.safetensors", "data_offsets [[0], 8]"),
        new TestCaseData("shape_overflow.safetensors", "shape (65536,65536,65536,65536)"),
        new TestCaseData("channels_null.safetensors", "Channels"),
        new TestCaseData("hidden_null.safetensors", "Hidden"),
        new TestCaseData("embedding_int_max.safetensors", "dense layer sizes"),
        new TestCaseData("embedding_1e8.safetensors", "dense layer sizes"),
        new TestCaseData("image_size_65536.safetensors", "image size 65536"),
        new TestCaseData("hidden_46000.safetensors", "80000 × 46000 weights is more than one array holds"),
        new TestCaseData("hidden_4600.safetensors", "needs 389,193,205 parameter and buffer values, the file holds 36"),
    ];

    [TestCaseSource(nameof(Images))]
    public void ImageIsRefusedByName(string file, string problem) =>
        AssertOneLineError(() => CliRunner.Run("compare", "--model", _model, "--threshold", "1", Image("synthetic_rgb.png"), Hostile(file)), Hostile(file), problem);

    [TestCaseSource(nameof(Models))]
    public void ModelIsRefusedByName(string file, string problem) =>
        AssertOneLineError(() => CliRunner.Run("compare", "--model", Hostile(file), "--threshold", "1", Image("synthetic_rgb.png"), Image("synthetic_rgb.png")), Hostile(file), problem);

    [Test]
    public void ModelAndImagesThatAreFineStillCompare()
    {
        var result = CliRunner.Run("compare", "--model", _model, "--threshold", "1", Image("synthetic_rgb.png"), Image("synthetic_rgb.jpg"));
        Assert.That(result.ExitCode, Is.Zero, result.Error);
    }

    /// <summary>A header that promises more than 40 megapixels is refused before a pixel is decoded.</summary>
    [Test]
    public void SizeOverTheBudgetIsRefusedFromTheHeader()
    {
        static byte[] Patched(string fixture, params (int At, byte[] Bytes)[] edits)
        {
            var data = File.ReadAllBytes(Image(fixture));
            foreach (var (at, bytes) in edits) bytes.CopyTo(data, at);
            return data;
        }
        static byte[] Int32LittleEndian(int v) => BitConverter.GetBytes(v);
        byte[] twelveThousand = [0x2E, 0xE0]; // 12,000 big-endian
        var png = Patched("synthetic_rgb.png", (16, [0, 0, 0x2E, 0xE0, 0, 0, 0x2E, 0xE0]));
        Fuzz.FuzzTests.RecomputePngCrcs(png);
        var cases = new (string Name, byte[] Data)[]
        {
            ("huge.pgm", [.. "P5 12000 12000 255\n"u8, 0]),
            ("huge.png", png),
            ("huge.jpg", Patched("synthetic_rgb.jpg", (163, [.. twelveThousand, .. twelveThousand]))),
            ("huge.bmp", Patched("synthetic_rgb.bmp", (18, Int32LittleEndian(12000)), (22, Int32LittleEndian(12000)))),
            ("huge.tga", [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xE0, 0x2E, 0xE0, 0x2E, 24, 0]),
        };
        foreach (var (name, data) in cases)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var error = Assert.Throws<InvalidDataException>(() => SimilarFaces.Model.Data.ImageLoader.Decode(data, name), name)!;
            Assert.That(error.Message, Is.EqualTo($"{name} is 12000x12000 pixels; images over 40 megapixels are not read"));
            Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.LessThan(1 << 20), $"{name}: bytes allocated before the refusal");
        }
    }

    [Test]
    public void FileOverTheBudgetIsRefusedUnread()
    {
        var path = Path.Combine(_dir, "huge.png");
        using (var file = File.Create(path))
            file.SetLength(SimilarFaces.Model.Data.ImageLoader.MaxFileBytes + 1); // sparse: nothing is written
        var error = Assert.Throws<InvalidDataException>(() => SimilarFaces.Model.Data.ImageLoader.Load(path))!;
        Assert.That(error.Message, Is.EqualTo($"{path} is 268,435,457 bytes; image files over 256 MiB are not read"));
        File.Delete(path);
    }

    private static void AssertOneLineError(Func<CliRunner.Result> run, string file, string problem)
    {
        var task = Task.Run(run);
        Assert.That(task.Wait(Budget), Is.True, $"{file}: no answer within {Budget.TotalSeconds} s");
        CliRunner.AssertOneLineError(task.Result, file, problem);
    }
}
