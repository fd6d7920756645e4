namespace SimilarFaces.Engine.Backends;

/// <summary>
/// Which element of a max-pool window is its maximum, decided as PyTorch does: scanning the window in row-major
/// order, an element replaces the maximum so far when it is larger or when it is NaN. So a window's maximum is the
/// first of its largest values, or its last NaN when it holds one (the output is then NaN and the gradient goes
/// there). Both backends' max-pool kernels decide through it.
/// </summary>
internal static class WindowMaximum
{
    /// <summary>True when <paramref name="candidate"/>, met after the maximum so far <paramref name="best"/>, replaces it.</summary>
    public static bool Replaces(float candidate, float best) => ReplacesAsFlag(candidate, best) != 0;

    /// <summary><see cref="Replaces"/> as 1 or 0, made from comparison flags rather than a branch.</summary>
    public static int ReplacesAsFlag(float candidate, float best) =>
        (candidate > best ? 1 : 0) | (float.IsNaN(candidate) ? 1 : 0);
}
