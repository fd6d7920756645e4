using System.Globalization;
using NUnit.Framework;
using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>The cpu backend's large buffers are asked of Linux in 2 MiB pages (<see cref="HugePages"/>).</summary>
public sealed class HugePagesTests
{
    [Test]
    public unsafe void ALargeBufferIsAdvised()
    {
        Assume.That(OperatingSystem.IsLinux() && Directory.Exists("/sys/kernel/mm/transparent_hugepage"), "Linux with transparent huge pages");
        using var backend = new CpuBackend();
        using var buffer = (CpuBuffer)backend.Allocate(8 << 20);   // 32 MiB
        fixed (float* data = buffer.Storage)
            Assert.That(Flags((nint)(data + (4 << 20))), Does.Contain("hg"), "the mapping in the middle of the buffer");
    }

    // the VmFlags of the mapping that holds `address`, from /proc/self/smaps ("hg": MADV_HUGEPAGE)
    private static string[] Flags(nint address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong start)
                && ulong.TryParse(line.AsSpan(dash + 1, line.IndexOf(' ') - dash - 1), NumberStyles.HexNumber, null, out ulong end))
                inside = (ulong)address >= start && (ulong)address < end;
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        throw new InvalidOperationException($"no mapping in /proc/self/smaps holds 0x{address:x}");
    }
}
