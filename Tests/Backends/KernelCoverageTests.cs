using System.Reflection;
using NUnit.Framework;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// No kernel of the seam escapes its check: every method of <see cref="IBackend"/> is called by
/// <see cref="KernelChecks"/> or <see cref="KernelTests"/>, which hold each device to the plain references of
/// <see cref="ReferenceKernels"/>. A new kernel without a check fails here. The calls are read from the compiled
/// tests (their IL, lambdas and local functions included), so a check that only mentions a kernel in a comment does
/// not count.
/// </summary>
internal sealed class KernelCoverageTests
{
    /// <summary>Members of the seam that compute nothing to compare, and why.</summary>
    private static readonly Dictionary<string, string> WithoutCheck = new()
    {
        [nameof(IBackend.Synchronize)] = "waits for launched kernels; every check's download waits too",
        [nameof(IDisposable.Dispose)] = "frees the device",
    };

    [Test]
    public void EveryKernelIsCalledByTheKernelChecks()
    {
        var called = CalledMethods(typeof(KernelChecks), typeof(KernelTests)).Where(m => m.DeclaringType == typeof(IBackend))
            .Select(m => m.Name).ToHashSet();
        var seam = typeof(IBackend).GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(m => !m.IsSpecialName).Select(m => m.Name).Distinct();
        Assert.That(seam.Where(name => !called.Contains(name) && !WithoutCheck.ContainsKey(name)), Is.Empty,
            "kernels of IBackend that no kernel check calls");
        Assert.That(called, Is.Not.Empty, "the IL reader found no call at all");
    }

    /// <summary>Every method called (call, callvirt, newobj, ldftn) by the methods of the types, their nested types included.</summary>
    private static IEnumerable<MethodBase> CalledMethods(params Type[] types)
    {
        const BindingFlags all = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var withNested = types.SelectMany(t => t.GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public).Prepend(t));
        foreach (var type in withNested)
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                var il = method.GetMethodBody()?.GetILAsByteArray();
                if (il == null) continue;
                // a call's operand is a 4-byte method token after the opcode; a false match resolves to nothing and is skipped
                for (int i = 0; i + 4 < il.Length; i++)
                {
                    bool call = il[i] is 0x28 or 0x6F or 0x73 || (il[i] == 0xFE && il[i + 1] == 0x06);
                    if (!call) continue;
                    int at = il[i] == 0xFE ? i + 2 : i + 1;
                    if (at + 4 > il.Length) continue;
                    int token = BitConverter.ToInt32(il, at);
                    MethodBase? target = null;
                    try
                    {
                        target = method.Module.ResolveMethod(token, type.IsGenericType ? type.GetGenericArguments() : null,
                            method.IsGenericMethod ? method.GetGenericArguments() : null);
                    }
                    catch (Exception e) when (e is ArgumentException or BadImageFormatException or MissingMethodException) { }
                    if (target != null) yield return target;
                }
            }
    }
}
