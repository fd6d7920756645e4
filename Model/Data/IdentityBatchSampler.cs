using SimilarFaces.Engine;

namespace SimilarFaces.Model.Data;

/// <summary>Caller-owned buffers for one batch of labelled images, reused batch after batch.</summary>
public sealed class IdentityBatch
{
    public IdentityBatch(int identities, int imagesPerIdentity, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(identities, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(imagesPerIdentity, 1);
        Count = identities * imagesPerIdentity;
        Height = height;
        Width = width;
        Images = new float[(long)Count * height * width];
        Labels = new int[Count];
        Indices = new int[Count];
    }

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>(Count, 1, Height, Width), augmented.</summary>
    public float[] Images { get; }

    /// <summary>Identity of each image (the dataset's label).</summary>
    public int[] Labels { get; }

    /// <summary>Dataset index of each image.</summary>
    public int[] Indices { get; }
}

/// <summary>
/// Batches of P identities × K images each (the "PK" batches of metric learning): the P identities are distinct and
/// uniform among all; an identity's K images are distinct when it has K or more, else drawn with replacement. Each
/// image then goes through the <see cref="Augmentation"/>. An epoch is as many batches as it takes to show as many
/// images as the dataset holds. Every draw comes from one seeded stream, so a seed fixes all batches.
/// </summary>
public sealed class IdentityBatchSampler
{
    private readonly IFaceDataset _dataset;
    private readonly int[][] _imagesOfIdentity;
    private readonly int[] _identityOrder;
    private readonly int[] _imageOrder;
    private readonly Augmentation.Change[] _changes;
    private readonly SeededRandom _rng;

    public IdentityBatchSampler(IFaceDataset dataset, int identitiesPerBatch, int imagesPerIdentity, Augmentation augmentation, ulong seed)
    {
        if (identitiesPerBatch < 2 || identitiesPerBatch > dataset.Identities.Count)
            throw new ArgumentOutOfRangeException(nameof(identitiesPerBatch), identitiesPerBatch,
                $"a batch needs 2 to {dataset.Identities.Count} identities (the dataset has {dataset.Identities.Count})");
        ArgumentOutOfRangeException.ThrowIfLessThan(imagesPerIdentity, 1);
        _dataset = dataset;
        IdentitiesPerBatch = identitiesPerBatch;
        ImagesPerIdentity = imagesPerIdentity;
        Augmentation = augmentation;
        var members = dataset.Identities.Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < dataset.Count; i++) members[dataset.Label(i)].Add(i);
        if (members.Any(images => images.Count == 0))
            throw new ArgumentException("every identity needs at least one image", nameof(dataset));
        _imagesOfIdentity = members.Select(images => images.ToArray()).ToArray();
        _identityOrder = Enumerable.Range(0, dataset.Identities.Count).ToArray();
        _imageOrder = new int[members.Max(m => m.Count)];
        _changes = new Augmentation.Change[BatchSize];
        _rng = new SeededRandom(seed);
    }

    public int IdentitiesPerBatch { get; }
    public int ImagesPerIdentity { get; }
    public Augmentation Augmentation { get; }
    public int BatchSize => IdentitiesPerBatch * ImagesPerIdentity;
    public int StepsPerEpoch => (_dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The generator's position: saving and restoring it resumes the batch sequence exactly.</summary>
    public ulong State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    public void Fill(IdentityBatch batch)
    {
        if (batch.Count != BatchSize || batch.Height != _dataset.Height || batch.Width != _dataset.Width)
            throw new ArgumentException($"batch holds {batch.Count} images of {batch.Height}x{batch.Width}, the sampler makes {BatchSize} of {_dataset.Height}x{_dataset.Width}", nameof(batch));
        int size = batch.Height * batch.Width, slot = 0;
        for (int i = 0; i < _identityOrder.Length; i++) _identityOrder[i] = i;   // the stream's state alone fixes the batch
        PartialShuffle(_identityOrder, IdentitiesPerBatch);
        for (int p = 0; p < IdentitiesPerBatch; p++)
        {
            var images = _imagesOfIdentity[_identityOrder[p]];
            bool distinct = images.Length >= ImagesPerIdentity;
            if (distinct)
            {
                images.CopyTo(_imageOrder, 0);
                PartialShuffle(_imageOrder.AsSpan(0, images.Length), ImagesPerIdentity);
            }
            for (int k = 0; k < ImagesPerIdentity; k++, slot++)
            {
                int index = distinct ? _imageOrder[k] : images[_rng.NextInt(images.Length)];
                batch.Indices[slot] = index;
                batch.Labels[slot] = _dataset.Label(index);
                _changes[slot] = Augmentation.Draw(batch.Height, batch.Width, _rng);
            }
        }
        // every draw is made above, in order; the images are then independent of each other
        if (Augmentation.IsIdentity)
            for (int i = 0; i < batch.Count; i++) _dataset.Image(batch.Indices[i]).CopyTo(batch.Images.AsSpan(i * size, size));
        else
            Parallel.For(0, batch.Count, i => Augmentation.Apply(_changes[i], _dataset.Image(batch.Indices[i]),
                batch.Images.AsSpan(i * size, size), batch.Height, batch.Width));
    }

    // the first `count` entries become a uniform draw without replacement (Fisher–Yates, stopped early)
    private void PartialShuffle(Span<int> values, int count)
    {
        for (int i = 0; i < count; i++)
        {
            int j = i + _rng.NextInt(values.Length - i);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }
}
