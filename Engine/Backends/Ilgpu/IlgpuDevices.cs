using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace SimilarFaces.Engine.Backends.Ilgpu;

/// <summary>A device the ILGPU backend can target. <see cref="Problem"/> says why it cannot run kernels, when it cannot.</summary>
internal sealed record IlgpuDeviceInfo(string Name, string Description, string? Problem = null)
{
    public bool IsUsable => Problem is null;

    public IlgpuBackend Open() => IlgpuBackend.Open(Name);
}

/// <summary>
/// Finds the devices ILGPU can drive, in order of preference: CUDA GPUs ("cuda:N"), OpenCL GPUs ("opencl:N"), then
/// ILGPU's CPU accelerator ("ilgpu-cpu"), which emulates GPU groups and shared memory with threads: far too slow for
/// training, exact enough to test the kernels where no GPU exists. Discovery never throws: a missing driver just
/// means no device of that kind.
/// </summary>
internal static class IlgpuDevices
{
    public const string CpuName = "ilgpu-cpu";
    private const string CudaPrefix = "cuda:";
    private const string OpenClPrefix = "opencl:";

    /// <summary>
    /// The emulated device: warps of 32 and 4 warps per group give the 128-thread groups the tiled kernels launch;
    /// one multiprocessor runs the groups one after another.
    /// </summary>
    private static CPUDevice CpuDevice => new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 4, numMultiprocessors: 1);

    public static IReadOnlyList<IlgpuDeviceInfo> Discover()
    {
        var found = new List<IlgpuDeviceInfo>();
        TryEnumerate(builder => builder.Cuda(), AcceleratorType.Cuda,
            (device, i) => found.Add(new IlgpuDeviceInfo(CudaPrefix + i, Describe(device))));
        TryEnumerate(builder => builder.OpenCL(IsGpu), AcceleratorType.OpenCL,
            (device, i) => found.Add(new IlgpuDeviceInfo(OpenClPrefix + i, Describe(device), OpenClProblem((CLDevice)device))));
        found.Add(new IlgpuDeviceInfo(CpuName, "ILGPU CPU accelerator (emulated GPU threads, for testing kernels)"));
        return found;
    }

    internal static IlgpuBackend Open(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var backend = name == CpuName ? TryOpen(name, builder => builder.CPU(CpuDevice), AcceleratorType.CPU, 0)
            : TryParseIndex(name, CudaPrefix, out int cuda) ? TryOpen(name, builder => builder.Cuda(), AcceleratorType.Cuda, cuda)
            : TryParseIndex(name, OpenClPrefix, out int openCl) ? TryOpen(name, builder => builder.OpenCL(IsGpu), AcceleratorType.OpenCL, openCl)
            : null;
        if (backend != null) return backend;
        var available = string.Join(", ", Discover().Where(d => d.IsUsable).Select(d => d.Name));
        throw new ArgumentException($"Unknown ILGPU device '{name}'. Available: {available}.", nameof(name));
    }

    private static Context CreateContext(Func<Context.Builder, Context.Builder> devices)
    {
        MapVersionedLibraries();
        return Context.Create(builder => devices(builder).EnableAlgorithms().Optimize(OptimizationLevel.O2));
    }

    /// <summary>Opens device <paramref name="index"/> of the given type; null when there is no such device.</summary>
    private static IlgpuBackend? TryOpen(string name, Func<Context.Builder, Context.Builder> devices, AcceleratorType type, int index)
    {
        Context context;
        try
        {
            context = CreateContext(devices);
        }
        catch (Exception)
        {
            return null; // no driver: the device does not exist
        }
        try
        {
            var found = Devices(context, type);
            if (index >= found.Count)
            {
                context.Dispose();
                return null;
            }
            var device = found[index];
            if (device is CLDevice openCl && OpenClProblem(openCl) is { } reason)
                throw new NotSupportedException($"Device '{name}' ({device.Name}) cannot run ILGPU kernels: {reason}.");
            return new IlgpuBackend(name, context, device.CreateAccelerator(context));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static void TryEnumerate(Func<Context.Builder, Context.Builder> devices, AcceleratorType type, Action<Device, int> add)
    {
        try
        {
            using var context = CreateContext(devices);
            var found = Devices(context, type);
            for (int i = 0; i < found.Count; i++) add(found[i], i);
        }
        catch (Exception)
        {
            // No driver, or a driver ILGPU cannot talk to: no devices of this kind.
        }
    }

    /// <summary>The context's devices of one type (ILGPU adds a CPU device to every context).</summary>
    private static List<Device> Devices(Context context, AcceleratorType type) =>
        context.Devices.Where(d => d.AcceleratorType == type).ToList();

    private static bool TryParseIndex(string name, string prefix, out int index)
    {
        index = -1;
        return name.StartsWith(prefix, StringComparison.Ordinal)
               && int.TryParse(name.AsSpan(prefix.Length), System.Globalization.NumberStyles.None, null, out index);
    }

    private static bool IsGpu(CLDevice device) => (device.DeviceType & CLDeviceType.CL_DEVICE_TYPE_GPU) != 0;

    /// <summary>ILGPU's OpenCL code needs OpenCL C 2.0 and the generic address space (OpenCL 3.0 makes it optional).</summary>
    private static string? OpenClProblem(CLDevice device) =>
        device.CVersion < CLCVersion.CL20 ? $"OpenCL C {device.CVersion}, ILGPU needs 2.0 or later"
        : !device.Capabilities.GenericAddressSpace ? "no generic address space support"
        : null;

    private static string Describe(Device device) =>
        $"{device.Name} ({device.NumMultiprocessors} multiprocessors, {device.MemorySize / (1 << 20)} MiB)";

    // ---- native libraries --------------------------------------------------------------------------

    private static int s_librariesMapped;

    /// <summary>
    /// ILGPU imports "opencl" and "cuda", which .NET probes on Linux as libopencl.so / libcuda.so. Drivers usually
    /// install only the versioned libOpenCL.so.1 / libcuda.so.1 (the bare names come with development packages), and
    /// without them enumeration silently finds nothing. Maps both names to whatever file exists. WSL is left alone:
    /// ILGPU installs its own resolver there.
    /// </summary>
    private static void MapVersionedLibraries()
    {
        if (Interlocked.Exchange(ref s_librariesMapped, 1) == 1 || !OperatingSystem.IsLinux() || IsWsl()) return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Another resolver is already installed for ILGPU; it wins.
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string[] candidates = libraryName.ToLowerInvariant() switch
        {
            "opencl" => ["libOpenCL.so", "libOpenCL.so.1"],
            "cuda" => ["libcuda.so", "libcuda.so.1"],
            _ => [],
        };
        foreach (var candidate in candidates)
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle)) return handle;
        return IntPtr.Zero;
    }

    private static bool IsWsl()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Contains("microsoft", StringComparison.OrdinalIgnoreCase);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
