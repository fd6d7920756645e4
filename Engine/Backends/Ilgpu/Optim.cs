using ILGPU;

namespace SimilarFaces.Engine.Backends.Ilgpu;

// One fused pass per parameter tensor, as PyTorch computes them (g = grad + weightDecay·param):
//   Adam  m ← m + (1 − β1)·(g − m)   (torch's lerp)      v ← β2·v + (1 − β2)·g²
//         param ← param − (lr/bc1) · m / (√v/√bc2 + eps)  with bc = 1 − β^t
//   SGD   buf ← g on the first step, else momentum·buf + (1 − dampening)·g   (no buffer when momentum = 0)
//         step = nesterov ? g + momentum·buf : buf         param ← param − lr·step

internal readonly record struct AdamArgs(
    ArrayView<float> Param, ArrayView<float> Grad, ArrayView<float> M, ArrayView<float> V, AdamStepParameters H);

/// <summary>SgdStepParameters' switches as bits: kernel arguments must be blittable, which rules out bool.</summary>
[Flags]
internal enum SgdFlags : byte
{
    None = 0,
    Momentum = 1,
    FirstStep = 2,
    Nesterov = 4,
}

internal readonly record struct SgdArgs(
    ArrayView<float> Param, ArrayView<float> Grad, ArrayView<float> Buffer,
    float LearningRate, float Momentum, float Dampening, float WeightDecay, SgdFlags Flags);

internal sealed partial class IlgpuBackend
{
    private static readonly PointwiseKernel<AdamArgs> s_adam = new(AdamKernel);
    private static readonly PointwiseKernel<SgdArgs> s_sgd = new(SgdKernel);

    public void AdamStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, in AdamStepParameters h)
    {
        long n = param.Length;
        Launch(s_adam, n, new AdamArgs(View(param, n), View(grad, n), View(m, n), View(v, n), h));
    }

    public void SgdStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer momentum, in SgdStepParameters h)
    {
        long n = param.Length;
        var flags = (h.Momentum != 0f ? SgdFlags.Momentum : SgdFlags.None) | (h.FirstStep ? SgdFlags.FirstStep : SgdFlags.None)
                    | (h.Nesterov ? SgdFlags.Nesterov : SgdFlags.None);
        // without momentum the buffer is neither read nor written
        var buffer = h.Momentum != 0f ? View(momentum, n) : View(param, n);
        Launch(s_sgd, n, new SgdArgs(View(param, n), View(grad, n), buffer, h.LearningRate, h.Momentum, h.Dampening, h.WeightDecay, flags));
    }

    // param, grad, m, v (n)
    internal static void AdamKernel(Index1D i, AdamArgs a)
    {
        var h = a.H;
        float p = a.Param[i];
        float g = a.Grad[i] + h.WeightDecay * p;
        float m = a.M[i] + (1f - h.Beta1) * (g - a.M[i]);
        float v = h.Beta2 * a.V[i] + (1f - h.Beta2) * g * g;
        a.M[i] = m;
        a.V[i] = v;
        float denominator = MathF.Sqrt(v) / MathF.Sqrt(h.BiasCorrection2) + h.Eps;
        a.Param[i] = p - h.LearningRate / h.BiasCorrection1 * (m / denominator);
    }

    // param, grad, buffer (n)
    internal static void SgdKernel(Index1D i, SgdArgs a)
    {
        float p = a.Param[i];
        float g = a.Grad[i] + a.WeightDecay * p;
        float step = g;
        if ((a.Flags & SgdFlags.Momentum) != 0)
        {
            float buffer = (a.Flags & SgdFlags.FirstStep) != 0 ? g : a.Momentum * a.Buffer[i] + (1f - a.Dampening) * g;
            a.Buffer[i] = buffer;
            step = (a.Flags & SgdFlags.Nesterov) != 0 ? g + a.Momentum * buffer : buffer;
        }
        a.Param[i] = p - a.LearningRate * step;
    }
}
