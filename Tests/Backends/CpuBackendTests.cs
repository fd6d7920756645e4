using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// What only the cpu backend has: sizes large enough to cross its blocking and parallel-split thresholds (too slow
/// for ILGPU's CPU accelerator, so not in <see cref="KernelTests"/>), bit-identical results across runs, and buffer
/// ownership errors that name the argument. Runs with 256-bit and with 512-bit vectors (emulated by .NET where the
/// hardware lacks them), so both kernel paths are checked on any machine; the small edge cases of
/// <see cref="KernelTests"/> run at the width the hardware prefers.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
internal sealed class CpuBackendTests(bool wideVectors)
{
    /// <summary>Crosses the 65536-element piece boundary twice and leaves a scalar tail.</summary>
    private const int LongLength = (1 << 17) + 37;

    private CpuBackend _cpu = null!;
    private KernelChecks _check = null!;

    [OneTimeSetUp]
    public void OpenBackend() => _cpu = new CpuBackend(wideVectors) { PoisonAllocations = true };

    [OneTimeTearDown]
    public void CloseBackend() => _cpu.Dispose();

    [SetUp]
    public void StartCheck() => _check = new KernelChecks(_cpu);

    [TearDown]
    public void ReleaseBuffers() => _check.Dispose();

    // ---- element-wise and optimisers over several pieces: tolerances as in KernelTests --------------

    [TestCaseSource(typeof(KernelTests), nameof(KernelTests.UnaryCases))]
    public void UnaryOverPieces(UnaryKind kind, float scalar) => _check.Unary(kind, scalar, LongLength, tolerance: 1e-6);

    [TestCaseSource(typeof(KernelTests), nameof(KernelTests.BinaryKinds))]
    public void BinaryOverPieces(BinaryKind kind) => _check.Binary(kind, LongLength, tolerance: 1e-6);

    [Test]
    public void ElementwiseOverPieces()
    {
        _check.Axpy(LongLength, tolerance: 1e-6);
        _check.FillAndCopy(LongLength);
        _check.SumAndBroadcast(LongLength, tolerance: 1e-6);
        _check.DropoutMask(LongLength, p: 0.3f, seed: 42);
    }

    [Test]
    public void OptimisersOverPieces()
    {
        _check.Adam(weightDecay: 0.01f, LongLength, tolerance: 1e-6, paramTolerance: 1e-3);
        _check.Sgd(momentum: 0.9f, dampening: 0.1f, weightDecay: 0.01f, nesterov: false, LongLength, tolerance: 1e-6);
        _check.Sgd(momentum: 0.8f, dampening: 0f, weightDecay: 0.05f, nesterov: true, LongLength, tolerance: 1e-6);
    }

    // ---- GEMM blocking: |error| ≤ 1e-6·(|alpha|·Σ|a·b| + |beta·c|) ------------------------------------

    public static IEnumerable<TestCaseData> BlockedGemmCases() =>
        from s in new int[][]
        {
            [150, 70, 800],   // crosses the 144-row A block (MC) and the 768-deep slice (KC)
            [13, 70, 5000],   // small C, long k: k is cut into parts added in order
            [40, 300, 3000],  // the same as A · Bᵀ with B the larger: parts of Cᵀ, B's rows read in place
            [5, 4200, 20],    // crosses the 2048-column B block (NC) twice
            [20, 4200, 300],  // the same with deep panels: B stored (k, n) read in place, a last partial panel packed
            [3, 70, 5037],    // as A · Bᵀ: dot products of three rows, with a scalar tail of k
            [1, 300, 1000],   // as A · Bᵀ: one row
        }
        from transA in new[] { false, true } from transB in new[] { false, true }
        select new TestCaseData(transA, transB, s[0], s[1], s[2]);

    [TestCaseSource(nameof(BlockedGemmCases))]
    public void GemmAcrossBlocks(bool transA, bool transB, int m, int n, int k) => _check.Gemm(transA, transB, m, n, k, tolerance: 1e-6);

