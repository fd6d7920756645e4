using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Model;

/// <summary>
/// Embeddings at inference: unit length when the architecture normalises, mirror-invariant with flip averaging, and
/// the seed notebook's per-image BatchNorm statistics without touching the model's state.
/// </summary>
public sealed class EmbedderTests
{
    private sealed class Images(float[][] images, int size) : IFaceDataset
    {
        public int Count => images.Length;
        public int Width => size;
        public int Height => size;
        public IReadOnlyList<string> Identities { get; } = images.Select((_, i) => $"p{i}").ToArray();
        public int Label(int index) => index;
        public ReadOnlySpan<float> Image(int index) => images[index];
        public string RelativePath(int index) => $"p{index}/0";
    }

    private static float[][] Embed(bool flipAverage)
    {
        using var backend = new CpuBackend();
        var architecture = Recipes.Improved.Architecture with { ImageSize = 16, Channels = [4, 8], EmbeddingSize = 8, FlipAverage = flipAverage };
        using var model = new SiameseNetwork(backend, architecture, new SeededRandom(3));
        var faces = new SyntheticFaces(2, 1, 16, 16, seed: 5);
        var image = faces.Image(0).ToArray();
        var mirror = Enumerable.Range(0, 256).Select(i => image[i / 16 * 16 + 15 - i % 16]).ToArray();
        model.Train(false);
        return Embedder.Embed(model, new Images([image, mirror, faces.Image(1).ToArray()], 16));
    }

    [Test]
    public void AFolderDecodedOnDemandEmbedsAsOneDecodedAtLoad()
    {
        string root = Fixtures.NewScratchFolder();
        try
        {
            var random = new Random(11);
            for (int i = 0; i < 150; i++)   // more than a batch: the last batch is partial
            {
                Directory.CreateDirectory(Path.Combine(root, $"p{i % 7}"));
                File.WriteAllBytes(Path.Combine(root, $"p{i % 7}", $"{i}.pgm"), [.. "P5 18 14 255\n"u8, .. Enumerable.Range(0, 18 * 14).Select(_ => (byte)random.Next(256))]);
            }
            using var backend = new CpuBackend();
            using var model = new SiameseNetwork(backend, SiameseArchitecture.Seed with { ImageSize = 16, Channels = [4, 8], Hidden = [16], EmbeddingSize = 8 }, new SeededRandom(3));
            var atLoad = Embedder.Embed(model, new ImageFolder(root, 16, 16));
            var onDemand = Embedder.Embed(model, new ImageFolder(root, 16, 16, ImageDecoding.OnDemand));
            Assert.That(onDemand, Is.EqualTo(atLoad));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void OfABatchsBrokenFilesTheFirstInOrderIsNamed()
    {
        // As ImageFolderTests.OfManyBrokenFilesTheFirstInOrderIsNamed, with the files decoded in the embedding's batch:
        // slow images first, so another core reaches a broken file before the first core gets past them.
        string root = Fixtures.NewScratchFolder();
        try
        {
            byte[] large = [.. "P5 600 600 255\n"u8, .. new byte[600 * 600]];
            void Write(string relative, byte[] bytes)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, relative))!);
                File.WriteAllBytes(Path.Combine(root, relative), bytes);
            }
            for (int i = 0; i < 10; i++) Write($"a/{i:D2}.pgm", large);
            for (int i = 10; i < 70; i++) Write($"{(i < 20 ? "a" : "b")}/{i:D2}.pgm", [.. "P5 92 112 255\n"u8, 1, 2, 3]);
            using var backend = new CpuBackend();
            using var model = new SiameseNetwork(backend, SiameseArchitecture.Seed with { ImageSize = 16, Channels = [4], Hidden = [], EmbeddingSize = 4 }, new SeededRandom(3));
            var data = new ImageFolder(root, 16, 16, ImageDecoding.OnDemand);
            for (int attempt = 0; attempt < 5; attempt++)
                Assert.That(Assert.Throws<InvalidDataException>(() => Embedder.Embed(model, data))!.Message,
                    Does.StartWith($"truncated data in {Path.Combine(root, "a", "10.pgm")}:"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void FlipAveragingGivesAnImageAndItsMirrorOneEmbedding()
    {
        var e = Embed(flipAverage: true);
        Assert.That(e[1], Is.EqualTo(e[0]), "f(x) + f(mirror x) is the same sum both ways");
        foreach (var row in e) Assert.That(row.Sum(v => (double)v * v), Is.EqualTo(1).Within(1e-5), "unit length after the average");
        Assert.That(e[2], Is.Not.EqualTo(e[0]));
    }

    [Test]
    public void WithoutFlipAveragingTheMirrorEmbedsDifferently()
    {
        var e = Embed(flipAverage: false);
        Assert.That(e[1], Is.Not.EqualTo(e[0]));
        foreach (var row in e) Assert.That(row.Sum(v => (double)v * v), Is.EqualTo(1).Within(1e-5));
    }

    [Test]
    public void PerImageStatisticsNormaliseEachImageAloneAndLeaveTheRunningStatisticsAlone()
    {
        using var backend = new CpuBackend();
        var architecture = SiameseArchitecture.Seed with { ImageSize = 16, Channels = [4, 8], Hidden = [16], EmbeddingSize = 8 };
        using var model = new SiameseNetwork(backend, architecture, new SeededRandom(3));
        var faces = new SyntheticFaces(3, 1, 16, 16, seed: 5);
        var images = Enumerable.Range(0, 3).Select(i => faces.Image(i).ToArray()).ToArray();
        var stateBefore = State(model);

        var embedded = Embedder.Embed(model, new Images(images, 16), BatchNormInference.PerImageStatistics);

        Assert.That(State(model), Is.EqualTo(stateBefore), "running statistics and num_batches_tracked unchanged");
        Assert.That(model.Training, Is.True, "the model's mode is restored");
        using var noGrad = Tape.NoGrad();
        for (int i = 0; i < images.Length; i++)
        {
            using var scope = new TensorScope();
            var alone = model.Embed(Tensor.FromArray(backend, images[i], 1, 1, 16, 16)).ToArray();
            Assert.That(embedded[i], Is.EqualTo(alone), $"image {i}: as a training-mode forward of the image alone");
        }
    }

    // every buffer value and counter of the model, in order
    private static double[] State(SiameseNetwork model) =>
        model.NamedBuffers().SelectMany(b => b.Tensor.ToArray()).Select(v => (double)v)
            .Concat(model.NamedCounters().Select(c => (double)c.Value)).ToArray();
}
