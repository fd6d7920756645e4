namespace SimilarFaces.Engine.Backends.Cpu;

// Softmax cross-entropy against class indices, logits, p, dlogits (rows, classes), label (rows):
//   p[r] = exp(z[r] − max z[r]) / Σ exp(z[r] − max z[r]),   loss = (1/rows)·Σ_r (log Σ exp(z[r] − max z[r]) − (z[r][y_r] − max z[r]))
//   dlogits[r] = dloss/rows · (p[r] − onehot(y_r))
// A batch has tens of rows of tens of classes: scalar, in double, rows in order (the loss sum is deterministic).
internal sealed partial class CpuBackend
{
    public void CrossEntropyForward(int rows, int classes, DeviceBuffer logits, DeviceBuffer label, DeviceBuffer probabilities, DeviceBuffer loss)
    {
        float[] zs = Data(logits), labels = Data(label), ps = Data(probabilities), losses = Data(loss);
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            Span<float> z = zs.AsSpan(r * classes, classes), p = ps.AsSpan(r * classes, classes);
            float max = float.NegativeInfinity;
            foreach (float v in z) max = MathF.Max(max, v);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += Math.Exp(z[k] - (double)max);
            for (int k = 0; k < classes; k++) p[k] = (float)(Math.Exp(z[k] - (double)max) / sum);
            total += Math.Log(sum) - (z[(int)labels[r]] - (double)max);
        }
        losses[0] = (float)(total / rows);
    }

    public void CrossEntropyBackward(int rows, int classes, DeviceBuffer probabilities, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dlogits)
    {
        float[] ps = Data(probabilities), labels = Data(label), dlosses = Data(dloss), dzs = Data(dlogits);
        float scale = dlosses[0] / rows;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < classes; k++)
            {
                int i = r * classes + k;
                dzs[i] = scale * (ps[i] - (k == (int)labels[r] ? 1f : 0f));
            }
    }
}
