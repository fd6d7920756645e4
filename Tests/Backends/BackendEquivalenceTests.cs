using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every kernel of the seam run on each ILGPU device and on the managed CPU backend with the same inputs;
/// outputs agree within rtol 1e-5, atol 1e-5 (summation order differs). The cpu backend is itself checked
/// against PyTorch by OpParityTests, so together these tie every GPU kernel to PyTorch.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
internal sealed class BackendEquivalenceTests(string device) : DeviceTest(device)
{
    private const double Rtol = 1e-5, Atol = 1e-5;
    private IBackend _cpu = null!;

    [OneTimeSetUp]
    public void OpenReference()
    {
        if (DeviceName == "cpu") Assert.Ignore("cpu is the reference these tests compare against");
        _cpu = TestDevices.Get("cpu");
    }

    /// <summary>Runs the same kernel on both backends over copies of the same host inputs and compares every output.</summary>
    private void Same(string what, float[][] inputs, long[] outputLengths, Action<IBackend, DeviceBuffer[], DeviceBuffer[]> kernel,
        double rtol = Rtol, double atol = Atol)
    {
        float[][] Run(IBackend backend)
        {
            var ins = inputs.Select(v => { var b = backend.Allocate(v.Length); backend.Upload(v, b); return b; }).ToArray();
            var outs = outputLengths.Select(n => { var b = backend.Allocate(n); backend.Fill(b, float.NaN); return b; }).ToArray();
            kernel(backend, ins, outs);
            var all = ins.Concat(outs).Select(b => { var h = new float[b.Length]; backend.Download(b, h); return h; }).ToArray();
            foreach (var b in ins.Concat(outs)) b.Dispose();
            return all;
        }
        var expected = Run(_cpu);
        var actual = Run(Backend);
        for (int i = 0; i < expected.Length; i++)
            Close.AssertClose(actual[i], expected[i], rtol, atol, $"{what}: buffer {i} on {DeviceName} vs cpu");
    }

    private static float[] Random(int n, ulong seed, double low = -1, double high = 1)
    {
        var r = new SeededRandom(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(low + (high - low) * r.NextDouble())).ToArray();
    }

    [Test]
    public void FillCopyAxpySumBroadcast() =>
        Same("fill/copy/axpy/sum/broadcast", [Random(3001, 5), Random(3001, 6)], [3001, 3001, 1, 77], (b, i, o) =>
        {
            b.Copy(i[0], 0, o[0], 0, 3001);
            b.Fill(o[1], 0.5f);
            b.Axpy(-2f, i[1], o[1]);
            b.Axpy(0.25f, i[0], i[1]);
            b.Sum(i[0], o[2], 0.5f);
            b.Broadcast(o[2], o[3], 3f);
        });

    [TestCase(false, false, 37, 45, 29), TestCase(false, true, 37, 45, 29), TestCase(true, false, 37, 45, 29), TestCase(true, true, 37, 45, 29),
     TestCase(false, true, 5, 7, 301), TestCase(true, false, 64, 64, 64), TestCase(false, false, 1, 130, 3)]
    public void Gemm(bool ta, bool tb, int m, int n, int k) =>
        Same($"gemm {ta} {tb} {m}x{n}x{k}", [Random(m * k, 7), Random(k * n, 8), Random(m * n, 9)], [m * n, m * n, n, m * n], (b, i, o) =>
        {
            b.Gemm(ta, tb, m, n, k, 1f, i[0], i[1], 0f, o[0]);
            b.Copy(i[2], 0, o[1], 0, m * n);
            b.Gemm(ta, tb, m, n, k, -0.5f, i[0], i[1], 2f, o[1]);
            b.SumRows(o[0], o[2], m, n);
            b.Copy(o[0], 0, o[3], 0, m * n);
            b.AddRowVector(o[3], o[2], m, n);
        });

    [TestCase(2, 3, 9, 8, 4, 3, 3, 1, 1, 0, 0, true), TestCase(2, 2, 9, 8, 3, 3, 3, 2, 2, 1, 1, true),
     TestCase(1, 2, 8, 7, 2, 5, 3, 1, 2, 2, 1, false), TestCase(3, 1, 12, 12, 4, 3, 3, 1, 1, 0, 0, true),
     TestCase(2, 3, 9, 8, 4, 3, 3, 1, 1, 1, 1, true, true), TestCase(1, 2, 8, 7, 2, 5, 3, 1, 2, 2, 1, false, true)]
    public void Conv2d(int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph, int pw, bool bias, bool relu = false)
    {
        var shape = new Conv2dShape(n, c, h, w, k, r, s, sh, sw, ph, pw);
        Same($"conv {shape}{(relu ? " + ReLU" : "")}", [Random((int)shape.InputLength, 10), Random((int)shape.WeightLength, 11), Random(k, 12), Random((int)shape.OutputLength, 13)],
            [shape.OutputLength, shape.InputLength, shape.WeightLength, k], (b, i, o) =>
            {
                b.Conv2dForward(shape, i[0], i[1], bias ? i[2] : null, relu, o[0]);
                b.Conv2dBackwardInput(shape, i[3], i[1], o[1]);
                b.Conv2dBackwardWeight(shape, i[0], i[3], o[2], bias ? o[3] : null);
                if (!bias) b.Fill(o[3], 0f);
            });
    }

