using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using SimilarFaces.Tests.Cli;

namespace SimilarFaces.Tests.Model;

/// <summary>
/// Exported graphs run in ONNX Runtime give the engine's embeddings (eval mode, Embedder) within 1e-5, on the
/// image files of the fixtures decoded and resized as every command does, at batch 1 and 7.
/// </summary>
public sealed class OnnxExportTests
{
    private const double Tolerance = 1e-5;
    private string _dir = null!;

    [SetUp]
    public void Scratch() => _dir = Fixtures.NewScratchFolder();

    [TearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static readonly string[] ImageFiles =
        ["synthetic_rgb.png", "synthetic_rgb.jpg", "synthetic_rgb.bmp", "synthetic_palette.png", "synthetic_rgba.png", "p5_maxval100.pgm", "p6_maxval65535.ppm"];

    /// <summary>Architectures covering every layer and option the export writes: each padding, pooling, unit embeddings, mirror averaging.</summary>
    public static IEnumerable<TestCaseData> Architectures() =>
    [
        new TestCaseData(new SiameseArchitecture { ImageSize = 16, Channels = [4, 8], Padding = PaddingKind.Zero, MaxPool = true, Hidden = [], EmbeddingSize = 8, Normalize = true, FlipAverage = true }, 17)
            .SetName("improved-like, opset 17"),
        new TestCaseData(new SiameseArchitecture { ImageSize = 16, Channels = [4, 8], Padding = PaddingKind.Zero, MaxPool = true, Hidden = [], EmbeddingSize = 8, Normalize = true, FlipAverage = true }, 18)
            .SetName("improved-like, opset 18"),
        new TestCaseData(new SiameseArchitecture { ImageSize = 12, Channels = [3], Padding = PaddingKind.Reflection, Hidden = [6], EmbeddingSize = 4, FlipAverage = true }, 13)
            .SetName("reflection padding, mirror mean, opset 13"),
        new TestCaseData(new SiameseArchitecture { ImageSize = 12, Channels = [3, 2], Hidden = [7, 5], EmbeddingSize = 3 }, 21)
            .SetName("seed layout, opset 21"),
    ];

    [TestCaseSource(nameof(Architectures))]
    public void OnnxRuntimeGivesTheEnginesEmbeddings(SiameseArchitecture architecture, int opset)
    {
        using var backend = new CpuBackend();
        using var network = new SiameseNetwork(backend, architecture, new SeededRandom(3));
        RandomizeRunningStatistics(network);
        var path = Path.Combine(_dir, "model.onnx");
        OnnxExport.Write(network, path, opset);
        AssertSameEmbeddings(network, path);
    }

    /// <summary>A PyTorch-made model (tools/reference/export_seed_model.py), exported through the command line.</summary>
    [Test]
    public void ExportCommandWritesAGraphOnnxRuntimeRuns()
    {
        var model = Path.Combine(Fixtures.Directory, "torch_export_model.safetensors");
        var path = Path.Combine(_dir, "seed.onnx");
        var result = CliRunner.Run("export", "--model", model, "--onnx", path);
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Output, Does.Contain("opset 17").And.Contain("→ embedding (N,5)"));
        using var backend = new CpuBackend();
        using var network = Checkpoint.Load(model, backend).Model;
        AssertSameEmbeddings(network, path);

        using var session = new InferenceSession(path);
        Assert.That(session.ModelMetadata.CustomMetadataMap[Checkpoint.ArchitectureKey], Is.EqualTo(network.Architecture.ToJson()));
    }

    [Test]
    public void FixedBatchAxis()
    {
        var path = Path.Combine(_dir, "seed.onnx");
        var result = CliRunner.Run("export", "--model", Path.Combine(Fixtures.Directory, "torch_export_model.safetensors"), "--onnx", path, "--batch", "7");
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        using var session = new InferenceSession(path);
        Assert.That(session.InputMetadata["image"].Dimensions, Is.EqualTo(new[] { 7, 1, 16, 16 }));
    }

    public static IEnumerable<TestCaseData> BadCommands()
    {
        string model = Path.Combine(Fixtures.Directory, "torch_export_model.safetensors");
        yield return new TestCaseData(new[] { "--model", model, "--opset", "9" }, "--opset must be a whole number from 13 to 21, got '9'").SetName("opset too old");
        yield return new TestCaseData(new[] { "--model", model, "--opset", "30" }, "--opset must be a whole number from 13 to 21, got '30'").SetName("opset too new");
        yield return new TestCaseData(new[] { "--model", model, "--batch", "0" }, "--batch: '0' is neither 'dynamic' nor a positive number").SetName("batch zero");
        yield return new TestCaseData(new[] { "--model", "MISSING" }, "--model: MISSING does not exist").SetName("missing model");
    }

