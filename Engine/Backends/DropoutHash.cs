namespace SimilarFaces.Engine.Backends;

/// <summary>
/// The counter-based random numbers behind dropout: the same (seed, index) gives the same value on
/// every backend, so masks agree across devices and runs. SplitMix64 finaliser of seed ⊕ index·golden.
/// </summary>
internal static class DropoutHash
{
    public static float Uniform(ulong seed, long index)
    {
        ulong z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z >> 40) * (1.0f / (1 << 24));
    }
}
