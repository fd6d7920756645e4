namespace SimilarFaces.Engine;

/// <summary>
/// A small, fast, seedable generator (SplitMix64) whose sequence is fixed forever, unlike System.Random's:
/// the same seed gives the same weights, pairs and dropout masks on every machine and .NET version.
/// </summary>
public sealed class SeededRandom(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The generator's position, for checkpoints that resume a run exactly.</summary>
    public ulong State
    {
        get => _state;
        set => _state = value;
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).</summary>
    public int NextInt(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ulong high = Math.BigMul(NextUInt64(), (ulong)n, out ulong low);
        if (low < (ulong)n)
        {
            ulong threshold = (0UL - (ulong)n) % (ulong)n;
            while (low < threshold)
                high = Math.BigMul(NextUInt64(), (ulong)n, out low);
        }
        return (int)high;
    }

    /// <summary>Uniform in [low, high).</summary>
    public double NextDouble(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Standard normal, Box–Muller.</summary>
    public double NextGaussian() => Math.Sqrt(-2 * Math.Log(1 - NextDouble())) * Math.Cos(2 * Math.PI * NextDouble());

    /// <summary>Uniform in [−bound, bound), as float32.</summary>
    public float NextSymmetric(double bound) => (float)(bound * (2 * NextDouble() - 1));
}
