using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace SimilarFaces.Engine.Backends.Ilgpu;

/// <summary>What a vendor library (cuBLAS, for the benchmarks) needs to work on this backend's buffers.</summary>
internal sealed partial class IlgpuBackend
{
    internal bool IsCuda => _accelerator.AcceleratorType == AcceleratorType.Cuda;

    /// <summary>Makes the device's context current on the calling thread (CUDA libraries use the current context).</summary>
    internal void BindToThread() => _accelerator.Bind();

    /// <summary>The CUDA stream kernels run on.</summary>
    internal IntPtr CudaStream => ((CudaStream)_accelerator.DefaultStream).StreamPtr;

    /// <summary>The device address of the first element of <paramref name="buffer"/>.</summary>
    internal IntPtr DevicePointer(DeviceBuffer buffer) => View(buffer, buffer.Length).LoadEffectiveAddressAsPtr();
}
