using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// A GPU's own peaks, the denominators of the "%" columns of its rows: FP32 FMA throughput (an ILGPU kernel of
/// independent FMA chains, <see cref="IlgpuBackend.FmaPeak"/>) and a device-to-device copy of 512 MiB, counting the
/// bytes read plus the bytes written.
/// </summary>
public class GpuPeakBenchmarks : IDeclaresWork
{
    private const int FmaIterations = 1 << 14;
    private const long CopyLength = 1L << 27;

    private IlgpuBackend _backend = null!;
    private DeviceBuffer _sink = null!, _source = null!, _destination = null!;

    [ParamsSource(typeof(Targets), nameof(Targets.Gpus))]
    public Target On { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        _backend = (IlgpuBackend)Devices.Open(On.Device);
        _sink = _backend.Allocate(_backend.FmaPeakThreads);
        _source = _backend.Allocate(CopyLength);
        _destination = _backend.Allocate(CopyLength);
        _backend.Fill(_source, 1f);
        _backend.Fill(_destination, 0f);
    }

    [Benchmark]
    public void FmaThroughput()
    {
        _backend.FmaPeak(_sink, FmaIterations);
        _backend.Synchronize();
    }

    [Benchmark]
    public void DeviceCopy()
    {
        _backend.Copy(_source, 0, _destination, 0, CopyLength);
        _backend.Synchronize();
    }

    [GlobalCleanup]
    public void Release()
    {
        _sink.Dispose();
        _source.Dispose();
        _destination.Dispose();
        _backend.Dispose();
    }

    /// <summary>The work needs the device's size, so it is declared for a device opened here once.</summary>
    public Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(FmaThroughput) => new Work(Flops: IlgpuBackend.FmaPeakFlops(ThreadsOf(On.Device), FmaIterations)),
        nameof(DeviceCopy) => new Work(Bytes: 2.0 * sizeof(float) * CopyLength),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };

    private static readonly Dictionary<string, int> Threads = new();

    private static int ThreadsOf(string device)
    {
        lock (Threads)
        {
            if (Threads.TryGetValue(device, out int threads)) return threads;
            using var backend = (IlgpuBackend)Devices.Open(device);
            return Threads[device] = backend.FmaPeakThreads;
        }
    }
}
