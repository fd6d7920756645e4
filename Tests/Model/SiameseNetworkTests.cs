using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Model;

public sealed class SiameseNetworkTests
{
    /// <summary>
    /// Both towers run as one pass of twice the batch, BatchNorm normalising each tower's images by their own
    /// statistics: the embeddings, the running statistics and the batches counted are those of one tower after the
    /// other, as the seed's forward_once(a), forward_once(b) gives them, bit for bit (five images a tower: the dense
    /// layer takes up to four rows as dot products, another order of additions).
    /// </summary>
    [TestCase(PaddingKind.Reflection, false)]
    [TestCase(PaddingKind.Zero, true)]
    public void BothTowersInOnePassMatchOneTowerAfterTheOther(PaddingKind padding, bool maxPool)
    {
        using var backend = new CpuBackend();
        var architecture = SiameseArchitecture.Seed with { ImageSize = 12, Channels = [3, 4], Padding = padding, MaxPool = maxPool, Hidden = [6], EmbeddingSize = 5 };
        using var paired = new SiameseNetwork(backend, architecture, new SeededRandom(5));
        using var single = new SiameseNetwork(backend, architecture, new SeededRandom(5));
        var random = new SeededRandom(6);
        float[] Images() => Enumerable.Range(0, 5 * 12 * 12).Select(_ => (float)random.NextDouble()).ToArray();
        float[] first = Images(), second = Images();
        using var scope = new TensorScope();

        var (e0, e1) = paired.Forward(Tensor.FromArray(backend, first, 5, 1, 12, 12), Tensor.FromArray(backend, second, 5, 1, 12, 12));
        var f0 = single.Embed(Tensor.FromArray(backend, first, 5, 1, 12, 12));
        var f1 = single.Embed(Tensor.FromArray(backend, second, 5, 1, 12, 12));

        Assert.That(e0.ToArray(), Is.EqualTo(f0.ToArray()), "the first tower's embeddings");
        Assert.That(e1.ToArray(), Is.EqualTo(f1.ToArray()), "the second tower's embeddings");
        Assert.That(e0.ToArray(), Is.Not.EqualTo(e1.ToArray()));
        var norms = paired.ConvLayers.Layers.OfType<BatchNorm2d>().Zip(single.ConvLayers.Layers.OfType<BatchNorm2d>()).ToArray();
        Assert.That(norms, Has.Length.EqualTo(2));
        foreach (var (one, other) in norms)
        {
            Assert.That(one.RunningMean.ToArray(), Is.EqualTo(other.RunningMean.ToArray()), "running mean");
            Assert.That(one.RunningVar.ToArray(), Is.EqualTo(other.RunningVar.ToArray()), "running var");
            Assert.That(one.BatchesTracked, Is.EqualTo(2));
        }
    }

    [Test]
    public void TowersOfDifferentBatchSizesAreRefused()
    {
        using var backend = new CpuBackend();
        var architecture = SiameseArchitecture.Seed with { ImageSize = 12, Channels = [3], Hidden = [], EmbeddingSize = 5 };
        using var network = new SiameseNetwork(backend, architecture, new SeededRandom(5));
        using var scope = new TensorScope();
        var e = Assert.Throws<ArgumentException>(() => network.Forward(Tensor.Zeros(backend, 3, 1, 12, 12), Tensor.Zeros(backend, 2, 1, 12, 12)))!;
        Assert.That(e.Message, Does.Contain("both towers need as many images, got (3,1,12,12) and (2,1,12,12)"));
    }
}
