namespace SimilarFaces.Engine.Optim;

/// <summary>Updates parameters from their gradients, one fused kernel per parameter tensor.</summary>
public abstract class Optimizer : IDisposable
{
    /// <summary>
    /// Takes the parameters to update under the names their state is known by (a module's
    /// <see cref="Nn.Module.NamedParameters"/>); each must require gradients, and names must differ.
    /// </summary>
    protected Optimizer(IEnumerable<(string Name, Tensor Tensor)> parameters)
    {
        var named = parameters.ToArray();
        Parameters = named.Select(p => p.Tensor).ToArray();
        ParameterNames = named.Select(p => p.Name).ToArray();
        foreach (var (name, p) in named)
            if (!p.RequiresGrad) throw new ArgumentException($"{GetType().Name}: parameter '{name}' {p.ShapeText} does not require gradients");
        var repeated = ParameterNames.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (repeated != null) throw new ArgumentException($"{GetType().Name}: two parameters are named '{repeated.Key}'");
    }

    /// <summary>Parameters without names, named by their position: "0", "1", ...</summary>
    protected static IEnumerable<(string Name, Tensor Tensor)> Numbered(IEnumerable<Tensor> parameters) =>
        parameters.Select((p, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), p));

    /// <summary>The tensors this optimizer updates.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>The name of each parameter, in the order of <see cref="Parameters"/>.</summary>
    public IReadOnlyList<string> ParameterNames { get; }

    /// <summary>Number of completed steps.</summary>
    public long Steps { get; protected set; }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public abstract void Step();

    /// <summary>Drops the gradient of every parameter, before the next backward pass.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Per-parameter state tensors as "{parameter name}.{state name}", e.g. "0.weight.exp_avg", for checkpoints.</summary>
    public abstract IEnumerable<(string Name, Tensor Tensor)> NamedState();

    /// <summary>Restores the step count (state tensors are restored in place through <see cref="NamedState"/>).</summary>
    public void RestoreSteps(long steps) => Steps = steps;

    /// <summary>Frees the state tensors.</summary>
    public abstract void Dispose();

    /// <summary>A persistent zero tensor shaped like a parameter (optimiser state lives across scopes).</summary>
    protected static Tensor StateLike(Tensor parameter) => Tensor.PersistentFull(parameter.Backend, 0f, parameter.Shape);
}
