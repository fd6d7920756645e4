namespace SimilarFaces.Engine.Autograd;

/// <summary>
/// Reverse-mode differentiation over the graph that ops record while they run (define-by-run).
/// Backward: order the graph topologically from the output, seed its gradient with 1, run each node's
/// closure from the output back to the leaves, adding (+=) into gradients; then release the graph.
/// </summary>
public static class Tape
{
    [ThreadStatic] private static int _noGradDepth;
    [ThreadStatic] private static string? _runningOp;

    /// <summary>
    /// Test hook: called with the op name and every gradient its backward produces, before that gradient is
    /// accumulated; a test uses it to break one op's backward on purpose and show the gradient checks notice.
    /// </summary>
    internal static Action<string, Tensor>? GradientFault { get; set; }

    /// <summary>False inside a <see cref="NoGrad"/> scope: ops then record nothing.</summary>
    public static bool IsRecording => _noGradDepth == 0;

    /// <summary>Inference scope: ops inside record no graph and keep no tensors for backward.</summary>
    public static IDisposable NoGrad()
    {
        _noGradDepth++;
        return new NoGradScope();
    }

    private sealed class NoGradScope : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _noGradDepth--;
        }
    }

    /// <summary>
    /// Attaches <paramref name="backward"/> to <paramref name="output"/> when any input tracks gradients
    /// and recording is on. Returns the output for chaining.
    /// </summary>
    internal static Tensor Record(Tensor output, string op, Tensor[] inputs, Action<Tensor> backward)
    {
        if (!IsRecording) return output;
        foreach (var input in inputs)
        {
            if (!input.TracksGrad) continue;
            output.Node = new Node(op, inputs, backward);
            break;
        }
        return output;
    }

    /// <summary>True when the backward closure must produce a gradient for this input.</summary>
    internal static bool Needs(Tensor input) => input.TracksGrad;

    /// <summary>
    /// Adds a gradient into an input: a leaf keeps it in Grad (outliving every scope), a non-leaf
    /// collects it until its own node runs. Takes ownership of <paramref name="grad"/>.
    /// </summary>
    internal static void Accumulate(Tensor input, Tensor grad)
    {
        if (GradientFault != null && _runningOp != null) GradientFault(_runningOp, grad);
        if (input.Node == null && !input.RequiresGrad)
        {
            grad.Dispose();
            return;
        }
        if (input.Node == null)
        {
            if (input.Grad == null)
            {
                TensorScope.Current?.Unregister(grad);
                input.Grad = grad;
            }
            else
            {
                input.Backend.Axpy(1f, grad.Buffer, input.Grad.Buffer);
                grad.Dispose();
            }
            return;
        }
        if (input.PendingGrad == null) input.PendingGrad = grad;
        else
        {
            input.Backend.Axpy(1f, grad.Buffer, input.PendingGrad.Buffer);
            grad.Dispose();
        }
    }

    /// <summary>Backward from a scalar output, seeded with 1.</summary>
    internal static void Backward(Tensor output)
    {
        if (output.Length != 1)
            throw new InvalidOperationException($"Backward: the output must be a scalar, got shape {output.ShapeText}; pass a gradient for non-scalar outputs");
        Backward(output, Tensor.Full(output.Backend, 1f, output.Shape));
    }

    /// <summary>Backward from any output, seeded with <paramref name="gradOutput"/> (taken over and disposed).</summary>
    internal static void Backward(Tensor output, Tensor gradOutput)
    {
        if (!gradOutput.Shape.AsSpan().SequenceEqual(output.Shape))
            throw new ArgumentException($"Backward: gradient {gradOutput.ShapeText} does not match output {output.ShapeText}");
        if (output.Node == null)
        {
            if (output.RequiresGrad) Accumulate(output, gradOutput);
            else gradOutput.Dispose();
            return;
        }

        var order = TopologicalOrder(output);
        output.PendingGrad = gradOutput;
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var tensor = order[i];
            var grad = tensor.PendingGrad;
            if (grad == null) continue;
            tensor.PendingGrad = null;
            _runningOp = tensor.Node!.Op;
            try { tensor.Node.RunBackward(grad); }
            finally { _runningOp = null; }
            grad.Dispose();
        }
        foreach (var tensor in order)
        {
            tensor.Node!.Release();
            tensor.Node = null;
        }
    }

    /// <summary>Non-leaf tensors reachable from the output, every tensor after the inputs it was made from.</summary>
    private static List<Tensor> TopologicalOrder(Tensor output)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor Tensor, bool Expanded)>();
        stack.Push((output, false));
        while (stack.Count > 0)
        {
            var (tensor, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(tensor);
                continue;
            }
            if (tensor.Node == null || !visited.Add(tensor)) continue;
            stack.Push((tensor, true));
            foreach (var input in tensor.Node.Inputs)
                if (input.Node != null && !visited.Contains(input)) stack.Push((input, false));
        }
        return order;
    }
}
