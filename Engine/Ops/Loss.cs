using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>
/// Contrastive loss (Hadsell, Chopra, LeCun 2006) as the seed notebook writes it, y = 1 for a different pair:
///   L = mean_i( (1−y_i)·d_i² + y_i·max(margin − d_i, 0)² )          d, y (N,1)
///   dL/dd_i = (2(1−y_i)·d_i − 2y_i·max(margin − d_i, 0)) / N
/// Labels get no gradient.
/// </summary>
public static partial class Ops
{
    public static Tensor ContrastiveLoss(Tensor distance, Tensor label, float margin = 2f)
    {
        const string op = "ContrastiveLoss";
        Check.Rank(op, "distance", distance, 1, 2);
        Check.SameShape(op, distance, label);
        Check.That(distance.Rank == 1 || distance.Shape[1] == 1, op, $"distance must be (N) or (N,1), got {distance.ShapeText}");
        int n = distance.Shape[0];
        var backend = distance.Backend;
        var loss = Tensor.Empty(distance, []);
        backend.ContrastiveLossForward(n, distance.Buffer, label.Buffer, loss.Buffer, margin);
        return Tape.Record(loss, op, [distance], dloss =>
        {
            var dd = Tensor.Empty(distance, distance.Shape);
            backend.ContrastiveLossBackward(n, distance.Buffer, label.Buffer, dloss.Buffer, dd.Buffer, margin);
            Tape.Accumulate(distance, dd);
        });
    }
}
