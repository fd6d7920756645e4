namespace SimilarFaces.Engine.Backends;

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

/// <summary>What a pool has done: storage created and reused, bytes created, buffers rented and not yet returned.</summary>
internal readonly record struct PoolStatistics(long Allocations, long Reuses, long BytesAllocated, long BuffersLive);