    [TestCase(PadMode.Replication), TestCase(PadMode.Reflection)]
    public void Pad2d(PadMode mode)
    {
        var s = new Pad2dShape(4, 5, 6, 0, 3, 1, 2);
        long outLength = (long)s.Planes * s.OutH * s.OutW;
        Same($"pad {mode}", [Random(4 * 5 * 6, 14), Random((int)outLength, 15)], [outLength, 4 * 5 * 6], (b, i, o) =>
        {
            b.Pad2dForward(mode, s, i[0], o[0]);
            b.Pad2dBackward(mode, s, i[1], o[1]);
        });
    }

    [TestCase(2, 2, 2, 2), TestCase(3, 3, 2, 2), TestCase(2, 3, 1, 2)]
    public void MaxPool2dWithTies(int kh, int kw, int sh, int sw)
    {
        var s = new Pool2dShape(3, 9, 10, kh, kw, sh, sw);
        var r = new SeededRandom(16);
        var x = Enumerable.Range(0, 3 * 9 * 10).Select(_ => (float)r.NextInt(3)).ToArray();
        long outLength = (long)s.Planes * s.OutH * s.OutW;
        Same($"maxpool {s}", [x, Random((int)outLength, 17)], [outLength, x.Length], (b, i, o) =>
        {
            b.MaxPool2dForward(s, i[0], o[0]);
            b.MaxPool2dBackward(s, i[0], i[1], o[1]);
        });
    }

    [TestCase(4, 3, 30, false), TestCase(8, 5, 1, false), TestCase(4, 3, 30, true)]
    public void BatchNorm(int n, int c, int l, bool afterRelu)
    {
        var s = new NormShape(n, c, l);
        int len = n * c * l;
        Same($"batchnorm {s}", [Random(len, 18, -2, 3), Random(c, 19), Random(c, 20), Random(c, 21), Random(c, 22, 0.5, 2), Random(len, 23)],
            [len, c, c, len, c, c, len, len, c, c], (b, i, o) =>
            {
                b.BatchNormTrainForward(s, i[0], i[1], i[2], o[0], o[1], o[2], i[3], i[4], 1e-5f, 0.1f);
                b.BatchNormBackward(s, i[0], i[5], i[1], o[1], o[2], o[3], o[4], o[5], afterRelu);
                b.BatchNormEvalForward(s, i[0], i[1], i[2], i[3], i[4], o[6], 1e-5f);
                b.BatchNormEvalBackward(s, i[0], i[5], i[1], i[3], i[4], o[7], o[8], o[9], 1e-5f);
            }, rtol: 1e-4, atol: 1e-5);
    }

    [Test]
    public void DropoutMaskIsIdenticalAcrossBackends() =>
        Same("dropout mask", [], [4099], (b, i, o) => b.DropoutMask(o[0], 0.3f, 12345UL), rtol: 0, atol: 0);

    [Test]
    public void DistanceAndContrastiveLoss()
    {
        int rows = 9, dim = 5;
        var a = Random(rows * dim, 24);
        var bb = Random(rows * dim, 25);
        Array.Copy(a, 0, bb, 0, dim);
        var labels = Enumerable.Range(0, rows).Select(i => (float)(i % 2)).ToArray();
        Same("distance + loss", [a, bb, Random(rows, 26), labels, [0.7f]], [rows, rows * dim, rows * dim, 1, rows], (b, i, o) =>
        {
            b.PairwiseDistanceForward(rows, dim, i[0], i[1], o[0], 1e-6f);
            b.PairwiseDistanceBackward(rows, dim, i[0], i[1], o[0], i[2], o[1], o[2], 1e-6f);
            b.ContrastiveLossForward(rows, o[0], i[3], o[3], 1.2f);
            b.ContrastiveLossBackward(rows, o[0], i[3], i[4], o[4], 1.2f);
        });
    }

    [Test]
    public void L2NormalizeAndCrossEntropy()
    {
        int rows = 6, dim = 33, classes = 5;
        var x = Random(rows * dim, 27);
        var labels = Enumerable.Range(0, rows).Select(i => (float)(i * 3 % classes)).ToArray();
        Same("l2 normalize + cross entropy", [x, Random(rows * dim, 28), Random(rows * classes, 29, -4, 4), labels, [0.6f]],
            [rows * dim, rows, rows * dim, rows * classes, 1, rows * classes], (b, i, o) =>
        {
            b.L2NormalizeForward(rows, dim, i[0], o[0], o[1], 1e-12f);
            b.L2NormalizeBackward(rows, dim, o[0], o[1], i[1], o[2], 1e-12f);
            b.CrossEntropyForward(rows, classes, i[2], i[3], o[3], o[4]);
            b.CrossEntropyBackward(rows, classes, o[3], i[3], i[4], o[5]);
        });
    }

    [Test]
    public void AdamAndSgd()
    {
        int n = 2053;
        var adam = new AdamStepParameters(1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 1f - 0.9f * 0.9f, 1f - 0.999f * 0.999f);
        var sgd = new SgdStepParameters(0.1f, 0.9f, 0.1f, 1e-3f, false, false);
        Same("adam + sgd", [Random(n, 27), Random(n, 28), Random(n, 29), Random(n, 30, 0, 1), Random(n, 31), Random(n, 32)], [], (b, i, o) =>
        {
            b.AdamStep(i[0], i[1], i[2], i[3], adam);
            b.SgdStep(i[4], i[1], i[5], sgd);
        });
    }
}
