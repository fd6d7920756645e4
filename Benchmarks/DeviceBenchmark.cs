using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// Base of the benchmarks that run once per target (<see cref="Targets.Present"/>): opens the target's device,
/// makes the pre-allocated buffers the kernels read and write, and frees both after the case. Benchmarks call
/// the backend directly and end with Synchronize, so that an asynchronous device is timed to completion.
/// </summary>
public abstract class DeviceBenchmark : IDeclaresWork
{
    private readonly List<DeviceBuffer> _buffers = new();
    private readonly SeededRandom _random = new(1);

    [ParamsSource(typeof(Targets), nameof(Targets.Present))]
    public Target On { get; set; } = null!;

    protected Scale Scale => On.Scale;
    protected IBackend Backend { get; private set; } = null!;

    protected void OpenDevice() => Backend = Devices.Open(On.Device);

    /// <summary>A buffer of values uniform in [−bound, bound].</summary>
    private protected DeviceBuffer Random(long length, float bound = 1f)
    {
        var values = new float[length];
        for (long i = 0; i < length; i++) values[i] = _random.NextSymmetric(bound);
        var buffer = Track(Backend.Allocate(length));
        Backend.Upload(values, buffer);
        return buffer;
    }

    private protected DeviceBuffer Filled(long length, float value)
    {
        var buffer = Track(Backend.Allocate(length));
        Backend.Fill(buffer, value);
        return buffer;
    }

    /// <summary>A buffer the kernel overwrites.</summary>
    private protected DeviceBuffer Output(long length) => Filled(length, 0f);

    private DeviceBuffer Track(DeviceBuffer buffer)
    {
        _buffers.Add(buffer);
        return buffer;
    }

    [GlobalCleanup]
    public virtual void Release()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        _buffers.Clear();
        Backend.Dispose();
    }

    public abstract Work WorkOf(string benchmark);
}
