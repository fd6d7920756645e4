using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Tests;

/// <summary>
/// The devices every per-device test runs on. Each is a fixture argument; a device that this machine
/// does not have makes its fixture report "ignored" with the reason, so the output says which devices
/// ran. Backends are opened once per test run and shared; the cpu backend fills every buffer it hands out with
/// NaN, so a kernel that reads a scratch buffer before writing it fails.
/// </summary>
public static class TestDevices
{
    public static readonly string[] Names = ["cpu", "ilgpu-cpu", "cuda:0", "opencl:0"];

    private static readonly Dictionary<string, IBackend> Open = new();
    private static readonly Lazy<IReadOnlyList<DeviceInfo>> Present = new(Devices.Available);

    public static IEnumerable<TestFixtureData> Fixtures => Names.Select(n => new TestFixtureData(n).SetArgDisplayNames(n));

    public static IEnumerable<string> All => Names;

    /// <summary>The shared backend for a device, or Assert.Ignore with the reason when it is absent.</summary>
    public static IBackend Get(string name)
    {
        lock (Open)
        {
            if (Open.TryGetValue(name, out var backend)) return backend;
            var info = Present.Value.FirstOrDefault(d => d.Name == name);
            if (info == null)
                Assert.Ignore($"device {name} is not present on this machine (found: {string.Join(", ", Present.Value.Select(d => d.Name))})");
            if (info.Problem != null) Assert.Ignore($"device {name} cannot run the kernels: {info.Problem}");
            backend = name == "cpu" ? new CpuBackend { PoisonAllocations = true } : Devices.Open(name);
            TestContext.Progress.WriteLine($"[devices] running on {name}: {backend.Description}");
            Open[name] = backend;
            return backend;
        }
    }

    public static void DisposeAll()
    {
        lock (Open)
        {
            foreach (var backend in Open.Values) backend.Dispose();
            Open.Clear();
        }
    }
}

[SetUpFixture]
public sealed class TestRun
{
    [OneTimeSetUp]
    public void ReportDevices()
    {
        var present = Devices.Available();
        foreach (var name in TestDevices.Names)
        {
            var info = present.FirstOrDefault(d => d.Name == name);
            TestContext.Progress.WriteLine(info == null ? $"[devices] {name}: skipped, not present on this machine"
                : info.Problem != null ? $"[devices] {name}: skipped, {info.Problem}"
                : $"[devices] {name}: runs ({info.Description})");
        }
    }

    [OneTimeTearDown]
    public void Release() => TestDevices.DisposeAll();
}

/// <summary>Base of the tests written once and run on every device.</summary>
public abstract class DeviceTest(string device)
{
    protected string DeviceName { get; } = device;
    protected IBackend Backend { get; private set; } = null!;

    [OneTimeSetUp]
    public void OpenDevice() => Backend = TestDevices.Get(DeviceName);
}
