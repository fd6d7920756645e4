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
