using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Optim;

/// <summary>
/// Stochastic gradient descent with PyTorch's semantics:
///   g = ∇ + λ·θ;  b = g on the first step, else μ·b + (1−τ)·g;  g = nesterov ? g + μ·b : b;  θ = θ − lr·g
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor[] _momentum;

    /// <summary>SGD over parameters named by position ("0", "1", ...); see the constructor that takes names.</summary>
    public Sgd(IEnumerable<Tensor> parameters, float learningRate, float momentum = 0f, float dampening = 0f,
        float weightDecay = 0f, bool nesterov = false) : this(Numbered(parameters), learningRate, momentum, dampening, weightDecay, nesterov)
    {
    }

    /// <summary>
    /// SGD over named <paramref name="parameters"/> (e.g. a module's <see cref="Nn.Module.NamedParameters"/>) with
    /// PyTorch's options; <paramref name="weightDecay"/> is L2 added to the gradient.
    /// </summary>
    public Sgd(IEnumerable<(string Name, Tensor Tensor)> parameters, float learningRate, float momentum = 0f,
        float dampening = 0f, float weightDecay = 0f, bool nesterov = false) : base(parameters)
    {
        if (!(learningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "SGD: learning rate must be ≥ 0");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException("SGD: Nesterov momentum needs momentum > 0 and dampening 0");
        LearningRate = learningRate;
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        _momentum = Parameters.Select(StateLike).ToArray();
    }

    /// <summary>Step size; may change between steps (schedules).</summary>
    public float LearningRate { get; set; }
    /// <summary>Momentum factor (0: plain SGD).</summary>
    public float Momentum { get; }
    /// <summary>Dampening of the gradient in the momentum update.</summary>
    public float Dampening { get; }
    /// <summary>L2 coefficient added to the gradient.</summary>
    public float WeightDecay { get; }
    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public override void Step()
    {
        var h = new SgdStepParameters(LearningRate, Momentum, Dampening, WeightDecay, Nesterov, FirstStep: Steps == 0);
        Steps++;
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad == null) continue;
            p.Backend.SgdStep(p.Buffer, p.Grad.Buffer, _momentum[i].Buffer, h);
        }
    }

    /// <summary>The momentum buffer of each parameter, as "{parameter name}.momentum_buffer".</summary>
    public override IEnumerable<(string Name, Tensor Tensor)> NamedState()
    {
        for (int i = 0; i < Parameters.Count; i++) yield return ($"{ParameterNames[i]}.momentum_buffer", _momentum[i]);
    }

    /// <summary>Frees the momentum buffers.</summary>
    public override void Dispose()
    {
        foreach (var t in _momentum) t.Dispose();
    }
}