    /// <summary>
    /// The first m rows of a 24-row product, whose rows all lie in full register tiles (12 or 6 rows), against the
    /// product of those m rows alone, whose last rows form a bottom edge (8, 4 or 2 rows: a kernel of that height; 10:
    /// the full kernel on a copy), bit for bit; B stored (k, n) is read in place and the one-tile product asks ahead.
    /// </summary>
    [TestCase(false, 20), TestCase(false, 16), TestCase(false, 14), TestCase(false, 10), TestCase(false, 8)]
    [TestCase(true, 20), TestCase(true, 16), TestCase(true, 14), TestCase(true, 10), TestCase(true, 8)]
    public void GemmRowsAreTheSameInAnEdgeTileAsInAFullOne(bool transA, int m)
    {
        const int full = 24, n = 200, k = 300;
        var random = new SeededRandom(11);
        float[] a = Enumerable.Range(0, full * k).Select(_ => random.NextSymmetric(1)).ToArray();
        float[] b = Enumerable.Range(0, k * n).Select(_ => random.NextSymmetric(1)).ToArray();
        // op(A)'s first m rows: a prefix of A stored (m, k); the first m of each row of A stored (k, m)
        float[] rows = transA ? Enumerable.Range(0, k).SelectMany(p => a.Skip(p * full).Take(m)).ToArray() : a[..(m * k)];
        foreach (var (alpha, beta) in new[] { (1.5f, 0f), (-0.5f, 2f) })
        {
            float[] c = Enumerable.Range(0, full * n).Select(_ => random.NextSymmetric(1)).ToArray();
            DeviceBuffer wholeC = _check.Upload(c), edgeC = _check.Upload(c[..(m * n)]);
            _cpu.Gemm(transA, false, full, n, k, alpha, _check.Upload(a), _check.Upload(b), beta, wholeC);
            _cpu.Gemm(transA, false, m, n, k, alpha, _check.Upload(rows), _check.Upload(b), beta, edgeC);
            Assert.That(_check.Read(edgeC).Select(BitConverter.SingleToInt32Bits),
                Is.EqualTo(_check.Read(wholeC)[..(m * n)].Select(BitConverter.SingleToInt32Bits)), $"alpha {alpha} beta {beta}");
        }
    }

    // ---- row pieces, channel groups, the other vector width -----------------------------------------

    // 150 rows of 1001 columns: several row pieces and a scalar tail; |error| ≤ 1e-6·Σ|terms|
    [Test]
    public void AddRowVectorAndSumRowsOverPieces() => _check.AddRowVectorAndSumRows(150, 1001, tolerance: 1e-6);

    // N·L = 210000 per channel: three groups of rows per channel; tolerances as in KernelTests
    [Test]
    public void BatchNormOverRowGroups()
    {
        var s = new NormShape(3, 2, 70_000);
        _check.BatchNormTraining(s, offset: 0, tolerance: 1e-5);
        _check.BatchNormEval(s, tolerance: 1e-5);
    }

    // the register-blocked rows (eight or four channels × two output rows × a vector) at this width: |error| ≤ 1e-6·Σ|terms|
    [Test]
    public void ConvolutionVectorPath()
    {
        _check.Conv2d(new Conv2dShape(3, 4, 10, 37, 8, 3, 3, 1, 1, 1, 1), tolerance: 1e-6);
        // 13 channels: an eight-channel block, then one with three real channels; 9 rows: the last pair shifted up
        _check.Conv2d(new Conv2dShape(2, 3, 9, 20, 13, 3, 3, 1, 1, 1, 1), tolerance: 1e-6);
        // one image cut into row pieces of two and three rows; 6 channels: one eight-channel block
        _check.Conv2d(new Conv2dShape(1, 3, 11, 19, 6, 3, 3, 1, 1, 0, 0), tolerance: 1e-6);
        // a single output row: the scalar path
        _check.Conv2d(new Conv2dShape(2, 2, 3, 40, 8, 3, 3, 1, 1, 0, 0), tolerance: 1e-6);
        _check.Conv2d(new Conv2dShape(2, 2, 13, 45, 6, 5, 3, 1, 1, 2, 1), tolerance: 1e-6);
        // tall images: the weight gradient walks the rows in several L1-sized bands
        _check.Conv2d(new Conv2dShape(2, 3, 70, 40, 5, 3, 3, 1, 1, 0, 0), tolerance: 1e-6);
        _check.Conv2d(new Conv2dShape(1, 2, 60, 45, 4, 5, 5, 1, 1, 2, 2), tolerance: 1e-6);
        _check.Conv2d(new Conv2dShape(2, 1, 102, 102, 4, 3, 3, 1, 1, 0, 0), tolerance: 1e-6);
        // the seed's blocks: the edges replicated or reflected into the padded rows
        _check.Conv2d(new Conv2dShape(2, 4, 12, 40, 8, 3, 3, 1, 1, 1, 1, PadMode.Replication), tolerance: 1e-6);
        _check.Conv2d(new Conv2dShape(2, 4, 12, 40, 8, 3, 3, 1, 1, 1, 1, PadMode.Reflection), tolerance: 1e-6);
    }

