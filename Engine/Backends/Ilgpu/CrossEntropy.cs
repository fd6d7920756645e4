using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Softmax cross-entropy against class indices, logits, p, dlogits (rows, classes), label (rows):
//   p[r] = exp(z[r] − max z[r]) / Σ exp(z[r] − max z[r]),   ℓ[r] = log Σ exp(z[r] − max z[r]) − (z[r][y_r] − max z[r])
//   loss = (1/rows)·Σ_r ℓ[r] (the deterministic reduction),   dlogits[r] = dloss/rows · (p[r] − onehot(y_r))
// One thread per row for the softmax (rows hold tens of classes), Sum's reduction for the mean, one thread per element
// for the gradient.

internal readonly record struct SoftmaxRowsArgs(
    ArrayView<float> Logits, ArrayView<float> Label, ArrayView<float> Probabilities, ArrayView<float> RowLoss, int Classes);

internal readonly record struct CrossEntropyBackwardArgs(
    ArrayView<float> Probabilities, ArrayView<float> Label, ArrayView<float> Dloss, ArrayView<float> Dlogits, int Classes, float InvRows);

internal sealed partial class IlgpuBackend
{
    private static readonly PointwiseKernel<SoftmaxRowsArgs> s_softmaxRows = new(SoftmaxRowsKernel);
    private static readonly PointwiseKernel<CrossEntropyBackwardArgs> s_crossEntropyBackward = new(CrossEntropyBackwardKernel);

    public void CrossEntropyForward(int rows, int classes, DeviceBuffer logits, DeviceBuffer label, DeviceBuffer probabilities, DeviceBuffer loss)
    {
        long length = (long)rows * classes;
        using var rowLoss = Scratch(rows);
        Launch(s_softmaxRows, rows, new SoftmaxRowsArgs(View(logits, length), View(label, rows), View(probabilities, length), rowLoss.Storage, classes));
        Reduce(s_sum, new ContiguousSource(rowLoss.Storage), 1, rows, View(loss, 1), 1f / rows);
    }

    public void CrossEntropyBackward(int rows, int classes, DeviceBuffer probabilities, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dlogits)
    {
        long length = (long)rows * classes;
        Launch(s_crossEntropyBackward, length, new CrossEntropyBackwardArgs(View(probabilities, length), View(label, rows),
            View(dloss, 1), View(dlogits, length), classes, 1f / rows));
    }

    // logits, probabilities (rows, classes) → rowLoss (rows); one thread per row
    internal static void SoftmaxRowsKernel(Index1D row, SoftmaxRowsArgs a)
    {
        int begin = row * a.Classes, end = begin + a.Classes;
        float max = a.Logits[begin];
        for (int j = begin + 1; j < end; j++) max = MathF.Max(max, a.Logits[j]);
        float sum = 0f;
        for (int j = begin; j < end; j++) sum += MathF.Exp(a.Logits[j] - max);
        for (int j = begin; j < end; j++) a.Probabilities[j] = MathF.Exp(a.Logits[j] - max) / sum;
        a.RowLoss[row] = MathF.Log(sum) - (a.Logits[begin + (int)a.Label[row]] - max);
    }

    // probabilities, dlogits (rows, classes), label (rows), dloss (1)
    internal static void CrossEntropyBackwardKernel(Index1D i, CrossEntropyBackwardArgs a)
    {
        int row = i / a.Classes, k = i % a.Classes;
        float target = k == (int)a.Label[row] ? 1f : 0f;
        a.Dlogits[i] = a.Dloss[0] * a.InvRows * (a.Probabilities[i] - target);
    }
}
