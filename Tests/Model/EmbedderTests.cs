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
