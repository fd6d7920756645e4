namespace SimilarFaces.Engine.Backends.Cpu;

// Pairwise distance and the contrastive loss (Hadsell, Chopra, LeCun 2006), y = 1 for a different pair:
//   d[r]  = ‖a[r] − b[r] + eps‖₂                       da[r] = dd[r]·(a[r] − b[r] + eps)/d[r] (0 where d = 0), db = −da
//   loss  = mean((1 − y)·d² + y·max(margin − d, 0)²)     dd = dloss/n · (2(1 − y)·d − 2y·max(margin − d, 0))
// Rows are short (the embedding), so these run scalar, with sums in double.
internal sealed unsafe partial class CpuBackend
{
    public void PairwiseDistanceForward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, float eps)
    {
        float[] aValues = Data(a), bValues = Data(b), ds = Data(d);
        int pieces = RowPieces(rows, dim);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(rows, pieces, piece);
            for (int r = first; r < end; r++)
            {
                double sum = 0;
                for (long i = (long)r * dim; i < (long)(r + 1) * dim; i++)
                {
                    float difference = aValues[i] - bValues[i] + eps;
                    sum += (double)difference * difference;
                }
                ds[r] = (float)Math.Sqrt(sum);
            }
        });
    }

    public void PairwiseDistanceBackward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, DeviceBuffer dd,
        DeviceBuffer da, DeviceBuffer db, float eps)
    {
        float[] aValues = Data(a), bValues = Data(b), ds = Data(d), dds = Data(dd), das = Data(da), dbs = Data(db);
        int pieces = RowPieces(rows, dim);
        ForEachPiece(pieces, piece =>
        {
            var (first, end) = PieceRange(rows, pieces, piece);
            for (int r = first; r < end; r++)
            {
                float scale = ds[r] == 0 ? 0 : dds[r] / ds[r];
                for (long i = (long)r * dim; i < (long)(r + 1) * dim; i++)
                {
                    float gradient = scale * (aValues[i] - bValues[i] + eps);
                    das[i] = gradient;
                    dbs[i] = -gradient;
                }
            }
        });
    }

    public void ContrastiveLossForward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer loss, float margin)
    {
        float[] ds = Data(d), labels = Data(label), losses = Data(loss);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double distance = ds[i], y = labels[i], shortfall = Math.Max(margin - distance, 0);
            sum += (1 - y) * distance * distance + y * shortfall * shortfall;
        }
        losses[0] = (float)(sum / n);
    }

    public void ContrastiveLossBackward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dd, float margin)
    {
        float[] ds = Data(d), labels = Data(label), dlosses = Data(dloss), dds = Data(dd);
        double scale = (double)dlosses[0] / n;
        for (int i = 0; i < n; i++)
        {
            double distance = ds[i], y = labels[i], shortfall = Math.Max(margin - distance, 0);
            dds[i] = (float)(scale * (2 * (1 - y) * distance - 2 * y * shortfall));
        }
    }
}
