using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Tests.Autograd;

/// <summary>
/// NaN and ±∞ through max pooling, and the boundaries where an op's gradient changes branch (a distance of 0 without
/// eps, a row exactly as long as L2Normalize's eps), forward and backward, on every device. The expected values are
/// what PyTorch 1.13 computes for the same inputs (F.max_pool2d, F.pairwise_distance, F.normalize, and the gradients
/// of the sum or of a given upstream gradient); a zero's sign is not compared. The element-wise ops meet NaN, ±∞ and
/// −0 in their PyTorch fixtures, which the parity tests run on every device.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class SpecialValueTests(string device) : DeviceTest(device)
{
    private const float NaN = float.NaN, Inf = float.PositiveInfinity;

    [Test]
    public void MaxPoolPropagatesNaNAndSendsTheGradientToTheLastNaN()
    {
        using var scope = new TensorScope();
        // 2×2 windows at stride 2: [1 NaN / 0 5] → NaN at its NaN; [3 2 / NaN NaN] → NaN at the second NaN
        var x = Tensor.FromArray(Backend, [1, NaN, 3, 2, 0, 5, NaN, NaN, -1, -2, Inf, 1, -3, -4, 2, -Inf], 1, 1, 4, 4);
        x.RequiresGrad = true;
        var y = Ops.MaxPool2d(x, (2, 2));
        Ops.Sum(y).Backward();
        AssertSame(y.ToArray(), [NaN, NaN, -1, Inf], "forward");
        AssertSame(x.Grad!.ToArray(), [0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0], "gradient");
    }

    [Test]
    public void SeventeenWindowsInARowDecideAsPyTorch()
    {
        using var scope = new TensorScope();
        // 2×2 windows at stride 2 over a 3×35 image: one row of 17 windows (the cpu backend decides the first 16 in
        // two vectors of 8, the last alone), a last column and a last row outside every window (NaN among them).
        // Windows, as a b / c d: [1 NaN / 0 5], [3 2 / NaN NaN], [NaN 1 / 2 3], all NaN, all −∞, all 2, [1 5 / 5 2],
        // [∞ 1 / ∞ NaN], [−1 −2 / ∞ 1], [−3 −4 / 2 −∞], [1 2 / 3 4], [4 3 / 2 1], [NaN 7 / 8 9], [5 NaN / 9 9],
        // [1 1 / 1 NaN], [6 6 / 7 7], [2 NaN / NaN 1].
        float[] pixels = [1, NaN, 3, 2, NaN, 1, NaN, NaN, -Inf, -Inf, 2, 2, 1, 5, Inf, 1, -1, -2, -3, -4, 1, 2, 4, 3, NaN, 7, 5, NaN, 1, 1, 6, 6, 2, NaN, 9,
            0, 5, NaN, NaN, 2, 3, NaN, NaN, -Inf, -Inf, 2, 2, 5, 2, Inf, NaN, Inf, 1, 2, -Inf, 3, 4, 2, 1, 8, 9, 9, 9, 1, NaN, 7, 7, NaN, 1, NaN,
            -2, -1, 0, NaN, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1, 0, 1, 2];
        var x = Tensor.FromArray(Backend, pixels, 1, 1, 3, 35);
        x.RequiresGrad = true;
        var y = Ops.MaxPool2d(x, (2, 2));
        Ops.Sum(y).Backward();
        AssertSame(y.ToArray(), [NaN, NaN, NaN, NaN, -Inf, 2, 5, NaN, Inf, 2, 4, 4, NaN, NaN, NaN, 7, NaN], "forward");
        AssertSame(x.Grad!.ToArray(), [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "gradient");
    }

    [Test]
    public void OverlappingMaxPoolWindowsShareTheirNaN()
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Backend, [1, 2, NaN, NaN, 0, 4, 3, 5, 6], 1, 1, 3, 3);
        x.RequiresGrad = true;
        var y = Ops.MaxPool2d(x, (2, 2), stride: (1, 1));
        Ops.Sum(y).Backward();
        AssertSame(y.ToArray(), [NaN, NaN, NaN, 6], "forward");
        AssertSame(x.Grad!.ToArray(), [0, 0, 1, 2, 0, 0, 0, 0, 1], "gradient");
    }

    [Test]
    public void DistanceBetweenIdenticalRowsWithoutEpsHasGradientZero()
    {
        using var scope = new TensorScope();
        float[] rows = [1, 2, 3, 0.5f, -1, 2];
        var (a, b) = (Tensor.FromArray(Backend, rows, 2, 3), Tensor.FromArray(Backend, rows, 2, 3));
        a.RequiresGrad = b.RequiresGrad = true;
        var d = Ops.PairwiseDistance(a, b, eps: 0f);
        Ops.Sum(d).Backward();
        AssertSame(d.ToArray(), [0, 0], "distance");
        AssertSame(a.Grad!.ToArray(), new float[6], "gradient of the first rows");
        AssertSame(b.Grad!.ToArray(), new float[6], "gradient of the second rows");
    }

    [Test]
    public void RowsAsLongAsEpsAreNormalisedByTheirLength()
    {
        using var scope = new TensorScope();
        // row 0 has length 0.5 = eps: y = x/‖x‖ and the projection gradient; row 1 (length 0.25) is divided by eps
        var x = Tensor.FromArray(Backend, [0.5f, 0, 0, -0.25f], 2, 2);
        x.RequiresGrad = true;
        var y = Ops.L2Normalize(x, eps: 0.5f);
        y.Backward(Tensor.FromArray(Backend, [1, 2, 3, 4], 2, 2));
        AssertSame(y.ToArray(), [1, 0, 0, -0.5f], "forward");
        AssertSame(x.Grad!.ToArray(), [0, 4, 6, 8], "gradient");
    }

    // NaN where expected NaN, else equal (a zero's sign aside)
    private static void AssertSame(float[] actual, float[] expected, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i])) Assert.That(float.IsNaN(actual[i]), $"{what}[{i}]: expected NaN, got {actual[i]}");
            else Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-6f), $"{what}[{i}]");
        }
    }
}
