using System.Text.Json;
using System.Text.Json.Serialization;

namespace SimilarFaces.Model;

/// <summary>How each convolution block pads its input by one pixel: a padding layer (replication, reflection) or the convolution's own zeros.</summary>
public enum PaddingKind { Replication, Reflection, Zero }

/// <summary>
/// The shape of the Siamese tower in one place. The default is the seed notebook's network:
/// three blocks of pad(1) → conv 3×3 → ReLU → BatchNorm2d (4, 8, 8 channels) on 1×100×100 images,
/// then Linear(80000, 500) → ReLU → Linear(500, 500) → ReLU → Linear(500, 5). A variant (reflection
/// padding, 2×2 max-pooling after each block, another embedding size) is a change of these fields;
/// it is stored in every checkpoint's metadata. <see cref="Normalize"/> scales embeddings to unit length, and
/// <see cref="FlipAverage"/> embeds an image as the (normalised) sum of its embedding and its mirror image's at inference.
/// </summary>
public sealed record SiameseArchitecture
{
    public int ImageSize { get; init; } = 100;
    public int[] Channels { get; init; } = [4, 8, 8];
    public PaddingKind Padding { get; init; } = PaddingKind.Replication;
    public bool MaxPool { get; init; }
    public int[] Hidden { get; init; } = [500, 500];
    public int EmbeddingSize { get; init; } = 5;
    public bool Normalize { get; init; }
    public bool FlipAverage { get; init; }

    public static SiameseArchitecture Seed { get; } = new();

    /// <summary>Side of the feature maps after the convolution blocks.</summary>
    public int FeatureSide => MaxPool ? ImageSize >> Channels.Length : ImageSize;

    public int FlattenedFeatures => checked(Channels[^1] * FeatureSide * FeatureSide);

    /// <summary>Values of the parameters and buffers, every conv block (weight, bias and BatchNorm's four
    /// per-channel vectors) and dense layer (weight and bias) counted: what a checkpoint holds as F32.</summary>
    [JsonIgnore] public long StateValues
    {
        get
        {
            long values = 0, inChannels = 1;
            foreach (var channels in Channels)
            {
                values += inChannels * channels * 9 + 5 * channels;
                inChannels = channels;
            }
            long features = FlattenedFeatures;
            foreach (var width in Hidden.Append(EmbeddingSize))
            {
                values += features * width + width;
                features = width;
            }
            return values;
        }
    }

    // RespectNullableAnnotations: "Channels": null is an error, not a null array
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() }, RespectNullableAnnotations = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static SiameseArchitecture FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<SiameseArchitecture>(json, Json)?.Validated(source)
                ?? throw new InvalidDataException($"{source}: empty architecture");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: architecture metadata is not valid ({e.Message})");
        }
    }

    /// <summary>The largest image side, channel count, and dense layer width an architecture may name. Within
    /// them every size below fits its integer, and no layer's weights exceed one array.</summary>
    public const int MaxImageSize = 4096, MaxChannels = 4096, MaxConvBlocks = 8, MaxWidth = 1 << 20;

    public SiameseArchitecture Validated(string source)
    {
        if (ImageSize is < 4 or > MaxImageSize) throw new InvalidDataException($"{source}: image size {ImageSize} is outside 4..{MaxImageSize}");
        if (Channels.Length is 0 or > MaxConvBlocks || Channels.Any(c => c is <= 0 or > MaxChannels))
            throw new InvalidDataException($"{source}: channels must be 1 to {MaxConvBlocks} counts within 1..{MaxChannels}");
        if (MaxPool && FeatureSide < 1) throw new InvalidDataException($"{source}: {Channels.Length} pooling blocks do not fit {ImageSize}×{ImageSize} images");
        if (Hidden.Length > MaxConvBlocks || Hidden.Append(EmbeddingSize).Any(h => h is <= 0 or > MaxWidth))
            throw new InvalidDataException($"{source}: dense layer sizes must be within 1..{MaxWidth}");
        long features = (long)Channels[^1] * FeatureSide * FeatureSide;
        foreach (var width in Hidden.Append(EmbeddingSize))
        {
            if (features * width > Array.MaxLength)
                throw new InvalidDataException($"{source}: a dense layer of {features} × {width} weights is more than one array holds");
            features = width;
        }
        return this;
    }
}
