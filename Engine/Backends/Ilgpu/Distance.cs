using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Pairwise distance and the contrastive loss (Hadsell, Chopra, LeCun 2006), y = 1 for a different pair:
//   d[r] = ‖a[r] − b[r] + eps‖₂                        da = dd·(a − b + eps)/d (0 where d = 0),  db = −da
//   loss = mean_i((1 − y)·d² + y·max(margin − d, 0)²)   dd = dloss/n · (2(1 − y)·d − 2y·max(margin − d, 0))
// The distance sums each row's short embedding in one thread; the loss mean is a deterministic reduction.

/// <summary>The loss term of pair j: (1 − y)·d² + y·max(margin − d, 0)².</summary>
internal readonly record struct ContrastiveTerms(ArrayView<float> D, ArrayView<float> Label, float Margin) : IReductionSource
{
    public float Load(int segment, int j)
    {
        float d = D[j], y = Label[j];
        float gap = MathF.Max(Margin - d, 0f);
        return (1f - y) * d * d + y * gap * gap;
    }
}

internal readonly record struct DistanceArgs(ArrayView<float> A, ArrayView<float> B, ArrayView<float> D, int Dim, float Eps);

internal readonly record struct DistanceBackwardArgs(
    ArrayView<float> A, ArrayView<float> B, ArrayView<float> D, ArrayView<float> Dd, ArrayView<float> Da, ArrayView<float> Db,
    int Dim, float Eps);

internal readonly record struct ContrastiveBackwardArgs(
    ArrayView<float> D, ArrayView<float> Label, ArrayView<float> Dloss, ArrayView<float> Dd, float Margin, float InvCount);

internal sealed partial class IlgpuBackend
{
    private static readonly PointwiseKernel<DistanceArgs> s_distance = new(DistanceKernel);
    private static readonly PointwiseKernel<DistanceBackwardArgs> s_distanceBackward = new(DistanceBackwardKernel);
    private static readonly GroupedKernel<ReduceArgs<ContrastiveTerms>> s_contrastiveLoss = new(ReduceKernel);
    private static readonly PointwiseKernel<ContrastiveBackwardArgs> s_contrastiveBackward = new(ContrastiveBackwardKernel);

    public void PairwiseDistanceForward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, float eps)
    {
        long length = (long)rows * dim;
        Launch(s_distance, rows, new DistanceArgs(View(a, length), View(b, length), View(d, rows), dim, eps));
    }

    public void PairwiseDistanceBackward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, DeviceBuffer dd,
        DeviceBuffer da, DeviceBuffer db, float eps)
    {
        long length = (long)rows * dim;
        Launch(s_distanceBackward, length, new DistanceBackwardArgs(View(a, length), View(b, length), View(d, rows),
            View(dd, rows), View(da, length), View(db, length), dim, eps));
    }

    public void ContrastiveLossForward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer loss, float margin) =>
        Reduce(s_contrastiveLoss, new ContrastiveTerms(View(d, n), View(label, n), margin), 1, n, View(loss, 1), 1f / n);

    public void ContrastiveLossBackward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dd, float margin) =>
        Launch(s_contrastiveBackward, n, new ContrastiveBackwardArgs(View(d, n), View(label, n), View(dloss, 1), View(dd, n),
            margin, 1f / n));

    // a, b (rows, dim) → d (rows); one thread per row
    internal static void DistanceKernel(Index1D row, DistanceArgs a)
    {
        int begin = row * a.Dim;
        float sum = 0f;
        for (int j = begin; j < begin + a.Dim; j++)
        {
            float diff = a.A[j] - a.B[j] + a.Eps;
            sum += diff * diff;
        }
        a.D[row] = MathF.Sqrt(sum);
    }

    // a, b, da, db (rows, dim); d, dd (rows)
    internal static void DistanceBackwardKernel(Index1D i, DistanceBackwardArgs a)
    {
        int row = i / a.Dim;
        float scale = a.D[row] == 0f ? 0f : a.Dd[row] / a.D[row];
        float grad = scale * (a.A[i] - a.B[i] + a.Eps);
        a.Da[i] = grad;
        a.Db[i] = -grad;
    }

    // d, label, dd (n); dloss (1)
    internal static void ContrastiveBackwardKernel(Index1D i, ContrastiveBackwardArgs a)
    {
        float d = a.D[i], y = a.Label[i];
        float gap = MathF.Max(a.Margin - d, 0f);
        a.Dd[i] = a.Dloss[0] * a.InvCount * (2f * (1f - y) * d - 2f * y * gap);
    }
}
