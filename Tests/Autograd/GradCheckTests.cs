using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Diagnostics;

namespace SimilarFaces.Tests.Autograd;

/// <summary>
/// Finite-difference checks of every op's backward with respect to every differentiable input, on every
/// device; tolerance per case in <see cref="OpTable"/> (normalised error, 1e-2 for most ops,
/// 2e-2 for training-mode BatchNorm). Each check is also run with that op's backward broken on purpose
/// (its gradients scaled by 1.1) and must then fail.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class GradCheckTests(string device) : DeviceTest(device)
{
    public static IEnumerable<TestCaseData> Cases =>
        OpTable.GradCheckCases.Select(c => new TestCaseData(c).SetArgDisplayNames(c.Name));

    [TestCaseSource(nameof(Cases))]
    public void BackwardMatchesFiniteDifferences(GradCheckCase c)
    {
        var results = GradCheck.Run(c, Backend);
        Assert.That(results, Is.Not.Empty, $"{c.Name} has no differentiable input");
        foreach (var r in results)
            TestContext.Out.WriteLine($"{r.Case} d/d{r.Input}: max normalised error {r.MaxError:E2} over {r.Checked} elements (tolerance {r.Tolerance:E0})");
        Assert.That(results.Where(r => !r.Passed).Select(r => $"{r.Input}: {r.MaxError:E2}"), Is.Empty,
            $"{c.Name}: gradients differ from finite differences beyond {c.Tolerance:E0}");
    }

    [TestCaseSource(nameof(Cases))]
    public void BrokenBackwardIsCaught(GradCheckCase c)
    {
        Tape.GradientFault = (op, grad) =>
        {
            if (op != c.Op) return;
            var values = grad.ToArray();
            for (int i = 0; i < values.Length; i++) values[i] *= 1.1f;
            grad.CopyFrom(values);
        };
        try
        {
            var results = GradCheck.Run(c, Backend);
            Assert.That(results.Any(r => !r.Passed), Is.True,
                $"{c.Name}: the checker accepted a backward whose gradients were scaled by 1.1 (errors: {string.Join(", ", results.Select(r => r.MaxError.ToString("E2")))})");
        }
        finally
        {
            Tape.GradientFault = null;
        }
    }
}
