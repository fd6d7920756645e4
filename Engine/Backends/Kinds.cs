namespace SimilarFaces.Engine.Backends;

/// <summary>The element-wise maps of <see cref="IBackend.Unary"/>, with the derivative <see cref="IBackend.UnaryBackward"/> applies.</summary>
internal enum UnaryKind
{
    /// <summary>max(x, 0); derivative 0 where x ≤ 0 (so 0 at 0); NaN stays NaN and passes its gradient (as PyTorch).</summary>
    Relu,
    /// <summary>x².</summary>
    Square,
    /// <summary>√x; derivative 1/(2y).</summary>
    Sqrt,
    /// <summary>max(x, scalar); derivative 1 where x ≥ scalar; NaN stays NaN with gradient 0 (as PyTorch's clamp).</summary>
    ClampMin,
    /// <summary>x + scalar.</summary>
    AddScalar,
    /// <summary>x · scalar.</summary>
    MulScalar,
}

/// <summary>The element-wise combinations of <see cref="IBackend.Binary"/>: a + b, a − b, a · b.</summary>
internal enum BinaryKind { Add, Sub, Mul }

/// <summary>How <see cref="IBackend.Pad2dForward"/> fills the border: repeating the edge, or mirroring at it.</summary>
internal enum PadMode { Replication, Reflection }
