using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace SimilarFaces.Engine.Backends.Ilgpu;

/// <summary>
/// One kernel entry point of the ILGPU backend. Every kernel the backend launches is an instance of
/// <see cref="PointwiseKernel{TArgs}"/> or <see cref="GroupedKernel{TArgs}"/>, created once in a static field, and
/// registers itself here: <see cref="IlgpuBackend.Kernels"/> is therefore the complete list (offline compile tests
/// walk it). Each kernel takes a single argument struct, so no kernel comes near ILGPU's parameter limit.
/// </summary>
internal abstract class IlgpuKernel
{
    private static readonly List<IlgpuKernel> Registered = [];

    protected IlgpuKernel(MethodInfo method, bool explicitlyGrouped)
    {
        Method = method;
        ExplicitlyGrouped = explicitlyGrouped;
        lock (Registered) Registered.Add(this);
    }

    /// <summary>The kernel method, closed over its op types when generic.</summary>
    public MethodInfo Method { get; }

    /// <summary>True for kernels launched with an explicit group size (shared memory, barriers).</summary>
    public bool ExplicitlyGrouped { get; }

    public string Name => Method.IsGenericMethod
        ? $"{Method.Name}<{string.Join(",", Method.GetGenericArguments().Select(ShortName))}>"
        : Method.Name;

    /// <summary>Compiles the kernel for <paramref name="accelerator"/> and returns its launcher on the default stream.</summary>
    public abstract Delegate Load(Accelerator accelerator);

    public override string ToString() => Name;

    internal static IReadOnlyList<IlgpuKernel> All
    {
        get { lock (Registered) return Registered.ToArray(); }
    }

    private static string ShortName(Type type) => type.IsGenericType
        ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(",", type.GetGenericArguments().Select(ShortName))}>"
        : type.Name;
}

/// <summary>Implicitly grouped: one thread per index, launched with the index count.</summary>
internal sealed class PointwiseKernel<TArgs>(Action<Index1D, TArgs> kernel) : IlgpuKernel(kernel.Method, false)
    where TArgs : struct
{
    public override Delegate Load(Accelerator accelerator) => accelerator.LoadAutoGroupedStreamKernel(kernel);
}

/// <summary>Explicitly grouped: launched as a grid of groups of a fixed size; may use shared memory and barriers.</summary>
internal sealed class GroupedKernel<TArgs>(Action<TArgs> kernel) : IlgpuKernel(kernel.Method, true)
    where TArgs : struct
{
    public override Delegate Load(Accelerator accelerator) => accelerator.LoadStreamKernel(kernel);
}
