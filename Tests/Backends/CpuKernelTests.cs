using NUnit.Framework;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Backends.Cpu;

namespace SimilarFaces.Tests.Backends;

/// <summary>
/// Every CpuBackend kernel against a plain double-precision reference written here. Runs with the vector width
/// the hardware prefers and again with 512-bit vectors (emulated by .NET where the hardware lacks them), so
/// both kernel paths are checked on any machine. Errors are measured relative to the sum of absolute terms
/// that make up each result, so the tolerance states the precision of float arithmetic, not of luck.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class CpuKernelTests(bool wideVectors)
{
    private CpuBackend _cpu = null!;
    private Random _random = null!;

    [SetUp]
    public void SetUp()
    {
        _cpu = new CpuBackend(wideVectors);
        _random = new Random(1234);
    }

    [TearDown]
    public void TearDown() => _cpu.Dispose();

    // ---- buffers -------------------------------------------------------------------------------

    [Test]
    public void UploadDownloadRoundTripsAndPoolReusesStorage()
    {
        float[] values = RandomArray(1000);
        using (var buffer = Upload(values)) Assert.That(Download(buffer), Is.EqualTo(values));
        using (var again = _cpu.Allocate(1000)) { }
        Assert.That(_cpu.PoolStatistics.Allocations, Is.EqualTo(1));
        Assert.That(_cpu.PoolStatistics.Reuses, Is.EqualTo(1));
        Assert.That(_cpu.PoolStatistics.BuffersLive, Is.EqualTo(0));
    }

    [Test]
    public void RejectsBuffersOfAnotherBackendNamingTheArgument()
    {
        using var other = new CpuBackend(wideVectors);
        using var foreign = other.Allocate(4);
        using var own = _cpu.Allocate(4);
        var error = Assert.Throws<ArgumentException>(() => _cpu.Copy(own, foreign));
        Assert.That(error!.ParamName, Is.EqualTo("y"));
    }

    [Test]
    public void RejectsDisposedBuffers()
    {
        var buffer = _cpu.Allocate(4);
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _cpu.Fill(buffer, 1));
    }

    // ---- element-wise ------------------------------------------------------------------------

    private const int LongLength = (1 << 17) + 37;   // crosses the parallel chunk boundary and leaves a scalar tail

    [TestCase(UnaryKind.Relu, 0f)]
    [TestCase(UnaryKind.Square, 0f)]
    [TestCase(UnaryKind.Sqrt, 0f)]
    [TestCase(UnaryKind.ClampMin, 0.25f)]
    [TestCase(UnaryKind.AddScalar, 1.5f)]
    [TestCase(UnaryKind.MulScalar, -3f)]
    public void UnaryMatchesReference(UnaryKind kind, float scalar)
    {
        float[] x = RandomArray(LongLength);
        if (kind == UnaryKind.Sqrt) x = x.Select(MathF.Abs).ToArray();
        x[0] = 0;
        x[1] = scalar;
        double[] expected = x.Select(v => Forward(kind, v, scalar)).ToArray();
        using var xb = Upload(x);
        using var y = _cpu.Allocate(x.Length);
        _cpu.Unary(kind, xb, y, scalar);
        AssertClose(Download(y), expected, expected.Select(Math.Abs).ToArray(), 1e-7, kind.ToString());
    }

    [TestCase(UnaryKind.Relu, 0f)]
    [TestCase(UnaryKind.Square, 0f)]
    [TestCase(UnaryKind.Sqrt, 0f)]
    [TestCase(UnaryKind.ClampMin, 0.25f)]
    [TestCase(UnaryKind.AddScalar, 1.5f)]
    [TestCase(UnaryKind.MulScalar, -3f)]
    public void UnaryBackwardMatchesReference(UnaryKind kind, float scalar)
    {
        float[] x = RandomArray(LongLength);
        if (kind == UnaryKind.Sqrt) x = x.Select(v => MathF.Abs(v) + 0.01f).ToArray();
        else
        {
            x[0] = 0;        // ReLU's derivative is 0 at exactly 0
            x[1] = scalar;   // ClampMin's passes at exactly the bound
        }
        float[] y = x.Select(v => (float)Forward(kind, v, scalar)).ToArray();
        float[] dy = RandomArray(x.Length);
        double[] expected = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            expected[i] = kind switch
            {
                UnaryKind.Relu => x[i] > 0 ? dy[i] : 0,
                UnaryKind.Square => 2.0 * x[i] * dy[i],
                UnaryKind.Sqrt => dy[i] / (2.0 * y[i]),
                UnaryKind.ClampMin => x[i] >= scalar ? dy[i] : 0,
                UnaryKind.AddScalar => dy[i],
                _ => (double)scalar * dy[i],
            };
        using var xb = Upload(x);
        using var yb = Upload(y);
        using var dyb = Upload(dy);
        using var dx = _cpu.Allocate(x.Length);
        _cpu.UnaryBackward(kind, xb, yb, dyb, dx, scalar);
        float[] actual = Download(dx);
        AssertClose(actual, expected, expected.Select(Math.Abs).ToArray(), 1e-7, kind.ToString());
        if (kind == UnaryKind.Relu) Assert.That(actual[0], Is.EqualTo(0f), "ReLU gradient at 0");
        if (kind == UnaryKind.ClampMin) Assert.That(actual[1], Is.EqualTo(dy[1]), "ClampMin gradient at the bound");
    }

    private static double Forward(UnaryKind kind, float x, float scalar) => kind switch
    {
        UnaryKind.Relu => Math.Max(x, 0.0),
        UnaryKind.Square => (double)x * x,
        UnaryKind.Sqrt => Math.Sqrt(x),
        UnaryKind.ClampMin => Math.Max(x, scalar),
        UnaryKind.AddScalar => (double)x + scalar,
        _ => (double)x * scalar,
    };

    [TestCase(BinaryKind.Add)]
    [TestCase(BinaryKind.Sub)]
    [TestCase(BinaryKind.Mul)]
    public void BinaryMatchesReference(BinaryKind kind)
    {
        float[] a = RandomArray(LongLength), b = RandomArray(LongLength);
        double[] expected = a.Zip(b, (u, v) => kind switch { BinaryKind.Add => (double)u + v, BinaryKind.Sub => (double)u - v, _ => (double)u * v }).ToArray();
        using var ab = Upload(a);
        using var bb = Upload(b);
        using var y = _cpu.Allocate(a.Length);
        _cpu.Binary(kind, ab, bb, y);
        AssertClose(Download(y), expected, a.Zip(b, (u, v) => Math.Abs(u) + Math.Abs(v) + Math.Abs((double)u * v)).ToArray(), 1e-7, kind.ToString());
    }

    [Test]
    public void AxpyAccumulates()
    {
        float[] x = RandomArray(LongLength), y = RandomArray(LongLength);
        double[] expected = x.Zip(y, (u, v) => 0.75 * u + v).ToArray();
        using var xb = Upload(x);
        using var yb = Upload(y);
        _cpu.Axpy(0.75f, xb, yb);
        AssertClose(Download(yb), expected, x.Zip(y, (u, v) => (double)Math.Abs(u) + Math.Abs(v)).ToArray(), 1e-7, "axpy");
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(1000)]
    [TestCase(LongLength)]
    public void SumMatchesReference(int n)
    {
        float[] x = RandomArray(n);
        using var xb = Upload(x);
        using var result = _cpu.Allocate(1);
        _cpu.Sum(xb, result, 0.5f);
        double expected = 0.5 * x.Sum(v => (double)v), magnitude = 0.5 * x.Sum(v => Math.Abs((double)v));
        Assert.That(Download(result)[0], Is.EqualTo(expected).Within(1e-6 * magnitude + 1e-30));
    }

    [Test]
    public void FillCopyAndBroadcast()
    {
        float[] x = RandomArray(LongLength);
        using var xb = Upload(x);
        using var y = _cpu.Allocate(x.Length);
        _cpu.Copy(xb, y);
        Assert.That(Download(y), Is.EqualTo(x));
        _cpu.Fill(y, 2.5f);
        Assert.That(Download(y), Is.All.EqualTo(2.5f));
        using var scalar = Upload([4f]);
        _cpu.Broadcast(scalar, y, -0.5f);
        Assert.That(Download(y), Is.All.EqualTo(-2f));
    }

    [Test]
    public void DropoutMaskFollowsTheSharedHash()
    {
        const float p = 0.3f;
        using var mask = _cpu.Allocate(LongLength);
        _cpu.DropoutMask(mask, p, 42);
        float[] actual = Download(mask);
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(DropoutHash.Uniform(42, i) < p ? 0f : 1 / (1 - p)), $"mask[{i}]");
        Assert.That(actual.Count(v => v == 0) / (double)actual.Length, Is.EqualTo(p).Within(0.01));
    }

    // ---- GEMM ----------------------------------------------------------------------------------

    private static IEnumerable<TestCaseData> GemmCases()
    {
        int[][] shapes =
        [
            [1, 1, 1], [7, 33, 130], [130, 7, 33], [33, 130, 7], [1, 130, 33], [130, 1, 7],
            [150, 70, 300],     // crosses the MC row block and the KC depth slice
            [13, 70, 5000],     // small C, long k: k is cut into parts
            [5, 4200, 20],      // crosses the NC column block
        ];
        foreach (var s in shapes)
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    yield return new TestCaseData(transA, transB, s[0], s[1], s[2]);
    }

    [TestCaseSource(nameof(GemmCases))]
    public void GemmMatchesReference(bool transA, bool transB, int m, int n, int k)
    {
        foreach (var (alpha, beta) in new[] { (1f, 0f), (-1.5f, 0.5f) })
        {
            float[] a = RandomArray(m * k), b = RandomArray(k * n), c = RandomArray(m * n);
            if (beta == 0) c.AsSpan().Fill(float.NaN);   // beta = 0 must ignore C, NaN included
            var (expected, magnitude) = ReferenceGemm(transA, transB, m, n, k, alpha, a, b, beta, c);
            using var ab = Upload(a);
            using var bb = Upload(b);
            using var cb = Upload(c);
            _cpu.Gemm(transA, transB, m, n, k, alpha, ab, bb, beta, cb);
            AssertClose(Download(cb), expected, magnitude, 1e-6, $"alpha {alpha} beta {beta}");
        }
    }

    [Test]
    public void GemmWithEmptyDepthScalesC()
    {
        float[] c = RandomArray(12);
        using var a = _cpu.Allocate(0);
        using var b = _cpu.Allocate(0);
        using var cb = Upload(c);
        _cpu.Gemm(false, false, 3, 4, 0, 1, a, b, 2, cb);
        Assert.That(Download(cb), Is.EqualTo(c.Select(v => 2 * v).ToArray()));
        _cpu.Gemm(false, false, 3, 4, 0, 1, a, b, 0, cb);
        Assert.That(Download(cb), Is.All.EqualTo(0f));
    }

    private static (double[] Value, double[] Magnitude) ReferenceGemm(bool transA, bool transB, int m, int n, int k,
        float alpha, float[] a, float[] b, float beta, float[] c)
    {
        var value = new double[m * n];
        var magnitude = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, absolute = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = (double)(transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                    sum += term;
                    absolute += Math.Abs(term);
                }
                double previous = beta == 0 ? 0 : (double)beta * c[i * n + j];
                value[i * n + j] = alpha * sum + previous;
                magnitude[i * n + j] = Math.Abs(alpha) * absolute + Math.Abs(previous);
            }
        return (value, magnitude);
    }

    [Test]
    public void AddRowVectorAndSumRows()
    {
        const int rows = 150, cols = 1001;   // more than one parallel piece, a scalar tail
        float[] y = RandomArray(rows * cols), bias = RandomArray(cols);
        using var yb = Upload(y);
        using var biasb = Upload(bias);
        _cpu.AddRowVector(yb, biasb, rows, cols);
        double[] expected = y.Select((v, i) => (double)v + bias[i % cols]).ToArray();
        AssertClose(Download(yb), expected, y.Select((v, i) => Math.Abs(v) + Math.Abs(bias[i % cols]) + 0.0).ToArray(), 1e-7, "add row vector");

        using var sums = _cpu.Allocate(cols);
        float[] x = RandomArray(rows * cols);
        using var xb = Upload(x);
        _cpu.SumRows(xb, sums, rows, cols);
        double[] columnSums = new double[cols], columnMagnitudes = new double[cols];
        for (int i = 0; i < x.Length; i++)
        {
            columnSums[i % cols] += x[i];
            columnMagnitudes[i % cols] += Math.Abs(x[i]);
        }
        AssertClose(Download(sums), columnSums, columnMagnitudes, 1e-6, "sum rows");
    }

    // ---- convolution -----------------------------------------------------------------------------

    private static IEnumerable<TestCaseData> ConvCases()
    {
        // N, C, H, W, K, R, S, strideH, strideW, padH, padW
        yield return new TestCaseData(new Conv2dShape(2, 3, 9, 11, 5, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("narrow rows, scalar path");
        yield return new TestCaseData(new Conv2dShape(2, 3, 12, 40, 5, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("vector path, K not a multiple of 4");
        yield return new TestCaseData(new Conv2dShape(3, 4, 10, 37, 8, 3, 3, 1, 1, 1, 1)).SetArgDisplayNames("pad 1");
        yield return new TestCaseData(new Conv2dShape(2, 2, 13, 45, 6, 5, 3, 1, 1, 2, 1)).SetArgDisplayNames("5x3 kernel, pad 2x1");
        yield return new TestCaseData(new Conv2dShape(2, 3, 11, 40, 4, 5, 3, 2, 2, 1, 1)).SetArgDisplayNames("stride 2, pad 1, 5x3");
        yield return new TestCaseData(new Conv2dShape(2, 2, 9, 36, 3, 3, 3, 1, 2, 0, 1)).SetArgDisplayNames("stride 1x2");
        yield return new TestCaseData(new Conv2dShape(1, 2, 6, 34, 3, 3, 3, 1, 1, 3, 3)).SetArgDisplayNames("pad as large as the kernel");
        yield return new TestCaseData(new Conv2dShape(5, 1, 7, 50, 4, 3, 3, 1, 1, 0, 0)).SetArgDisplayNames("one input channel");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void ConvForwardMatchesReference(Conv2dShape s)
    {
        float[] x = RandomArray((int)s.InputLength), w = RandomArray((int)s.WeightLength), bias = RandomArray(s.K);
        var expected = new double[s.OutputLength];
        var magnitude = new double[s.OutputLength];
        foreach (var (n, k, oh, ow, c, ih, iw, wi) in ConvTerms(s))
        {
            long o = ((long)(n * s.K + k) * s.OutH + oh) * s.OutW + ow;
            double term = (double)w[wi] * x[((n * s.C + c) * s.H + ih) * s.W + iw];
            expected[o] += term;
            magnitude[o] += Math.Abs(term);
        }
        using var xb = Upload(x);
        using var wb = Upload(w);
        using var y = _cpu.Allocate(s.OutputLength);
        _cpu.Conv2dForward(s, xb, wb, null, y);
        AssertClose(Download(y), expected, magnitude, 1e-6, "no bias");

        using var biasb = Upload(bias);
        _cpu.Conv2dForward(s, xb, wb, biasb, y);
        for (long o = 0; o < expected.Length; o++)
        {
            int k = (int)(o / ((long)s.OutH * s.OutW) % s.K);
            expected[o] += bias[k];
            magnitude[o] += Math.Abs(bias[k]);
        }
        AssertClose(Download(y), expected, magnitude, 1e-6, "with bias");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void ConvBackwardInputMatchesReference(Conv2dShape s)
    {
        float[] dy = RandomArray((int)s.OutputLength), w = RandomArray((int)s.WeightLength);
        var expected = new double[s.InputLength];
        var magnitude = new double[s.InputLength];
        foreach (var (n, k, oh, ow, c, ih, iw, wi) in ConvTerms(s))
        {
            long i = ((long)(n * s.C + c) * s.H + ih) * s.W + iw;
            double term = (double)w[wi] * dy[((n * s.K + k) * s.OutH + oh) * s.OutW + ow];
            expected[i] += term;
            magnitude[i] += Math.Abs(term);
        }
        using var dyb = Upload(dy);
        using var wb = Upload(w);
        using var dx = Upload(RandomArray((int)s.InputLength));   // overwritten, not accumulated
        _cpu.Conv2dBackwardInput(s, dyb, wb, dx);
        AssertClose(Download(dx), expected, magnitude, 1e-6, "dx");
    }

    [TestCaseSource(nameof(ConvCases))]
    public void ConvBackwardWeightMatchesReference(Conv2dShape s)
    {
        float[] x = RandomArray((int)s.InputLength), dy = RandomArray((int)s.OutputLength);
        var expected = new double[s.WeightLength];
        var magnitude = new double[s.WeightLength];
        foreach (var (n, k, oh, ow, c, ih, iw, wi) in ConvTerms(s))
        {
            double term = (double)dy[((n * s.K + k) * s.OutH + oh) * s.OutW + ow] * x[((n * s.C + c) * s.H + ih) * s.W + iw];
            expected[wi] += term;
            magnitude[wi] += Math.Abs(term);
        }
        var biasExpected = new double[s.K];
        var biasMagnitude = new double[s.K];
        for (int i = 0; i < dy.Length; i++)
        {
            int k = i / (s.OutH * s.OutW) % s.K;
            biasExpected[k] += dy[i];
            biasMagnitude[k] += Math.Abs(dy[i]);
        }
        using var xb = Upload(x);
        using var dyb = Upload(dy);
        using var dw = _cpu.Allocate(s.WeightLength);
        using var dbias = _cpu.Allocate(s.K);
        _cpu.Conv2dBackwardWeight(s, xb, dyb, dw, dbias);
        AssertClose(Download(dw), expected, magnitude, 1e-6, "dw");
        AssertClose(Download(dbias), biasExpected, biasMagnitude, 1e-6, "dbias");
        _cpu.Conv2dBackwardWeight(s, xb, dyb, dw, null);
        AssertClose(Download(dw), expected, magnitude, 1e-6, "dw without bias");
    }

    /// <summary>Every (output, input, weight) triple of a convolution that lands inside the unpadded input.</summary>
    private static IEnumerable<(int N, int K, int OH, int OW, int C, int IH, int IW, int WeightIndex)> ConvTerms(Conv2dShape s)
    {
        for (int n = 0; n < s.N; n++)
            for (int k = 0; k < s.K; k++)
                for (int oh = 0; oh < s.OutH; oh++)
                    for (int ow = 0; ow < s.OutW; ow++)
                        for (int c = 0; c < s.C; c++)
                            for (int r = 0; r < s.R; r++)
                                for (int q = 0; q < s.S; q++)
                                {
                                    int ih = oh * s.StrideH + r - s.PadH, iw = ow * s.StrideW + q - s.PadW;
                                    if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W)
                                        yield return (n, k, oh, ow, c, ih, iw, ((k * s.C + c) * s.R + r) * s.S + q);
                                }
    }

    // ---- padding and pooling ------------------------------------------------------------------

    [TestCase(PadMode.Replication, 5, 6)]
    [TestCase(PadMode.Reflection, 5, 6)]
    [TestCase(PadMode.Replication, 4, 37)]
    [TestCase(PadMode.Reflection, 4, 37)]
    public void PadForwardAndBackwardMatchReference(PadMode mode, int h, int w)
    {
        var s = new Pad2dShape(3, h, w, Top: 2, Bottom: 1, Left: 3, Right: 2);
        float[] x = RandomArray(s.Planes * h * w), dy = RandomArray(s.Planes * s.OutH * s.OutW);
        var expected = new double[dy.Length];
        var dxExpected = new double[x.Length];
        var dxMagnitude = new double[x.Length];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                {
                    int source = (p * h + Source(mode, oh - s.Top, h)) * w + Source(mode, ow - s.Left, w);
                    int target = (p * s.OutH + oh) * s.OutW + ow;
                    expected[target] = x[source];
                    dxExpected[source] += dy[target];
                    dxMagnitude[source] += Math.Abs(dy[target]);
                }
        using var xb = Upload(x);
        using var y = _cpu.Allocate(dy.Length);
        _cpu.Pad2dForward(mode, s, xb, y);
        Assert.That(Download(y), Is.EqualTo(expected.Select(v => (float)v).ToArray()));

        using var dyb = Upload(dy);
        using var dx = _cpu.Allocate(x.Length);
        _cpu.Pad2dBackward(mode, s, dyb, dx);
        AssertClose(Download(dx), dxExpected, dxMagnitude, 1e-7, "dx");
    }

    /// <summary>Replication clamps; reflection mirrors without repeating the edge.</summary>
    private static int Source(PadMode mode, int i, int n)
    {
        if (mode == PadMode.Replication) return Math.Clamp(i, 0, n - 1);
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    }

    [TestCase(2, 2, 2, 2)]
    [TestCase(3, 3, 2, 2)]
    [TestCase(2, 3, 1, 2)]
    public void MaxPoolSendsGradientToTheFirstMaximum(int kh, int kw, int sh, int sw)
    {
        var s = new Pool2dShape(4, 9, 11, kh, kw, sh, sw);
        // Few distinct values, so most windows hold ties.
        float[] x = Enumerable.Range(0, s.Planes * s.H * s.W).Select(_ => (float)_random.Next(3)).ToArray();
        float[] dy = RandomArray(s.Planes * s.OutH * s.OutW);
        var expected = new float[dy.Length];
        var dxExpected = new double[x.Length];
        var dxMagnitude = new double[x.Length];
        for (int p = 0; p < s.Planes; p++)
            for (int oh = 0; oh < s.OutH; oh++)
                for (int ow = 0; ow < s.OutW; ow++)
                {
                    int best = -1;
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++)
                        {
                            int index = (p * s.H + oh * sh + i) * s.W + ow * sw + j;
                            if (best < 0 || x[index] > x[best]) best = index;
                        }
                    int o = (p * s.OutH + oh) * s.OutW + ow;
                    expected[o] = x[best];
                    dxExpected[best] += dy[o];
                    dxMagnitude[best] += Math.Abs(dy[o]);
                }
        using var xb = Upload(x);
        using var y = _cpu.Allocate(dy.Length);
        _cpu.MaxPool2dForward(s, xb, y);
        Assert.That(Download(y), Is.EqualTo(expected));

        using var dyb = Upload(dy);
        using var dx = Upload(RandomArray(x.Length));
        _cpu.MaxPool2dBackward(s, xb, dyb, dx);
        AssertClose(Download(dx), dxExpected, dxMagnitude, 1e-7, "dx");
    }

    // ---- batch norm ------------------------------------------------------------------------------

    [TestCase(4, 3, 37, 0f)]
    [TestCase(6, 5, 1, 0f)]
    [TestCase(3, 2, 70000, 0f)]       // several row groups per channel
    [TestCase(4, 3, 37, 1000f)]       // a large mean: the variance must not cancel
    public void BatchNormTrainingForwardAndBackwardMatchReference(int n, int c, int l, float offset)
    {
        var s = new NormShape(n, c, l);
        int length = (int)s.Length, m = n * l;
        float[] x = RandomArray(length).Select((v, i) => v * (1 + i / (l * n * 1f) % c) + offset).ToArray();
        float[] gamma = RandomArray(c), beta = RandomArray(c), dy = RandomArray(length);
        float[] runningMean = RandomArray(c), runningVar = RandomArray(c).Select(v => 1 + MathF.Abs(v)).ToArray();
        const float eps = 1e-5f, momentum = 0.1f;

        double[] mean = new double[c], variance = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            var values = ChannelIndices(s, ch).Select(i => (double)x[i]).ToArray();
            mean[ch] = values.Average();
            variance[ch] = values.Sum(v => (v - mean[ch]) * (v - mean[ch])) / m;
        }
        double InvStd(int ch) => 1 / Math.Sqrt(variance[ch] + eps);
        var y = new double[length];
        var dx = new double[length];
        var dgamma = new double[c];
        var dbeta = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            int[] indices = ChannelIndices(s, ch).ToArray();
            foreach (int i in indices)
            {
                double normalized = (x[i] - mean[ch]) * InvStd(ch);
                y[i] = gamma[ch] * normalized + beta[ch];
                dbeta[ch] += dy[i];
                dgamma[ch] += dy[i] * normalized;
            }
            foreach (int i in indices)
            {
                double normalized = (x[i] - mean[ch]) * InvStd(ch);
                dx[i] = InvStd(ch) / m * (m * gamma[ch] * dy[i] - gamma[ch] * dbeta[ch] - gamma[ch] * normalized * dgamma[ch]);
            }
        }

        using var xb = Upload(x);
        using var gammab = Upload(gamma);
        using var betab = Upload(beta);
        using var yb = _cpu.Allocate(length);
        using var meanb = _cpu.Allocate(c);
        using var invStdb = _cpu.Allocate(c);
        using var runningMeanb = Upload(runningMean);
        using var runningVarb = Upload(runningVar);
        _cpu.BatchNormTrainForward(s, xb, gammab, betab, yb, meanb, invStdb, runningMeanb, runningVarb, eps, momentum);

        AssertClose(Download(meanb), mean, mean.Select(v => Math.Abs(v) + 1).ToArray(), 1e-6, "mean");
        AssertClose(Download(invStdb), Enumerable.Range(0, c).Select(InvStd).ToArray(),
            Enumerable.Range(0, c).Select(InvStd).ToArray(), offset == 0 ? 1e-5 : 1e-3, "invStd");
        AssertClose(Download(runningMeanb), Enumerable.Range(0, c).Select(ch => 0.9 * runningMean[ch] + 0.1 * mean[ch]).ToArray(),
            Enumerable.Range(0, c).Select(ch => Math.Abs(runningMean[ch]) + Math.Abs(mean[ch])).ToArray(), 1e-6, "running mean");
        AssertClose(Download(runningVarb), Enumerable.Range(0, c).Select(ch => 0.9 * runningVar[ch] + 0.1 * variance[ch] * m / (m - 1)).ToArray(),
            Enumerable.Range(0, c).Select(ch => runningVar[ch] + variance[ch] * m / (m - 1)).ToArray(), offset == 0 ? 1e-6 : 1e-4, "running var");
        double tolerance = offset == 0 ? 1e-5 : 1e-2;   // x − mean loses log2(offset) bits in float inputs
        AssertClose(Download(yb), y, y.Select(v => Math.Abs(v) + 1).ToArray(), tolerance, "y");

        using var dyb = Upload(dy);
        using var dxb = _cpu.Allocate(length);
        using var dgammab = _cpu.Allocate(c);
        using var dbetab = _cpu.Allocate(c);
        // Backward reads the saved statistics: feed the exact ones, so its own error is what is measured.
        using var exactMean = Upload(mean.Select(v => (float)v).ToArray());
        using var exactInvStd = Upload(Enumerable.Range(0, c).Select(ch => (float)InvStd(ch)).ToArray());
        _cpu.BatchNormBackward(s, xb, dyb, gammab, exactMean, exactInvStd, dxb, dgammab, dbetab);
        double[] dyMagnitude = Enumerable.Range(0, c).Select(ch => ChannelIndices(s, ch).Sum(i => Math.Abs((double)dy[i]))).ToArray();
        AssertClose(Download(dbetab), dbeta, dyMagnitude, 1e-6, "dbeta");
        AssertClose(Download(dgammab), dgamma, dyMagnitude.Select(v => v * 4).ToArray(), tolerance, "dgamma");
        AssertClose(Download(dxb), dx, dx.Select((v, i) => Math.Abs(v) + Math.Abs(gamma[i / l % c] * InvStd(i / l % c) * dy[i]) + 1e-3).ToArray(), tolerance, "dx");
    }

    [Test]
    public void BatchNormEvalUsesRunningStatistics()
    {
        var s = new NormShape(3, 4, 29);
        float[] x = RandomArray((int)s.Length), gamma = RandomArray(4), beta = RandomArray(4);
        float[] runningMean = RandomArray(4), runningVar = RandomArray(4).Select(v => 0.5f + MathF.Abs(v)).ToArray();
        double[] expected = x.Select((v, i) =>
        {
            int ch = i / s.L % s.C;
            return gamma[ch] * (v - runningMean[ch]) / Math.Sqrt(runningVar[ch] + 1e-5) + beta[ch];
        }).ToArray();
        using var xb = Upload(x);
        using var gammab = Upload(gamma);
        using var betab = Upload(beta);
        using var meanb = Upload(runningMean);
        using var varb = Upload(runningVar);
        using var y = _cpu.Allocate(s.Length);
        _cpu.BatchNormEvalForward(s, xb, gammab, betab, meanb, varb, y, 1e-5f);
        AssertClose(Download(y), expected, expected.Select(v => Math.Abs(v) + 1).ToArray(), 1e-6, "y");
    }

    private static IEnumerable<int> ChannelIndices(NormShape s, int c) =>
        Enumerable.Range(0, s.N).SelectMany(n => Enumerable.Range((n * s.C + c) * s.L, s.L));

    // ---- distance and loss -------------------------------------------------------------------

    [Test]
    public void PairwiseDistanceForwardAndBackwardMatchReference()
    {
        const int rows = 9, dim = 5;
        const float eps = 1e-6f;
        float[] a = RandomArray(rows * dim), b = RandomArray(rows * dim), dd = RandomArray(rows);
        Array.Copy(a, 0, b, 0, dim);   // identical rows: d is eps·√dim, not 0
        var d = new double[rows];
        var da = new double[rows * dim];
        for (int r = 0; r < rows; r++)
        {
            for (int i = r * dim; i < (r + 1) * dim; i++) d[r] += Math.Pow((double)a[i] - b[i] + eps, 2);
            d[r] = Math.Sqrt(d[r]);
            for (int i = r * dim; i < (r + 1) * dim; i++) da[i] = dd[r] * ((double)a[i] - b[i] + eps) / d[r];
        }
        using var ab = Upload(a);
        using var bb = Upload(b);
        using var db = _cpu.Allocate(rows);
        _cpu.PairwiseDistanceForward(rows, dim, ab, bb, db, eps);
        float[] distances = Download(db);
        AssertClose(distances, d, d, 1e-6, "d");
        Assert.That(distances[0], Is.GreaterThan(0f));

        using var ddb = Upload(dd);
        using var dab = _cpu.Allocate(rows * dim);
        using var dbb = _cpu.Allocate(rows * dim);
        _cpu.PairwiseDistanceBackward(rows, dim, ab, bb, db, ddb, dab, dbb, eps);
        double[] magnitude = da.Select((v, i) => Math.Abs(dd[i / dim]) + Math.Abs(v)).ToArray();
        AssertClose(Download(dab), da, magnitude, 1e-6, "da");
        AssertClose(Download(dbb), da.Select(v => -v).ToArray(), magnitude, 1e-6, "db");
    }

    [Test]
    public void ContrastiveLossForwardAndBackwardMatchReference()
    {
        const int n = 8;
        const float margin = 2;
        float[] d = [0.3f, 2.5f, 1.2f, 0.0001f, 3.1f, 1.99f, 0.7f, 2f];
        float[] label = [0, 1, 1, 0, 0, 1, 1, 1];
        double loss = 0;
        var dd = new double[n];
        for (int i = 0; i < n; i++)
        {
            double shortfall = Math.Max(margin - d[i], 0);
            loss += (1 - label[i]) * d[i] * d[i] + label[i] * shortfall * shortfall;
            dd[i] = 0.5 / n * (2 * (1 - label[i]) * d[i] - 2 * label[i] * shortfall);
        }
        using var db = Upload(d);
        using var labels = Upload(label);
        using var lossb = _cpu.Allocate(1);
        _cpu.ContrastiveLossForward(n, db, labels, lossb, margin);
        Assert.That(Download(lossb)[0], Is.EqualTo(loss / n).Within(1e-6 * loss / n));

        using var dloss = Upload([0.5f]);
        using var ddb = _cpu.Allocate(n);
        _cpu.ContrastiveLossBackward(n, db, labels, dloss, ddb, margin);
        AssertClose(Download(ddb), dd, dd.Select(v => Math.Abs(v) + 1e-9).ToArray(), 1e-6, "dd");
    }

    // ---- optimisers ------------------------------------------------------------------------------

    [TestCase(0f)]
    [TestCase(0.01f)]
    public void AdamMatchesReferenceOverThreeSteps(float weightDecay)
    {
        const int n = 1037;
        float[] param = RandomArray(n), m = new float[n], v = new float[n];
        double[] p = param.Select(x => (double)x).ToArray(), m1 = new double[n], v1 = new double[n], mMagnitude = new double[n];
        using var pb = Upload(param);
        using var mb = Upload(m);
        using var vb = Upload(v);
        const float lr = 5e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        for (int t = 1; t <= 3; t++)
        {
            float[] grad = RandomArray(n);
            float bc1 = 1 - MathF.Pow(beta1, t), bc2 = 1 - MathF.Pow(beta2, t);
            for (int i = 0; i < n; i++)
            {
                double g = grad[i] + weightDecay * p[i];
                m1[i] = beta1 * m1[i] + (1 - beta1) * g;
                mMagnitude[i] = beta1 * mMagnitude[i] + (1 - beta1) * (Math.Abs(grad[i]) + Math.Abs(weightDecay * p[i]));
                v1[i] = beta2 * v1[i] + (1 - beta2) * g * g;
                p[i] -= lr / bc1 * m1[i] / (Math.Sqrt(v1[i]) / Math.Sqrt(bc2) + eps);
            }
            using var gb = Upload(grad);
            _cpu.AdamStep(pb, gb, mb, vb, new AdamStepParameters(lr, beta1, beta2, eps, weightDecay, bc1, bc2));
        }
        AssertClose(Download(mb), m1, mMagnitude, 1e-6, "m");
        AssertClose(Download(vb), v1, v1, 1e-6, "v");
        // Each step moves p by about lr; compare the change against lr-sized steps.
        AssertClose(Download(pb), p, p.Select(_ => 3.0 * lr).ToArray(), 1e-3, "param");
    }

    [TestCase(0f, 0f, 0f, false)]
    [TestCase(0.9f, 0f, 0f, false)]
    [TestCase(0.9f, 0.1f, 0.01f, false)]
    [TestCase(0.9f, 0f, 0.01f, true)]
    public void SgdMatchesReferenceOverThreeSteps(float momentum, float dampening, float weightDecay, bool nesterov)
    {
        const int n = 1037;
        const float lr = 0.05f;
        float[] param = RandomArray(n);
        double[] p = param.Select(x => (double)x).ToArray(), buffer = new double[n];
        using var pb = Upload(param);
        using var bufferb = Upload(RandomArray(n));   // the first step must not read it
        for (int t = 1; t <= 3; t++)
        {
            float[] grad = RandomArray(n);
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
            using var gb = Upload(grad);
            _cpu.SgdStep(pb, gb, bufferb, new SgdStepParameters(lr, momentum, dampening, weightDecay, nesterov, FirstStep: t == 1));
        }
        AssertClose(Download(pb), p, p.Select(x => Math.Abs(x) + 3 * lr).ToArray(), 1e-6, "param");
        if (momentum != 0) AssertClose(Download(bufferb), buffer, buffer.Select(x => Math.Abs(x) + 1).ToArray(), 1e-6, "momentum buffer");
    }

    // ---- determinism -----------------------------------------------------------------------------

    [Test]
    public void RepeatedRunsAreBitIdentical()
    {
        float[] RunAll()
        {
            var random = new Random(7);
            float[] Values(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var results = new List<float>();
            foreach (var (m, n, k) in new[] { (64, 100, 6000), (40, 300, 200) })   // with and without a cut k
            {
                using var a = Upload(Values(m * k));
                using var b = Upload(Values(n * k));
                using var c = _cpu.Allocate(m * n);
                _cpu.Gemm(false, true, m, n, k, 1, a, b, 0, c);
                results.AddRange(Download(c));
            }
            var conv = new Conv2dShape(24, 4, 20, 40, 8, 3, 3, 1, 1, 1, 1);
            using (var x = Upload(Values(conv.InputLength)))
            using (var dy = Upload(Values(conv.OutputLength)))
            using (var dw = _cpu.Allocate(conv.WeightLength))
            using (var dbias = _cpu.Allocate(conv.K))
            {
                _cpu.Conv2dBackwardWeight(conv, x, dy, dw, dbias);
                results.AddRange(Download(dw));
                results.AddRange(Download(dbias));
            }
            var norm = new NormShape(16, 3, 9000);
            using (var x = Upload(Values(norm.Length)))
            using (var dy = Upload(Values(norm.Length)))
            using (var gamma = Upload(Values(3)))
            using (var beta = Upload(Values(3)))
            using (var y = _cpu.Allocate(norm.Length))
            using (var mean = _cpu.Allocate(3))
            using (var invStd = _cpu.Allocate(3))
            using (var runningMean = Upload(new float[3]))
            using (var runningVar = Upload(new float[] { 1, 1, 1 }))
            using (var dx = _cpu.Allocate(norm.Length))
            using (var dgamma = _cpu.Allocate(3))
            using (var dbeta = _cpu.Allocate(3))
            using (var sum = _cpu.Allocate(1))
            {
                _cpu.BatchNormTrainForward(norm, x, gamma, beta, y, mean, invStd, runningMean, runningVar, 1e-5f, 0.1f);
                _cpu.BatchNormBackward(norm, x, dy, gamma, mean, invStd, dx, dgamma, dbeta);
                _cpu.Sum(y, sum, 1);
                foreach (var buffer in new[] { y, mean, invStd, runningVar, dx, dgamma, dbeta, sum }) results.AddRange(Download(buffer));
            }
            return results.ToArray();
        }

        float[] first = RunAll(), second = RunAll();
        Assert.That(second.Length, Is.EqualTo(first.Length));
        for (int i = 0; i < first.Length; i++)
            Assert.That(BitConverter.SingleToInt32Bits(second[i]), Is.EqualTo(BitConverter.SingleToInt32Bits(first[i])), $"result {i}");
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private float[] RandomArray(int n) => Enumerable.Range(0, n).Select(_ => (float)(_random.NextDouble() * 2 - 1)).ToArray();

    private DeviceBuffer Upload(float[] values)
    {
        var buffer = _cpu.Allocate(values.Length);
        _cpu.Upload(values, buffer);
        return buffer;
    }

    private float[] Download(DeviceBuffer buffer)
    {
        var values = new float[buffer.Length];
        _cpu.Download(buffer, values);
        return values;
    }

    /// <summary>|actual − expected| ≤ tolerance · magnitude element by element, reporting the worst one.</summary>
    private static void AssertClose(float[] actual, double[] expected, double[] magnitude, double tolerance, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double ratio = Math.Abs(actual[i] - expected[i]) / (tolerance * magnitude[i] + 1e-30);
            if (double.IsNaN(ratio) || ratio > worstRatio)
            {
                worstRatio = double.IsNaN(ratio) ? double.PositiveInfinity : ratio;
                worst = i;
            }
        }
        Assert.That(worstRatio, Is.LessThanOrEqualTo(1.0),
            () => $"{what}: element {worst} is {actual[worst]}, expected {expected[worst]} (magnitude {magnitude[worst]}, tolerance {tolerance})");
    }
}
