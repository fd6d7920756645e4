using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Model;

/// <summary>
/// Twin towers with one set of weights: both images of a pair go through the same layers, so their gradients add
/// into the same parameters, as in the seed's forward (forward_once(a), forward_once(b)). Both towers' images run as
/// one pass of twice the batch, in which BatchNorm normalises each tower's images by their own statistics (updating
/// the running ones for the first tower, then the second), as the seed's two calls do; every other layer acts on each
/// image apart. So each layer runs once per step, and the dense layers' weights stream through memory once per pass.
/// State names match PyTorch's: conv_layers.N.*, fully_connect.N.*.
/// </summary>
public sealed class SiameseNetwork : Module
{
    /// <summary>The network <paramref name="architecture"/> describes, its layers initialised from <paramref name="rng"/>
    /// as PyTorch's, or zero without it (for a state loaded next).</summary>
    public SiameseNetwork(IBackend backend, SiameseArchitecture architecture, SeededRandom? rng)
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
        CheckImages(images);
        return Dense(Features(images));
    }

    /// <summary>Both towers: the embeddings of <paramref name="first"/> and of <paramref name="second"/>, each as <see cref="Embed"/> gives them.</summary>
    public (Tensor First, Tensor Second) Forward(Tensor first, Tensor second)
    {
        CheckImages(first);
        CheckImages(second);
        int n = first.Shape[0];
        if (second.Shape[0] != n)
            throw new ArgumentException($"SiameseNetwork: both towers need as many images, got {first.ShapeText} and {second.ShapeText}");
        var embeddings = Dense(Features(Ops.Concat(first, second), batches: 2));
        return (Ops.Narrow(embeddings, 0, n), Ops.Narrow(embeddings, n, n));
    }

    /// <summary>
    /// The convolution blocks: images (N,1,S,S), <paramref name="batches"/> towers' batches one after another (each
    /// normalised by its own statistics) → flattened features (N,F).
    /// </summary>
    private Tensor Features(Tensor images, int batches = 1) => Ops.Flatten(ConvLayers.Forward(images, batches));

    private void CheckImages(Tensor images)
    {
        int s = Architecture.ImageSize;
        if (images.Rank != 4 || images.Shape[1] != 1 || images.Shape[2] != s || images.Shape[3] != s)
            throw new ArgumentException($"SiameseNetwork: images must be (N,1,{s},{s}), got {images.ShapeText}");
    }

    /// <summary>The dense layers, row by row: features (N,F) → embeddings (N,E), normalised when the architecture says so.</summary>
    private Tensor Dense(Tensor features)
    {
        var embeddings = FullyConnect.Forward(features);
        return Architecture.Normalize ? Ops.L2Normalize(embeddings) : embeddings;
    }

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
