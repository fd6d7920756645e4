using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Euclidean distance between matching rows, as F.pairwise_distance(a, b, p=2, eps, keepdim=True):
///   d_i = ‖a_i − b_i + eps‖₂                    a, b (N,D), d (N,1)
///   da_i = dd_i · (a_i − b_i + eps) / d_i (0 where d_i = 0, as PyTorch),  db_i = −da_i
/// eps keeps d > 0 (and the gradient finite) for identical rows. The same distance of two host vectors, summed in
/// double, is what evaluation compares once embeddings are downloaded: a verifier measures the distance the loss trained.
/// </summary>
public static partial class Ops
{
    /// <summary>PyTorch's default eps of <c>F.pairwise_distance</c>.</summary>
    public const float DefaultDistanceEps = 1e-6f;

    /// <summary>Distance ‖a_i − b_i + eps‖₂ between matching rows of a and b (N,D), as (N,1), as <c>F.pairwise_distance</c>.</summary>
    public static Tensor PairwiseDistance(Tensor a, Tensor b, float eps = DefaultDistanceEps)
    {
        const string op = "PairwiseDistance";
        Check.Rank(op, "first input", a, 2);
        Check.SameShape(op, a, b);
        int rows = a.Shape[0], dim = a.Shape[1];
        var backend = a.Backend;
        var d = Tensor.Empty(a, rows, 1);
        backend.PairwiseDistanceForward(rows, dim, a.Buffer, b.Buffer, d.Buffer, eps);
        return Tape.Record(d, op, [a, b], dd =>
        {
            var da = Tensor.Empty(a, a.Shape);
            var db = Tensor.Empty(a, b.Shape);
            backend.PairwiseDistanceBackward(rows, dim, a.Buffer, b.Buffer, d.Buffer, dd.Buffer, da.Buffer, db.Buffer, eps);
            Tape.Accumulate(a, da);
            Tape.Accumulate(b, db);
        });
    }

    /// <summary>‖a − b + eps‖₂ of two host vectors of equal length, summed in double (no graph).</summary>
    public static float PairwiseDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b, float eps = DefaultDistanceEps)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"PairwiseDistance: vectors of {a.Length} and {b.Length} values differ in length");
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i] + (double)eps;
            sum += d * d;
        }
        return (float)Math.Sqrt(sum);
    }
}
