using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Model;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// A Siamese network in eval mode, folded once into the <see cref="FoldedTower"/> that `embed` and `eval` run, and one
/// fixed batch of random images to embed.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly FoldedTower _tower;
    private readonly Tensor _images;

    public InferenceSession(IBackend backend, SiameseArchitecture architecture, int images)
    {
        Model = new SiameseNetwork(backend, architecture, new SeededRandom(7));
        Model.Eval();
        using (Tape.NoGrad()) _tower = new FoldedTower(Model);
        int side = architecture.ImageSize;
        var pixels = TrainingSession.RandomImages(new SeededRandom(8), images * side * side);
        _images = Tensor.Persistent(backend, pixels, images, 1, side, side);
    }

    public SiameseNetwork Model { get; }

    /// <summary>Embeds the batch, recording no graph, and waits for the device.</summary>
    public void Embed()
    {
        using var noGrad = Tape.NoGrad();
        using var scope = new TensorScope();
        _tower.Embed(_images);
        Model.Backend.Synchronize();
    }

    public void Dispose()
    {
        _images.Dispose();
        _tower.Dispose();
        Model.Dispose();
    }
}
