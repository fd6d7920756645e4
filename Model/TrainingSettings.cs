using System.Text.Json;
using System.Text.Json.Serialization;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Model;

/// <summary>What a training step minimises.</summary>
public enum LossKind
{
    /// <summary>The seed's: contrastive loss (margin <see cref="TrainingSettings.Margin"/>) on random pairs, half of them same-person.</summary>
    ContrastivePairs,
    /// <summary>Contrastive loss on every pair of a batch of identities, same and different pairs weighted equally in total.</summary>
    ContrastiveAllPairs,
    /// <summary>
    /// CosFace (large-margin cosine loss, Wang et al. 2018): classify the training identities from the cosine between the
    /// unit embedding and a learned unit vector per identity, cross-entropy of Scale·(cos − Margin·[true class]).
    /// </summary>
    CosFace,
}

/// <summary>How the learning rate moves over the run.</summary>
public enum ScheduleKind
{
    Constant,
    /// <summary>Linear warm-up from lr/25 over the first <see cref="TrainingSettings.WarmupFraction"/> of the steps, then cosine decay to 0.</summary>
    WarmupCosine,
}

/// <summary>
/// A training recipe: every `train` option. <see cref="Seed"/> is the seed notebook's (the default), <see cref="Improved"/>
/// the recipe measured by identity cross-validation; each comes with its architecture (<see cref="Recipes"/>).
/// </summary>
public sealed record TrainingSettings
{
    public string Recipe { get; init; } = "seed";
    public int Epochs { get; init; } = 200;
    public LossKind Loss { get; init; } = LossKind.ContrastivePairs;

    /// <summary>Pairs per step, for <see cref="LossKind.ContrastivePairs"/>.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Identities per step and images of each, for the other losses.</summary>
    public int IdentitiesPerBatch { get; init; } = 16;
    public int ImagesPerIdentity { get; init; } = 4;

    public float LearningRate { get; init; } = 5e-4f;

    /// <summary>Adam's L2 weight decay (added to the gradient, as torch.optim.Adam's weight_decay).</summary>
    public float WeightDecay { get; init; }

    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    public float WarmupFraction { get; init; } = 0.3f;

    /// <summary>Contrastive margin on the distance, or CosFace's margin on the cosine.</summary>
    public float Margin { get; init; } = 2f;

    /// <summary>CosFace's logit scale.</summary>
    public float Scale { get; init; } = 16f;

    public Augmentation Augmentation { get; init; } = Augmentation.None;
    public ulong Seed { get; init; }

    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Everything but the epoch count: a run resumes only under the same recipe (but may train longer).</summary>
    [JsonIgnore] public string ResumeKey => (this with { Epochs = 0 }).ToJson();

    /// <summary>"Name: stored value in the checkpoint, current value now" for every setting that differs between two JSON forms.</summary>
    public static string Differences(string storedJson, string currentJson)
    {
        try
        {
            using var stored = JsonDocument.Parse(storedJson);
            using var current = JsonDocument.Parse(currentJson);
            var before = stored.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetRawText());
            var differences = current.RootElement.EnumerateObject()
                .Where(p => before.GetValueOrDefault(p.Name) != p.Value.GetRawText())
                .Select(p => $"{p.Name}: {before.GetValueOrDefault(p.Name, "absent")} in the checkpoint, {p.Value.GetRawText()} now");
            return string.Join("; ", differences);
        }
        catch (JsonException)
        {
            return $"the checkpoint's settings are not readable: {storedJson}";
        }
    }
}
