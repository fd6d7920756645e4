namespace SimilarFaces.Engine.Backends.Cpu;

// Dropout mask: mask[i] = 0 where DropoutHash.Uniform(seed, i) < p, else 1/(1 − p) (inverted dropout), so the
// mask depends only on (seed, i) and every backend draws the same one.
internal sealed partial class CpuBackend
{
    public void DropoutMask(DeviceBuffer mask, float p, ulong seed)
    {
        float[] masks = Data(mask);
        float keep = 1 / (1 - p);
        ForEachChunk(masks.Length, (start, length) =>
        {
            for (long i = start; i < start + length; i++) masks[i] = DropoutHash.Uniform(seed, i) < p ? 0 : keep;
        });
    }
}
