using NUnit.Framework;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// What only the ILGPU backend has: device discovery by name, and launches that check buffer lengths on the host,
/// because an out-of-bounds access kills the process on the CPU accelerator and loses the context on CUDA.
/// </summary>
[TestFixture]
public sealed class IlgpuBackendTests
{
    [Test]
    public void DiscoveryListsTheCpuAcceleratorAndOpenRejectsUnknownNames()
    {
        var devices = IlgpuDevices.Discover();
        Assert.That(devices.Select(d => d.Name), Does.Contain(IlgpuDevices.CpuName));
        Assert.That(devices.Select(d => d.Name), Is.Unique);
        var error = Assert.Throws<ArgumentException>(() => IlgpuBackend.Open("cuda:99"));
        Assert.That(error!.Message, Does.Contain(IlgpuDevices.CpuName), "the message lists the devices there are");
    }

    [Test]
    public void LaunchesRejectShortBuffersBeforeRunning()
    {
        var backend = TestDevices.Get(IlgpuDevices.CpuName);
        using var a = backend.Allocate(10);
        using var b = backend.Allocate(5);
        using var y = backend.Allocate(10);
        backend.Fill(a, 1f);
        backend.Fill(b, 1f);
        backend.Fill(y, 0f);
        Assert.Throws<ArgumentException>(() => backend.Binary(BinaryKind.Add, a, b, y));
        Assert.Throws<ArgumentException>(() => backend.Gemm(false, false, 3, 4, 5, 1f, a, b, 0f, y));
        var values = new float[10];
        backend.Download(y, values);
        Assert.That(values, Is.All.EqualTo(0f));
    }
}
