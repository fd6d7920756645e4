using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Linear (dense) layer, as torch.nn.functional.linear.
///   y = x·Wᵀ + b          x (N,in), W (out,in), b (out), y (N,out)
///   dx = dy·W             (N,out)·(out,in)
///   dW = dyᵀ·x            (out,N)·(N,in)
///   db = Σ_N dy
/// </summary>
public static partial class Ops
{
    /// <summary>x (N,in) · weightᵀ (in,out) + bias (out), as <c>F.linear</c>; returns (N,out).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        const string op = "Linear";
        Check.Rank(op, "input", x, 2);
        Check.Rank(op, "weight", weight, 2);
        Check.SameBackend(op, x, weight);
        int n = x.Shape[0], inFeatures = x.Shape[1], outFeatures = weight.Shape[0];
        Check.That(weight.Shape[1] == inFeatures, op,
            $"input {x.ShapeText} has {inFeatures} features but weight {weight.ShapeText} expects {weight.Shape[1]}");
        if (bias != null)
        {
            Check.SameBackend(op, x, bias);
            Check.That(bias.Rank == 1 && bias.Shape[0] == outFeatures, op,
                $"bias {bias.ShapeText} does not match weight {weight.ShapeText} (needs ({outFeatures}))");
        }

        var backend = x.Backend;
        var y = Tensor.Empty(x, n, outFeatures);
        backend.Gemm(false, true, n, outFeatures, inFeatures, 1f, x.Buffer, weight.Buffer, 0f, y.Buffer);
        if (bias != null) backend.AddRowVector(y.Buffer, bias.Buffer, n, outFeatures);

        Tensor[] inputs = bias == null ? [x, weight] : [x, weight, bias];
        return Tape.Record(y, op, inputs, dy =>
        {
            if (Tape.Needs(x))
            {
                var dx = Tensor.Empty(x, x.Shape);
                backend.Gemm(false, false, n, inFeatures, outFeatures, 1f, dy.Buffer, weight.Buffer, 0f, dx.Buffer);
                Tape.Accumulate(x, dx);
            }
            if (Tape.Needs(weight))
            {
                var dw = Tensor.Empty(x, weight.Shape);
                backend.Gemm(true, false, outFeatures, inFeatures, n, 1f, dy.Buffer, x.Buffer, 0f, dw.Buffer);
                Tape.Accumulate(weight, dw);
            }
            if (bias != null && Tape.Needs(bias))
            {
                var db = Tensor.Empty(x, bias.Shape);
                backend.SumRows(dy.Buffer, db.Buffer, n, outFeatures);
                Tape.Accumulate(bias, db);
            }
        });
    }
}
