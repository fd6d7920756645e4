using System.CommandLine;
using System.Globalization;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Cli;

/// <summary>
/// The options that choose what is trained, shared by `train` and `crossval`: a named recipe (architecture and
/// settings) and any of its values overridden one by one. An option left out keeps the recipe's value.
/// </summary>
public sealed class TrainingOptions
{
    /// <summary>The most convolution blocks --channels may list.</summary>
    public const int MaxBlocks = 16;

    private readonly Option<string> _recipe = new("--recipe")
    {
        Description = $"Named recipe: {string.Join(", ", Recipes.Names)} (seed = the seed notebook exactly; improved = the cross-validated one)",
        DefaultValueFactory = _ => "seed",
    };
    private readonly Option<int?> _epochs = NumberOptions.Whole<int?>("--epochs", "Passes over the data (default: the recipe's; seed 200)", 1, 1_000_000);
    private readonly Option<LossKind?> _loss = new("--loss") { Description = "ContrastivePairs (seed), ContrastiveAllPairs or CosFace (improved)" };
    private readonly Option<int?> _batch = NumberOptions.Whole<int?>("--batch", "Pairs per step, for ContrastivePairs (seed 64)", 2, 4096);
    private readonly Option<int?> _identities = NumberOptions.Whole<int?>("--identities-per-batch", "Identities per step, for the other losses (improved 16)", 2, 1024);
    private readonly Option<int?> _images = NumberOptions.Whole<int?>("--images-per-identity", "Images of each identity per step (improved 4)", 1, 1024);
    private readonly Option<float?> _lr = NumberOptions.Real<float?>("--lr", "Adam's peak learning rate (seed 5e-4, improved 2e-3)", NumberOptions.Interval.Positive);
    private readonly Option<float?> _weightDecay = NumberOptions.Real<float?>("--weight-decay", "Adam's L2 weight decay (seed 0, improved 5e-4)", NumberOptions.Interval.NonNegative);
    private readonly Option<ScheduleKind?> _schedule = new("--schedule") { Description = "Constant (seed) or WarmupCosine (improved)" };
    private readonly Option<float?> _margin = NumberOptions.Real<float?>("--margin",
        "Contrastive margin on the distance (seed 2), or CosFace's on the cosine (improved 0.35)", NumberOptions.Interval.Positive);
    private readonly Option<float?> _scale = NumberOptions.Real<float?>("--scale", "CosFace's logit scale (improved 16)", NumberOptions.Interval.Positive);
    private readonly Option<string?> _augment = new("--augment")
    {
        Description = "Training-image augmentation: none, or e.g. rotation=10,scale=0.1,shift=0.08,flip,brightness=0.1,contrast=0.2 (the improved recipe's)",
    };
    private readonly Option<int?> _imageSize = NumberOptions.Whole<int?>("--image-size", "Side of the square input images (seed 100, improved 64)", 4, 1024);
    private readonly Option<string?> _channels = new("--channels") { Description = $"Channels of the convolution blocks (seed 4,8,8, improved 32,64,128,256); 1 to {MaxBlocks} blocks of 1 to 4096" };
    private readonly Option<int?> _embeddingSize = NumberOptions.Whole<int?>("--embedding-size", "Numbers in an embedding (seed 5, improved 128)", 1, 4096);
    private readonly Option<bool?> _flipAverage = new("--flip-average") { Description = "Embed each image with its mirror image at inference (improved: true)" };
    private readonly Option<ulong> _seed = NumberOptions.Seed("--seed", "Seed of weights, batches and splits");

    public IEnumerable<Option> All =>
    [
        _recipe, _epochs, _loss, _batch, _identities, _images, _lr, _weightDecay, _schedule, _margin, _scale, _augment,
        _imageSize, _channels, _embeddingSize, _flipAverage, _seed,
    ];

    /// <summary>The recipe named by --recipe with every given option applied, checked.</summary>
    public (SiameseArchitecture Architecture, TrainingSettings Settings) Resolve(ParseResult parse)
    {
        SiameseArchitecture architecture;
        TrainingSettings settings;
        try
        {
            (architecture, settings) = Recipes.Get(parse.GetValue(_recipe)!);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--recipe: {e.Message}", e);
        }
        settings = settings with
        {
            Epochs = parse.GetValue(_epochs) ?? settings.Epochs,
            Loss = parse.GetValue(_loss) ?? settings.Loss,
            BatchSize = parse.GetValue(_batch) ?? settings.BatchSize,
            IdentitiesPerBatch = parse.GetValue(_identities) ?? settings.IdentitiesPerBatch,
            ImagesPerIdentity = parse.GetValue(_images) ?? settings.ImagesPerIdentity,
            LearningRate = parse.GetValue(_lr) ?? settings.LearningRate,
            WeightDecay = parse.GetValue(_weightDecay) ?? settings.WeightDecay,
            Schedule = parse.GetValue(_schedule) ?? settings.Schedule,
            Margin = parse.GetValue(_margin) ?? settings.Margin,
            Scale = parse.GetValue(_scale) ?? settings.Scale,
            Augmentation = parse.GetValue(_augment) is { } spec ? ParseAugmentation(spec) : settings.Augmentation,
            Seed = parse.GetValue(_seed),
        };
        architecture = architecture with
        {
            ImageSize = parse.GetValue(_imageSize) ?? architecture.ImageSize,
            Channels = parse.GetValue(_channels) is { } channels ? ParseChannels(channels) : architecture.Channels,
            EmbeddingSize = parse.GetValue(_embeddingSize) ?? architecture.EmbeddingSize,
            FlipAverage = parse.GetValue(_flipAverage) ?? architecture.FlipAverage,
        };
        try
        {
            architecture.Validated("the options");
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"--image-size/--channels/--embedding-size: {e.Message}");
        }
        if (settings.Loss != LossKind.ContrastivePairs && !architecture.Normalize)
            throw new ArgumentException($"--loss {settings.Loss} needs unit embeddings: use it with --recipe improved");
        long largest = LargestTensor(architecture, settings);
        if (largest > int.MaxValue)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--batch/--identities-per-batch/--images-per-identity/--image-size/--channels/--embedding-size: a step's largest tensor would hold {largest:N0} numbers, more than a tensor's {int.MaxValue:N0}; make them smaller"));
        return (architecture, settings);
    }

    /// <summary>
    /// Numbers in the largest tensor of a training step, bounded from above: a padded convolution block's activations over
    /// the batch's images, or the first dense layer's weights.
    /// </summary>
    private static long LargestTensor(SiameseArchitecture architecture, TrainingSettings settings)
    {
        long images = settings.Loss == LossKind.ContrastivePairs ? 2L * settings.BatchSize : (long)settings.IdentitiesPerBatch * settings.ImagesPerIdentity;
        long padded = architecture.ImageSize + 2L;
        long activations = images * architecture.Channels.Max() * padded * padded;
        long features = (long)architecture.Channels[^1] * architecture.FeatureSide * architecture.FeatureSide;
        return Math.Max(activations, features * (architecture.Hidden.Length > 0 ? architecture.Hidden[0] : architecture.EmbeddingSize));
    }

    private static Augmentation ParseAugmentation(string spec)
    {
        try
        {
            return Augmentation.Parse(spec);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--augment: {e.Message}");
        }
    }

    private static int[] ParseChannels(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var channels = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (parts.Length > MaxBlocks || !int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out channels[i]) || channels[i] < 1 || channels[i] > 4096)
                throw new ArgumentException($"--channels: '{text}' is not a comma-separated list of 1 to {MaxBlocks} channel counts (1 to 4096)");
        return channels;
    }
}
