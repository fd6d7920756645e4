namespace SimilarFaces.Engine;

/// <summary>Shape validation shared by the ops: every failure names the op and the shapes involved.</summary>
internal static class Check
{
    public static void SameBackend(string op, Tensor a, Tensor b)
    {
        if (!ReferenceEquals(a.Backend, b.Backend))
            throw new ArgumentException($"{op}: tensors live on different devices ({a.Backend.Name} and {b.Backend.Name})");
    }

    public static void SameShape(string op, Tensor a, Tensor b)
    {
        SameBackend(op, a, b);
        if (!a.Shape.AsSpan().SequenceEqual(b.Shape))
            throw new ArgumentException($"{op}: shapes {a.ShapeText} and {b.ShapeText} differ");
    }

    public static void Rank(string op, string name, Tensor t, params int[] ranks)
    {
        if (Array.IndexOf(ranks, t.Rank) < 0)
            throw new ArgumentException($"{op}: {name} must have rank {string.Join(" or ", ranks)}, got shape {t.ShapeText}");
    }

    public static void That(bool condition, string op, string message)
    {
        if (!condition) throw new ArgumentException($"{op}: {message}");
    }
}
