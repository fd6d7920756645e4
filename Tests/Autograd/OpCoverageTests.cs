using System.Reflection;
using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Diagnostics;
using SimilarFaces.Tests.Parity;

namespace SimilarFaces.Tests.Autograd;

/// <summary>
/// No op escapes the table. Every public op of <see cref="Ops"/> has an entry in <see cref="OpTable"/> (the table the
/// gradient checks, the device comparisons, the PyTorch parity tests and `similar-faces gradcheck` walk), whose cases
/// and fixtures really run that op; every entry has a PyTorch fixture or says why not; every fixture file belongs to
/// an entry (or an optimizer); every element-wise kind is some entry's kernel. A new op, kind or fixture without the
/// rest fails here.
/// </summary>
public sealed class OpCoverageTests
{
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
    public void EveryOpHasAnEntry() =>
        Assert.That(OpNames().Except(OpTable.All.Select(e => e.Op)), Is.Empty, "ops of Ops without an entry in OpTable");

    [Test]
    public void EveryEntryHasGradientChecksThatRunItsOp()
    {
        using var backend = new CpuBackend();
        foreach (var entry in OpTable.All)
        {
            Assert.That(entry.Cases, Is.Not.Empty, $"{entry.Op}: no gradient-check case");
            foreach (var c in entry.Cases)
            {
                using var scope = new TensorScope();
                var output = c.Forward(c.MakeInputs(new SeededRandom(1)).Select(s => s.ToTensor(backend)).ToArray());
                Assert.That(Recorded(output), Is.EquivalentTo(new[] { entry.Op }), $"{c.Name}: the ops its forward records");
            }
        }
    }

    [Test]
    public void EveryEntryHasAPyTorchFixtureThatRunsItsOpOrASaidReason()
    {
        using var backend = new CpuBackend();
        foreach (var entry in OpTable.All)
        {
            Assert.That(entry.Fixtures.Count > 0 ^ entry.WithoutFixture != null, Is.True,
                $"{entry.Op}: an entry has fixtures or a reason it has none, not both");
            foreach (var name in entry.Fixtures)
            {
                var file = Fixtures.Load(Path.Combine("ops", name + ".safetensors"));
                using var args = JsonDocument.Parse(file.Metadata["args"]);
                using var scope = new TensorScope();
                var inputs = OpParityTests.Inputs(file, backend, _ => true);
                Assert.That(Recorded(OpParityTests.Forward(name, inputs, args.RootElement, file)), Is.EquivalentTo(new[] { entry.Op }),
                    $"fixture {name}: the ops it records");
            }
        }
    }

    [Test]
    public void EveryFixtureBelongsToAnEntryOrAnOptimizer()
    {
        var claimed = OpTable.All.SelectMany(e => e.Fixtures).Concat(OpParityTests.OptimizerFixtures).ToList();
        Assert.That(claimed, Is.Unique, "fixtures claimed twice");
        Assert.That(Fixtures.OpCases.Except(claimed), Is.Empty, "fixture files no op of the table claims");
    }

    [Test]
    public void EveryElementwiseKindIsAnEntrysKernel()
    {
        Assert.That(OpTable.All.Where(e => e.Unary != null).Select(e => e.Unary!.Value), Is.EquivalentTo(Enum.GetValues<UnaryKind>()),
            "unary kinds of the table's entries");
        Assert.That(OpTable.All.Where(e => e.Binary != null).Select(e => e.Binary!.Value), Is.EquivalentTo(Enum.GetValues<BinaryKind>()),
            "binary kinds of the table's entries");
    }
}
