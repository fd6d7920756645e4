namespace SimilarFaces.Model.Data;

/// <summary>Square images already in the model's input form, each its own identity: photos given one by one
/// rather than as a folder of people.</summary>
public sealed class LooseImages(float[][] images, int size) : IFaceDataset
{
    public int Count => images.Length;
    public int Width => size;
    public int Height => size;
    public IReadOnlyList<string> Identities { get; } = images.Select((_, i) => i.ToString()).ToArray();
    public int Label(int index) => index;
    public ReadOnlySpan<float> Image(int index) => images[index];
    public string RelativePath(int index) => index.ToString();
}
