namespace SimilarFaces.Engine.Autograd;

/// <summary>
/// One recorded op: the inputs it read and the closure that turns the gradient of its output into
/// gradients of those inputs (written right after the forward, in the op's own file).
/// </summary>
internal sealed class Node(string op, Tensor[] inputs, Action<Tensor> backward)
{
    public string Op { get; } = op;
    public Tensor[] Inputs { get; private set; } = inputs;
    private Action<Tensor>? _backward = backward;

    public void RunBackward(Tensor gradOutput)
    {
        var backward = _backward ?? throw new InvalidOperationException(
            $"{Op}: its graph was already released by an earlier Backward(); run the forward pass again");
        backward(gradOutput);
    }

    /// <summary>Forgets the inputs and the closure so the tensors it saved can be freed.</summary>
    public void Release()
    {
        _backward = null;
        Inputs = [];
    }
}
