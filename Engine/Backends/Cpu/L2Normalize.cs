namespace SimilarFaces.Engine.Backends.Cpu;

// Rows scaled to unit length, x, y, dy, dx (rows, dim), norms (rows):
//   norms[r] = ‖x[r]‖₂,  y[r] = x[r] / max(norms[r], eps)
//   dx[r] = (dy[r] − y[r]·⟨y[r], dy[r]⟩) / norms[r]   (norms[r] ≥ eps),   dy[r] / eps   (norms[r] < eps)
// Rows are embeddings (a few hundred values), so these run scalar with sums in double, rows spread over the cores.
internal sealed partial class CpuBackend
{
    public void L2NormalizeForward(int rows, int dim, DeviceBuffer x, DeviceBuffer y, DeviceBuffer norms, float eps)
    {
        float[] xs = Data(x), ys = Data(y), ns = Data(norms);
        int pieces = RowPieces(rows, dim);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(rows, pieces, piece);
            for (int r = first; r < end; r++)
            {
                var row = xs.AsSpan(r * dim, dim);
                double sum = 0;
                foreach (float v in row) sum += (double)v * v;
                float norm = (float)Math.Sqrt(sum);
                ns[r] = norm;
                float divisor = MathF.Max(norm, eps);
                var output = ys.AsSpan(r * dim, dim);
                for (int i = 0; i < dim; i++) output[i] = row[i] / divisor;
            }
        });
    }

    public void L2NormalizeBackward(int rows, int dim, DeviceBuffer y, DeviceBuffer norms, DeviceBuffer dy, DeviceBuffer dx, float eps)
    {
        float[] ys = Data(y), ns = Data(norms), dys = Data(dy), dxs = Data(dx);
        int pieces = RowPieces(rows, dim);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(rows, pieces, piece);
            for (int r = first; r < end; r++)
            {
                Span<float> unit = ys.AsSpan(r * dim, dim), upstream = dys.AsSpan(r * dim, dim), output = dxs.AsSpan(r * dim, dim);
                if (ns[r] < eps)
                {
                    for (int i = 0; i < dim; i++) output[i] = upstream[i] / eps;
                    continue;
                }
                double dot = 0;
                for (int i = 0; i < dim; i++) dot += (double)unit[i] * upstream[i];
                float radial = (float)dot, norm = ns[r];
                for (int i = 0; i < dim; i++) output[i] = (upstream[i] - unit[i] * radial) / norm;
            }
        });
    }
}
