namespace SimilarFaces.Model.Data;

/// <summary>When an <see cref="ImageFolder"/> decodes its images.</summary>
public enum ImageDecoding
{
    /// <summary>Every image once, at load, on all cores, then held (Width·Height floats each): for training, which
    /// visits each image many times. A file that cannot be read stops the load.</summary>
    AtLoad,
    /// <summary>Each image from its file whenever it is asked for, nothing held: for one pass over a folder (embedding
    /// it), in the memory of a batch rather than of the whole folder. A file that cannot be read stops the pass that
    /// reaches it.</summary>
    OnDemand,
}
