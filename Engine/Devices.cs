using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Engine;

/// <summary>A device users can ask for by name; <paramref name="Problem"/> says why it cannot run, when it cannot.</summary>
public sealed record DeviceInfo(string Name, string Description, bool IsGpu, string? Problem = null)
{
    /// <summary>True when the device can run (no <see cref="Problem"/>).</summary>
    public bool IsUsable => Problem == null;
}

/// <summary>
/// Names and opens compute devices: "cpu" (managed SIMD, all cores), "ilgpu-cpu" (ILGPU's CPU
/// accelerator running the GPU kernels, for testing), "cuda:N", "opencl:N", and "auto" (the first GPU,
/// CUDA before OpenCL, else "cpu").
/// </summary>
public static class Devices
{
    /// <summary>Every device found, usable or not (see <see cref="DeviceInfo.Problem"/>).</summary>
    public static IReadOnlyList<DeviceInfo> Available()
    {
        using var cpu = new CpuBackend();
        var list = new List<DeviceInfo> { new("cpu", cpu.Description, false) };
        foreach (var d in IlgpuDevices.Discover())
            list.Add(new DeviceInfo(d.Name, d.Description, d.Name != IlgpuDevices.CpuName, d.Problem));
        return list;
    }

    /// <summary>What "auto" opens: the first usable GPU, else "cpu".</summary>
    public static string DefaultName => Available().FirstOrDefault(d => d.IsGpu && d.IsUsable)?.Name ?? "cpu";

    /// <summary>
    /// Opens a device by name ("cpu", "ilgpu-cpu", "cuda:0", "opencl:1" or "auto"); an unknown or unusable
    /// name is an <see cref="ArgumentException"/> that lists the devices present. Dispose the device when done.
    /// </summary>
    public static IBackend Open(string name)
    {
        var requested = name.Trim().ToLowerInvariant();
        if (requested == "auto")
            requested = DefaultName;
        if (requested == "cpu") return new CpuBackend();
        var found = Available();
        var device = found.FirstOrDefault(d => d.Name == requested);
        if (device is { Problem: { } problem })
            throw new ArgumentException($"device '{name}' cannot run the kernels: {problem}");
        if (device == null)
            throw new ArgumentException(
                $"device '{name}' is not available; available devices: {string.Join(", ", found.Where(d => d.IsUsable).Select(d => d.Name))} (or 'auto')");
        return IlgpuBackend.Open(requested);
    }
}
