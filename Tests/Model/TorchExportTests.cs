using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Model;

/// <summary>
/// A model.safetensors that PyTorch wrote (tools/reference/export_seed_model.py: the seed network at 16×16
/// input with 32-wide hidden layers, BatchNorm statistics moved off their defaults) loads through the same
/// path as our checkpoints and gives PyTorch's eval-mode embeddings within 1e-4, through the network and through the
/// folded tower that inference runs.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class TorchExportTests(string device) : DeviceTest(device)
{
    [Test]
    public void PyTorchWrittenModelGivesPyTorchsEmbeddings()
    {
        var loaded = Checkpoint.Load(Path.Combine(Fixtures.Directory, "torch_export_model.safetensors"), Backend);
        using var model = loaded.Model;
        Assert.That(model.Architecture.ImageSize, Is.EqualTo(16), "the architecture comes from the file's metadata");
        Assert.That(model.NamedCounters().First().Value, Is.EqualTo(3L), "num_batches_tracked read as I64");
        var fixture = Fixtures.Load("torch_export_embeddings.safetensors");
        var images = fixture.Get("images", "torch_export_embeddings");
        model.Eval();
        using var scope = new TensorScope();
        using var noGrad = Tape.NoGrad();
        var input = Tensor.FromArray(Backend, images.Floats, images.Shape);
        var embeddings = model.Embed(input).ToArray();
        var expected = fixture.Get("embeddings", "torch_export_embeddings").Floats!;
        Close.AssertClose(embeddings, expected, 0, 1e-4, "embeddings of the PyTorch-written model");
        TestContext.Out.WriteLine($"worst absolute error {embeddings.Zip(expected, (a, b) => Math.Abs(a - b)).Max():E2}");

        // the tower `embed` and `eval` run, its BatchNorms folded
        using var folded = new FoldedTower(model);
        var foldedEmbeddings = folded.Embed(input).ToArray();
        Assert.That(folded.FoldedNorms, Is.EqualTo(3));
        Close.AssertClose(foldedEmbeddings, expected, 0, 1e-4, "embeddings of the folded tower");
        TestContext.Out.WriteLine($"folded: worst absolute error {foldedEmbeddings.Zip(expected, (a, b) => Math.Abs(a - b)).Max():E2}");
    }
}
