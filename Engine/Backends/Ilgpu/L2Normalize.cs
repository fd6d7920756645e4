using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// Rows scaled to unit length, x, y, dy, dx (rows, dim), norms (rows):
//   norms[r] = ‖x[r]‖₂,  y[r] = x[r] / max(norms[r], eps)
//   dx[r] = (dy[r] − y[r]·⟨y[r], dy[r]⟩) / norms[r]   (norms[r] ≥ eps),   dy[r] / eps   (norms[r] < eps)
// Rows are short embeddings: one thread per row, which keeps each row's sum in a fixed order.

internal readonly record struct L2NormalizeArgs(ArrayView<float> X, ArrayView<float> Y, ArrayView<float> Norms, int Dim, float Eps);

internal readonly record struct L2NormalizeBackwardArgs(
    ArrayView<float> Y, ArrayView<float> Norms, ArrayView<float> Dy, ArrayView<float> Dx, int Dim, float Eps);

internal sealed partial class IlgpuBackend
{
    private static readonly PointwiseKernel<L2NormalizeArgs> s_l2Normalize = new(L2NormalizeKernel);
    private static readonly PointwiseKernel<L2NormalizeBackwardArgs> s_l2NormalizeBackward = new(L2NormalizeBackwardKernel);

    public void L2NormalizeForward(int rows, int dim, DeviceBuffer x, DeviceBuffer y, DeviceBuffer norms, float eps)
    {
        long length = (long)rows * dim;
        Launch(s_l2Normalize, rows, new L2NormalizeArgs(View(x, length), View(y, length), View(norms, rows), dim, eps));
    }

    public void L2NormalizeBackward(int rows, int dim, DeviceBuffer y, DeviceBuffer norms, DeviceBuffer dy, DeviceBuffer dx, float eps)
    {
        long length = (long)rows * dim;
        Launch(s_l2NormalizeBackward, rows,
            new L2NormalizeBackwardArgs(View(y, length), View(norms, rows), View(dy, length), View(dx, length), dim, eps));
    }

    // x, y (rows, dim) → norms (rows); one thread per row
    internal static void L2NormalizeKernel(Index1D row, L2NormalizeArgs a)
    {
        int begin = row * a.Dim;
        float sum = 0f;
        for (int j = begin; j < begin + a.Dim; j++) sum += a.X[j] * a.X[j];
        float norm = MathF.Sqrt(sum);
        a.Norms[row] = norm;
        float divisor = MathF.Max(norm, a.Eps);
        for (int j = begin; j < begin + a.Dim; j++) a.Y[j] = a.X[j] / divisor;
    }

    // y, dy, dx (rows, dim), norms (rows); one thread per row
    internal static void L2NormalizeBackwardKernel(Index1D row, L2NormalizeBackwardArgs a)
    {
        int begin = row * a.Dim;
        float norm = a.Norms[row];
        if (norm < a.Eps)
        {
            for (int j = begin; j < begin + a.Dim; j++) a.Dx[j] = a.Dy[j] / a.Eps;
            return;
        }
        float radial = 0f;
        for (int j = begin; j < begin + a.Dim; j++) radial += a.Y[j] * a.Dy[j];
        for (int j = begin; j < begin + a.Dim; j++) a.Dx[j] = (a.Dy[j] - a.Y[j] * radial) / norm;
    }
}
