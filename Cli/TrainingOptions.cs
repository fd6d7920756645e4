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
    private readonly Option<string> _recipe = new("--recipe")
    {
        Description = $"Named recipe: {string.Join(", ", Recipes.Names)} (seed = the seed notebook exactly; improved = the cross-validated one)",
        DefaultValueFactory = _ => "seed",
    };
    private readonly Option<int?> _epochs = new("--epochs") { Description = "Passes over the data (default: the recipe's; seed 200)" };
    private readonly Option<LossKind?> _loss = new("--loss") { Description = "ContrastivePairs (seed), ContrastiveAllPairs or CosFace (improved)" };
    private readonly Option<int?> _batch = new("--batch") { Description = "Pairs per step, for ContrastivePairs (seed 64)" };
    private readonly Option<int?> _identities = new("--identities-per-batch") { Description = "Identities per step, for the other losses (improved 16)" };
    private readonly Option<int?> _images = new("--images-per-identity") { Description = "Images of each identity per step (improved 4)" };
    private readonly Option<float?> _lr = new("--lr") { Description = "Adam's peak learning rate (seed 5e-4, improved 2e-3)" };
    private readonly Option<float?> _weightDecay = new("--weight-decay") { Description = "Adam's L2 weight decay (seed 0, improved 5e-4)" };
    private readonly Option<ScheduleKind?> _schedule = new("--schedule") { Description = "Constant (seed) or WarmupCosine (improved)" };
    private readonly Option<float?> _margin = new("--margin") { Description = "Contrastive margin on the distance (seed 2), or CosFace's on the cosine (improved 0.35)" };
    private readonly Option<float?> _scale = new("--scale") { Description = "CosFace's logit scale (improved 16)" };
    private readonly Option<string?> _augment = new("--augment")
    {
        Description = "Training-image augmentation: none, or e.g. rotation=10,scale=0.1,shift=0.08,flip,brightness=0.1,contrast=0.2 (the improved recipe's)",
    };
    private readonly Option<int?> _imageSize = new("--image-size") { Description = "Side of the square input images (seed 100, improved 64)" };
    private readonly Option<string?> _channels = new("--channels") { Description = "Channels of the convolution blocks (seed 4,8,8, improved 32,64,128,256)" };
    private readonly Option<int?> _embeddingSize = new("--embedding-size") { Description = "Numbers in an embedding (seed 5, improved 128)" };
    private readonly Option<bool?> _flipAverage = new("--flip-average") { Description = "Embed each image with its mirror image at inference (improved: true)" };
    private readonly Option<ulong> _seed = new("--seed") { Description = "Seed of weights, batches and splits", DefaultValueFactory = _ => 0 };

    public IEnumerable<Option> All =>
    [
        _recipe, _epochs, _loss, _batch, _identities, _images, _lr, _weightDecay, _schedule, _margin, _scale, _augment,
        _imageSize, _channels, _embeddingSize, _flipAverage, _seed,
    ];

    /// <summary>The recipe named by --recipe with every given option applied, checked.</summary>
    public (SiameseArchitecture Architecture, TrainingSettings Settings) Resolve(ParseResult parse)
    {
        var (architecture, settings) = Recipes.Get(parse.GetValue(_recipe)!);
        settings = settings with
        {
            Epochs = Positive(parse.GetValue(_epochs) ?? settings.Epochs, "--epochs"),
            Loss = parse.GetValue(_loss) ?? settings.Loss,
            BatchSize = parse.GetValue(_batch) ?? settings.BatchSize,
            IdentitiesPerBatch = parse.GetValue(_identities) ?? settings.IdentitiesPerBatch,
            ImagesPerIdentity = Positive(parse.GetValue(_images) ?? settings.ImagesPerIdentity, "--images-per-identity"),
            LearningRate = PositiveFinite(parse.GetValue(_lr) ?? settings.LearningRate, "--lr"),
            WeightDecay = parse.GetValue(_weightDecay) ?? settings.WeightDecay,
            Schedule = parse.GetValue(_schedule) ?? settings.Schedule,
            Margin = PositiveFinite(parse.GetValue(_margin) ?? settings.Margin, "--margin"),
            Scale = PositiveFinite(parse.GetValue(_scale) ?? settings.Scale, "--scale"),
            Augmentation = parse.GetValue(_augment) is { } spec ? ParseAugmentation(spec) : settings.Augmentation,
            Seed = parse.GetValue(_seed),
        };
        if (!(settings.WeightDecay >= 0 && float.IsFinite(settings.WeightDecay)))
            throw new ArgumentException($"--weight-decay must be finite and ≥ 0, got {settings.WeightDecay}");
        if (settings.Loss == LossKind.ContrastivePairs && settings.BatchSize < 2)
            throw new ArgumentException($"--batch must be at least 2 (BatchNorm needs a batch), got {settings.BatchSize}");
        if (settings.Loss != LossKind.ContrastivePairs && settings.IdentitiesPerBatch < 2)
            throw new ArgumentException($"--identities-per-batch must be at least 2, got {settings.IdentitiesPerBatch}");
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
        return (architecture, settings);
    }

    private static int Positive(int value, string option) =>
        value >= 1 ? value : throw new ArgumentException($"{option} must be at least 1, got {value}");

    private static float PositiveFinite(float value, string option) =>
        value > 0 && float.IsFinite(value) ? value : throw new ArgumentException($"{option} must be positive and finite, got {value}");

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
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out channels[i]) || channels[i] < 1 || channels[i] > 4096)
                throw new ArgumentException($"--channels: '{text}' is not a comma-separated list of channel counts (1 to 4096)");
        return channels;
    }
}
