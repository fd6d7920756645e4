namespace SimilarFaces.Model.Data;

/// <summary>
/// The images of some identities of a dataset, relabelled 0…k−1 in the order given: a view, no copy.
/// Splits for validation and cross-validation are made of these, so an identity is never divided
/// between training and evaluation.
/// </summary>
public sealed class IdentitySubset : IFaceDataset
{
    private readonly IFaceDataset _source;
    private readonly int[] _images;
    private readonly int[] _labels;

    public IdentitySubset(IFaceDataset source, IReadOnlyList<int> identities)
    {
        if (identities.Count == 0) throw new ArgumentException("a subset needs at least one identity", nameof(identities));
        if (identities.Distinct().Count() != identities.Count || identities.Any(i => (uint)i >= (uint)source.Identities.Count))
            throw new ArgumentException($"identities must be distinct indices below {source.Identities.Count}", nameof(identities));
        _source = source;
        var label = new Dictionary<int, int>();
        for (int k = 0; k < identities.Count; k++) label[identities[k]] = k;
        var images = new List<int>();
        var labels = new List<int>();
        for (int i = 0; i < source.Count; i++)
            if (label.TryGetValue(source.Label(i), out int k))
            {
                images.Add(i);
                labels.Add(k);
            }
        _images = images.ToArray();
        _labels = labels.ToArray();
        SourceIdentities = identities.ToArray();
        Identities = identities.Select(i => source.Identities[i]).ToArray();
    }

    /// <summary>The identities' indices in the source dataset, in label order.</summary>
    public IReadOnlyList<int> SourceIdentities { get; }

    public int Count => _images.Length;
    public int Width => _source.Width;
    public int Height => _source.Height;
    public IReadOnlyList<string> Identities { get; }
    public int Label(int index) => _labels[index];
    public ReadOnlySpan<float> Image(int index) => _source.Image(_images[index]);
    public void CopyImage(int index, Span<float> destination) => _source.CopyImage(_images[index], destination);
    public string RelativePath(int index) => _source.RelativePath(_images[index]);

    /// <summary>
    /// Identities 0…count−1 shuffled with <paramref name="seed"/> and dealt into <paramref name="folds"/> folds whose
    /// sizes differ by at most one; each fold sorted.
    /// </summary>
    public static int[][] Folds(int count, int folds, ulong seed)
    {
        if (folds < 2 || folds > count)
            throw new ArgumentOutOfRangeException(nameof(folds), folds, $"between 2 and the {count} identities");
        var order = Shuffled(count, seed);
        return Enumerable.Range(0, folds).Select(f => order.Where((_, i) => i % folds == f).Order().ToArray()).ToArray();
    }

    /// <summary>
    /// A seeded split of identities 0…count−1 into (training, validation), validation holding round(fraction·count)
    /// identities but at least 2 (the fewest that give pairs of different people), training at least 2.
    /// </summary>
    public static (int[] Training, int[] Validation) Split(int count, double fraction, ulong seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must be in (0, 1)");
        int validation = Math.Max(2, (int)Math.Round(fraction * count, MidpointRounding.AwayFromZero));
        if (count - validation < 2)
            throw new ArgumentException($"{count} identities cannot be split: validation needs {validation} and training at least 2");
        var order = Shuffled(count, seed);
        return (order[validation..].Order().ToArray(), order[..validation].Order().ToArray());
    }

    // Fisher–Yates over 0…count−1
    private static int[] Shuffled(int count, ulong seed)
    {
        var rng = new Engine.SeededRandom(seed);
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
