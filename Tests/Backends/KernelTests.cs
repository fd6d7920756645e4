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
    public void AnUploadFromAnOffsetWritesOnlyItsOwnElements()
    {
        var y = _check.Upload(Enumerable.Range(0, Length).Select(i => (float)i).ToArray());
        Backend.Upload([-1f, -2f, -3f], y, 1000);
        Backend.Upload([], y, Length);
        var expected = Enumerable.Range(0, Length).Select(i => i is >= 1000 and < 1003 ? -(i - 999f) : i).ToArray();
        Assert.That(_check.Read(y), Is.EqualTo(expected));
    }

    [Test]
    public void KernelsRejectForeignAndDisposedBuffersBeforeWriting()
    {
        var y = _check.Upload(new float[10]);
        Assert.Throws<ArgumentException>(() => Backend.Fill(new ForeignBuffer(Backend, 10), 1f));
        var disposed = Backend.Allocate(10);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Backend.Copy(disposed, 0, y, 0, 10));
        Assert.That(_check.Read(y), Is.All.EqualTo(0f));
    }

    /// <summary>Claims to belong to the backend but is none of its buffers.</summary>
    private sealed class ForeignBuffer(IBackend backend, long length) : DeviceBuffer(backend, length)
    {
        protected override void Release() { }
    }

    // ---- element-wise ------------------------------------------------------------------------------

    // against the op's own scalar form, so only rounding differs (a few ulps where a GPU's sqrt is approximate):
    // |error| ≤ 1e-6·|expected|; the kinks are exact: ReLU's gradient at ±0 is 0, clamp's at its bound is dy
    [TestCaseSource(nameof(UnaryCases))]
    public void Unary(UnaryKind kind, float scalar) => _check.Unary(kind, scalar, Length, tolerance: 1e-6);

    /// <summary>Every unary kind, at a scalar that is neither 0 nor 1 (the bound of ClampMin, the factor of MulScalar...).</summary>
    public static IEnumerable<TestCaseData> UnaryCases() => Enum.GetValues<UnaryKind>().Select(kind => new TestCaseData(kind, -0.75f));

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
        // the input gradient's correlation pads dy by no columns: the cpu weight gradient's flat sums, on dy as padded
        // for it, read past each source row into the next row's zero padding
        yield return new TestCaseData(new Conv2dShape(2, 2, 6, 34, 3, 3, 3, 1, 1, 2, 2)).SetArgDisplayNames("3x3, pad 2");
        yield return new TestCaseData(new Conv2dShape(4, 1, 4, 50, 4, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("one input channel");
        yield return new TestCaseData(new Conv2dShape(1, 5, 4, 3, 2, 1, 1, 1, 1, 0, 0)).SetArgDisplayNames("1x1");
        // weight-gradient depth N·OH·OW = 512: four depth slices on ILGPU
        yield return new TestCaseData(new Conv2dShape(2, 2, 16, 16, 3, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("16x16, pad 1");
        // more images than the 64 groups of images the cpu weight gradient sums in: 65 put two images in one group, 130
        // (a batch of 65 pairs) two in every group, here over output rows of 16, the vector path
        yield return new TestCaseData(new Conv2dShape(65, 2, 3, 4, 3, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("65 images");
        yield return new TestCaseData(new Conv2dShape(130, 1, 1, 16, 2, 1, 3, 1, 1, 0, 1)).SetArgDisplayNames("130 images, rows of vectors");
        // 10 channels: with AVX-512 the cpu weight gradient takes a block of eight, then one of four whose last two
        // reread channel 9
        yield return new TestCaseData(new Conv2dShape(2, 3, 30, 40, 10, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("10 channels");
        // padding that replicates or reflects the edges: the vector rows, the scalar path (stride 2), the lowered path
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 37, 5, 3, 3, 1, 1, 1, 1, PadMode.Replication)).SetArgDisplayNames("replicate pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 37, 5, 3, 3, 1, 1, 1, 1, PadMode.Reflection)).SetArgDisplayNames("reflect pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 2, 7, 9, 3, 5, 3, 2, 1, 2, 1, PadMode.Reflection)).SetArgDisplayNames("reflect 5x3, stride 2x1, pad 2x1");
        yield return new TestCaseData(new Conv2dShape(2, 8, 6, 6, 4, 3, 3, 1, 1, 1, 1, PadMode.Replication)).SetArgDisplayNames("replicate, narrow and deep");
    }

    // forward with and without bias (and ReLU), input gradient (through a padding mode: folded back), weight gradient
    // with and without dbias:
    // |error| ≤ 1e-6·Σ|terms|; and all the gradients from one call, bit for bit those of one call each
    [TestCaseSource(nameof(ConvCases))]
    public void Conv2d(Conv2dShape s) => _check.Conv2d(s, tolerance: 1e-6);

    public static IEnumerable<TestCaseData> ConvIntoNormCases()
    {
        // the cpu sums each image's rows for BatchNorm as the convolution writes them where every image is one piece:
        // four images or more per core
        int images = 4 * Environment.ProcessorCount;
        yield return new TestCaseData(new Conv2dShape(images, 3, 5, 37, 8, 3, 3, 1, 1, 1, 1, PadMode.Reflection), 2).SetArgDisplayNames("reflect pad 1, 2 batches");
        yield return new TestCaseData(new Conv2dShape(images, 1, 6, 20, 5, 3, 3, 1, 1, 1, 1), 1).SetArgDisplayNames("zero pad 1, K not a multiple of 4");
        yield return new TestCaseData(new Conv2dShape(2, 2, 9, 36, 4, 3, 3, 1, 1, 1, 1, PadMode.Reflection), 2).SetArgDisplayNames("two images, cut into rows");
        yield return new TestCaseData(new Conv2dShape(images, 8, 6, 6, 4, 3, 3, 1, 1, 1, 1, PadMode.Replication), 1).SetArgDisplayNames("replicate, narrow and deep");
    }

    // one call bit for bit the two kernels one after the other
    [TestCaseSource(nameof(ConvIntoNormCases))]
    public void Conv2dReluBatchNormForward(Conv2dShape s, int batches) => _check.Conv2dReluBatchNormForward(s, batches);

    public static IEnumerable<TestCaseData> ConvNormCases()
    {
        // N, C, H, W, K, R, S, strideH, strideW, padH, padW: the cpu makes dy image by image where it pads dy itself
        // (stride 1, not lowered), with zero padding or by a mode, two batches or one, with dx or without (a first
        // block, whose input is the image); elsewhere it writes dy whole (stride 2; rows narrower than two vectors
        // and deep patches, lowered)
        yield return new TestCaseData(new Conv2dShape(4, 3, 9, 37, 8, 3, 3, 1, 1, 1, 1, PadMode.Reflection), 2, true).SetArgDisplayNames("reflect pad 1, 2 batches");
        yield return new TestCaseData(new Conv2dShape(3, 2, 7, 40, 5, 3, 3, 1, 1, 1, 1), 1, true).SetArgDisplayNames("zero pad 1, K not a multiple of 4");
        yield return new TestCaseData(new Conv2dShape(4, 1, 6, 35, 4, 3, 3, 1, 1, 1, 1, PadMode.Reflection), 2, false).SetArgDisplayNames("reflect pad 1, no dx");
        yield return new TestCaseData(new Conv2dShape(2, 3, 11, 40, 4, 3, 3, 2, 2, 1, 1), 1, true).SetArgDisplayNames("stride 2");
        yield return new TestCaseData(new Conv2dShape(2, 8, 6, 6, 4, 3, 3, 1, 1, 1, 1, PadMode.Replication), 2, true).SetArgDisplayNames("replicate, narrow and deep");
    }

    // one call bit for bit the two kernels one after the other
    [TestCaseSource(nameof(ConvNormCases))]
    public void Conv2dReluBatchNormBackward(Conv2dShape s, int batches, bool inputGradient) =>
        _check.Conv2dReluBatchNormBackward(s, batches, inputGradient);

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

    // the gradient of x is a sum from zero, as PyTorch's: −0 everywhere in dy gives +0 everywhere in dx
    [TestCase(PadMode.Replication)]
    [TestCase(PadMode.Reflection)]
    public void Pad2dBackwardOfNegativeZerosIsPositiveZero(PadMode mode) =>
        _check.Pad2dBackwardOfNegativeZeros(mode, new Pad2dShape(2, 5, 6, Top: 2, Bottom: 1, Left: 1, Right: 3));

    public static IEnumerable<TestCaseData> PoolCases()
    {
        yield return new TestCaseData(new Pool2dShape(4, 9, 11, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2, last row and column unused");
        yield return new TestCaseData(new Pool2dShape(2, 6, 6, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2, exact fit");
        yield return new TestCaseData(new Pool2dShape(3, 21, 37, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2, 18 windows a row: two vectors of eight and two alone");
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

    // a mean of 10⁵, the samples 0.7 apart and spreads of 1–3: float keeps x to 1/128 there, so y and dx hold to 3e-2
    // only (x − mean keeps a few bits), but the statistics of those floats hold to 1e-4 (a row's mean rounded to float
    // is up to 1/256 off, 37 times over in its deviations: merged as if exact, they put invStd about 5e-4 off)
    [Test]
    public void BatchNormTrainingStatisticsFarFromZero() =>
        _check.BatchNormTraining(new NormShape(4, 3, 37), offset: 1e5f, tolerance: 3e-2, statisticsTolerance: 1e-4, rowStep: 0.7f);

    // after a ReLU: dx also 0 where x ≤ 0 (x drawn around 0, so about half of it, and exact zeros at every 7th element)
    [TestCase(4, 3, 37)]
    [TestCase(2, 2, 2100)]
    public void BatchNormTrainingAfterRelu(int n, int c, int l) =>
        _check.BatchNormTraining(new NormShape(n, c, l), offset: 0f, tolerance: 1e-5, afterRelu: true);

    // N images as equal batches, each normalised by its own statistics: bit for bit one call per batch
    [TestCase(6, 3, 37, 2, false)]
    [TestCase(6, 3, 37, 3, true)]
    [TestCase(4, 2, 2100, 2, true)]      // two ILGPU reduction chunks per batch and channel
    public void BatchNormTrainingInBatches(int n, int c, int l, int batches, bool afterRelu) =>
        _check.BatchNormTrainingInBatches(new NormShape(n, c, l, batches), afterRelu);

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
