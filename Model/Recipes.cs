using SimilarFaces.Model.Data;

namespace SimilarFaces.Model;

/// <summary>The named recipes `train --recipe` offers: an architecture and its training settings.</summary>
public static class Recipes
{
    /// <summary>The seed notebook, exactly (and in PyTorch parity): the default.</summary>
    public static (SiameseArchitecture Architecture, TrainingSettings Settings) Seed { get; } = (SiameseArchitecture.Seed, new TrainingSettings());

    /// <summary>
    /// The recipe measured by identity cross-validation (README): 64×64 inputs, four zero-padded convolution blocks of
    /// 32–256 channels with 2×2 max-pooling, a unit 128-number embedding averaged with the mirror image's, trained with
    /// CosFace on batches of 16 identities × 4 augmented images, Adam with weight decay and warm-up + cosine decay.
    /// </summary>
    public static (SiameseArchitecture Architecture, TrainingSettings Settings) Improved { get; } = (
        new SiameseArchitecture
        {
            ImageSize = 64, Channels = [32, 64, 128, 256], Padding = PaddingKind.Zero, MaxPool = true, Hidden = [],
            EmbeddingSize = 128, Normalize = true, FlipAverage = true,
        },
        new TrainingSettings
        {
            Recipe = "improved", Epochs = 200, Loss = LossKind.CosFace, IdentitiesPerBatch = 16, ImagesPerIdentity = 4,
            LearningRate = 2e-3f, WeightDecay = 5e-4f, Schedule = ScheduleKind.WarmupCosine, WarmupFraction = 0.3f,
            Margin = 0.35f, Scale = 16f,
            Augmentation = new Augmentation { RotationDegrees = 10, Scale = 0.1f, Shift = 0.08f, Flip = true, Brightness = 0.1f, Contrast = 0.2f },
        });

    public static IReadOnlyList<string> Names { get; } = ["seed", "improved"];

    public static (SiameseArchitecture Architecture, TrainingSettings Settings) Get(string name) => name switch
    {
        "seed" => Seed,
        "improved" => Improved,
        _ => throw new ArgumentException($"unknown recipe '{name}' (known: {string.Join(", ", Names)})"),
    };
}
