namespace SimilarFaces.Engine.Autograd;

/// <summary>
/// Deterministic release of device memory: every tensor created while the scope is the innermost
/// one is disposed with it (its storage returns to the backend's pool). Leaf gradients and
/// persistent tensors (parameters, optimiser state) are not scoped.
/// <code>using (new TensorScope()) { var loss = ...; loss.Backward(); optimizer.Step(); }</code>
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;

    private readonly TensorScope? _outer;
    private readonly List<Tensor> _tensors = new();
    private bool _disposed;

    /// <summary>Makes this the innermost scope of the current thread.</summary>
    public TensorScope()
    {
        _outer = _current;
        _current = this;
    }

    internal static TensorScope? Current => _current;

    internal void Register(Tensor tensor) => _tensors.Add(tensor);

    internal void Unregister(Tensor tensor)
    {
        int i = _tensors.LastIndexOf(tensor);
        if (i >= 0) _tensors.RemoveAt(i);
    }

    /// <summary>Disposes every tensor made in the scope; scopes must end in reverse order of creation.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_current != this)
            throw new InvalidOperationException("TensorScope: scopes must be disposed in reverse order of creation");
        _current = _outer;
        foreach (var tensor in _tensors) tensor.Dispose();
        _tensors.Clear();
    }
}
