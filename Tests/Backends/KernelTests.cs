using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every kernel of the seam on every device against the double-precision <see cref="ReferenceKernels"/>. Tensors
/// are small (ILGPU's CPU accelerator is slow per element) but shaped to reach each edge: partial tiles and depth
/// slices, several reduction chunks, strides, asymmetric pads, pooling ties, the kinks of ReLU and clamp.
/// Each test states its tolerance; sums are held to a fraction of Σ|terms| (see <see cref="ReferenceKernels"/>).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
internal sealed class KernelTests(string device) : DeviceTest(device)
{
    /// <summary>Not a multiple of any vector width: the SIMD loop and a scalar tail both run.</summary>
    private const int Length = 1037;

    private KernelChecks _check = null!;

    [SetUp]
    public void StartCheck() => _check = new KernelChecks(Backend);

    [TearDown]
    public void ReleaseBuffers() => _check.Dispose();

    // ---- buffers ---------------------------------------------------------------------------------

    [Test]
    public void UploadDownloadRoundTripsAndThePoolReusesStorage()
    {
        float[] values = [1.5f, -2f, float.MaxValue, float.Epsilon, -0f];
        Assert.That(_check.Read(_check.Upload(values)), Is.EqualTo(values));

        var before = Backend.PoolStatistics;
        Backend.Allocate(777).Dispose();
        Backend.Allocate(777).Dispose();
        var after = Backend.PoolStatistics;
        Assert.That(after.Allocations - before.Allocations, Is.LessThanOrEqualTo(1));
        Assert.That(after.Reuses - before.Reuses, Is.GreaterThanOrEqualTo(1));
        Assert.That(after.BuffersLive, Is.EqualTo(before.BuffersLive));
    }

