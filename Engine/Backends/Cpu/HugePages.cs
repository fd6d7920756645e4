using System.Runtime.InteropServices;

namespace SimilarFaces.Engine.Backends.Cpu;

/// <summary>
/// Large buffers asked of Linux in 2 MiB pages (madvise MADV_HUGEPAGE, which transparent huge pages honour in their
/// common "madvise" setting). The first write to each fresh 4 KiB page is a fault, and on a virtual machine a fault
/// takes microseconds: a process's first batch, or a model it loads, touches hundreds of megabytes, and 2 MiB pages
/// take 512 times fewer faults. Only the buffer's whole 2 MiB blocks are advised; elsewhere, or where the kernel
/// declines, memory stays as it was.
/// </summary>
internal static unsafe partial class HugePages
{
    private const int MadviseHugePage = 14;
    private const long PageBytes = 2 << 20;

    /// <summary><paramref name="buffer"/>, its whole 2 MiB blocks advised (a large array the GC never moves).</summary>
    public static float[] Advise(float[] buffer)
    {
        long bytes = (long)buffer.Length * sizeof(float);
        if (!OperatingSystem.IsLinux() || bytes < 2 * PageBytes) return buffer;
        fixed (float* data = buffer)
        {
            nint start = ((nint)data + (nint)(PageBytes - 1)) & ~(nint)(PageBytes - 1);
            nint end = ((nint)data + (nint)bytes) & ~(nint)(PageBytes - 1);
            _ = madvise(start, end - start, MadviseHugePage);   // a refusal leaves 4 KiB pages: nothing to report
        }
        return buffer;
    }

    [LibraryImport("libc")]
    private static partial int madvise(nint address, nint length, int advice);
}
