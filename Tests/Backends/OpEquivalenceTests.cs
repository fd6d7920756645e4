using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Diagnostics;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every case of the op table run forward and backward on each ILGPU device and on the managed cpu backend with the
/// same inputs and upstream gradient: outputs and every input's gradient agree within rtol 1e-5, atol 1e-5
/// (summation orders differ). With the cpu backend held to PyTorch by the parity tests, this ties each device's ops
/// to PyTorch at the table's shapes.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
internal sealed class OpEquivalenceTests(string device) : DeviceTest(device)
{
    private const double Rtol = 1e-5, Atol = 1e-5;

    public static IEnumerable<TestCaseData> Cases =>
        OpTable.GradCheckCases.Select(c => new TestCaseData(c).SetArgDisplayNames(c.Name));

    [OneTimeSetUp]
    public void SkipTheReference()
    {
        if (DeviceName == "cpu") Assert.Ignore("cpu is the reference these tests compare against");
    }

    [TestCaseSource(nameof(Cases))]
    public void SameAsCpu(GradCheckCase c)
    {
        var expected = Run(c, TestDevices.Get("cpu"));
        var actual = Run(c, Backend);
        for (int i = 0; i < expected.Count; i++)
            Close.AssertClose(actual[i].Values, expected[i].Values, Rtol, Atol, $"{c.Name}: {expected[i].What} on {DeviceName} vs cpu");
    }

    /// <summary>The output, then the gradient of every differentiable input, after one backward of a seeded upstream gradient.</summary>
    private static List<(string What, float[] Values)> Run(GradCheckCase c, IBackend backend)
    {
        var random = new SeededRandom(7);
        var specs = c.MakeInputs(random);
        using var scope = new TensorScope();
        var inputs = specs.Select(s => s.ToTensor(backend)).ToArray();
        var output = c.Forward(inputs);
        var upstream = Enumerable.Range(0, (int)output.Length).Select(_ => random.NextSymmetric(1.0)).ToArray();
        output.Backward(Tensor.FromArray(backend, upstream, output.Shape));
        List<(string, float[])> results = [("output", output.ToArray())];
        for (int i = 0; i < specs.Length; i++)
            if (specs[i].Differentiable) results.Add(($"grad.{specs[i].Name}", inputs[i].Grad!.ToArray()));
        return results;
    }
}
