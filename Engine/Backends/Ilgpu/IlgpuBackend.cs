using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

// ILGPU's CPU accelerator emits its kernel launchers into a dynamic assembly that must see the internal argument structs.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace SimilarFaces.Engine.Backends.Ilgpu;

/// <summary>
/// The ILGPU backend: one set of kernels compiled for CUDA (PTX), OpenCL or ILGPU's CPU accelerator. Kernels run
/// asynchronously on the accelerator's default stream, in launch order; <see cref="Download"/> and
/// <see cref="Synchronize"/> wait. Each kernel is compiled once per backend, on first use. Every launch validates its
/// buffers on the host first, because an out-of-bounds access kills the process on the CPU accelerator and loses the
/// context on CUDA.
/// </summary>
internal sealed partial class IlgpuBackend : IBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly BufferPool<MemoryBuffer1D<float, Stride1D.Dense>> _pool;
    private readonly Dictionary<IlgpuKernel, Delegate> _launchers = new();
    private bool _disposed;

    internal IlgpuBackend(string name, Context context, Accelerator accelerator)
    {
        Name = name;
        _context = context;
        _accelerator = accelerator;
        _pool = new BufferPool<MemoryBuffer1D<float, Stride1D.Dense>>(AllocateStorage, storage => storage.Dispose());
        Description = $"{accelerator.Name} ({accelerator.AcceleratorType}, {accelerator.NumMultiprocessors} multiprocessors, " +
                      $"warp {accelerator.WarpSize}, {accelerator.MaxNumThreadsPerGroup} threads per group" +
                      (accelerator.AcceleratorType == AcceleratorType.CPU ? ")" : $", {accelerator.MemorySize / (1 << 20)} MiB)");
    }

    /// <summary>Opens the device named as <see cref="IlgpuDevices.Discover"/> lists it ("cuda:0", "opencl:0", "ilgpu-cpu").</summary>
    /// <exception cref="ArgumentException">No such device; the message lists the available ones.</exception>
    /// <exception cref="NotSupportedException">The device exists but ILGPU cannot run kernels on it.</exception>
    public static IlgpuBackend Open(string name) => IlgpuDevices.Open(name);

    public string Name { get; }
    public string Description { get; }

    /// <summary>Every kernel this backend can launch, each generic kernel once per op type it is used with.</summary>
    internal static IReadOnlyList<IlgpuKernel> Kernels
    {
        get
        {
            RuntimeHelpers.RunClassConstructor(typeof(IlgpuBackend).TypeHandle);
            return IlgpuKernel.All;
        }
    }

    public PoolStatistics PoolStatistics => _pool.Statistics;

    public DeviceBuffer Allocate(long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        // Index1D launches and the kernels' int indexing cover at most int.MaxValue elements.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, int.MaxValue);
        return new IlgpuBuffer(this, length, _pool.Rent(length));
    }

    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationStart = 0)
    {
        var view = View(destination, destinationStart + source.Length);
        if (source.Length > 0) ((ArrayView1D<float, Stride1D.Dense>)view.SubView(destinationStart, source.Length)).CopyFromCPU(_accelerator.DefaultStream, source);
    }

    public void Download(DeviceBuffer source, Span<float> destination)
    {
        var view = Prefix(View(source, destination.Length), destination.Length);
        if (destination.Length > 0) ((ArrayView1D<float, Stride1D.Dense>)view).CopyToCPU(_accelerator.DefaultStream, destination);
    }

    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _accelerator.Synchronize();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _accelerator.Synchronize();
        _disposed = true;
        _pool.Clear();
        _accelerator.Dispose();
        _context.Dispose();
    }

    // ---- launching ------------------------------------------------------------------------------

    /// <summary>Launches one thread per index in [0, count).</summary>
    private void Launch<TArgs>(PointwiseKernel<TArgs> kernel, long count, in TArgs args) where TArgs : struct
    {
        if (count == 0) return;
        ((Action<Index1D, TArgs>)Launcher(kernel))(checked((int)count), args);
    }

    /// <summary>Launches <paramref name="groups"/> groups of <paramref name="groupSize"/> threads.</summary>
    private void Launch<TArgs>(GroupedKernel<TArgs> kernel, int groups, int groupSize, in TArgs args) where TArgs : struct
    {
        if (groups == 0) return;
        ((Action<KernelConfig, TArgs>)Launcher(kernel))(new KernelConfig(groups, groupSize), args);
    }

    private Delegate Launcher(IlgpuKernel kernel)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_launchers)
        {
            if (_launchers.TryGetValue(kernel, out var launcher)) return launcher;
            try
            {
                launcher = kernel.Load(_accelerator);
            }
            catch (Exception e)
            {
                // A failed compile leaves ILGPU's caches in a state that breaks later compiles.
                _context.ClearCache(ClearCacheMode.Everything);
                _accelerator.ClearCache(ClearCacheMode.Everything);
                throw new InvalidOperationException($"Kernel {kernel.Name} failed to compile for {Name}: {e.Message}", e);
            }
            _launchers.Add(kernel, launcher);
            return launcher;
        }
    }

    // ---- buffers ------------------------------------------------------------------------------------

    /// <summary>Device memory for the pool; when the device is full, the pool's idle buffers are freed and the allocation retried.</summary>
    private MemoryBuffer1D<float, Stride1D.Dense> AllocateStorage(long length)
    {
        try
        {
            return _accelerator.Allocate1D<float>(length);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            _pool.Clear();
            return _accelerator.Allocate1D<float>(length);
        }
    }

    /// <summary>The storage of <paramref name="buffer"/>, after checking it belongs to this backend and holds at least <paramref name="length"/> floats.</summary>
    private ArrayView<float> View(DeviceBuffer buffer, long length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer is not IlgpuBuffer own || own.Owner != this)
            throw new ArgumentException($"The buffer belongs to backend '{buffer.Backend.Name}', not '{Name}'.", nameof(buffer));
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        if (buffer.Length < length)
            throw new ArgumentException($"The buffer holds {buffer.Length} floats; the kernel needs {length}.", nameof(buffer));
        return own.Storage;
    }

    /// <summary>The first <paramref name="length"/> elements (ILGPU's SubView rejects offset 0 of an empty view).</summary>
    private static ArrayView<float> Prefix(ArrayView<float> view, long length) => length == view.Length ? view : view.SubView(0, length);

    /// <summary>A pooled scratch buffer. Returning it right after the launches that use it is safe: the stream runs them first.</summary>
    private IlgpuBuffer Scratch(long length) => (IlgpuBuffer)Allocate(length);

    private sealed class IlgpuBuffer : DeviceBuffer
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _memory;

        public IlgpuBuffer(IlgpuBackend owner, long length, MemoryBuffer1D<float, Stride1D.Dense> memory) : base(owner, length)
        {
            Owner = owner;
            _memory = memory;
            Storage = memory.View; // the pool hands out storage of exactly this length
        }

        public IlgpuBackend Owner { get; }
        public ArrayView<float> Storage { get; }

        protected override void Release()
        {
            if (Owner._disposed) _memory.Dispose();
            else Owner._pool.Return(Length, _memory);
        }
    }
}
