using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SimilarFaces.Engine.Backends.Cpu;

// One fused pass per parameter tensor, rounding as PyTorch's single-tensor optimisers do (float32; where PyTorch
// fuses a multiply-add, add_(x, alpha) and the like, so do we; its addcmul/addcdiv multiply, then add):
//   Adam  g = grad + wd·p;  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g·g;
//         p += (−lr/bc1)·m / (√v/√bc2 + eps)
//   SGD   g = grad + wd·p;  if momentum ≠ 0: buf = first step ? g : momentum·buf + (1 − dampening)·g,
//         g = nesterov ? g + momentum·buf : buf;  p −= lr·g
internal sealed unsafe partial class CpuBackend
{
    public void AdamStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, in AdamStepParameters h)
    {
        float[] ps = Data(param), gs = Data(grad), ms = Data(m), vs = Data(v);
        var step = new AdamConstants(h);
        ForEachChunk(ps.Length, (start, length) =>
        {
            fixed (float* p = ps, g = gs, m1 = ms, v1 = vs)
            {
                if (_wide) AdamRange<Simd512, Vector512<float>>(step, p + start, g + start, m1 + start, v1 + start, length);
                else AdamRange<Simd256, Vector256<float>>(step, p + start, g + start, m1 + start, v1 + start, length);
            }
        });
    }

    public void SgdStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer momentum, in SgdStepParameters h)
    {
        float[] ps = Data(param), gs = Data(grad), buffers = Data(momentum);
        var step = h;
        ForEachChunk(ps.Length, (start, length) =>
        {
            fixed (float* p = ps, g = gs, buffer = buffers)
            {
                if (_wide) SgdRange<Simd512, Vector512<float>>(step, p + start, g + start, buffer + start, length);
                else SgdRange<Simd256, Vector256<float>>(step, p + start, g + start, buffer + start, length);
            }
        });
    }

    /// <summary>Adam's per-step scalars, rounded to float as PyTorch passes them to its float kernels.</summary>
    private readonly struct AdamConstants(AdamStepParameters h)
    {
        public readonly float WeightDecay = h.WeightDecay;
        public readonly float Beta1 = h.Beta1, OneMinusBeta1 = 1 - h.Beta1;
        public readonly float Beta2 = h.Beta2, OneMinusBeta2 = 1 - h.Beta2;
        public readonly float Eps = h.Eps;
        public readonly float StepSize = (float)((double)h.LearningRate / h.BiasCorrection1);
        public readonly float BiasCorrection2Sqrt = (float)Math.Sqrt(h.BiasCorrection2);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamRange<TS, TV>(in AdamConstants h, float* p, float* g, float* m, float* v, int n) where TS : ISimd<TV> where TV : struct
    {
        TV decay = TS.Splat(h.WeightDecay), beta1 = TS.Splat(h.Beta1), oneMinusBeta1 = TS.Splat(h.OneMinusBeta1);
        TV beta2 = TS.Splat(h.Beta2), oneMinusBeta2 = TS.Splat(h.OneMinusBeta2), eps = TS.Splat(h.Eps);
        TV negativeStep = TS.Splat(-h.StepSize), correction2 = TS.Splat(h.BiasCorrection2Sqrt);
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes)
        {
            TV param = TS.Load(p + i);
            TV gradient = h.WeightDecay == 0 ? TS.Load(g + i) : TS.MultiplyAdd(decay, param, TS.Load(g + i));
            TV m1 = TS.MultiplyAdd(oneMinusBeta1, gradient, TS.Multiply(TS.Load(m + i), beta1));
            TV v1 = TS.Add(TS.Multiply(TS.Load(v + i), beta2), TS.Multiply(TS.Multiply(oneMinusBeta2, gradient), gradient));
            TV denominator = TS.Add(TS.Divide(TS.Sqrt(v1), correction2), eps);
            TS.Store(m1, m + i);
            TS.Store(v1, v + i);
            TS.Store(TS.Add(param, TS.Divide(TS.Multiply(negativeStep, m1), denominator)), p + i);
        }
        for (; i < n; i++)
        {
            float gradient = h.WeightDecay == 0 ? g[i] : MathF.FusedMultiplyAdd(h.WeightDecay, p[i], g[i]);
            m[i] = MathF.FusedMultiplyAdd(h.OneMinusBeta1, gradient, m[i] * h.Beta1);
            v[i] = v[i] * h.Beta2 + h.OneMinusBeta2 * gradient * gradient;
            float denominator = MathF.Sqrt(v[i]) / h.BiasCorrection2Sqrt + h.Eps;
            p[i] += -h.StepSize * m[i] / denominator;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SgdRange<TS, TV>(in SgdStepParameters h, float* p, float* g, float* buffer, int n) where TS : ISimd<TV> where TV : struct
    {
        TV decay = TS.Splat(h.WeightDecay), momentum = TS.Splat(h.Momentum), undamped = TS.Splat(1 - h.Dampening);
        TV negativeRate = TS.Splat(-h.LearningRate);
        bool useMomentum = h.Momentum != 0;
        int i = 0;
        for (; i <= n - TS.Lanes; i += TS.Lanes)
        {
            TV param = TS.Load(p + i);
            TV gradient = h.WeightDecay == 0 ? TS.Load(g + i) : TS.MultiplyAdd(decay, param, TS.Load(g + i));
            if (useMomentum)
            {
                TV b = h.FirstStep ? gradient : TS.MultiplyAdd(undamped, gradient, TS.Multiply(momentum, TS.Load(buffer + i)));
                TS.Store(b, buffer + i);
                gradient = h.Nesterov ? TS.MultiplyAdd(momentum, b, gradient) : b;
            }
            TS.Store(TS.MultiplyAdd(negativeRate, gradient, param), p + i);
        }
        for (; i < n; i++)
        {
            float gradient = h.WeightDecay == 0 ? g[i] : MathF.FusedMultiplyAdd(h.WeightDecay, p[i], g[i]);
            if (useMomentum)
            {
                float b = h.FirstStep ? gradient : MathF.FusedMultiplyAdd(1 - h.Dampening, gradient, h.Momentum * buffer[i]);
                buffer[i] = b;
                gradient = h.Nesterov ? MathF.FusedMultiplyAdd(h.Momentum, b, gradient) : b;
            }
            p[i] = MathF.FusedMultiplyAdd(-h.LearningRate, gradient, p[i]);
        }
    }
}
