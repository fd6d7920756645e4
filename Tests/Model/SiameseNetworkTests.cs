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
    /// A network built without a random source draws no initial values: its convolutions' and dense layers' weights
    /// and biases are zero; and a checkpoint loads into such a network every parameter and buffer as saved, bit for bit.
    /// </summary>
    [Test]
    public void ACheckpointLoadsIntoANetworkBuiltWithoutInitialValues()
    {
        using var backend = new CpuBackend();
        var architecture = SiameseArchitecture.Seed with { ImageSize = 12, Channels = [3, 4], Hidden = [6], EmbeddingSize = 5 };
        using (var blank = new SiameseNetwork(backend, architecture, rng: null))
        {
            var drawn = blank.Modules().OfType<Conv2d>().SelectMany(c => new[] { c.Weight, c.Bias! })
                .Concat(blank.Modules().OfType<Linear>().SelectMany(l => new[] { l.Weight, l.Bias! })).ToList();
            Assert.That(drawn, Has.Count.EqualTo(2 * (2 + 2)));
            foreach (var parameter in drawn) Assert.That(parameter.ToArray(), Is.All.Zero, parameter.ShapeText);
        }

        using var saved = new SiameseNetwork(backend, architecture, new SeededRandom(5));
        using (var scope = new TensorScope())
        {
            saved.Train();   // a training pass, so that the running statistics and the batch counts are not their initial values
            var images = Enumerable.Range(0, 3 * 12 * 12).Select(i => (float)Math.Sin(i)).ToArray();
            saved.Embed(Tensor.FromArray(backend, images, 3, 1, 12, 12));
        }
        var path = Path.Combine(Fixtures.NewScratchFolder(), "model.safetensors");
        Checkpoint.Save(path, saved);
        using var loaded = Checkpoint.Load(path, backend).Model;
        var expected = saved.NamedParameters().Concat(saved.NamedBuffers()).ToDictionary(p => p.Name, p => p.Tensor.ToArray());
        var actual = loaded.NamedParameters().Concat(loaded.NamedBuffers()).ToList();
        Assert.That(actual.Select(p => p.Name), Is.EquivalentTo(expected.Keys));
        foreach (var (name, tensor) in actual)
            Assert.That(tensor.ToArray().Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected[name].Select(BitConverter.SingleToInt32Bits)), name);
        Assert.That(loaded.NamedCounters(), Is.EqualTo(saved.NamedCounters()));
    }

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
