using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Model;

/// <summary>
/// The folded tower embeds as the network does in evaluation mode, up to float rounding, for every padding kind, with
/// and without pooling; it folds exactly the BatchNorms whose scale is positive and whose shift reaches a bias
/// unchanged, and runs the others as they are.
/// </summary>
public sealed class FoldedTowerTests
{
    private const int Side = 16;

    private static readonly SiameseArchitecture Small =
        SiameseArchitecture.Seed with { ImageSize = Side, Channels = [4, 8, 8], Hidden = [32], EmbeddingSize = 8 };

    [TestCase(PaddingKind.Replication, false, false, 3)]
    [TestCase(PaddingKind.Reflection, false, false, 3)]
    [TestCase(PaddingKind.Reflection, true, true, 3)]
    [TestCase(PaddingKind.Zero, true, true, 1)]   // a shift cannot enter a zero-padded convolution: only the last folds
    [TestCase(PaddingKind.Zero, false, false, 1)]
    public void EmbedsAsTheNetworkInEvaluationMode(PaddingKind padding, bool maxPool, bool normalize, int foldedNorms)
    {
        var architecture = Small with { Padding = padding, MaxPool = maxPool, Normalize = normalize };
        AssertSameEmbeddings(architecture, negativeScaleIn: null, foldedNorms);
    }

    [Test]
    public void ABatchNormWithANegativeScaleRunsAsItIs()
    {
        // relu(a·z) ≠ a·relu(z) for a < 0: the second BatchNorm cannot take its scale into the convolution.
        AssertSameEmbeddings(Small, negativeScaleIn: 1, foldedNorms: 2);
    }

    [Test]
    public void TheNetworkIsLeftAsItWas()
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, Small, negativeScaleIn: null);
        var before = model.NamedParameters().Concat(model.NamedBuffers()).Select(p => p.Tensor.ToArray()).ToArray();
        using (Tape.NoGrad())
        using (new FoldedTower(model)) { }
        var after = model.NamedParameters().Concat(model.NamedBuffers()).Select(p => p.Tensor.ToArray()).ToArray();
        Assert.That(after, Is.EqualTo(before));
    }

    private static void AssertSameEmbeddings(SiameseArchitecture architecture, int? negativeScaleIn, int foldedNorms)
    {
        using var backend = new CpuBackend();
        using var model = Model(backend, architecture, negativeScaleIn);
        var random = new SeededRandom(9);
        var pixels = Enumerable.Range(0, 5 * Side * Side).Select(_ => (float)random.NextDouble()).ToArray();
        using var noGrad = Tape.NoGrad();
        using var scope = new TensorScope();
        var images = Tensor.FromArray(backend, pixels, 5, 1, Side, Side);
        var expected = model.Embed(images).ToArray();
        using var folded = new FoldedTower(model);

        var actual = folded.Embed(images).ToArray();

        Assert.That(folded.FoldedNorms, Is.EqualTo(foldedNorms), "BatchNorms folded");
        double scale = expected.Max(v => Math.Abs((double)v));
        Assert.That(scale, Is.GreaterThan(1e-3), "embeddings that are not all 0");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(2e-6 * scale), $"embedding element {i}");
    }

    /// <summary>A network whose BatchNorms hold statistics and affine parameters far from the identity.</summary>
    private static SiameseNetwork Model(CpuBackend backend, SiameseArchitecture architecture, int? negativeScaleIn)
    {
        var model = new SiameseNetwork(backend, architecture, new SeededRandom(3));
        var random = new SeededRandom(4);
        float[] Uniform(int n, double low, double high) => Enumerable.Range(0, n).Select(_ => (float)(low + (high - low) * random.NextDouble())).ToArray();
        var norms = model.Modules().OfType<BatchNorm>().ToArray();
        for (int i = 0; i < norms.Length; i++)
        {
            var norm = norms[i];
            int channels = (int)norm.Weight.Length;
            var gamma = Uniform(channels, 0.5, 1.5);
            if (i == negativeScaleIn) gamma[channels / 2] = -0.7f;
            norm.Weight.CopyFrom(gamma);
            norm.Bias.CopyFrom(Uniform(channels, -0.5, 0.5));
            norm.RunningMean.CopyFrom(Uniform(channels, -0.3, 0.3));
            norm.RunningVar.CopyFrom(Uniform(channels, 0.2, 2.0));
        }
        model.Eval();
        return model;
    }
}
