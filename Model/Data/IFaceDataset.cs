namespace SimilarFaces.Model.Data;

/// <summary>Images of people, each labelled with its identity, already in the model's input form:
/// Height·Width floats in [0, 1], row-major.</summary>
public interface IFaceDataset
{
    int Count { get; }
    int Width { get; }
    int Height { get; }

    /// <summary>Identity names; an image's label indexes this list.</summary>
    IReadOnlyList<string> Identities { get; }

    int Label(int index);
    ReadOnlySpan<float> Image(int index);

    /// <summary>Writes image <paramref name="index"/> into <paramref name="destination"/> (Height·Width floats); safe to
    /// call from several threads at once.</summary>
    void CopyImage(int index, Span<float> destination) => Image(index).CopyTo(destination);

    /// <summary>Where the image came from, relative to the dataset root, '/'-separated.</summary>
    string RelativePath(int index);
}
