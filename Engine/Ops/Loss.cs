using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Engine;

/// <summary>The training losses: scalars whose labels get no gradient.</summary>
public static partial class Ops
{
    /// <summary>
    /// Contrastive loss (Hadsell, Chopra, LeCun 2006) as the seed notebook writes it, y = 1 for a different pair:
    ///   L = mean_i( (1−y_i)·d_i² + y_i·max(margin − d_i, 0)² )          d, y (N,1)
    ///   dL/dd_i = (2(1−y_i)·d_i − 2y_i·max(margin − d_i, 0)) / N
    /// </summary>
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

    /// <summary>
    /// Softmax cross-entropy against class indices, as F.cross_entropy(logits, labels) (mean over rows):
    ///   p_i = softmax(z_i),  L = −(1/N)·Σ_i log p_i[y_i]              z, p (N,K), y (N) in [0, K)
    ///   dL/dz_i = (p_i − onehot(y_i)) / N
    /// The softmax subtracts each row's maximum first, so large logits do not overflow.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, ReadOnlySpan<int> labels)
    {
        const string op = "CrossEntropy";
        Check.Rank(op, "logits", logits, 2);
        int rows = logits.Shape[0], classes = logits.Shape[1];
        Check.That(labels.Length == rows, op, $"{labels.Length} labels for logits {logits.ShapeText} (needs {rows})");
        var classIndices = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            Check.That((uint)labels[i] < (uint)classes, op, $"label {labels[i]} of row {i} is not a class of logits {logits.ShapeText}");
            classIndices[i] = labels[i];
        }
        var backend = logits.Backend;
        var label = Tensor.FromArray(backend, classIndices, rows);
        var probabilities = Tensor.Empty(logits, logits.Shape);
        var loss = Tensor.Empty(logits, []);
        backend.CrossEntropyForward(rows, classes, logits.Buffer, label.Buffer, probabilities.Buffer, loss.Buffer);
        return Tape.Record(loss, op, [logits], dloss =>
        {
            var dlogits = Tensor.Empty(logits, logits.Shape);
            backend.CrossEntropyBackward(rows, classes, probabilities.Buffer, label.Buffer, dloss.Buffer, dlogits.Buffer);
            Tape.Accumulate(logits, dlogits);
        });
    }
}
