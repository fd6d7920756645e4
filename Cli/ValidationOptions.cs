using System.CommandLine;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Cli;

/// <summary>Validation while training: people left out of training, from a folder or a seeded share of the training identities.</summary>
public sealed class ValidationOptions
{
    private readonly Option<string?> _folder = new("--val") { Description = "Image folder of validation people (none of them in --data)" };
    private readonly Option<double?> _fraction = NumberOptions.Real<double?>("--val-fraction",
        "Hold out this share of the training identities (seeded by --seed) for validation, e.g. 0.15", new NumberOptions.Interval(0, LowIncluded: false, 1));
    private readonly Option<int> _every = EveryOption();

    public IEnumerable<Option> All => [_folder, _fraction, _every];

    /// <summary>`--val-every`, shared by `train` and `crossval`.</summary>
    public static Option<int> EveryOption() =>
        NumberOptions.Whole("--val-every", "Validate every N epochs (and after the last)", 1, 1_000_000, byDefault: () => 10);

    public int Every(ParseResult parse) => parse.GetValue(_every);

    /// <summary>(training, validation) from the options; validation is null when neither --val nor --val-fraction is given.</summary>
    public (IFaceDataset Training, IFaceDataset? Validation) Split(ParseResult parse, IFaceDataset data, int imageSize, ulong seed)
    {
        string? folder = parse.GetValue(_folder);
        double? fraction = parse.GetValue(_fraction);
        if (folder != null && fraction != null) throw new ArgumentException("--val and --val-fraction: give one or the other");
        if (folder != null)
        {
            var validation = Datasets.Load(folder, imageSize);
            var shared = validation.Identities.Intersect(data.Identities).ToList();
            if (shared.Count > 0)
                throw new ArgumentException($"--val: {folder} holds people of the training data too ({string.Join(", ", shared.Take(5))}): validation people must never be trained on");
            return (data, validation);
        }
        if (fraction == null) return (data, null);
        try
        {
            var (training, held) = IdentitySubset.Split(data.Identities.Count, fraction.Value, seed);
            return (new IdentitySubset(data, training), new IdentitySubset(data, held));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--val-fraction: {e.Message}");
        }
    }
}
