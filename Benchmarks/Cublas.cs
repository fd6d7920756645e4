using System.Reflection;
using System.Runtime.InteropServices;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// A thin binding of cuBLAS's SGEMM on an ILGPU CUDA backend's buffers and stream, FP32 without tensor cores
/// (CUBLAS_DEFAULT_MATH: no TF32). ILGPU.Algorithms' CuBlas knows cuBLAS 10 to 12 only; this loads the library named
/// by <see cref="LibraryVariable"/> (run.sh points it at the cuBLAS of the machine's Python wheel), else
/// libcublas.so.13, libcublas.so.12 or libcublas.so from the library path.
/// </summary>
internal sealed class Cublas : IDisposable
{
    public const string LibraryVariable = "SIMILARFACES_CUBLAS";
    private const string Library = "cublas";
    private const int OpN = 0, OpT = 1, DefaultMath = 0;

    private readonly IlgpuBackend _backend;
    private IntPtr _handle;

    static Cublas() => NativeLibrary.SetDllImportResolver(typeof(Cublas).Assembly, Resolve);

    public Cublas(IlgpuBackend backend)
    {
        if (!backend.IsCuda) throw new ArgumentException($"cuBLAS needs a CUDA device, not {backend.Name}");
        _backend = backend;
        backend.BindToThread();
        Check(cublasCreate_v2(out _handle), "cublasCreate");
        Check(cublasSetMathMode(_handle, DefaultMath), "cublasSetMathMode");
        Check(cublasSetStream_v2(_handle, backend.CudaStream), "cublasSetStream");
    }

    /// <summary>The library's version, e.g. 130100 for 13.1.0.</summary>
    public int Version => Check(cublasGetVersion_v2(_handle, out int version), "cublasGetVersion") == 0 ? version : 0;

    /// <summary>
    /// C (m,n) = alpha·op(A)·op(B) + beta·C on row-major buffers, as <see cref="IBackend.Gemm"/> defines it. cuBLAS is
    /// column-major, where a row-major matrix reads as its transpose, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ.
    /// </summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c)
    {
        Check(cublasSgemm_v2(_handle, transB ? OpT : OpN, transA ? OpT : OpN, n, m, k, ref alpha,
            _backend.DevicePointer(b), transB ? k : n, _backend.DevicePointer(a), transA ? m : k, ref beta,
            _backend.DevicePointer(c), n), "cublasSgemm");
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        cublasDestroy_v2(_handle);
        _handle = IntPtr.Zero;
    }

    private static int Check(int status, string call) =>
        status == 0 ? 0 : throw new InvalidOperationException($"{call} failed with cuBLAS status {status}");

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library) return IntPtr.Zero;
        var configured = Environment.GetEnvironmentVariable(LibraryVariable);
        if (!string.IsNullOrEmpty(configured)) return NativeLibrary.Load(configured);
        foreach (var candidate in new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so" })
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        throw new DllNotFoundException($"cuBLAS not found: set {LibraryVariable} to the path of libcublas.so.13");
    }

    [DllImport(Library)] private static extern int cublasCreate_v2(out IntPtr handle);
    [DllImport(Library)] private static extern int cublasDestroy_v2(IntPtr handle);
    [DllImport(Library)] private static extern int cublasGetVersion_v2(IntPtr handle, out int version);
    [DllImport(Library)] private static extern int cublasSetMathMode(IntPtr handle, int mode);
    [DllImport(Library)] private static extern int cublasSetStream_v2(IntPtr handle, IntPtr stream);

    [DllImport(Library)]
    private static extern int cublasSgemm_v2(IntPtr handle, int transA, int transB, int m, int n, int k, ref float alpha,
        IntPtr a, int lda, IntPtr b, int ldb, ref float beta, IntPtr c, int ldc);
}