    // narrow outputs with deep patches go through the lowered matrices and the GEMM: |error| ≤ 1e-6·Σ|terms|
    [Test]
    public void ConvolutionLoweredPath()
    {
        _check.Conv2d(new Conv2dShape(3, 16, 12, 9, 20, 3, 3, 1, 1, 1, 1), tolerance: 1e-6);      // the improved network's blocks
        _check.Conv2d(new Conv2dShape(2, 8, 11, 7, 5, 3, 3, 2, 2, 1, 1), tolerance: 1e-6);        // stride 2, odd sizes
        _check.Conv2d(new Conv2dShape(2, 6, 9, 10, 4, 5, 3, 1, 1, 2, 1), tolerance: 1e-6);        // 5×3 kernel, pad 2×1
        _check.Conv2d(new Conv2dShape(1, 4, 5, 6, 3, 3, 3, 1, 2, 3, 3), tolerance: 1e-6);         // pad as wide as the kernel
        _check.Conv2d(new Conv2dShape(2, 8, 11, 7, 5, 3, 3, 1, 1, 2, 1, PadMode.Reflection), tolerance: 1e-6);  // padded first
    }

    // ---- determinism and ownership ---------------------------------------------------------------

    [Test]
    public void RepeatedRunsAreBitIdentical()
    {
        float[] RunAll()
        {
            var random = new SeededRandom(7);
            var buffers = new List<DeviceBuffer>();
            DeviceBuffer Output(long n)   // contents left from earlier use: a kernel that reads them shows here
            {
                var buffer = _cpu.Allocate(n);
                buffers.Add(buffer);
                return buffer;
            }
            DeviceBuffer Values(long n)
            {
                var buffer = Output(n);
                _cpu.Upload(Enumerable.Range(0, (int)n).Select(_ => random.NextSymmetric(1)).ToArray(), buffer);
                return buffer;
            }
            try
            {
                var outputs = new List<DeviceBuffer>();
                foreach (var (m, n, k) in new[] { (64, 100, 6000), (40, 300, 200), (2, 300, 6000) })   // cut k, whole k, dot products
                {
                    var c = Output(m * n);
                    _cpu.Gemm(false, true, m, n, k, 1, Values(m * k), Values(n * k), 0, c);
                    outputs.Add(c);
                }
                var conv = new Conv2dShape(24, 4, 20, 40, 8, 3, 3, 1, 1, 1, 1);
                DeviceBuffer dw = Output(conv.WeightLength), dbias = Output(conv.K);
                _cpu.Conv2dBackwardWeight(conv, Values(conv.InputLength), Values(conv.OutputLength), dw, dbias);
                outputs.AddRange([dw, dbias]);

                var norm = new NormShape(16, 3, 9000);
                DeviceBuffer x = Values(norm.Length), gamma = Values(3), y = Output(norm.Length), mean = Output(3), invStd = Output(3);
                DeviceBuffer runningVar = Values(3), dx = Output(norm.Length), dgamma = Output(3), dbeta = Output(3), sum = Output(1);
                _cpu.BatchNormTrainForward(norm, x, gamma, Values(3), y, mean, invStd, Values(3), runningVar, 1e-5f, 0.1f);
                _cpu.BatchNormBackward(norm, x, Values(norm.Length), gamma, mean, invStd, dx, dgamma, dbeta, afterRelu: false);
                _cpu.Sum(y, sum, 1);
                outputs.AddRange([y, mean, invStd, runningVar, dx, dgamma, dbeta, sum]);

                return outputs.SelectMany(b => _check.Read(b)).ToArray();
            }
            finally
            {
                foreach (var buffer in buffers) buffer.Dispose();
            }
        }

        float[] first = RunAll(), second = RunAll();
        Assert.That(second, Has.Length.EqualTo(first.Length));
        for (int i = 0; i < first.Length; i++)
            Assert.That(BitConverter.SingleToInt32Bits(second[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(first[i])), $"result {i}");
    }

    [Test]
    public void ABufferOfAnotherCpuBackendIsRejectedNamingTheArgument()
    {
        using var other = new CpuBackend(wideVectors);
        using var foreign = other.Allocate(4);
        using var own = _cpu.Allocate(4);
        var error = Assert.Throws<ArgumentException>(() => _cpu.Copy(own, 0, foreign, 0, 4));
        Assert.That(error!.ParamName, Is.EqualTo("y"));
    }
}
