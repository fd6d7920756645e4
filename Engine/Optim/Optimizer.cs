namespace SimilarFaces.Engine.Optim;

/// <summary>Updates parameters from their gradients, one fused kernel per parameter tensor.</summary>
public abstract class Optimizer : IDisposable
{
    /// <summary>Takes the parameters to update; each must require gradients.</summary>
    protected Optimizer(IEnumerable<Tensor> parameters)
    {
        Parameters = parameters.ToArray();
        foreach (var p in Parameters)
            if (!p.RequiresGrad) throw new ArgumentException($"{GetType().Name}: parameter {p.ShapeText} does not require gradients");
    }

    /// <summary>The tensors this optimizer updates.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Number of completed steps.</summary>
    public long Steps { get; protected set; }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public abstract void Step();

    /// <summary>Drops the gradient of every parameter, before the next backward pass.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Per-parameter state tensors by name ("{index}.{name}"), for checkpoints.</summary>
    public abstract IEnumerable<(string Name, Tensor Tensor)> NamedState();

    /// <summary>Restores the step count (state tensors are restored in place through <see cref="NamedState"/>).</summary>
    public void RestoreSteps(long steps) => Steps = steps;

    /// <summary>Frees the state tensors.</summary>
    public abstract void Dispose();

    /// <summary>A persistent zero tensor shaped like a parameter (optimiser state lives across scopes).</summary>
    protected static Tensor StateLike(Tensor parameter) => Tensor.PersistentFull(parameter.Backend, 0f, parameter.Shape);
}
