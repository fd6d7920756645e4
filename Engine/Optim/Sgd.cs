using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Optim;

/// <summary>
/// Stochastic gradient descent with PyTorch's semantics:
///   g = ∇ + λ·θ;  b = g on the first step, else μ·b + (1−τ)·g;  g = nesterov ? g + μ·b : b;  θ = θ − lr·g
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor[] _momentum;

    public Sgd(IEnumerable<Tensor> parameters, float learningRate, float momentum = 0f, float dampening = 0f,
        float weightDecay = 0f, bool nesterov = false) : base(parameters)
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

    public float LearningRate { get; set; }
    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

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

    public override IEnumerable<(string Name, Tensor Tensor)> NamedState()
    {
        for (int i = 0; i < Parameters.Count; i++) yield return ($"{i}.momentum_buffer", _momentum[i]);
    }

    public override void Dispose()
    {
        foreach (var t in _momentum) t.Dispose();
    }
}