    [TestCaseSource(nameof(BadCommands))]
    public void BadOptionsAreOneLineErrors(string[] options, string message)
    {
        var arguments = options.Select(o => o == "MISSING" ? Path.Combine(_dir, "missing.safetensors") : o).ToList();
        var result = CliRunner.Run(["export", "--onnx", Path.Combine(_dir, "out.onnx"), .. arguments]);
        CliRunner.AssertOneLineError(result, message.Replace("MISSING", Path.Combine(_dir, "missing.safetensors")));
        Assert.That(File.Exists(Path.Combine(_dir, "out.onnx")), Is.False);
    }

    [Test]
    public void ForeignOrTruncatedModelIsNamed()
    {
        var onnx = Path.Combine(_dir, "a.onnx");
        Assert.That(CliRunner.Run("export", "--model", Path.Combine(Fixtures.Directory, "torch_export_model.safetensors"), "--onnx", onnx).ExitCode, Is.Zero);
        // an ONNX file given as the model, and a model cut in half
        CliRunner.AssertOneLineError(CliRunner.Run("export", "--model", onnx, "--onnx", Path.Combine(_dir, "b.onnx")), onnx);
        var truncated = Path.Combine(_dir, "half.safetensors");
        var whole = File.ReadAllBytes(Path.Combine(Fixtures.Directory, "torch_export_model.safetensors"));
        File.WriteAllBytes(truncated, whole[..(whole.Length / 2)]);
        CliRunner.AssertOneLineError(CliRunner.Run("export", "--model", truncated, "--onnx", Path.Combine(_dir, "b.onnx")), truncated);
    }

    [Test]
    public void ExistingFileIsKeptUnlessOverwriteIsGiven()
    {
        var model = Path.Combine(Fixtures.Directory, "torch_export_model.safetensors");
        var path = Path.Combine(_dir, "mine.onnx");
        File.WriteAllText(path, "a file of my own");
        CliRunner.AssertOneLineError(CliRunner.Run("export", "--model", model, "--onnx", path), $"--onnx: {path} exists; pass --overwrite");
        Assert.That(File.ReadAllText(path), Is.EqualTo("a file of my own"));
        Assert.That(CliRunner.Run("export", "--model", model, "--onnx", path, "--overwrite").ExitCode, Is.Zero);
        using var session = new InferenceSession(path);
    }

    // BatchNorm's running mean 0 and variance 1 at initialisation would hide a graph that skipped them
    private static void RandomizeRunningStatistics(SiameseNetwork network)
    {
        var rng = new SeededRandom(11);
        foreach (var (name, tensor) in network.NamedBuffers())
            tensor.CopyFrom(Enumerable.Range(0, (int)tensor.Length)
                .Select(_ => name.EndsWith("running_var") ? 0.5f + (float)rng.NextDouble() : (float)rng.NextSymmetric(0.3)).ToArray());
    }

    private static void AssertSameEmbeddings(SiameseNetwork network, string onnx)
    {
        int size = network.Architecture.ImageSize, dim = network.Architecture.EmbeddingSize;
        var images = ImageFiles.Select(file =>
        {
            var pixels = new float[size * size];
            ImageLoader.LoadResized(Path.Combine(Fixtures.Directory, "images", file), size, size, pixels);
            return pixels;
        }).ToArray();
        using var session = new InferenceSession(onnx);
        foreach (int batch in new[] { 1, 7 })
        {
            var expected = Embedder.Embed(network, new LooseImages(images[..batch], size));
            var input = new DenseTensor<float>(images[..batch].SelectMany(p => p).ToArray(), [batch, 1, size, size]);
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("image", input)]);
            var output = results.Single(r => r.Name == "embedding").AsTensor<float>();
            Assert.That(output.Dimensions.ToArray(), Is.EqualTo(new[] { batch, dim }));
            var actual = output.ToArray();
            double worst = 0;
            for (int i = 0; i < batch; i++)
                for (int j = 0; j < dim; j++)
                    worst = Math.Max(worst, Math.Abs(actual[i * dim + j] - expected[i][j]));
            Assert.That(worst, Is.LessThanOrEqualTo(Tolerance), $"batch {batch}: max |ONNX Runtime − engine|");
        }
    }
}
