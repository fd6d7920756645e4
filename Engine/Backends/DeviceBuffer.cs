namespace SimilarFaces.Engine.Backends;

/// <summary>
/// A flat float32 allocation on one backend. Disposing it returns its storage to the backend's
/// pool, so a training step that repeats the same shapes stops allocating after warm-up.
/// </summary>
internal abstract class DeviceBuffer : IDisposable
{
    protected DeviceBuffer(IBackend backend, long length)
    {
        Backend = backend;
        Length = length;
    }

    public IBackend Backend { get; }
    public long Length { get; }
    public bool IsDisposed { get; private set; }

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Release();
    }

    /// <summary>Hands the storage back to the pool; called once.</summary>
    protected abstract void Release();
}

/// <summary>
/// Keeps released storage by exact length and hands it out again. Thread-safe.
/// </summary>
internal sealed class BufferPool<TStorage> where TStorage : class
{
    private readonly Dictionary<long, Stack<TStorage>> _free = new();
    private readonly Func<long, TStorage> _create;
    private readonly Action<TStorage>? _destroy;
    private long _allocations, _reuses, _bytes, _live;

    public BufferPool(Func<long, TStorage> create, Action<TStorage>? destroy = null)
    {
        _create = create;
        _destroy = destroy;
    }

    public TStorage Rent(long length)
    {
        lock (_free)
        {
            _live++;
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                _reuses++;
                return stack.Pop();
            }
            _allocations++;
            _bytes += length * sizeof(float);
        }
        return _create(length);
    }

    public void Return(long length, TStorage storage)
    {
        lock (_free)
        {
            _live--;
            if (!_free.TryGetValue(length, out var stack)) _free[length] = stack = new Stack<TStorage>();
            stack.Push(storage);
        }
    }

    public PoolStatistics Statistics
    {
        get { lock (_free) return new PoolStatistics(_allocations, _reuses, _bytes, _live); }
    }

    /// <summary>Frees every pooled (not rented) storage.</summary>
    public void Clear()
    {
        lock (_free)
        {
            if (_destroy != null)
                foreach (var stack in _free.Values)
                    foreach (var s in stack) _destroy(s);
            _free.Clear();
        }
    }
}

/// <summary>
/// The counter-based random numbers behind dropout: the same (seed, index) gives the same value on
/// every backend, so masks agree across devices and runs. SplitMix64 finaliser of seed ⊕ index·golden.
/// </summary>
internal static class DropoutHash
{
    public static float Uniform(ulong seed, long index)
    {
        ulong z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z >> 40) * (1.0f / (1 << 24));
    }
}
