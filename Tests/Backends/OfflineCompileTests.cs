using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using NUnit.Framework;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Compiles every kernel of the ILGPU backend to PTX (sm_90) and to OpenCL C 2.0 without any GPU, which catches
/// what the GPU back ends reject but the CPU accelerator accepts (unsupported intrinsics, 64-bit floats, ...).
/// </summary>
[TestFixture]
public sealed class OfflineCompileTests
{
    private Context _context = null!;
    private Backend _ptx = null!;
    private Backend _openCl = null!;

    public static IEnumerable<TestCaseData> Cases() =>
        from kernel in IlgpuBackend.Kernels
        from target in new[] { "PTX", "OpenCL" }
        select new TestCaseData(kernel.Name, target).SetName($"Compiles {kernel.Name} to {target}");

    [OneTimeSetUp]
    public void CreateBackends()
    {
        _context = Context.Create(builder => builder.EnableAlgorithms().Optimize(OptimizationLevel.O2));
        _ptx = new PTXBackend(_context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90,
            CudaInstructionSet.ISA_80, null);
        // Without 64-bit floats a stray double in a kernel fails here instead of running slowly, or not at all, on GPUs.
        _openCl = new CLBackend(_context, new CLCapabilityContext(float16: false, float64: false,
            genericAddressSpace: true, int64_Atomics: false, subGroups: false), CLDeviceVendor.Other, CLCVersion.CL20);
    }

    [OneTimeTearDown]
    public void DisposeBackends()
    {
        _ptx.Dispose();
        _openCl.Dispose();
        _context.Dispose();
    }

    [TestCaseSource(nameof(Cases))]
    public void Compiles(string kernelName, string target)
    {
        var kernel = IlgpuBackend.Kernels.Single(k => k.Name == kernelName);
        var entry = kernel.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
        var backend = target == "PTX" ? _ptx : _openCl;
        CompiledKernel compiled;
        try
        {
            compiled = backend.Compile(entry, default);
        }
        catch
        {
            // One failed compile breaks the following ones in the same context until the caches are cleared.
            _context.ClearCache(ClearCacheMode.Everything);
            backend.ClearCache(ClearCacheMode.Everything);
            throw;
        }

        if (compiled is PTXCompiledKernel ptx)
        {
            Assert.That(ptx.PTXAssembly, Does.Contain(".entry"));
            // An external function is an intrinsic ILGPU could not implement: the module would fail to load on a GPU.
            Assert.That(ptx.PTXAssembly, Does.Not.Contain(".extern"), "kernel calls a function with no PTX implementation");
            // Registers only: a spill or a local array would show as local memory.
            Assert.That(ptx.PTXAssembly, Does.Not.Contain(".local"), "kernel uses local memory");
            Assert.That(ptx.PTXAssembly, Does.Not.Contain(".f64"), "kernel computes in double precision");
        }
        else
        {
            Assert.That(((CLCompiledKernel)compiled).Source, Does.Contain("kernel void"));
        }
    }

    [Test]
    public void EveryKernelMethodIsRegistered()
    {
        var registered = IlgpuBackend.Kernels
            .Select(k => k.Method.IsGenericMethod ? k.Method.GetGenericMethodDefinition() : k.Method)
            .ToHashSet();
        var kernelMethods = typeof(IlgpuBackend)
            .GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(m => m.Name.EndsWith("Kernel", StringComparison.Ordinal) && m.ReturnType == typeof(void));
        Assert.That(kernelMethods, Is.SubsetOf(registered));
        Assert.That(IlgpuBackend.Kernels.Select(k => k.Name), Is.Unique);
    }
}
