using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// A float32 tensor of rank 1–4 (rank 0 for scalars), row-major and contiguous, owned by one backend.
/// A tensor made by an op while gradients are recorded remembers the <see cref="Node"/> that made it;
/// a leaf with <see cref="RequiresGrad"/> receives its gradient in <see cref="Grad"/>.
/// Storage returns to the backend's pool on <see cref="Dispose"/>; tensors created inside a
/// <see cref="TensorScope"/> are disposed with it.
/// </summary>
public sealed class Tensor : IDisposable
{
    private Storage? _storage;

    private Tensor(IBackend backend, int[] shape, Storage storage, bool scoped)
    {
        Backend = backend;
        Shape = shape;
        _storage = storage;
        if (scoped) TensorScope.Current?.Register(this);
    }

    /// <summary>A device buffer shared by a tensor and its reshaped views; freed with the last of them.</summary>
    private sealed class Storage(DeviceBuffer buffer)
    {
        private int _owners = 1;
        public DeviceBuffer Buffer { get; } = buffer;
        public void AddOwner() => _owners++;
        public void RemoveOwner()
        {
            if (--_owners == 0) Buffer.Dispose();
        }
    }

    /// <summary>The device that holds the values.</summary>
    public IBackend Backend { get; }
    /// <summary>The size of each dimension, outermost first.</summary>
    public int[] Shape { get; }
    /// <summary>The number of dimensions.</summary>
    public int Rank => Shape.Length;
    /// <summary>The number of elements.</summary>
    public long Length => Buffer.Length;

    /// <summary>The device storage; throws once the tensor is disposed.</summary>
    internal DeviceBuffer Buffer => _storage?.Buffer ?? throw Disposed();
    /// <summary>True once the tensor has been disposed (by itself or by its scope).</summary>
    public bool IsDisposed => _storage == null;

    /// <summary>Set on leaves (parameters, inputs under study) whose gradient is wanted.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The accumulated gradient of a leaf, null until a backward pass reaches it.</summary>
    public Tensor? Grad { get; internal set; }

    /// <summary>The op that made this tensor, while its graph is alive; null for leaves.</summary>
    internal Node? Node { get; set; }

    /// <summary>Gradient collected for a non-leaf during a backward pass.</summary>
    internal Tensor? PendingGrad { get; set; }

    /// <summary>True when gradients flow into or through this tensor.</summary>
    public bool TracksGrad => RequiresGrad || Node != null;

    /// <summary>The shape as text, e.g. "(64,1,100,100)", for messages.</summary>
    public string ShapeText => FormatShape(Shape);

    /// <summary>The size of one dimension; a negative axis counts from the end (-1 is the last).</summary>
    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    // ---- creation ---------------------------------------------------------------------------

    /// <summary>An uninitialised tensor (internal: kernels overwrite it).</summary>
    internal static Tensor Empty(IBackend backend, int[] shape, bool scoped = true)
    {
        ValidateShape(shape);
        return new Tensor(backend, shape, new Storage(backend.Allocate(Count(shape))), scoped);
    }

    /// <summary>An uninitialised tensor of the same backend, for an op's output.</summary>
    internal static Tensor Empty(Tensor like, params int[] shape) => Empty(like.Backend, shape);

    /// <summary>A tensor of zeros on <paramref name="backend"/>.</summary>
    public static Tensor Zeros(IBackend backend, params int[] shape) => Full(backend, 0f, shape);

    /// <summary>A tensor with every element set to <paramref name="value"/>.</summary>
    public static Tensor Full(IBackend backend, float value, params int[] shape)
    {
        var t = Empty(backend, shape);
        backend.Fill(t.Buffer, value);
        return t;
    }

    /// <summary>A tensor holding a copy of <paramref name="values"/> (row-major), as many as the shape has elements.</summary>
    public static Tensor FromArray(IBackend backend, ReadOnlySpan<float> values, params int[] shape)
    {
        ValidateShape(shape);
        if (values.Length != Count(shape))
            throw new ArgumentException($"FromArray: {values.Length} values do not fill shape {FormatShape(shape)} ({Count(shape)} elements)", nameof(values));
        var t = Empty(backend, shape);
        backend.Upload(values, t.Buffer);
        return t;
    }

