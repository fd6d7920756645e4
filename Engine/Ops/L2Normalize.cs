using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Rows scaled to unit length, as F.normalize(x, p=2, dim=1, eps):
///   n_i = max(‖x_i‖₂, eps),  y_i = x_i / n_i                 x, y (N,D), n (N)
///   dx_i = (dy_i − y_i·⟨y_i, dy_i⟩) / n_i   where ‖x_i‖ ≥ eps (the projection removes the radial part)
///   dx_i = dy_i / eps                          where ‖x_i‖ &lt; eps (n_i is the constant eps there)
/// </summary>
public static partial class Ops
{
    /// <summary>PyTorch's default eps of <c>F.normalize</c>.</summary>
    public const float DefaultL2NormalizeEps = 1e-12f;

    /// <summary>Each row of x (N,D) divided by max(its length, eps), as <c>F.normalize(x, dim=1)</c>.</summary>
    public static Tensor L2Normalize(Tensor x, float eps = DefaultL2NormalizeEps)
    {
        const string op = "L2Normalize";
        Check.Rank(op, "input", x, 2);
        Check.That(eps > 0f, op, $"eps must be positive, got {eps}");
        int rows = x.Shape[0], dim = x.Shape[1];
        var backend = x.Backend;
        var y = Tensor.Empty(x, x.Shape);
        var norms = Tensor.Empty(x, rows);
        backend.L2NormalizeForward(rows, dim, x.Buffer, y.Buffer, norms.Buffer, eps);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.L2NormalizeBackward(rows, dim, y.Buffer, norms.Buffer, dy.Buffer, dx.Buffer, eps);
            Tape.Accumulate(x, dx);
        });
    }
}
