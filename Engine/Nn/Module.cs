using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Nn;

/// <summary>
/// A layer or a network: named parameters (trained), named buffers (state such as BatchNorm's running
/// statistics), integer counters (num_batches_tracked) and named child modules. Names join with '.',
/// as PyTorch's state_dict keys do.
/// </summary>
public abstract class Module : IDisposable
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();

    /// <summary>True in training mode (the default); see <see cref="Train"/> and <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Applies the module to a batch.</summary>
    public abstract Tensor Forward(Tensor x);

    /// <summary>Adds a trained tensor under <paramref name="name"/>; it is marked <see cref="Tensor.RequiresGrad"/>.</summary>
    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        tensor.RequiresGrad = true;
        _parameters.Add((name, tensor));
        return tensor;
    }

    /// <summary>Adds a state tensor that is saved with the module but not trained.</summary>
    protected Tensor RegisterBuffer(string name, Tensor tensor)
    {
        _buffers.Add((name, tensor));
        return tensor;
    }

    /// <summary>Adds a child module; its names are prefixed with <paramref name="name"/> and a dot.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Every trained tensor of this module and those below it, under its state_dict name, e.g. "0.weight".</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters() => Walk(m => m._parameters);
    /// <summary>Every state tensor (not trained) of this module and those below it, under its state_dict name.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers() => Walk(m => m._buffers);
    /// <summary>This module and every module below it, depth first.</summary>
    public IEnumerable<Module> Modules()
    {
        yield return this;
        foreach (var (_, child) in _children)
            foreach (var module in child.Modules())
                yield return module;
    }

    /// <summary>Every trained tensor, in the order <see cref="NamedParameters"/> gives; what an optimizer takes.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    /// <summary>Integer state of this module (names relative to it); BatchNorm has num_batches_tracked.</summary>
    protected virtual IEnumerable<(string Name, long Value)> OwnCounters() => [];
    /// <summary>Restores one of this module's own counters; throws for a name it does not have.</summary>
    protected virtual void SetOwnCounter(string name, long value) =>
        throw new ArgumentException($"{GetType().Name} has no counter '{name}'");

    /// <summary>Every integer counter of this module and those below it, under its state_dict name.</summary>
    public IEnumerable<(string Name, long Value)> NamedCounters()
    {
        foreach (var c in OwnCounters()) yield return c;
        foreach (var (childName, child) in _children)
            foreach (var (name, value) in child.NamedCounters())
                yield return ($"{childName}.{name}", value);
    }

    /// <summary>Restores a counter by its state_dict name, e.g. "1.num_batches_tracked".</summary>
    public void SetCounter(string name, long value)
    {
        int dot = name.IndexOf('.');
        if (dot >= 0)
        {
            var prefix = name[..dot];
            foreach (var (childName, child) in _children)
                if (childName == prefix)
                {
                    child.SetCounter(name[(dot + 1)..], value);
                    return;
                }
        }
        SetOwnCounter(name, value);
    }

    /// <summary>The number of trained values.</summary>
    public long ParameterCount => NamedParameters().Sum(p => p.Tensor.Length);

    /// <summary>Training mode (batch statistics, dropout on) or eval mode, for this module and all below it.</summary>
    public void Train(bool training = true)
    {
        Training = training;
        foreach (var (_, child) in _children) child.Train(training);
    }

    /// <summary>Evaluation mode (running statistics, no dropout), for this module and all below it.</summary>
    public void Eval() => Train(false);

    /// <summary>Drops the gradient of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    private IEnumerable<(string, Tensor)> Walk(Func<Module, List<(string Name, Tensor Tensor)>> select)
    {
        foreach (var entry in select(this)) yield return entry;
        foreach (var (childName, child) in _children)
            foreach (var (name, tensor) in child.Walk(select))
                yield return ($"{childName}.{name}", tensor);
    }

    /// <summary>Frees every parameter, buffer and child module.</summary>
    public virtual void Dispose()
    {
        foreach (var (_, t) in _parameters) t.Dispose();
        foreach (var (_, t) in _buffers) t.Dispose();
        foreach (var (_, m) in _children) m.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// PyTorch's default init for Linear and Conv weights and biases: U(±1/√fan_in); without <paramref name="rng"/>,
    /// zeros, for a layer whose state is loaded next (drawing and copying 40 M values took the seed's load 0.9 s).
    /// </summary>
    protected static Tensor UniformParameter(IBackend backend, SeededRandom? rng, int fanIn, params int[] shape)
    {
        if (rng == null) return Tensor.PersistentFull(backend, 0f, shape);
        var values = new float[Tensor.Count(shape)];
        double bound = 1.0 / Math.Sqrt(fanIn);
        for (int i = 0; i < values.Length; i++) values[i] = rng.NextSymmetric(bound);
        return Tensor.Persistent(backend, values, shape);
    }
}
