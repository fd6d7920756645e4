using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Reshape/flatten: the same elements in the same row-major order under another shape (a view, no copy).
///   y = reshape(x)   dx = reshape(dy) back to x's shape
/// </summary>
public static partial class Ops
{
    /// <summary>The same elements under another shape with the same element count (a view that shares storage).</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        Check.That(Tensor.Count(shape) == x.Length, "Reshape",
            $"cannot view {x.ShapeText} ({x.Length} elements) as {Tensor.FormatShape(shape)} ({Tensor.Count(shape)} elements)");
        var y = x.View(shape);
        return Tape.Record(y, "Reshape", [x], dy => Tape.Accumulate(x, dy.View(x.Shape)));
    }

    /// <summary>(N, ...) → (N, product of the rest), as <c>x.view(N, -1)</c>.</summary>
    public static Tensor Flatten(Tensor x)
    {
        Check.That(x.Rank >= 1, "Flatten", $"needs a batch dimension, got shape {x.ShapeText}");
        return Reshape(x, x.Shape[0], (int)(x.Length / x.Shape[0]));
    }
}
