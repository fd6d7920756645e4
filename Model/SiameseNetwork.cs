using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Model;

/// <summary>
/// Twin towers with one set of weights: both images of a pair go through the same
/// <see cref="Embed"/>, so their gradients add into the same parameters, as in the seed's forward
/// (forward_once(a), forward_once(b)). State names match PyTorch's: conv_layers.N.*, fully_connect.N.*.
/// </summary>
public sealed class SiameseNetwork : Module
{
    public SiameseNetwork(IBackend backend, SiameseArchitecture architecture, SeededRandom rng)
    {
        Architecture = architecture;
        Backend = backend;
        var conv = new List<Module>();
        int inChannels = 1;
        foreach (var outChannels in architecture.Channels)
        {
            if (architecture.Padding == PaddingKind.Replication) conv.Add(new ReplicationPad2d(1));
            if (architecture.Padding == PaddingKind.Reflection) conv.Add(new ReflectionPad2d(1));
            conv.Add(new Conv2d(backend, inChannels, outChannels, (3, 3), rng, padding: architecture.Padding == PaddingKind.Zero ? (1, 1) : (0, 0)));
            conv.Add(new ReLU());
            conv.Add(new BatchNorm2d(backend, outChannels));
            if (architecture.MaxPool) conv.Add(new MaxPool2d((2, 2)));
            inChannels = outChannels;
        }
        ConvLayers = RegisterModule("conv_layers", new Sequential(conv.ToArray()));

        var dense = new List<Module>();
        int features = architecture.FlattenedFeatures;
        foreach (var hidden in architecture.Hidden)
        {
            dense.Add(new Linear(backend, features, hidden, rng));
            dense.Add(new ReLU());
            features = hidden;
        }
        dense.Add(new Linear(backend, features, architecture.EmbeddingSize, rng));
        FullyConnect = RegisterModule("fully_connect", new Sequential(dense.ToArray()));
    }

    public SiameseArchitecture Architecture { get; }
    public IBackend Backend { get; }
    public Sequential ConvLayers { get; }
    public Sequential FullyConnect { get; }

    /// <summary>One tower: images (N,1,S,S) → embeddings (N,E), of unit length when the architecture normalises them.</summary>
    public Tensor Embed(Tensor images)
    {
        int s = Architecture.ImageSize;
        if (images.Rank != 4 || images.Shape[1] != 1 || images.Shape[2] != s || images.Shape[3] != s)
            throw new ArgumentException($"SiameseNetwork: images must be (N,1,{s},{s}), got {images.ShapeText}");
        var embeddings = FullyConnect.Forward(Ops.Flatten(ConvLayers.Forward(images)));
        return Architecture.Normalize ? Ops.L2Normalize(embeddings) : embeddings;
    }

    /// <summary>Both towers, in the seed's order.</summary>
    public (Tensor First, Tensor Second) Forward(Tensor first, Tensor second) => (Embed(first), Embed(second));

    /// <summary>
    /// The seed's loss of a batch of pairs: both towers, their distance, the contrastive loss with
    /// <paramref name="margin"/>; <paramref name="label"/> (N,1) is 1 for a pair of different people.
    /// </summary>
    public Tensor PairLoss(Tensor first, Tensor second, Tensor label, float margin)
    {
        var (e0, e1) = Forward(first, second);
        return EmbeddingPairLoss(e0, e1, label, margin);
    }

    /// <summary>The contrastive loss of the distances between matching rows of two embedding batches (N,E).</summary>
    public static Tensor EmbeddingPairLoss(Tensor first, Tensor second, Tensor label, float margin) =>
        Ops.ContrastiveLoss(Ops.PairwiseDistance(first, second), label, margin);

    public override Tensor Forward(Tensor x) => Embed(x);
}
