namespace SimilarFaces.Engine.Backends;

/// <summary>The element-wise combinations of <see cref="IBackend.Binary"/>: a + b, a − b, a · b.</summary>
internal enum BinaryKind { Add, Sub, Mul }

/// <summary>How <see cref="IBackend.Pad2dForward"/> fills the border: repeating the edge, or mirroring at it.</summary>
internal enum PadMode { Replication, Reflection }
