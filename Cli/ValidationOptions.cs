using System.CommandLine;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Cli;

/// <summary>Validation while training: people left out of training, from a folder or a seeded share of the training identities.</summary>
public sealed class ValidationOptions
{
    private readonly Option<string?> _folder = new("--val") { Description = "Image folder of validation people (none of them in --data)" };
    private readonly Option<double?> _fraction = new("--val-fraction")
    {
        Description = "Hold out this share of the training identities (seeded by --seed) for validation, e.g. 0.15",
    };
    private readonly Option<int> _every = new("--val-every") { Description = "Validate every N epochs (and after the last)", DefaultValueFactory = _ => 10 };

    public IEnumerable<Option> All => [_folder, _fraction, _every];

    public int Every(ParseResult parse)
    {
        int every = parse.GetValue(_every);
        return every >= 1 ? every : throw new ArgumentException($"--val-every must be at least 1, got {every}");
    }

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
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentException($"--val-fraction must be between 0 and 1, got {fraction}");
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
