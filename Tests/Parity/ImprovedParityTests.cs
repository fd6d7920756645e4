using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Optim;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Parity;

/// <summary>
/// A step of the improved recipe against PyTorch (Tests/Fixtures/improved.safetensors), at 16×16 so that it runs on every
/// device: zero-padded convolutions with ReLU, BatchNorm and max-pooling, a unit embedding, CosFace against learned class
/// vectors (<see cref="Losses.CosFace"/>) — the same weights and 9 images give the same embeddings, loss, every gradient
/// and BatchNorm statistics, and 3 Adam steps with weight decay and a changing learning rate give the same losses and
/// weights. Tolerance: |ours − torch| ≤ 1e-4·|torch| + 1e-4·max|torch| per tensor (1e-3 after the Adam steps).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class ImprovedParityTests(string device) : DeviceTest(device)
{
    private const string Name = "improved";
    private static SafeTensors.Contents File => LazyFile.Value;
    private static readonly Lazy<SafeTensors.Contents> LazyFile = new(() => Fixtures.Load("improved.safetensors"));

    private static readonly SiameseArchitecture Architecture = Recipes.Improved.Architecture with
    {
        ImageSize = 16, Channels = [4, 8], EmbeddingSize = 8,
    };

    private static int[] Labels => File.Get("labels", Name).Longs!.Select(v => (int)v).ToArray();

    private (SiameseNetwork Model, Tensor ClassVectors) Start()
    {
        var model = new SiameseNetwork(Backend, Architecture, new SeededRandom(0));
        foreach (var (name, tensor) in model.NamedParameters()) tensor.CopyFrom(File.Get("param." + name, Name).Floats);
        var start = File.Get("param.cosface.class_vectors", Name);
        var classVectors = Tensor.Persistent(Backend, start.Floats, start.Shape);
        classVectors.RequiresGrad = true;
        return (model, classVectors);
    }

    private Tensor Loss(SiameseNetwork model, Tensor classVectors, out Tensor embeddings)
    {
        var images = File.Get("in.images", Name);
        embeddings = model.Embed(Tensor.FromArray(Backend, images.Floats, images.Shape));
        return Losses.CosFace(embeddings, classVectors, Labels, margin: 0.35f, scale: 16f);
    }

    private static double Compare(Tensor actual, string key, double rtol)
    {
        var expected = File.Get(key, Name);
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), key);
        double scale = expected.Floats!.Max(v => Math.Abs((double)v));
        return Close.AssertClose(actual.ToArray(), expected.Floats!, rtol, rtol * scale, key);
    }

    [Test]
    public void OneStepMatchesPyTorch()
    {
        var (model, classVectors) = Start();
        using var disposeModel = model;
        using var disposeVectors = classVectors;
        using var scope = new TensorScope();
        model.Train();
        var loss = Loss(model, classVectors, out var embeddings);
        double worst = Math.Max(Compare(embeddings, "out.embeddings", 1e-4), Compare(loss, "out.loss", 1e-4));
        loss.Backward();
        foreach (var (name, tensor) in model.NamedParameters())
            worst = Math.Max(worst, Compare(tensor.Grad!, "grad." + name, 1e-4));
        worst = Math.Max(worst, Compare(classVectors.Grad!, "grad.cosface.class_vectors", 1e-4));
        foreach (var (name, tensor) in model.NamedBuffers())
            worst = Math.Max(worst, Compare(tensor, "after." + name, 1e-4));
        TestContext.Out.WriteLine($"[parity] improved step on {DeviceName}: worst relative error {worst:E2}");
    }

    [Test]
    public void AdamStepsWithWeightDecayMatchPyTorch()
    {
        var (model, classVectors) = Start();
        using var disposeModel = model;
        using var disposeVectors = classVectors;
        var learningRates = new[] { 2e-3f, 1e-3f, 5e-4f };
        using var adam = new Adam(model.Parameters().Append(classVectors), learningRates[0], weightDecay: 5e-4f);
        var losses = new float[learningRates.Length];
        model.Train();
        for (int step = 0; step < learningRates.Length; step++)
        {
            adam.LearningRate = learningRates[step];
            adam.ZeroGrad();
            using var scope = new TensorScope();
            var loss = Loss(model, classVectors, out _);
            loss.Backward();
            adam.Step();
            losses[step] = loss.Item();
        }
        double worst = Close.AssertClose(losses, File.Get("adam.losses", Name).Floats!, 1e-3, 1e-4, "losses of the 3 steps");
        foreach (var (name, tensor) in model.NamedParameters())
            worst = Math.Max(worst, Compare(tensor, "adam.param." + name, 1e-3));
        worst = Math.Max(worst, Compare(classVectors, "adam.param.cosface.class_vectors", 1e-3));
        TestContext.Out.WriteLine($"[parity] improved Adam steps on {DeviceName}: worst relative error {worst:E2}");
    }
}
