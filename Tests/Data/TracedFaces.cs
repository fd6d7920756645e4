using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Data;

/// <summary>3×2 images of identities of uneven sizes; every pixel of image i holds i, so copies can be traced.</summary>
public sealed class TracedFaces(params int[] imagesPerIdentity) : IFaceDataset
{
    private readonly int[] _labels = imagesPerIdentity.SelectMany((n, label) => Enumerable.Repeat(label, n)).ToArray();
    public int Count => _labels.Length;
    public int Width => 3;
    public int Height => 2;
    public IReadOnlyList<string> Identities { get; } = imagesPerIdentity.Select((_, k) => $"p{k}").ToArray();
    public int Label(int index) => _labels[index];
    public ReadOnlySpan<float> Image(int index) => Enumerable.Repeat((float)index, 6).ToArray();
    public string RelativePath(int index) => $"p{_labels[index]}/{index}";
}
