using SimilarFaces.Engine;

namespace SimilarFaces.Model;

/// <summary>The losses of the identity-batch recipes, composed of engine ops (so their gradients come from the tape).</summary>
public static class Losses
{
    /// <summary>
    /// CosFace (Wang et al. 2018) on unit embeddings e (n, E) against one learned vector per identity w (classes, E):
    ///   logits_ik = scale·(cos(e_i, w_k) − margin·[k = y_i]),   loss = cross-entropy(logits, y)
    /// The margin makes the true identity win by a clear angle, not just barely.
    /// </summary>
    public static Tensor CosFace(Tensor embeddings, Tensor classVectors, int[] labels, float margin, float scale)
    {
        int n = labels.Length, classes = classVectors.Shape[0];
        var cosines = Ops.Linear(embeddings, Ops.L2Normalize(classVectors));
        var margins = new float[n * classes];
        for (int i = 0; i < n; i++) margins[i * classes + labels[i]] = margin;
        var logits = Ops.MulScalar(Ops.Sub(cosines, Tensor.FromArray(embeddings.Backend, margins, n, classes)), scale);
        return Ops.CrossEntropy(logits, labels);
    }

    /// <summary>
    /// Contrastive loss on every ordered pair (i, j ≠ i) of unit embeddings e (n, E), with d_ij² = 2 − 2·e_i·e_j:
    ///   loss = mean over same-identity pairs of d² + mean over different pairs of max(margin − d, 0)²
    /// </summary>
    public static Tensor AllPairsContrastive(Tensor embeddings, int[] labels, float margin)
    {
        int n = labels.Length, sameCount = 0, differentCount = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (labels[i] != labels[j]) differentCount++;
                else if (i != j) sameCount++;
        var same = new float[n * n];
        var different = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (labels[i] != labels[j]) different[i * n + j] = 1f / differentCount;
                else if (i != j) same[i * n + j] = 1f / sameCount;
        var backend = embeddings.Backend;
        var squared = Ops.ClampMin(Ops.AddScalar(Ops.MulScalar(Ops.Linear(embeddings, embeddings), -2f), 2f), 1e-12f);
        var shortfall = Ops.Relu(Ops.AddScalar(Ops.MulScalar(Ops.Sqrt(squared), -1f), margin));
        return Ops.Add(
            Ops.Sum(Ops.Mul(squared, Tensor.FromArray(backend, same, n, n))),
            Ops.Sum(Ops.Mul(Ops.Square(shortfall), Tensor.FromArray(backend, different, n, n))));
    }
}
