using NUnit.Framework;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Ilgpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every IBackend method of the ILGPU backend, run on ILGPU's CPU accelerator (real groups, shared memory and
/// barriers, emulated with threads) against plain double-precision references written here. The accelerator is slow
/// per element, so tensors are tiny but shaped to reach every edge: partial tiles, depth slices, several reduction
/// chunks, strides, asymmetric pads, pooling ties. Outputs start as NaN, so an element a kernel forgets to write fails.
/// </summary>
[TestFixture]
public sealed class IlgpuKernelTests
{
    private IlgpuBackend _backend = null!;
    private readonly List<DeviceBuffer> _buffers = [];

    [OneTimeSetUp]
    public void OpenBackend() => _backend = IlgpuBackend.Open(IlgpuDevices.CpuName);

    [OneTimeTearDown]
    public void CloseBackend() => _backend.Dispose();

    [TearDown]
    public void ReleaseBuffers()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        _buffers.Clear();
    }

    // ---- device, buffers ------------------------------------------------------------------------

    [Test]
    public void DiscoveryListsTheCpuAcceleratorAndOpenRejectsUnknownNames()
    {
        var devices = IlgpuDevices.Discover();
        Assert.That(devices.Select(d => d.Name), Does.Contain(IlgpuDevices.CpuName));
        Assert.That(devices.Select(d => d.Name), Is.Unique);
        var error = Assert.Throws<ArgumentException>(() => IlgpuBackend.Open("cuda:99"));
        Assert.That(error!.Message, Does.Contain(IlgpuDevices.CpuName));
        Assert.That(_backend.Name, Is.EqualTo(IlgpuDevices.CpuName));
    }

    [Test]
    public void UploadDownloadRoundTripsAndThePoolReusesStorage()
    {
        var values = RandomValues(1, 123);
        Assert.That(Read(Upload(values)), Is.EqualTo(values));

        var before = _backend.PoolStatistics;
        _backend.Allocate(777).Dispose();
        _backend.Allocate(777).Dispose();
        var after = _backend.PoolStatistics;
        Assert.That(after.Allocations - before.Allocations, Is.LessThanOrEqualTo(1));
        Assert.That(after.Reuses - before.Reuses, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public void LaunchesRejectForeignShortAndDisposedBuffersBeforeRunning()
    {
        var y = Filled(10, 0f);
        Assert.Throws<ArgumentException>(() => _backend.Fill(new ForeignBuffer(_backend, 10), 1f));
        Assert.Throws<ArgumentException>(() => _backend.Binary(BinaryKind.Add, Filled(10, 1f), Filled(5, 1f), y));
        var disposed = _backend.Allocate(10);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _backend.Copy(disposed, y));
        Assert.That(Read(y), Is.All.EqualTo(0f));
    }

    private sealed class ForeignBuffer(IBackend backend, long length) : DeviceBuffer(backend, length)
    {
        protected override void Release() { }
    }

    // ---- element-wise ---------------------------------------------------------------------------

    [Test]
    public void FillAndCopy()
    {
        var y = Filled(1000, float.NaN);
        _backend.Fill(y, 2.5f);
        Assert.That(Read(y), Is.All.EqualTo(2.5f));
        var x = Upload(RandomValues(2, 1000));
        _backend.Copy(x, y);
        Assert.That(Read(y), Is.EqualTo(Read(x)));
    }

    // exact up to float rounding of one operation: |error| ≤ 1e-6·|expected|
    [TestCase(UnaryKind.Relu, 0f)]
    [TestCase(UnaryKind.Square, 0f)]
    [TestCase(UnaryKind.Sqrt, 0f)]
    [TestCase(UnaryKind.ClampMin, 0.25f)]
    [TestCase(UnaryKind.AddScalar, -1.5f)]
    [TestCase(UnaryKind.MulScalar, 3f)]
    public void UnaryForwardAndBackward(UnaryKind kind, float scalar)
    {
        var x = UnaryInputs(kind, scalar);
        var dy = RandomValues(3, x.Length);
        var yExpected = x.Select(v => UnaryReference(kind, v, scalar)).ToArray();
        var xb = Upload(x);
        var y = Filled(x.Length, float.NaN);
        _backend.Unary(kind, xb, y, scalar);
        AssertClose(Read(y), yExpected, 0, 1e-6);

        var yFloat = yExpected.Select(v => (float)v).ToArray();
        var dx = Filled(x.Length, float.NaN);
        _backend.UnaryBackward(kind, xb, Upload(yFloat), Upload(dy), dx, scalar);
        var dxExpected = x.Select((v, i) => dy[i] * UnaryDerivative(kind, v, yFloat[i], scalar)).ToArray();
        AssertClose(Read(dx), dxExpected, 0, 1e-6);
    }

    /// <summary>Random values plus the kinks: 0 (ReLU) and x == scalar (clamp).</summary>
    private static float[] UnaryInputs(UnaryKind kind, float scalar)
    {
        var x = RandomValues(4, 300, kind == UnaryKind.Sqrt ? 0.01f : -2f, 2f);
        if (kind != UnaryKind.Sqrt)
        {
            x[0] = 0f;
            x[1] = scalar;
            x[2] = -0f;
        }
        return x;
    }

    private static double UnaryReference(UnaryKind kind, double x, double s) => kind switch
    {
        UnaryKind.Relu => Math.Max(x, 0),
        UnaryKind.Square => x * x,
        UnaryKind.Sqrt => Math.Sqrt(x),
        UnaryKind.ClampMin => Math.Max(x, s),
        UnaryKind.AddScalar => x + s,
        UnaryKind.MulScalar => x * s,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static double UnaryDerivative(UnaryKind kind, double x, double y, double s) => kind switch
    {
        UnaryKind.Relu => x > 0 ? 1 : 0,
        UnaryKind.Square => 2 * x,
        UnaryKind.Sqrt => 1 / (2 * y),
        UnaryKind.ClampMin => x >= s ? 1 : 0,
        UnaryKind.AddScalar => 1,
        UnaryKind.MulScalar => s,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [TestCase(BinaryKind.Add)]
    [TestCase(BinaryKind.Sub)]
    [TestCase(BinaryKind.Mul)]
    public void Binary(BinaryKind kind)
    {
        var a = RandomValues(5, 257);
        var b = RandomValues(6, 257);
        var y = Filled(257, float.NaN);
        _backend.Binary(kind, Upload(a), Upload(b), y);
        var expected = a.Select((v, i) => kind switch
        {
            BinaryKind.Add => (double)v + b[i],
            BinaryKind.Sub => (double)v - b[i],
            _ => (double)v * b[i],
        }).ToArray();
        AssertClose(Read(y), expected, 0, 1e-6);
    }

    [Test]
    public void AxpyAccumulates()
    {
        var x = RandomValues(7, 300);
        var y0 = RandomValues(8, 300);
        var y = Upload(y0);
        _backend.Axpy(-0.75f, Upload(x), y);
        AssertClose(Read(y), y0.Select((v, i) => v - 0.75 * x[i]).ToArray(), 1e-7, 1e-6);
    }

    // 0 elements, one reduction chunk, three chunks (two passes): |error| ≤ 1e-6·Σ|x|
    [TestCase(0)]
    [TestCase(100)]
    [TestCase(10_000)]
    public void SumAndBroadcast(int n)
    {
        var x = RandomValues(9, n);
        var result = Filled(1, float.NaN);
        _backend.Sum(Upload(x), result, 0.5f);
        double expected = 0.5 * x.Sum(v => (double)v);
        AssertClose(Read(result), [expected], 1e-6 * x.Sum(v => Math.Abs((double)v)) + 1e-7, 0);

        var y = Filled(33, float.NaN);
        _backend.Broadcast(result, y, -2f);
        AssertClose(Read(y), Enumerable.Repeat(-2.0 * Read(result)[0], 33).ToArray(), 0, 1e-7);
    }

    [Test]
    public void DropoutMaskFollowsTheSharedHash()
    {
        const float p = 0.3f;
        const ulong seed = 0xC0FFEE;
        var mask = Filled(2000, float.NaN);
        _backend.DropoutMask(mask, p, seed);
        var expected = Enumerable.Range(0, 2000).Select(i => DropoutHash.Uniform(seed, i) < p ? 0f : 1f / (1f - p));
        Assert.That(Read(mask), Is.EqualTo(expected));
    }

    // ---- dense ----------------------------------------------------------------------------------

    // all transposes of odd sizes; exact multiples of the 64×64×16 tile; M < K with depth slices (2 and 7); k = 0
    [TestCase(false, false, 37, 45, 29)]
    [TestCase(false, true, 37, 45, 29)]
    [TestCase(true, false, 37, 45, 29)]
    [TestCase(true, true, 37, 45, 29)]
    [TestCase(false, false, 64, 128, 32)]
    [TestCase(true, true, 128, 64, 48)]
    [TestCase(false, false, 5, 7, 300)]
    [TestCase(true, false, 5, 7, 300)]
    [TestCase(false, true, 3, 70, 1000)]
    [TestCase(true, true, 1, 1, 1)]
    [TestCase(false, false, 3, 4, 0)]
    public void Gemm(bool transA, bool transB, int m, int n, int k)
    {
        var a = RandomValues(10, m * k);
        var b = RandomValues(11, k * n);
        var c0 = RandomValues(12, m * n);
        var ab = Upload(a);
        var bb = Upload(b);
        double tolerance = 2e-6 * k + 1e-6; // float accumulation of k products of values in [−1, 1]

        var c = Filled(m * n, float.NaN); // β = 0 must ignore C, NaN included
        _backend.Gemm(transA, transB, m, n, k, 1.5f, ab, bb, 0f, c);
        AssertClose(Read(c), GemmReference(transA, transB, m, n, k, 1.5, a, b, 0, c0), tolerance, 1e-5);

        c = Upload(c0);
        _backend.Gemm(transA, transB, m, n, k, -0.5f, ab, bb, 2f, c);
        AssertClose(Read(c), GemmReference(transA, transB, m, n, k, -0.5, a, b, 2, c0), tolerance, 1e-5);
    }

    private static double[] GemmReference(bool transA, bool transB, int m, int n, int k, double alpha, float[] a, float[] b,
        double beta, float[] c)
    {
        var result = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                result[i * n + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * n + j]);
            }
        return result;
    }

    [Test]
    public void AddRowVectorAccumulates()
    {
        var y0 = RandomValues(13, 9 * 11);
        var bias = RandomValues(14, 11);
        var y = Upload(y0);
        _backend.AddRowVector(y, Upload(bias), 9, 11);
        AssertClose(Read(y), y0.Select((v, i) => (double)v + bias[i % 11]).ToArray(), 1e-7, 1e-6);
    }

    // one chunk per column, and two chunks (rows > 4096): |error| ≤ 1e-6·rows
    [TestCase(300, 7)]
    [TestCase(5000, 3)]
    public void SumRows(int rows, int cols)
    {
        var x = RandomValues(15, rows * cols);
        var sums = Filled(cols, float.NaN);
        _backend.SumRows(Upload(x), sums, rows, cols);
        var expected = Enumerable.Range(0, cols).Select(j => Enumerable.Range(0, rows).Sum(i => (double)x[i * cols + j])).ToArray();
        AssertClose(Read(sums), expected, 1e-6 * rows, 0);
    }

    // ---- convolution ------------------------------------------------------------------------------

    public static IEnumerable<TestCaseData> ConvShapes()
    {
        yield return new TestCaseData(new Conv2dShape(N: 2, C: 3, H: 9, W: 8, K: 4, R: 3, S: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1))
            .SetArgDisplayNames("3x3 stride 2 pad 1");
        yield return new TestCaseData(new Conv2dShape(N: 2, C: 3, H: 9, W: 8, K: 5, R: 5, S: 3, StrideH: 1, StrideW: 2, PadH: 2, PadW: 0))
            .SetArgDisplayNames("5x3 stride 1x2 pad 2x0");
        yield return new TestCaseData(new Conv2dShape(N: 1, C: 5, H: 4, W: 3, K: 2, R: 1, S: 1, StrideH: 1, StrideW: 1, PadH: 0, PadW: 0))
            .SetArgDisplayNames("1x1");
        // weight gradient depth N·OH·OW = 512: split into 4 slices
        yield return new TestCaseData(new Conv2dShape(N: 2, C: 2, H: 16, W: 16, K: 3, R: 3, S: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1))
            .SetArgDisplayNames("3x3 16x16 pad 1");
    }

    // |error| ≤ 2e-6·depth for sums of depth products of values in [−1, 1]
    [TestCaseSource(nameof(ConvShapes))]
    public void Conv2dForward(Conv2dShape s)
    {
        var x = RandomValues(16, (int)s.InputLength);
        var w = RandomValues(17, (int)s.WeightLength);
        var bias = RandomValues(18, s.K);
        var reference = new ConvReference(s, x, w);
        double tolerance = 2e-6 * s.C * s.R * s.S;

        var y = Filled((int)s.OutputLength, float.NaN);
        _backend.Conv2dForward(s, Upload(x), Upload(w), Upload(bias), y);
        AssertClose(Read(y), reference.Forward(bias), tolerance, 1e-5);

        y = Filled((int)s.OutputLength, float.NaN);
        _backend.Conv2dForward(s, Upload(x), Upload(w), null, y);
        AssertClose(Read(y), reference.Forward(null), tolerance, 1e-5);
    }

    [TestCaseSource(nameof(ConvShapes))]
    public void Conv2dBackwardInput(Conv2dShape s)
    {
        var x = RandomValues(19, (int)s.InputLength);
        var w = RandomValues(20, (int)s.WeightLength);
        var dy = RandomValues(21, (int)s.OutputLength);
        var dx = Filled((int)s.InputLength, float.NaN);
        _backend.Conv2dBackwardInput(s, Upload(dy), Upload(w), dx);
        AssertClose(Read(dx), new ConvReference(s, x, w).BackwardInput(dy), 2e-6 * s.K * s.R * s.S, 1e-5);
    }

    [TestCaseSource(nameof(ConvShapes))]
    public void Conv2dBackwardWeight(Conv2dShape s)
    {
        var x = RandomValues(22, (int)s.InputLength);
        var w = RandomValues(23, (int)s.WeightLength);
        var dy = RandomValues(24, (int)s.OutputLength);
        var (dwExpected, dbExpected) = new ConvReference(s, x, w).BackwardWeight(dy);
        double tolerance = 2e-6 * s.N * s.OutH * s.OutW;

        var dw = Filled((int)s.WeightLength, float.NaN);
        var db = Filled(s.K, float.NaN);
        _backend.Conv2dBackwardWeight(s, Upload(x), Upload(dy), dw, db);
        AssertClose(Read(dw), dwExpected, tolerance, 1e-5);
        AssertClose(Read(db), dbExpected, tolerance, 1e-5);

        dw = Filled((int)s.WeightLength, float.NaN);
        _backend.Conv2dBackwardWeight(s, Upload(x), Upload(dy), dw, null);
        AssertClose(Read(dw), dwExpected, tolerance, 1e-5);
    }

    /// <summary>Direct loops over every (n, k, oh, ow, c, r, s) in double.</summary>
    private sealed class ConvReference(Conv2dShape s, float[] x, float[] w)
    {
        /// <summary>Calls visit(x index, w index, y index) for every tap that reads inside the image.</summary>
        private void ForEachTap(Action<int, int, int> visit)
        {
            for (int n = 0; n < s.N; n++)
                for (int k = 0; k < s.K; k++)
                    for (int oh = 0; oh < s.OutH; oh++)
                        for (int ow = 0; ow < s.OutW; ow++)
                            for (int c = 0; c < s.C; c++)
                                for (int r = 0; r < s.R; r++)
                                    for (int q = 0; q < s.S; q++)
                                    {
                                        int ih = oh * s.StrideH - s.PadH + r, iw = ow * s.StrideW - s.PadW + q;
                                        if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                                        visit(((n * s.C + c) * s.H + ih) * s.W + iw, ((k * s.C + c) * s.R + r) * s.S + q,
                                            ((n * s.K + k) * s.OutH + oh) * s.OutW + ow);
                                    }
        }

        public double[] Forward(float[]? bias)
        {
            var y = new double[s.OutputLength];
            int outPixels = s.OutH * s.OutW;
            for (int i = 0; i < y.Length; i++) y[i] = bias?[i / outPixels % s.K] ?? 0;
            ForEachTap((xi, wi, yi) => y[yi] += (double)x[xi] * w[wi]);
            return y;
        }

        public double[] BackwardInput(float[] dy)
        {
            var dx = new double[s.InputLength];
            ForEachTap((xi, wi, yi) => dx[xi] += (double)dy[yi] * w[wi]);
            return dx;
        }

        public (double[] Dw, double[] Db) BackwardWeight(float[] dy)
        {
            var dw = new double[s.WeightLength];
            ForEachTap((xi, wi, yi) => dw[wi] += (double)dy[yi] * x[xi]);
            var db = new double[s.K];
            int outPixels = s.OutH * s.OutW;
            for (int i = 0; i < dy.Length; i++) db[i / outPixels % s.K] += dy[i];
            return (dw, db);
        }
    }

    // ---- padding, pooling ---------------------------------------------------------------------------

    public static IEnumerable<TestCaseData> PadCases()
    {
        var asymmetric = new Pad2dShape(Planes: 3, H: 5, W: 6, Top: 2, Bottom: 1, Left: 1, Right: 3);
        yield return new TestCaseData(PadMode.Replication, asymmetric).SetArgDisplayNames("Replication", "5x6 pads 2,1,1,3");
        yield return new TestCaseData(PadMode.Reflection, asymmetric).SetArgDisplayNames("Reflection", "5x6 pads 2,1,1,3");
        yield return new TestCaseData(PadMode.Replication, new Pad2dShape(Planes: 2, H: 1, W: 4, Top: 1, Bottom: 2, Left: 3, Right: 0))
            .SetArgDisplayNames("Replication", "1x4 pads 1,2,3,0");
        yield return new TestCaseData(PadMode.Reflection, new Pad2dShape(Planes: 2, H: 4, W: 4, Top: 3, Bottom: 3, Left: 1, Right: 1))
            .SetArgDisplayNames("Reflection", "4x4 pads 3,3,1,1");
    }

    // forward copies exactly; backward sums a few gradients: |error| ≤ 1e-6
    [TestCaseSource(nameof(PadCases))]
    public void Pad2d(PadMode mode, Pad2dShape s)
    {
        var x = RandomValues(25, s.Planes * s.H * s.W);
        var dy = RandomValues(26, s.Planes * s.OutH * s.OutW);
        var expectedY = new double[dy.Length];
        var expectedDx = new double[x.Length];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                {
                    int source = (p * s.H + PadSource(mode, oh - s.Top, s.H)) * s.W + PadSource(mode, ow - s.Left, s.W);
                    int output = (p * s.OutH + oh) * s.OutW + ow;
                    expectedY[output] = x[source];
                    expectedDx[source] += dy[output];
                }

        var y = Filled(dy.Length, float.NaN);
        _backend.Pad2dForward(mode, s, Upload(x), y);
        AssertClose(Read(y), expectedY, 0, 0);
        var dx = Filled(x.Length, float.NaN);
        _backend.Pad2dBackward(mode, s, Upload(dy), dx);
        AssertClose(Read(dx), expectedDx, 1e-6, 0);
    }

    private static int PadSource(PadMode mode, int i, int size) => mode == PadMode.Replication
        ? Math.Clamp(i, 0, size - 1)
        : i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;

    public static IEnumerable<TestCaseData> PoolShapes()
    {
        yield return new TestCaseData(new Pool2dShape(Planes: 3, H: 7, W: 8, KH: 3, KW: 3, SH: 2, SW: 2)).SetArgDisplayNames("3x3 stride 2 overlapping");
        yield return new TestCaseData(new Pool2dShape(Planes: 2, H: 6, W: 6, KH: 2, KW: 2, SH: 2, SW: 2)).SetArgDisplayNames("2x2 stride 2");
        yield return new TestCaseData(new Pool2dShape(Planes: 2, H: 5, W: 7, KH: 2, KW: 3, SH: 1, SW: 2)).SetArgDisplayNames("2x3 stride 1x2");
    }

    // values in {0, 1, 2}: most windows tie; the gradient goes to the first maximum in window order
    [TestCaseSource(nameof(PoolShapes))]
    public void MaxPool2d(Pool2dShape s)
    {
        var random = new Random(27);
        var x = Enumerable.Range(0, s.Planes * s.H * s.W).Select(_ => (float)random.Next(3)).ToArray();
        var dy = RandomValues(28, s.Planes * s.OutH * s.OutW);
        var expectedY = new double[dy.Length];
        var expectedDx = new double[x.Length];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                {
                    int best = -1;
                    for (int i = 0; i < s.KH; i++)
                        for (int j = 0; j < s.KW; j++)
                        {
                            int index = (p * s.H + oh * s.SH + i) * s.W + ow * s.SW + j;
                            if (best < 0 || x[index] > x[best]) best = index;
                        }
                    int output = (p * s.OutH + oh) * s.OutW + ow;
                    expectedY[output] = x[best];
                    expectedDx[best] += dy[output];
                }

        var xb = Upload(x);
        var y = Filled(dy.Length, float.NaN);
        _backend.MaxPool2dForward(s, xb, y);
        AssertClose(Read(y), expectedY, 0, 0);
        var dx = Filled(x.Length, float.NaN);
        _backend.MaxPool2dBackward(s, xb, Upload(dy), dx);
        AssertClose(Read(dx), expectedDx, 1e-6, 0);
    }

    // ---- batch norm ---------------------------------------------------------------------------------

    // one reduction chunk per channel, and two (N·L = 4200 > 4096); |error| ≤ 1e-4 + 1e-4·|expected|
    [TestCase(3, 4, 5)]
    [TestCase(2, 2, 2100)]
    public void BatchNormTrainForward(int n, int c, int l)
    {
        var s = new NormShape(n, c, l);
        var x = RandomValues(29, (int)s.Length, -1f, 3f);
        var gamma = RandomValues(30, c, 0.5f, 1.5f);
        var beta = RandomValues(31, c);
        var runningMean = RandomValues(32, c);
        var runningVar = RandomValues(33, c, 0.5f, 2f);
        const float eps = 1e-5f, momentum = 0.1f;

        int count = n * l;
        var mean = new double[c];
        var variance = new double[c];
        var expectedY = new double[x.Length];
        for (int ch = 0; ch < c; ch++)
        {
            var values = ChannelValues(x, s, ch).ToArray();
            mean[ch] = values.Average();
            variance[ch] = values.Sum(v => (v - mean[ch]) * (v - mean[ch])) / count;
        }
        for (int i = 0; i < x.Length; i++)
        {
            int ch = i / l % c;
            expectedY[i] = gamma[ch] * (x[i] - mean[ch]) / Math.Sqrt(variance[ch] + eps) + beta[ch];
        }

        var y = Filled(x.Length, float.NaN);
        var meanBuffer = Filled(c, float.NaN);
        var invStd = Filled(c, float.NaN);
        var runningMeanBuffer = Upload(runningMean);
        var runningVarBuffer = Upload(runningVar);
        _backend.BatchNormTrainForward(s, Upload(x), Upload(gamma), Upload(beta), y, meanBuffer, invStd, runningMeanBuffer,
            runningVarBuffer, eps, momentum);

        AssertClose(Read(y), expectedY, 1e-4, 1e-4);
        AssertClose(Read(meanBuffer), mean, 1e-5, 1e-5);
        AssertClose(Read(invStd), variance.Select(v => 1 / Math.Sqrt(v + eps)).ToArray(), 1e-5, 1e-4);
        AssertClose(Read(runningMeanBuffer), mean.Select((m, ch) => 0.9 * runningMean[ch] + 0.1 * m).ToArray(), 1e-5, 1e-5);
        AssertClose(Read(runningVarBuffer),
            variance.Select((v, ch) => 0.9 * runningVar[ch] + 0.1 * v * count / (count - 1)).ToArray(), 1e-5, 1e-5);
    }

    [Test]
    public void BatchNormEvalForward()
    {
        var s = new NormShape(3, 4, 5);
        var x = RandomValues(34, (int)s.Length);
        var gamma = RandomValues(35, 4);
        var beta = RandomValues(36, 4);
        var runningMean = RandomValues(37, 4);
        var runningVar = RandomValues(38, 4, 0.5f, 2f);
        var y = Filled(x.Length, float.NaN);
        _backend.BatchNormEvalForward(s, Upload(x), Upload(gamma), Upload(beta), Upload(runningMean), Upload(runningVar), y, 1e-5f);
        var expected = x.Select((v, i) =>
        {
            int ch = i / 5 % 4;
            return gamma[ch] * (v - runningMean[ch]) / Math.Sqrt(runningVar[ch] + 1e-5) + beta[ch];
        }).ToArray();
        AssertClose(Read(y), expected, 1e-5, 1e-5);
    }

    // |error| ≤ 1e-4 + 1e-4·|expected|
    [TestCase(3, 4, 5)]
    [TestCase(2, 2, 2100)]
    public void BatchNormBackward(int n, int c, int l)
    {
        var s = new NormShape(n, c, l);
        var x = RandomValues(39, (int)s.Length, -1f, 3f);
        var dy = RandomValues(40, (int)s.Length);
        var gamma = RandomValues(41, c, 0.5f, 1.5f);
        var mean = new float[c];
        var invStd = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            var values = ChannelValues(x, s, ch).ToArray();
            double m = values.Average();
            mean[ch] = (float)m;
            invStd[ch] = (float)(1 / Math.Sqrt(values.Sum(v => (v - m) * (v - m)) / values.Length + 1e-5));
        }

        double count = n * l;
        var dbeta = new double[c];
        var dgamma = new double[c];
        for (int i = 0; i < x.Length; i++)
        {
            int ch = i / l % c;
            dbeta[ch] += dy[i];
            dgamma[ch] += dy[i] * ((double)x[i] - mean[ch]) * invStd[ch];
        }
        var expectedDx = x.Select((v, i) =>
        {
            int ch = i / l % c;
            double normalized = ((double)v - mean[ch]) * invStd[ch];
            return gamma[ch] * invStd[ch] / count * (count * dy[i] - dbeta[ch] - normalized * dgamma[ch]);
        }).ToArray();

        var dx = Filled(x.Length, float.NaN);
        var dgammaBuffer = Filled(c, float.NaN);
        var dbetaBuffer = Filled(c, float.NaN);
        _backend.BatchNormBackward(s, Upload(x), Upload(dy), Upload(gamma), Upload(mean), Upload(invStd), dx, dgammaBuffer, dbetaBuffer);
        AssertClose(Read(dx), expectedDx, 1e-4, 1e-4);
        AssertClose(Read(dgammaBuffer), dgamma, 1e-4 * Math.Sqrt(count), 1e-4);
        AssertClose(Read(dbetaBuffer), dbeta, 1e-4 * Math.Sqrt(count), 1e-4);
    }

    private static IEnumerable<double> ChannelValues(float[] x, NormShape s, int channel) =>
        from n in Enumerable.Range(0, s.N) from l in Enumerable.Range(0, s.L) select (double)x[(n * s.C + channel) * s.L + l];

    // ---- distance and loss ----------------------------------------------------------------------------

    // |error| ≤ 1e-7 + 1e-5·|expected|; row 2 compares identical embeddings, where only eps keeps d > 0
    [Test]
    public void PairwiseDistanceForwardAndBackward()
    {
        const int rows = 6, dim = 5;
        const float eps = 1e-6f;
        var a = RandomValues(42, rows * dim);
        var b = RandomValues(43, rows * dim);
        Array.Copy(a, 2 * dim, b, 2 * dim, dim);
        var dd = RandomValues(44, rows);
        var expectedD = Enumerable.Range(0, rows).Select(r =>
            Math.Sqrt(Enumerable.Range(r * dim, dim).Sum(j => Math.Pow((double)a[j] - b[j] + eps, 2)))).ToArray();

        var ab = Upload(a);
        var bb = Upload(b);
        var d = Filled(rows, float.NaN);
        _backend.PairwiseDistanceForward(rows, dim, ab, bb, d, eps);
        var dValues = Read(d);
        AssertClose(dValues, expectedD, 1e-7, 1e-5);

        var da = Filled(rows * dim, float.NaN);
        var db = Filled(rows * dim, float.NaN);
        _backend.PairwiseDistanceBackward(rows, dim, ab, bb, Upload(dValues), Upload(dd), da, db, eps);
        var expectedDa = Enumerable.Range(0, rows * dim).Select(j => dd[j / dim] * ((double)a[j] - b[j] + eps) / dValues[j / dim]).ToArray();
        AssertClose(Read(da), expectedDa, 1e-6, 1e-5);
        AssertClose(Read(db), expectedDa.Select(v => -v).ToArray(), 1e-6, 1e-5);
    }

    // distances below and above the margin, both labels: |error| ≤ 1e-6 + 1e-5·|expected|
    [Test]
    public void ContrastiveLossForwardAndBackward()
    {
        const int n = 12;
        const float margin = 2f;
        var d = RandomValues(45, n, 0f, 3f);
        var label = Enumerable.Range(0, n).Select(i => (float)(i % 2)).ToArray();
        double expectedLoss = Enumerable.Range(0, n)
            .Average(i => (1 - label[i]) * d[i] * (double)d[i] + label[i] * Math.Pow(Math.Max(margin - d[i], 0), 2));

        var db = Upload(d);
        var lb = Upload(label);
        var loss = Filled(1, float.NaN);
        _backend.ContrastiveLossForward(n, db, lb, loss, margin);
        AssertClose(Read(loss), [expectedLoss], 1e-6, 1e-5);

        var dd = Filled(n, float.NaN);
        _backend.ContrastiveLossBackward(n, db, lb, Upload([0.7f]), dd, margin);
        var expectedDd = Enumerable.Range(0, n)
            .Select(i => 0.7 / n * (2 * (1 - label[i]) * d[i] - 2 * label[i] * Math.Max(margin - d[i], 0))).ToArray();
        AssertClose(Read(dd), expectedDd, 1e-6, 1e-5);
    }

    // ---- optimisers -------------------------------------------------------------------------------------

    // three steps as torch.optim.Adam computes them, in double: |error| ≤ 1e-6 + 1e-5·|expected|
    [Test]
    public void AdamSteps()
    {
        const int n = 200;
        const float lr = 0.01f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weightDecay = 0.01f;
        var param = RandomValues(46, n);
        double[] p = [.. param.Select(v => (double)v)], m = new double[n], v = new double[n];
        var pb = Upload(param);
        var mb = Filled(n, 0f);
        var vb = Filled(n, 0f);
        for (int t = 1; t <= 3; t++)
        {
            var grad = RandomValues(46 + t, n);
            float bc1 = 1f - MathF.Pow(beta1, t), bc2 = 1f - MathF.Pow(beta2, t);
            _backend.AdamStep(pb, Upload(grad), mb, vb, new AdamStepParameters(lr, beta1, beta2, eps, weightDecay, bc1, bc2));
            for (int i = 0; i < n; i++)
            {
                double g = grad[i] + weightDecay * p[i];
                m[i] = beta1 * m[i] + (1 - beta1) * g;
                v[i] = beta2 * v[i] + (1 - beta2) * g * g;
                p[i] -= lr / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + eps);
            }
        }
        AssertClose(Read(pb), p, 1e-6, 1e-5);
        AssertClose(Read(mb), m, 1e-6, 1e-5);
        AssertClose(Read(vb), v, 1e-8, 1e-5);
    }

    // three steps as torch.optim.SGD computes them, in double: |error| ≤ 1e-6 + 1e-5·|expected|
    [TestCase(0f, 0f, false, 0f)]
    [TestCase(0.9f, 0f, false, 0.01f)]
    [TestCase(0.9f, 0.1f, false, 0f)]
    [TestCase(0.8f, 0f, true, 0.05f)]
    public void SgdSteps(float momentum, float dampening, bool nesterov, float weightDecay)
    {
        const int n = 200;
        const float lr = 0.1f;
        var param = RandomValues(50, n);
        double[] p = [.. param.Select(v => (double)v)], buffer = new double[n];
        var pb = Upload(param);
        var bb = Filled(n, float.NaN); // the first step must overwrite the buffer, not read it
        for (int t = 1; t <= 3; t++)
        {
            var grad = RandomValues(50 + t, n);
            _backend.SgdStep(pb, Upload(grad), bb, new SgdStepParameters(lr, momentum, dampening, weightDecay, nesterov, FirstStep: t == 1));
            for (int i = 0; i < n; i++)
            {
                double g = grad[i] + weightDecay * p[i];
                if (momentum != 0)
                {
                    buffer[i] = t == 1 ? g : momentum * buffer[i] + (1 - dampening) * g;
                    g = nesterov ? g + momentum * buffer[i] : buffer[i];
                }
                p[i] -= lr * g;
            }
        }
        AssertClose(Read(pb), p, 1e-6, 1e-5);
        if (momentum != 0) AssertClose(Read(bb), buffer, 1e-6, 1e-5);
        else Assert.That(Read(bb), Is.All.NaN, "no momentum: the buffer is left alone");
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    private DeviceBuffer Upload(float[] values)
    {
        var buffer = _backend.Allocate(values.Length);
        _buffers.Add(buffer);
        _backend.Upload(values, buffer);
        return buffer;
    }

    private DeviceBuffer Filled(int length, float value) => Upload(Enumerable.Repeat(value, length).ToArray());

    private float[] Read(DeviceBuffer buffer)
    {
        var values = new float[buffer.Length];
        _backend.Download(buffer, values);
        return values;
    }

    private static float[] RandomValues(int seed, int length, float min = -1f, float max = 1f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => min + (max - min) * random.NextSingle()).ToArray();
    }

    /// <summary>Every element within atol + rtol·|expected|; the message names the worst one.</summary>
    private static void AssertClose(IReadOnlyList<float> actual, IReadOnlyList<double> expected, double atol, double rtol)
    {
        Assert.That(actual, Has.Count.EqualTo(expected.Count));
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < actual.Count; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            double excess = double.IsNaN(error) ? double.PositiveInfinity : error - (atol + rtol * Math.Abs(expected[i]));
            if (excess > worstExcess)
            {
                worstExcess = excess;
                worst = i;
            }
        }
        if (worst >= 0)
            Assert.Fail($"element {worst} of {actual.Count}: got {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(tolerance {atol:G3} + {rtol:G3}·|expected|)");
    }
}
