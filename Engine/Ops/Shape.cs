using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Shape ops: the same elements under another shape, or rows gathered and picked along the first axis.
///   reshape: y = reshape(x)   dx = reshape(dy) back to x's shape (a view, no copy)
///   concat:  y = [x₁; x₂; …] along axis 0   dxᵢ = the rows of dy that xᵢ filled
///   narrow:  y = x[s : s+n] along axis 0     dx = dy in rows s … s+n−1, 0 elsewhere
/// Tensors are row-major, so a run of rows is one contiguous range of elements: both copy ranges.
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

    /// <summary>The parts' rows one after another, as <c>torch.cat(parts, 0)</c>: every part has the same shape after its first axis.</summary>
    public static Tensor Concat(params Tensor[] parts)
    {
        const string op = "Concat";
        Check.That(parts.Length > 0, op, "needs at least one tensor");
        var first = parts[0];
        Check.That(first.Rank >= 1, op, $"needs a first axis, got shape {first.ShapeText}");
        foreach (var part in parts)
        {
            Check.SameBackend(op, first, part);
            Check.That(part.Rank == first.Rank && part.Shape.AsSpan(1).SequenceEqual(first.Shape.AsSpan(1)), op,
                $"shapes {first.ShapeText} and {part.ShapeText} differ after the first axis");
        }
        var backend = first.Backend;
        int[] shape = [.. first.Shape];
        shape[0] = parts.Sum(p => p.Shape[0]);
        var y = Tensor.Empty(first, shape);
        long offset = 0;
        foreach (var part in parts)
        {
            backend.Copy(part.Buffer, 0, y.Buffer, offset, part.Length);
            offset += part.Length;
        }
        return Tape.Record(y, op, parts, dy =>
        {
            long start = 0;
            foreach (var part in parts)
            {
                if (Tape.Needs(part))
                {
                    var dx = Tensor.Empty(part, part.Shape);
                    backend.Copy(dy.Buffer, start, dx.Buffer, 0, part.Length);
                    Tape.Accumulate(part, dx);
                }
                start += part.Length;
            }
        });
    }

    /// <summary>Rows <paramref name="start"/> … <paramref name="start"/> + <paramref name="length"/> − 1 of x, as <c>x.narrow(0, start, length)</c> (a copy).</summary>
    public static Tensor Narrow(Tensor x, int start, int length)
    {
        const string op = "Narrow";
        Check.That(x.Rank >= 1, op, $"needs a first axis, got shape {x.ShapeText}");
        Check.That(start >= 0 && length >= 0 && start <= x.Shape[0] - length, op,
            $"rows {start} to {(long)start + length - 1} are not within the {x.Shape[0]} rows of {x.ShapeText}");
        var backend = x.Backend;
        int[] shape = [.. x.Shape];
        shape[0] = length;
        var y = Tensor.Empty(x, shape);
        long first = x.Shape[0] == 0 ? 0 : x.Length / x.Shape[0] * start;
        backend.Copy(x.Buffer, first, y.Buffer, 0, y.Length);
        return Tape.Record(y, op, [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.Fill(dx.Buffer, 0f);
            backend.Copy(dy.Buffer, 0, dx.Buffer, first, dy.Length);
            Tape.Accumulate(x, dx);
        });
    }
}