    [Test]
    public void KernelsRejectForeignAndDisposedBuffersBeforeWriting()
    {
        var y = _check.Upload(new float[10]);
        Assert.Throws<ArgumentException>(() => Backend.Fill(new ForeignBuffer(Backend, 10), 1f));
        var disposed = Backend.Allocate(10);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Backend.Copy(disposed, y));
        Assert.That(_check.Read(y), Is.All.EqualTo(0f));
    }

    /// <summary>Claims to belong to the backend but is none of its buffers.</summary>
    private sealed class ForeignBuffer(IBackend backend, long length) : DeviceBuffer(backend, length)
    {
        protected override void Release() { }
    }

    // ---- element-wise ------------------------------------------------------------------------------

    // one or two float roundings (a few ulps where a GPU's sqrt is approximate): |error| ≤ 1e-6·|expected|;
    // the kinks are exact: ReLU's gradient at ±0 is 0, clamp's at its bound is dy
    [TestCaseSource(nameof(UnaryCases))]
    public void Unary(UnaryKind kind, float scalar) => _check.Unary(kind, scalar, Length, tolerance: 1e-6);

    /// <summary>Every unary kind with the scalar it is tested at.</summary>
    public static IEnumerable<TestCaseData> UnaryCases() =>
    [
        new(UnaryKind.Relu, 0f), new(UnaryKind.Square, 0f), new(UnaryKind.Sqrt, 0f),
        new(UnaryKind.ClampMin, 0.25f), new(UnaryKind.AddScalar, -1.5f), new(UnaryKind.MulScalar, 3f),
    ];

    // one float rounding: |error| ≤ 1e-6·|expected|
    [TestCaseSource(nameof(BinaryKinds))]
    public void Binary(BinaryKind kind) => _check.Binary(kind, Length, tolerance: 1e-6);

    public static BinaryKind[] BinaryKinds => Enum.GetValues<BinaryKind>();

    // |error| ≤ 1e-6·(|alpha·x| + |y|)
    [Test]
    public void AxpyAccumulates() => _check.Axpy(Length, tolerance: 1e-6);

    // exact
    [Test]
    public void FillAndCopy() => _check.FillAndCopy(Length);

    // nothing, a few elements, one ILGPU reduction chunk (4096), three chunks: |error| ≤ 1e-6·Σ|x|
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(Length)]
    [TestCase(10_000)]
    public void SumAndBroadcast(int n) => _check.SumAndBroadcast(n, tolerance: 1e-6);

    // exactly the shared hash; the fraction dropped within 5σ of p
    [Test]
    public void DropoutMask() => _check.DropoutMask(10_007, p: 0.3f, seed: 0xC0FFEE);

    // ---- dense -------------------------------------------------------------------------------------

    private static readonly int[][] GemmShapes =
    [
        [1, 1, 1], [37, 45, 29], [7, 33, 130], [130, 7, 33], [33, 130, 7], [1, 130, 33], [130, 1, 7],
        [64, 128, 32], [128, 64, 48],   // whole 64×64×16 tiles
        [5, 7, 300], [3, 40, 700],      // M < K: the depth is cut into 2 and 5 slices on ILGPU
        [3, 4, 0],                      // no depth: C = beta·C
    ];

    public static IEnumerable<TestCaseData> GemmCases() =>
        from s in GemmShapes from transA in new[] { false, true } from transB in new[] { false, true }
        select new TestCaseData(transA, transB, s[0], s[1], s[2]);

    // alpha with beta = 0 over a C of NaN, then alpha and beta over C: |error| ≤ 1e-6·(|alpha|·Σ|a·b| + |beta·c|)
    [TestCaseSource(nameof(GemmCases))]
    public void Gemm(bool transA, bool transB, int m, int n, int k) => _check.Gemm(transA, transB, m, n, k, tolerance: 1e-6);

    // one ILGPU reduction chunk per column, and two (rows > 4096): |error| ≤ 1e-6·Σ|terms|
    [TestCase(9, 11)]
    [TestCase(300, 7)]
    [TestCase(5000, 3)]
    public void AddRowVectorAndSumRows(int rows, int cols) => _check.AddRowVectorAndSumRows(rows, cols, tolerance: 1e-6);

    // ---- convolution -------------------------------------------------------------------------------

    public static IEnumerable<TestCaseData> ConvCases()
    {
        // N, C, H, W, K, R, S, strideH, strideW, padH, padW
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 11, 5, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("rows narrower than two vectors");
        yield return new TestCaseData(new Conv2dShape(2, 3, 5, 40, 5, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("K not a multiple of 4");
        yield return new TestCaseData(new Conv2dShape(2, 4, 4, 37, 8, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 2, 5, 45, 6, 5, 3, 1, 1, 2, 1)).SetArgDisplayNames("5x3, pad 2x1");
        yield return new TestCaseData(new Conv2dShape(2, 3, 11, 40, 4, 5, 3, 2, 2, 1, 1)).SetArgDisplayNames("5x3, stride 2, pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 8, 4, 3, 3, 2, 2, 1, 1)).SetArgDisplayNames("stride 2, pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 8, 5, 5, 3, 1, 2, 2, 0)).SetArgDisplayNames("5x3, stride 1x2, pad 2x0");
        yield return new TestCaseData(new Conv2dShape(2, 2, 9, 36, 3, 3, 3, 1, 2, 0, 1)).SetArgDisplayNames("stride 1x2, pad 0x1");
        yield return new TestCaseData(new Conv2dShape(1, 2, 6, 34, 3, 3, 3, 1, 1, 3, 3)).SetArgDisplayNames("pad as wide as the kernel");
        yield return new TestCaseData(new Conv2dShape(4, 1, 4, 50, 4, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("one input channel");
        yield return new TestCaseData(new Conv2dShape(1, 5, 4, 3, 2, 1, 1, 1, 1, 0, 0)).SetArgDisplayNames("1x1");
        // weight-gradient depth N·OH·OW = 512: four depth slices on ILGPU
        yield return new TestCaseData(new Conv2dShape(2, 2, 16, 16, 3, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("16x16, pad 1");
        // more images than the 64 groups of images the cpu weight gradient sums in: 65 put two images in one group, 130
        // (a batch of 65 pairs) two in every group, here over output rows of 16, the vector path
        yield return new TestCaseData(new Conv2dShape(65, 2, 3, 4, 3, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("65 images");
        yield return new TestCaseData(new Conv2dShape(130, 1, 1, 16, 2, 1, 3, 1, 1, 0, 1)).SetArgDisplayNames("130 images, rows of vectors");
    }

    // forward with and without bias, input gradient, weight gradient with and without dbias: |error| ≤ 1e-6·Σ|terms|
    [TestCaseSource(nameof(ConvCases))]
    public void Conv2d(Conv2dShape s) => _check.Conv2d(s, tolerance: 1e-6);

    // ---- padding, pooling --------------------------------------------------------------------------

    public static IEnumerable<TestCaseData> PadCases()
    {
        foreach (var mode in new[] { PadMode.Replication, PadMode.Reflection })
        {
            yield return new TestCaseData(mode, new Pad2dShape(3, 5, 6, Top: 2, Bottom: 1, Left: 1, Right: 3)).SetArgDisplayNames($"{mode}", "5x6 pads 2,1,1,3");
            yield return new TestCaseData(mode, new Pad2dShape(3, 4, 37, Top: 2, Bottom: 1, Left: 3, Right: 2)).SetArgDisplayNames($"{mode}", "4x37 pads 2,1,3,2");
        }
        yield return new TestCaseData(PadMode.Replication, new Pad2dShape(2, 1, 4, Top: 1, Bottom: 2, Left: 3, Right: 0)).SetArgDisplayNames("Replication", "1x4 pads 1,2,3,0");
        yield return new TestCaseData(PadMode.Reflection, new Pad2dShape(2, 4, 4, Top: 3, Bottom: 3, Left: 1, Right: 1)).SetArgDisplayNames("Reflection", "4x4 pads 3,3,1,1");
    }

    // forward copies exactly; backward adds a few gradients: |error| ≤ 1e-6·Σ|dy|
    [TestCaseSource(nameof(PadCases))]
    public void Pad2d(PadMode mode, Pad2dShape s) => _check.Pad2d(mode, s, tolerance: 1e-6);

    public static IEnumerable<TestCaseData> PoolCases()
    {
        yield return new TestCaseData(new Pool2dShape(4, 9, 11, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2, last row and column unused");
        yield return new TestCaseData(new Pool2dShape(2, 6, 6, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2, exact fit");
        yield return new TestCaseData(new Pool2dShape(4, 9, 11, KH: 3, KW: 3, SH: 2, SW: 2)).SetArgDisplayNames("3x3 stride 2, overlapping");
        yield return new TestCaseData(new Pool2dShape(4, 9, 11, KH: 2, KW: 3, SH: 1, SW: 2)).SetArgDisplayNames("2x3 stride 1x2");
    }

    // values in {0, 1, 2}, so most windows tie and the gradient must reach the first maximum in window order;
    // forward exact, backward |error| ≤ 1e-6·Σ|dy|
    [TestCaseSource(nameof(PoolCases))]
    public void MaxPool2d(Pool2dShape s) => _check.MaxPool2d(s, tolerance: 1e-6);

    // ---- batch norm --------------------------------------------------------------------------------

    // y, the statistics and dx: |error| ≤ tol·(1 + |expected|); dγ, dβ: tol·Σ|dy|·(1 + |x̂|) per channel.
    // tol 1e-5, or 1e-3 around a mean of 1000, where x − mean keeps only the bits of x below 1000.
    [TestCase(4, 3, 37, 0f, 1e-5)]
    [TestCase(6, 5, 1, 0f, 1e-5)]        // BatchNorm1d: L = 1
    [TestCase(2, 2, 2100, 0f, 1e-5)]     // N·L = 4200: two ILGPU reduction chunks per channel
    [TestCase(4, 3, 37, 1000f, 1e-3)]    // a large mean: the variance must not cancel
    public void BatchNormTraining(int n, int c, int l, float offset, double tolerance) =>
        _check.BatchNormTraining(new NormShape(n, c, l), offset, tolerance);

    // y, dx: |error| ≤ 1e-5·(1 + |expected|); dγ, dβ: 1e-5·Σ|dy|·(1 + |x̂|) per channel
    [TestCase(3, 4, 29)]
    [TestCase(2, 2, 2100)]
    public void BatchNormEval(int n, int c, int l) => _check.BatchNormEval(new NormShape(n, c, l), tolerance: 1e-5);

    // batch variances at or below eps = 1e-5, where eps decides invStd = 1/√(var + eps): a channel that is zero
    // everywhere (as after a ReLU that never fires: variance 0, invStd = 1/√eps), one spread ±1.7e-3 (variance about
    // 1e-6) and an ordinary one; tolerances as above
    [Test]
    public void BatchNormTrainingWithVarianceBelowEps() =>
        _check.BatchNormTraining(new NormShape(4, 3, 37), offset: 0f, tolerance: 1e-5, spreads: [0f, 1.7e-3f, 1f]);

    // running variances 0, 1e-7 and 1e-6, at or below eps, beside an ordinary 1; tolerances as above
    [Test]
    public void BatchNormEvalWithRunningVarianceBelowEps() =>
        _check.BatchNormEval(new NormShape(3, 4, 29), tolerance: 1e-5, runningVar: [0f, 1e-7f, 1e-6f, 1f]);

    // ---- distance and loss -------------------------------------------------------------------------

    // row 0 compares identical embeddings, where only eps keeps d > 0: d |error| ≤ 1e-6·d, da |error| ≤ 1e-6·|dd|
    [Test]
    public void PairwiseDistance() => _check.PairwiseDistance(rows: 9, dim: 5, tolerance: 1e-6);

    // distances below, at and above the margin for both labels: |error| ≤ 1e-6·|expected|
    [Test]
    public void ContrastiveLoss() => _check.ContrastiveLoss(tolerance: 1e-6);

    // rows of 37 (a vector tail), one shorter than eps: y, dx |error| ≤ 1e-5·(1 + |expected|)
    [Test]
    public void L2Normalize() => _check.L2Normalize(rows: 7, dim: 37, tolerance: 1e-5);

    // 6 rows of 5 classes, one row shifted by +90 (exp overflows without the max): |error| ≤ 1e-5·(1 + |expected|)
    [Test]
    public void CrossEntropy() => _check.CrossEntropy(tolerance: 1e-5);

    // ---- optimisers --------------------------------------------------------------------------------

    // three steps: m |error| ≤ 1e-6·(|m| + 1 − β1), v ≤ 1e-6·v, param ≤ 1e-3 of the path 3·lr
    [TestCase(0f)]
    [TestCase(0.01f)]
    public void Adam(float weightDecay) => _check.Adam(weightDecay, Length, tolerance: 1e-6, paramTolerance: 1e-3);

    // gradients within ±1e-8, so that √v̂ is as small as eps and the step depends on eps being added
    [Test]
    public void AdamWithGradientsAsSmallAsEps() =>
        _check.Adam(weightDecay: 0f, Length, tolerance: 1e-6, paramTolerance: 1e-3, gradientScale: 1e-8f);

    // three steps, the momentum buffer NaN before the first: param |error| ≤ 1e-6·(|p| + 3·lr), buffer ≤ 1e-6·(|b| + 1)
    [TestCase(0f, 0f, 0f, false)]
    [TestCase(0.9f, 0f, 0.01f, false)]
    [TestCase(0.9f, 0.1f, 0f, false)]
    [TestCase(0.9f, 0.1f, 0.01f, false)]
    [TestCase(0.8f, 0f, 0.05f, true)]
    public void Sgd(float momentum, float dampening, float weightDecay, bool nesterov) =>
        _check.Sgd(momentum, dampening, weightDecay, nesterov, Length, tolerance: 1e-6);
}

/// <summary>
/// Runs kernels of one backend on seeded inputs and compares them with <see cref="ReferenceKernels"/>. Outputs start
/// as NaN, so an element a kernel forgets to write fails. Shared by the per-device suite and the cpu-only sizes.
/// </summary>
internal sealed class KernelChecks(IBackend backend) : IDisposable
{
    private readonly SeededRandom _random = new(1234);
    private readonly List<DeviceBuffer> _buffers = [];

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        _buffers.Clear();
    }

    // ---- element-wise ------------------------------------------------------------------------------

    public void Unary(UnaryKind kind, float scalar, int length, double tolerance)
    {
        var x = Random(length, kind == UnaryKind.Sqrt ? 0.01 : -2, 2);
        if (kind != UnaryKind.Sqrt)
        {
            x[0] = 0f;       // ReLU's kink
            x[1] = -0f;
            x[2] = scalar;   // clamp's bound
        }
        var xb = Upload(x);
        var y = Output(length);
        backend.Unary(kind, xb, y, scalar);
        var yExpected = x.Select(v => ReferenceKernels.Unary(kind, v, scalar)).ToArray();
        AssertClose(Read(y), yExpected, tolerance, $"{kind} y");

        // Backward reads the exact y, so only its own rounding is measured.
        var yExact = yExpected.Select(v => (float)v).ToArray();
        var dy = Random(length);
        var dx = Output(length);
        backend.UnaryBackward(kind, xb, Upload(yExact), Upload(dy), dx, scalar);
        AssertClose(Read(dx), x.Select((v, i) => ReferenceKernels.UnaryBackward(kind, v, yExact[i], dy[i], scalar)).ToArray(),
            tolerance, $"{kind} dx");
    }

    public void Binary(BinaryKind kind, int length, double tolerance)
    {
        float[] a = Random(length), b = Random(length);
        var y = Output(length);
        backend.Binary(kind, Upload(a), Upload(b), y);
        AssertClose(Read(y), a.Select((v, i) => ReferenceKernels.Binary(kind, v, b[i])).ToArray(), tolerance, $"{kind}");
    }

    public void Axpy(int length, double tolerance)
    {
        float[] x = Random(length), y0 = Random(length);
        var y = Upload(y0);
        backend.Axpy(-0.75f, Upload(x), y);
        AssertClose(Read(y), ReferenceKernels.Axpy(-0.75, x, y0), ReferenceKernels.Axpy(0.75, ReferenceKernels.Abs(x), ReferenceKernels.Abs(y0)),
            tolerance, "axpy");
    }

    public void FillAndCopy(int length)
    {
        var y = Output(length);
        backend.Fill(y, 2.5f);
        Assert.That(Read(y), Is.All.EqualTo(2.5f), "fill");
        var x = Random(length);
        backend.Copy(Upload(x), y);
        Assert.That(Read(y), Is.EqualTo(x), "copy");
    }

    public void SumAndBroadcast(int n, double tolerance)
    {
        var x = Random(n);
        var result = Output(1);
        backend.Sum(Upload(x), result, 0.5f);
        float sum = Read(result)[0];
        AssertClose([sum], [ReferenceKernels.Sum(x, 0.5)], [ReferenceKernels.Sum(ReferenceKernels.Abs(x), 0.5)], tolerance, "sum");

        var y = Output(33);
        backend.Broadcast(result, y, -2f);
        AssertClose(Read(y), Enumerable.Repeat(-2.0 * sum, 33).ToArray(), tolerance, "broadcast");
    }

    public void DropoutMask(int n, float p, ulong seed)
    {
        var mask = Output(n);
        backend.DropoutMask(mask, p, seed);
        float[] actual = Read(mask);
        Assert.That(actual, Is.EqualTo(ReferenceKernels.DropoutMask(n, p, seed).Select(v => (float)v).ToArray()), "the shared hash");
        double dropped = actual.Count(v => v == 0) / (double)n;
        Assert.That(dropped, Is.EqualTo(p).Within(5 * Math.Sqrt(p * (1 - p) / n)), "fraction dropped");

        var again = Output(n);
        backend.DropoutMask(again, p, seed);
        Assert.That(Read(again), Is.EqualTo(actual), "the same seed gives the same mask");
        backend.DropoutMask(again, p, seed + 1);
        Assert.That(Read(again), Is.Not.EqualTo(actual), "another seed gives another mask");
    }

    // ---- dense -------------------------------------------------------------------------------------

    public void Gemm(bool transA, bool transB, int m, int n, int k, double tolerance)
    {
        float[] a = Random(m * k), b = Random(k * n), c = Random(m * n);
        var ab = Upload(a);
        var bb = Upload(b);
        foreach (var (alpha, beta) in new[] { (1.5f, 0f), (-0.5f, 2f) })
        {
            var cb = beta == 0 ? Output(m * n) : Upload(c);   // beta = 0 must ignore C, NaN included
            backend.Gemm(transA, transB, m, n, k, alpha, ab, bb, beta, cb);
            AssertClose(Read(cb), ReferenceKernels.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c),
                ReferenceKernels.Gemm(transA, transB, m, n, k, Math.Abs(alpha), ReferenceKernels.Abs(a), ReferenceKernels.Abs(b), Math.Abs(beta),
                    ReferenceKernels.Abs(c)),
                tolerance, $"alpha {alpha} beta {beta}");
        }
    }

    public void AddRowVectorAndSumRows(int rows, int cols, double tolerance)
    {
        float[] y0 = Random(rows * cols), bias = Random(cols);
        var y = Upload(y0);
        backend.AddRowVector(y, Upload(bias), rows, cols);
        AssertClose(Read(y), ReferenceKernels.AddRowVector(y0, bias, cols),
            ReferenceKernels.AddRowVector(ReferenceKernels.Abs(y0), ReferenceKernels.Abs(bias), cols), tolerance, "add row vector");

        var x = Random(rows * cols);
        var sums = Output(cols);
        backend.SumRows(Upload(x), sums, rows, cols);
        AssertClose(Read(sums), ReferenceKernels.SumRows(x, rows, cols), ReferenceKernels.SumRows(ReferenceKernels.Abs(x), rows, cols),
            tolerance, "sum rows");
    }

    // ---- convolution -------------------------------------------------------------------------------

    public void Conv2d(Conv2dShape s, double tolerance)
    {
        float[] x = Random((int)s.InputLength), w = Random((int)s.WeightLength), bias = Random(s.K), dy = Random((int)s.OutputLength);
        float[] absX = ReferenceKernels.Abs(x), absW = ReferenceKernels.Abs(w), absDy = ReferenceKernels.Abs(dy);
        var xb = Upload(x);
        var wb = Upload(w);
        var dyb = Upload(dy);

        foreach (var b in new[] { bias, null })
        {
            var y = Output(s.OutputLength);
            backend.Conv2dForward(s, xb, wb, b == null ? null : Upload(b), y);
            AssertClose(Read(y), ReferenceKernels.Conv2dForward(s, x, w, b),
                ReferenceKernels.Conv2dForward(s, absX, absW, b == null ? null : ReferenceKernels.Abs(b)), tolerance,
                b == null ? "y without bias" : "y with bias");
        }

        var dx = Output(s.InputLength);
        backend.Conv2dBackwardInput(s, dyb, wb, dx);
        AssertClose(Read(dx), ReferenceKernels.Conv2dBackwardInput(s, dy, w), ReferenceKernels.Conv2dBackwardInput(s, absDy, absW),
            tolerance, "dx");

        var (dwExpected, dbiasExpected) = ReferenceKernels.Conv2dBackwardWeight(s, x, dy);
        var (dwScale, dbiasScale) = ReferenceKernels.Conv2dBackwardWeight(s, absX, absDy);
        var dw = Output(s.WeightLength);
        var dbias = Output(s.K);
        backend.Conv2dBackwardWeight(s, xb, dyb, dw, dbias);
        AssertClose(Read(dw), dwExpected, dwScale, tolerance, "dw");
        AssertClose(Read(dbias), dbiasExpected, dbiasScale, tolerance, "dbias");
        dw = Output(s.WeightLength);
        backend.Conv2dBackwardWeight(s, xb, dyb, dw, null);
        AssertClose(Read(dw), dwExpected, dwScale, tolerance, "dw without dbias");
    }

    // ---- padding, pooling --------------------------------------------------------------------------

    public void Pad2d(PadMode mode, Pad2dShape s, double tolerance)
    {
        float[] x = Random(s.Planes * s.H * s.W), dy = Random(s.Planes * s.OutH * s.OutW);
        var y = Output(dy.Length);
        backend.Pad2dForward(mode, s, Upload(x), y);
        Assert.That(Read(y), Is.EqualTo(ReferenceKernels.Pad2dForward(mode, s, x).Select(v => (float)v).ToArray()), "y");
        var dx = Output(x.Length);
        backend.Pad2dBackward(mode, s, Upload(dy), dx);
        AssertClose(Read(dx), ReferenceKernels.Pad2dBackward(mode, s, dy), ReferenceKernels.Pad2dBackward(mode, s, ReferenceKernels.Abs(dy)),
            tolerance, "dx");
    }

    public void MaxPool2d(Pool2dShape s, double tolerance)
    {
        var x = Enumerable.Range(0, s.Planes * s.H * s.W).Select(_ => (float)_random.NextInt(3)).ToArray();
        var dy = Random(s.Planes * s.OutH * s.OutW);
        var xb = Upload(x);
        var y = Output(dy.Length);
        backend.MaxPool2dForward(s, xb, y);
        Assert.That(Read(y), Is.EqualTo(ReferenceKernels.MaxPool2dForward(s, x).Select(v => (float)v).ToArray()), "y");
        var dx = Output(x.Length);
        backend.MaxPool2dBackward(s, xb, Upload(dy), dx);
        AssertClose(Read(dx), ReferenceKernels.MaxPool2dBackward(s, x, dy), ReferenceKernels.MaxPool2dBackward(s, x, ReferenceKernels.Abs(dy)),
            tolerance, "dx");
    }

    // ---- batch norm --------------------------------------------------------------------------------

    private const float NormEps = 1e-5f, NormMomentum = 0.1f;

    /// <summary>
    /// x (N,C,L) spread spreads[c]·U(−1, 1) around <paramref name="offset"/>; without spreads (1 + c), so channels differ.
    /// </summary>
    private float[] NormInput(NormShape s, float offset, float[]? spreads = null) =>
        Random((int)s.Length).Select((v, i) =>
        {
            int c = ReferenceKernels.Channel(s, i);
            return offset + v * (spreads?[c] ?? 1 + c);
        }).ToArray();

    public void BatchNormTraining(NormShape s, float offset, double tolerance, float[]? spreads = null)
    {
        float[] x = NormInput(s, offset, spreads), gamma = Random(s.C, 0.5, 1.5), beta = Random(s.C), dy = Random((int)s.Length);
        float[] runningMean = Random(s.C), runningVar = Random(s.C, 0.5, 2);
        var expected = ReferenceKernels.BatchNormTrainForward(s, x, gamma, beta, runningMean, runningVar, NormEps, NormMomentum);

        var xb = Upload(x);
        var gammab = Upload(gamma);
        var y = Output(s.Length);
        var mean = Output(s.C);
        var invStd = Output(s.C);
        var runningMeanb = Upload(runningMean);
        var runningVarb = Upload(runningVar);
        backend.BatchNormTrainForward(s, xb, gammab, Upload(beta), y, mean, invStd, runningMeanb, runningVarb, NormEps, NormMomentum);
        AssertCloseOrUnit(Read(y), expected.Y, tolerance, "y");
        AssertCloseOrUnit(Read(mean), expected.Mean, tolerance, "mean");
        AssertCloseOrUnit(Read(invStd), expected.InvStd, tolerance, "invStd");
        AssertCloseOrUnit(Read(runningMeanb), expected.RunningMean, tolerance, "running mean");
        AssertCloseOrUnit(Read(runningVarb), expected.RunningVar, tolerance, "running var");

        // Backward reads the saved statistics: feed the exact ones, so only its own error is measured.
        float[] exactMean = expected.Mean.Select(v => (float)v).ToArray(), exactInvStd = expected.InvStd.Select(v => (float)v).ToArray();
        var (dxExpected, dgammaExpected, dbetaExpected) = ReferenceKernels.BatchNormBackward(s, x, dy, gamma, exactMean, exactInvStd);
        var dx = Output(s.Length);
        var dgamma = Output(s.C);
        var dbeta = Output(s.C);
        backend.BatchNormBackward(s, xb, Upload(dy), gammab, Upload(exactMean), Upload(exactInvStd), dx, dgamma, dbeta);
        AssertCloseOrUnit(Read(dx), dxExpected, tolerance, "dx");
        var mass = GradientMass(s, x, dy, exactMean, exactInvStd);
        AssertClose(Read(dgamma), dgammaExpected, mass, tolerance, "dgamma");
        AssertClose(Read(dbeta), dbetaExpected, mass, tolerance, "dbeta");
    }

    /// <summary>Running variances drawn from [0.5, 2) unless given.</summary>
    public void BatchNormEval(NormShape s, double tolerance, float[]? runningVar = null)
    {
        float[] x = NormInput(s, 0), gamma = Random(s.C, 0.5, 1.5), beta = Random(s.C), dy = Random((int)s.Length);
        float[] runningMean = Random(s.C);
        runningVar ??= Random(s.C, 0.5, 2);
        var xb = Upload(x);
        var gammab = Upload(gamma);
        var runningMeanb = Upload(runningMean);
        var runningVarb = Upload(runningVar);

        var y = Output(s.Length);
        backend.BatchNormEvalForward(s, xb, gammab, Upload(beta), runningMeanb, runningVarb, y, NormEps);
        AssertCloseOrUnit(Read(y), ReferenceKernels.BatchNormEvalForward(s, x, gamma, beta, runningMean, runningVar, NormEps), tolerance, "y");

        var (dxExpected, dgammaExpected, dbetaExpected) = ReferenceKernels.BatchNormEvalBackward(s, x, dy, gamma, runningMean, runningVar, NormEps);
        var dx = Output(s.Length);
        var dgamma = Output(s.C);
        var dbeta = Output(s.C);
        backend.BatchNormEvalBackward(s, xb, Upload(dy), gammab, runningMeanb, runningVarb, dx, dgamma, dbeta, NormEps);
        AssertCloseOrUnit(Read(dx), dxExpected, tolerance, "dx");
        var invStd = runningVar.Select(v => (float)(1 / Math.Sqrt(v + (double)NormEps))).ToArray();
        var mass = GradientMass(s, x, dy, runningMean, invStd);
        AssertClose(Read(dgamma), dgammaExpected, mass, tolerance, "dgamma");
        AssertClose(Read(dbeta), dbetaExpected, mass, tolerance, "dbeta");
    }

    /// <summary>Per channel Σ|dy|·(1 + |x̂|), x̂ = (x − center)·invStd: the scale of dβ = Σ dy and dγ = Σ dy·x̂.</summary>
    private static double[] GradientMass(NormShape s, float[] x, float[] dy, float[] center, float[] invStd)
    {
        var mass = new double[s.C];
        for (int i = 0; i < x.Length; i++)
        {
            int c = ReferenceKernels.Channel(s, i);
            mass[c] += Math.Abs(dy[i]) * (1 + Math.Abs((x[i] - (double)center[c]) * invStd[c]));
        }
        return mass;
    }

    // ---- distance and loss -------------------------------------------------------------------------

    public void PairwiseDistance(int rows, int dim, double tolerance)
    {
        const float eps = 1e-6f;
        float[] a = Random(rows * dim), b = Random(rows * dim), dd = Random(rows);
        Array.Copy(a, 0, b, 0, dim);   // identical rows: d = eps·√dim, not 0
        var ab = Upload(a);
        var bb = Upload(b);
        var d = Output(rows);
        backend.PairwiseDistanceForward(rows, dim, ab, bb, d, eps);
        float[] distances = Read(d);
        AssertClose(distances, ReferenceKernels.PairwiseDistanceForward(rows, dim, a, b, eps), tolerance, "d");

        var da = Output(rows * dim);
        var db = Output(rows * dim);
        backend.PairwiseDistanceBackward(rows, dim, ab, bb, d, Upload(dd), da, db, eps);
        var daExpected = ReferenceKernels.PairwiseDistanceBackward(dim, a, b, distances, dd, eps);
        var scale = a.Select((_, j) => (double)Math.Abs(dd[j / dim])).ToArray();   // |da| ≤ |dd|
        AssertClose(Read(da), daExpected, scale, tolerance, "da");
        AssertClose(Read(db), daExpected.Select(v => -v).ToArray(), scale, tolerance, "db");
    }

    public void ContrastiveLoss(double tolerance)
    {
        const float margin = 2f, dloss = 0.5f;
        float[] d = [0.3f, 2.5f, 1.2f, 0.0001f, 3.1f, 1.99f, 0.7f, 2f];
        float[] label = [0, 1, 1, 0, 0, 1, 1, 1];   // 1 = different: below, above, at the margin
        var db = Upload(d);
        var lb = Upload(label);
        var loss = Output(1);
        backend.ContrastiveLossForward(d.Length, db, lb, loss, margin);
        AssertClose(Read(loss), [ReferenceKernels.ContrastiveLossForward(d, label, margin)], tolerance, "loss");

        var dd = Output(d.Length);
        backend.ContrastiveLossBackward(d.Length, db, lb, Upload([dloss]), dd, margin);
        AssertClose(Read(dd), ReferenceKernels.ContrastiveLossBackward(d, label, dloss, margin), tolerance, "dd");
    }

    public void L2Normalize(int rows, int dim, double tolerance)
    {
        const float eps = 1e-6f;
        var x = Random(rows * dim);
        for (int j = 0; j < dim; j++) x[2 * dim + j] *= 1e-8f;   // row 2: ‖x‖ < eps, divided by eps instead
        var y = Output(rows * dim);
        var norms = Output(rows);
        backend.L2NormalizeForward(rows, dim, Upload(x), y, norms, eps);
        var (yExpected, normsExpected) = ReferenceKernels.L2NormalizeForward(rows, dim, x, eps);
        AssertCloseOrUnit(Read(y), yExpected, tolerance, "y");
        AssertClose(Read(norms), normsExpected, tolerance, "norms");

        var dy = Random(rows * dim);
        var dx = Output(rows * dim);
        var yExact = yExpected.Select(v => (float)v).ToArray();
        backend.L2NormalizeBackward(rows, dim, Upload(yExact), norms, Upload(dy), dx, eps);
        var dxExpected = ReferenceKernels.L2NormalizeBackward(rows, dim, yExact, Read(norms), dy, eps);
        AssertCloseOrUnit(Read(dx), dxExpected, tolerance, "dx");
    }

    public void CrossEntropy(double tolerance)
    {
        const int rows = 6, classes = 5;
        const float dloss = 0.7f;
        var logits = Random(rows * classes, -3, 3);
        for (int k = 0; k < classes; k++) logits[3 * classes + k] += 90f;
        float[] label = [0, 4, 2, 2, 1, 3];
        var labelb = Upload(label);
        var p = Output(rows * classes);
        var loss = Output(1);
        backend.CrossEntropyForward(rows, classes, Upload(logits), labelb, p, loss);
        var (pExpected, lossExpected) = ReferenceKernels.CrossEntropyForward(rows, classes, logits, label);
        AssertCloseOrUnit(Read(p), pExpected, tolerance, "probabilities");
        AssertCloseOrUnit(Read(loss), [lossExpected], tolerance, "loss");

        var pExact = pExpected.Select(v => (float)v).ToArray();
        var dlogits = Output(rows * classes);
        backend.CrossEntropyBackward(rows, classes, Upload(pExact), labelb, Upload([dloss]), dlogits);
        AssertCloseOrUnit(Read(dlogits), ReferenceKernels.CrossEntropyBackward(rows, classes, pExact, label, dloss), tolerance, "dlogits");
    }

    // ---- optimisers --------------------------------------------------------------------------------

    public void Adam(float weightDecay, int n, double tolerance, double paramTolerance, float gradientScale = 1f)
    {
        const float lr = 5e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        var param = Random(n);
        double[] p = param.Select(v => (double)v).ToArray(), m = new double[n], v = new double[n];
        var pb = Upload(param);
        var mb = Upload(new float[n]);
        var vb = Upload(new float[n]);
        for (int t = 1; t <= 3; t++)
        {
            var grad = Random(n, -gradientScale, gradientScale);
            var h = new AdamStepParameters(lr, beta1, beta2, eps, weightDecay, 1 - MathF.Pow(beta1, t), 1 - MathF.Pow(beta2, t));
            backend.AdamStep(pb, Upload(grad), mb, vb, h);
            ReferenceKernels.AdamStep(p, grad, m, v, h);
        }
        AssertClose(Read(mb), m, m.Select(x => Math.Abs(x) + (1 - beta1)).ToArray(), tolerance, "m");
        AssertClose(Read(vb), v, tolerance, "v");
        AssertClose(Read(pb), p, p.Select(_ => 3.0 * lr).ToArray(), paramTolerance, "param");
    }

    public void Sgd(float momentum, float dampening, float weightDecay, bool nesterov, int n, double tolerance)
    {
        const float lr = 0.05f;
        var param = Random(n);
        double[] p = param.Select(v => (double)v).ToArray(), buffer = new double[n];
        var pb = Upload(param);
        var bufferb = Output(n);   // the first step must overwrite the buffer, not read it
        for (int t = 1; t <= 3; t++)
        {
            var grad = Random(n);
            var h = new SgdStepParameters(lr, momentum, dampening, weightDecay, nesterov, FirstStep: t == 1);
            backend.SgdStep(pb, Upload(grad), bufferb, h);
            ReferenceKernels.SgdStep(p, grad, buffer, h);
        }
        AssertClose(Read(pb), p, p.Select(x => Math.Abs(x) + 3 * lr).ToArray(), tolerance, "param");
        if (momentum != 0) AssertClose(Read(bufferb), buffer, buffer.Select(x => Math.Abs(x) + 1).ToArray(), tolerance, "momentum buffer");
        else Assert.That(Read(bufferb), Is.All.NaN, "without momentum the buffer is left alone");
    }

    // ---- buffers and comparison --------------------------------------------------------------------

    public DeviceBuffer Upload(float[] values)
    {
        var buffer = backend.Allocate(values.Length);
        _buffers.Add(buffer);
        backend.Upload(values, buffer);
        return buffer;
    }

    /// <summary>An output buffer filled with NaN from the host.</summary>
    private DeviceBuffer Output(long length) => Upload(Enumerable.Repeat(float.NaN, (int)length).ToArray());

    public float[] Read(DeviceBuffer buffer)
    {
        var values = new float[buffer.Length];
        backend.Download(buffer, values);
        return values;
    }

    /// <summary>Uniform in [low, high).</summary>
    private float[] Random(int n, double low = -1, double high = 1) =>
        Enumerable.Range(0, n).Select(_ => (float)_random.NextDouble(low, high)).ToArray();

    /// <summary>|actual − expected| ≤ tolerance·|expected| element by element.</summary>
    private static void AssertClose(float[] actual, double[] expected, double tolerance, string what) =>
        AssertClose(actual, expected, expected.Select(Math.Abs).ToArray(), tolerance, what);

    /// <summary>|actual − expected| ≤ tolerance·(1 + |expected|) element by element: relative, or absolute below 1.</summary>
    private static void AssertCloseOrUnit(float[] actual, double[] expected, double tolerance, string what) =>
        AssertClose(actual, expected, expected.Select(v => 1 + Math.Abs(v)).ToArray(), tolerance, what);

    /// <summary>|actual − expected| ≤ tolerance·scale element by element (NaN fails), naming the worst element.</summary>
    private static void AssertClose(float[] actual, double[] expected, double[] scale, double tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what + ": length");
        int worst = -1;
        double worstRatio = 1;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]), allowed = tolerance * scale[i];
            if (error <= allowed) continue;
            double ratio = double.IsNaN(error) ? double.PositiveInfinity : error / allowed;
            if (worst < 0 || ratio > worstRatio)
            {
                worst = i;
                worstRatio = ratio;
            }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst} of {actual.Length} is {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(allowed {tolerance:G2}·{scale[worst]:G3})");
    }
}
