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

    public int FlattenedFeatures => Channels[^1] * FeatureSide * FeatureSide;

    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

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

    public SiameseArchitecture Validated(string source)
    {
        if (ImageSize < 4) throw new InvalidDataException($"{source}: image size {ImageSize} is too small");
        if (Channels.Length == 0 || Channels.Any(c => c <= 0)) throw new InvalidDataException($"{source}: channels must be positive");
        if (MaxPool && FeatureSide < 1) throw new InvalidDataException($"{source}: {Channels.Length} pooling blocks do not fit {ImageSize}×{ImageSize} images");
        if (Hidden.Any(h => h <= 0) || EmbeddingSize <= 0) throw new InvalidDataException($"{source}: layer sizes must be positive");
        return this;
    }
}
