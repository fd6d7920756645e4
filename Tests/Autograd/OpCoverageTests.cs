using System.Reflection;
using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Diagnostics;
using SimilarFaces.Tests.Backends;
using SimilarFaces.Tests.Parity;

namespace SimilarFaces.Tests.Autograd;

/// <summary>
/// No op escapes the checks. Every public op of <see cref="Ops"/> must show up, as a node of the graph it records, in
/// some case of <see cref="GradCheckCases"/> (the table the gradient checks and `similar-faces gradcheck` run) and in
/// the forward of some PyTorch fixture that <see cref="OpParityTests"/> runs, unless it is listed below with the reason
/// it has no fixture; every element-wise kind has a kernel case. A new op, or a kind, without them fails here.
/// </summary>
public sealed class OpCoverageTests
{
    /// <summary>Ops without a PyTorch fixture, and why.</summary>
    private static readonly Dictionary<string, string> WithoutFixture = new()
    {
        ["Dropout"] = "its mask is the engine's own counter hash, which torch's generator does not reproduce",
        ["Reshape"] = "a view of the same elements: nothing is computed",
    };

    /// <summary>Ops that are another op and record only that one (checked below).</summary>
    private static readonly Dictionary<string, string> RecordedAs = new() { ["Flatten"] = "Reshape" };

    /// <summary>The public ops, by the name each records on the tape.</summary>
    private static IEnumerable<string> OpNames() => typeof(Ops).GetMethods(BindingFlags.Public | BindingFlags.Static)
        .Where(m => m.ReturnType == typeof(Tensor)).Select(m => RecordedAs.GetValueOrDefault(m.Name, m.Name)).Distinct().Order();

    [Test]
    public void FlattenRecordsOnlyReshape()
    {
        using var backend = new CpuBackend();
        using var scope = new TensorScope();
        var x = Tensor.Zeros(backend, 2, 3, 4);
        x.RequiresGrad = true;
        Assert.That(Recorded(Ops.Flatten(x)), Is.EquivalentTo(new[] { RecordedAs["Flatten"] }));
    }

    // the op names of every node in the graph that made output
    private static HashSet<string> Recorded(Tensor output)
    {
        var ops = new HashSet<string>();
        var pending = new Stack<Tensor>([output]);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        while (pending.Count > 0)
        {
            var tensor = pending.Pop();
            if (!seen.Add(tensor) || tensor.Node == null) continue;
            ops.Add(tensor.Node.Op);
            foreach (var input in tensor.Node.Inputs) pending.Push(input);
        }
        return ops;
    }

    [Test]
    public void EveryOpHasAGradientCheck()
    {
        using var backend = new CpuBackend();
        var covered = new HashSet<string>();
        foreach (var c in GradCheckCases.All)
        {
            using var scope = new TensorScope();
            covered.UnionWith(Recorded(c.Forward(c.MakeInputs(new SeededRandom(1)).Select(s => s.ToTensor(backend)).ToArray())));
        }
        Assert.That(OpNames().Where(op => !covered.Contains(op)), Is.Empty, "ops no gradient-check case records");
    }

    [Test]
    public void EveryOpHasAPyTorchFixtureOrASaidReason()
    {
        using var backend = new CpuBackend();
        var covered = new HashSet<string>();
        foreach (var name in Fixtures.OpCases.Where(n => !n.StartsWith("adam") && !n.StartsWith("sgd")))
        {
            var file = Fixtures.Load(Path.Combine("ops", name + ".safetensors"));
            using var args = JsonDocument.Parse(file.Metadata["args"]);
            using var scope = new TensorScope();
            var inputs = OpParityTests.Inputs(file, backend, _ => true);
            covered.UnionWith(Recorded(OpParityTests.Forward(name, inputs, args.RootElement, file)));
        }
        Assert.That(OpNames().Where(op => !covered.Contains(op) && !WithoutFixture.ContainsKey(op)), Is.Empty,
            "ops no PyTorch fixture records, and no reason is given");
        Assert.That(WithoutFixture.Keys.Where(covered.Contains), Is.Empty, "ops said to have no fixture that have one");
    }

    [Test]
    public void EveryElementwiseKindHasAKernelCase()
    {
        var tested = KernelTests.UnaryCases().Select(c => (UnaryKind)c.Arguments[0]!).Distinct();
        Assert.That(tested, Is.EquivalentTo(Enum.GetValues<UnaryKind>()), "unary kinds in KernelTests.UnaryCases");
        Assert.That(KernelTests.BinaryKinds, Is.EquivalentTo(Enum.GetValues<BinaryKind>()), "binary kinds in KernelTests.BinaryKinds");
    }
}
