using SimilarFaces.Engine;

namespace SimilarFaces.Model.Data;

/// <summary>Caller-owned buffers for one batch of pairs, reused batch after batch so training
/// allocates nothing per step. Only the first <see cref="Count"/> pairs are valid.</summary>
public sealed class PairBatch
{
    public PairBatch(int capacity, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        Height = height;
        Width = width;
        Image0 = new float[capacity * height * width];
        Image1 = new float[capacity * height * width];
        Label = new float[capacity];
        First = new int[capacity];
        Second = new int[capacity];
    }

    public int Capacity { get; }
    public int Height { get; }
    public int Width { get; }
    public int Count { get; internal set; }

    /// <summary>(Capacity, 1, Height, Width)</summary>
    public float[] Image0 { get; }

    /// <summary>(Capacity, 1, Height, Width)</summary>
    public float[] Image1 { get; }

    /// <summary>(Capacity, 1): 1 = different identities, 0 = same.</summary>
    public float[] Label { get; }

    /// <summary>Dataset indices of each pair's images.</summary>
    public int[] First { get; }
    public int[] Second { get; }
}

/// <summary>
/// The seed notebook's pair rule: the first image uniform over all images; with probability ½ the second is
/// drawn from the same identity (possibly the very same image), otherwise from another identity;
/// label 1 = different, 0 = same. The seed draws the second image by rejection over all images;
/// drawing uniformly among the identity's images (same) or rejecting until another identity comes
/// up (different) gives the same distribution. An identity with a single image still gives same
/// pairs: that image with itself, as the seed does. An epoch is as many pairs as there are images,
/// in batches of the buffer's capacity, the last one possibly smaller (DataLoader without
/// drop_last). Every draw comes from one seeded <see cref="SeededRandom"/>, so a seed fixes all epochs.
/// </summary>
public sealed class PairSampler
{
    private readonly IFaceDataset _dataset;
    private readonly int[][] _imagesOfIdentity;
    private readonly SeededRandom _rng;

    public PairSampler(IFaceDataset dataset, ulong seed)
    {
        if (dataset.Identities.Count < 2)
            throw new ArgumentException("pairs of different identities need at least two identities", nameof(dataset));
        _dataset = dataset;
        var members = dataset.Identities.Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < dataset.Count; i++)
            members[dataset.Label(i)].Add(i);
        if (members.Any(images => images.Count == 0))
            throw new ArgumentException("every identity needs at least one image", nameof(dataset));
        _imagesOfIdentity = members.Select(images => images.ToArray()).ToArray();
        _rng = new SeededRandom(seed);
    }

    public int PairsPerEpoch => _dataset.Count;

    /// <summary>The generator's position: saving and restoring it resumes the pair sequence exactly.</summary>
    public ulong State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    public (int First, int Second) NextPair()
    {
        int first = _rng.NextInt(_dataset.Count);
        int identity = _dataset.Label(first);
        bool same = _rng.NextInt(2) == 1;
        if (same)
        {
            var images = _imagesOfIdentity[identity];
            return (first, images[_rng.NextInt(images.Length)]);
        }
        int second;
        do second = _rng.NextInt(_dataset.Count);
        while (_dataset.Label(second) == identity);
        return (first, second);
    }

    /// <summary>One epoch: fills <paramref name="batch"/> with the next pairs and yields it, until
    /// <see cref="PairsPerEpoch"/> pairs have been given.</summary>
    public IEnumerable<PairBatch> Epoch(PairBatch batch)
    {
        if (batch.Height != _dataset.Height || batch.Width != _dataset.Width)
            throw new ArgumentException($"batch holds {batch.Height}x{batch.Width} images, dataset has {_dataset.Height}x{_dataset.Width}", nameof(batch));
        for (int done = 0; done < PairsPerEpoch; done += batch.Count)
        {
            Fill(batch, Math.Min(batch.Capacity, PairsPerEpoch - done));
            yield return batch;
        }
    }

    /// <summary>Fills the first <paramref name="count"/> pairs of <paramref name="batch"/> with the next pairs.</summary>
    public void Fill(PairBatch batch, int count)
    {
        if (count < 1 || count > batch.Capacity)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"must be 1..{batch.Capacity}");
        int size = batch.Height * batch.Width;
        for (int i = 0; i < count; i++)
        {
            var (first, second) = NextPair();
            _dataset.Image(first).CopyTo(batch.Image0.AsSpan(i * size, size));
            _dataset.Image(second).CopyTo(batch.Image1.AsSpan(i * size, size));
            batch.Label[i] = _dataset.Label(first) == _dataset.Label(second) ? 0f : 1f;
            batch.First[i] = first;
            batch.Second[i] = second;
        }
        batch.Count = count;
    }
}
