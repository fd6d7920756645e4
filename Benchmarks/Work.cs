namespace SimilarFaces.Benchmarks;

/// <summary>
/// What one invocation of a benchmark does, declared from its shapes: floating-point operations (an FMA
/// counts 2), bytes that must cross memory at least once (each input read once, each output written once),
/// and items for a rate (pairs, embeddings). The throughput columns divide these by the median time.
/// </summary>
public readonly record struct Work(double Flops = 0, double Bytes = 0, double Items = 0, string ItemName = "")
{
    /// <summary>The work of moving <paramref name="count"/> floats through memory once.</summary>
    public static Work Floats(double count) => new(Bytes: sizeof(float) * count);
}

/// <summary>A benchmark class that declares the work of each of its benchmarks for its current parameters.</summary>
public interface IDeclaresWork
{
    /// <param name="benchmark">The benchmark method's name.</param>
    Work WorkOf(string benchmark);
}
