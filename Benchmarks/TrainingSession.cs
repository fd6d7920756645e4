using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Optim;
using SimilarFaces.Model;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// A Siamese network with its Adam optimiser and one fixed batch of random pairs, stepped by Trainer's own step
/// (<see cref="Trainer.TakeStep"/> of <see cref="SiameseNetwork.PairLoss"/>) with the pairs uploaded inside it. The seed's
/// recipe: lr 5e-4, margin 2.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private readonly float[] _image0, _image1, _label;
    private readonly int _pairs, _side;

    public TrainingSession(IBackend backend, SiameseArchitecture architecture, int pairs)
    {
        var random = new SeededRandom(7);
        Model = new SiameseNetwork(backend, architecture, random);
        Optimizer = new Adam(Model.Parameters(), 5e-4f);
        _pairs = pairs;
        _side = architecture.ImageSize;
        _image0 = RandomImages(random, pairs * _side * _side);
        _image1 = RandomImages(random, pairs * _side * _side);
        _label = Enumerable.Range(0, pairs).Select(i => (float)(i % 2)).ToArray();
    }

    public SiameseNetwork Model { get; }
    public Adam Optimizer { get; }

    /// <summary>One training step; returns the loss (reading it waits for the device).</summary>
    public float Step()
    {
        var backend = Model.Backend;
        using var scope = new TensorScope();
        float value = Trainer.TakeStep(Model, Optimizer, () => Model.PairLoss(
            Tensor.FromArray(backend, _image0, _pairs, 1, _side, _side),
            Tensor.FromArray(backend, _image1, _pairs, 1, _side, _side),
            Tensor.FromArray(backend, _label, _pairs, 1), 2f));
        backend.Synchronize();
        return value;
    }

    /// <summary>Pixel values in [0, 1], as ToTensor() gives them.</summary>
    public static float[] RandomImages(SeededRandom random, int length)
    {
        var pixels = new float[length];
        for (int i = 0; i < length; i++) pixels[i] = (float)random.NextDouble();
        return pixels;
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}