    /// <summary>A tensor that outlives every scope (parameters, optimiser state).</summary>
    public static Tensor Persistent(IBackend backend, ReadOnlySpan<float> values, params int[] shape)
    {
        ValidateShape(shape);
        if (values.Length != Count(shape))
            throw new ArgumentException($"Persistent: {values.Length} values do not fill shape {FormatShape(shape)}", nameof(values));
        var t = new Tensor(backend, shape, new Storage(backend.Allocate(values.Length)), scoped: false);
        backend.Upload(values, t.Buffer);
        return t;
    }

    /// <summary>An unscoped tensor filled with a value.</summary>
    internal static Tensor PersistentFull(IBackend backend, float value, int[] shape)
    {
        ValidateShape(shape);
        var t = new Tensor(backend, shape, new Storage(backend.Allocate(Count(shape))), scoped: false);
        backend.Fill(t.Buffer, value);
        return t;
    }

    /// <summary>The same storage under another shape of equal element count (no copy, no graph).</summary>
    internal Tensor View(int[] shape)
    {
        ValidateShape(shape);
        var storage = _storage ?? throw Disposed();
        storage.AddOwner();
        return new Tensor(Backend, shape, storage, scoped: true);
    }

    // ---- host transfer ------------------------------------------------------------------------

    /// <summary>The values, copied to a new host array in row-major order.</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        Backend.Download(Buffer, result);
        return result;
    }

    /// <summary>Copies the values to a host span of exactly <see cref="Length"/> elements.</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"CopyTo: destination has {destination.Length} elements, tensor {ShapeText} has {Length}", nameof(destination));
        Backend.Download(Buffer, destination);
    }

    /// <summary>Overwrites the contents from host values (no graph).</summary>
    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != Length)
            throw new ArgumentException($"CopyFrom: {values.Length} values for tensor {ShapeText} of {Length} elements", nameof(values));
        Backend.Upload(values, Buffer);
    }

    /// <summary>Overwrites elements [<paramref name="start"/>, start + values.Length) from host values (no graph).</summary>
    internal void CopyFrom(ReadOnlySpan<float> values, long start)
    {
        if (start < 0 || start + values.Length > Length)
            throw new ArgumentException($"CopyFrom: {values.Length} values from element {start} do not fit tensor {ShapeText} of {Length} elements", nameof(values));
        Backend.Upload(values, Buffer, start);
    }

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item: tensor {ShapeText} has {Length} elements, not 1");
        Span<float> one = stackalloc float[1];
        Backend.Download(Buffer, one);
        return one[0];
    }

    // ---- autograd -------------------------------------------------------------------------

    /// <summary>Back-propagates from this scalar: every leaf with RequiresGrad gets d(this)/d(leaf) added to its Grad.</summary>
    public void Backward() => Tape.Backward(this);

    /// <summary>Back-propagates from a non-scalar output with the given gradient of the same shape (copied).</summary>
    public void Backward(Tensor gradOutput)
    {
        if (!gradOutput.Shape.AsSpan().SequenceEqual(Shape) || !ReferenceEquals(gradOutput.Backend, Backend))
            throw new ArgumentException($"Backward: gradient {gradOutput} does not match output {this}");
        var seed = Empty(Backend, Shape);
        Backend.Copy(gradOutput.Buffer, 0, seed.Buffer, 0, seed.Length);
        Tape.Backward(this, seed);
    }

    /// <summary>Drops the leaf's gradient (the next backward starts from zero).</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>Returns the storage to the device pool (once no view shares it) and drops the gradient.</summary>
    public void Dispose()
    {
        if (_storage == null) return;
        _storage.RemoveOwner();
        _storage = null;
        Node = null;
        PendingGrad?.Dispose();
        PendingGrad = null;
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>The shape and the device, e.g. "Tensor(2,3) on cpu".</summary>
    public override string ToString() => $"Tensor{ShapeText} on {Backend.Name}";

    // ---- shape helpers -----------------------------------------------------------------------

    /// <summary>The number of elements of a shape (1 for the scalar shape []).</summary>
    public static long Count(int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    /// <summary>A shape as text, e.g. "(2,3)".</summary>
    public static string FormatShape(int[] shape) => "(" + string.Join(",", shape) + ")";

    private static void ValidateShape(int[] shape)
    {
        if (shape.Length > 4) throw new ArgumentException($"tensors have rank 0–4, got shape {FormatShape(shape)}");
        foreach (var d in shape)
            if (d <= 0) throw new ArgumentException($"tensor dimensions must be positive, got shape {FormatShape(shape)}");
    }

    private ObjectDisposedException Disposed() => new(nameof(Tensor), $"tensor {ShapeText} was disposed");
}
