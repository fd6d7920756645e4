using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Optim;

/// <summary>
/// Adam (Kingma &amp; Ba) with PyTorch's semantics, t counted from 1:
///   g = ∇ + λ·θ;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
///   θ = θ − (lr/(1−β1^t)) · m / (√v/√(1−β2^t) + eps)
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly Tensor[] _m, _v;

    /// <summary>PyTorch's default β1.</summary>
    public const float DefaultBeta1 = 0.9f;
    /// <summary>PyTorch's default β2.</summary>
    public const float DefaultBeta2 = 0.999f;
    /// <summary>PyTorch's default eps.</summary>
    public const float DefaultEps = 1e-8f;

    /// <summary>Adam over parameters named by position ("0", "1", ...); see the constructor that takes names.</summary>
    public Adam(IEnumerable<Tensor> parameters, float learningRate = 1e-3f, float beta1 = DefaultBeta1, float beta2 = DefaultBeta2,
        float eps = DefaultEps, float weightDecay = 0f) : this(Numbered(parameters), learningRate, beta1, beta2, eps, weightDecay)
    {
    }

    /// <summary>
    /// Adam over named <paramref name="parameters"/> (e.g. a module's <see cref="Nn.Module.NamedParameters"/>) with
    /// PyTorch's defaults; <paramref name="weightDecay"/> is L2 added to the gradient.
    /// </summary>
    public Adam(IEnumerable<(string Name, Tensor Tensor)> parameters, float learningRate = 1e-3f, float beta1 = DefaultBeta1,
        float beta2 = DefaultBeta2, float eps = DefaultEps, float weightDecay = 0f) : base(parameters)
    {
        if (!(learningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "Adam: learning rate must be ≥ 0");
        if (!(beta1 is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "Adam: beta1 must be in [0, 1)");
        if (!(beta2 is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "Adam: beta2 must be in [0, 1)");
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _m = Parameters.Select(StateLike).ToArray();
        _v = Parameters.Select(StateLike).ToArray();
    }

    /// <summary>Step size; may change between steps (schedules).</summary>
    public float LearningRate { get; set; }
    /// <summary>Decay of the gradient's running mean.</summary>
    public float Beta1 { get; }
    /// <summary>Decay of the squared gradient's running mean.</summary>
    public float Beta2 { get; }
    /// <summary>Added to the denominator.</summary>
    public float Eps { get; }
    /// <summary>L2 coefficient added to the gradient.</summary>
    public float WeightDecay { get; }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public override void Step()
    {
        Steps++;
        var h = StepParameters(LearningRate, Beta1, Beta2, Eps, WeightDecay, Steps);
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad == null) continue;
            p.Backend.AdamStep(p.Buffer, p.Grad.Buffer, _m[i].Buffer, _v[i].Buffer, h);
        }
    }

    /// <summary>What the kernel needs for step <paramref name="step"/> (counted from 1): the settings and the bias corrections.</summary>
    internal static AdamStepParameters StepParameters(float learningRate, float beta1, float beta2, float eps, float weightDecay, long step) =>
        new(learningRate, beta1, beta2, eps, weightDecay, 1f - MathF.Pow(beta1, step), 1f - MathF.Pow(beta2, step));

    /// <summary>exp_avg and exp_avg_sq of each parameter, as "{parameter name}.exp_avg" and "{parameter name}.exp_avg_sq".</summary>
    public override IEnumerable<(string Name, Tensor Tensor)> NamedState()
    {
        for (int i = 0; i < Parameters.Count; i++)
        {
            yield return ($"{ParameterNames[i]}.exp_avg", _m[i]);
            yield return ($"{ParameterNames[i]}.exp_avg_sq", _v[i]);
        }
    }

    /// <summary>Frees the moment tensors.</summary>
    public override void Dispose()
    {
        foreach (var t in _m) t.Dispose();
        foreach (var t in _v) t.Dispose();
    }
}
