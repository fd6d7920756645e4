using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Tests.Backends;

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
        (x[3], x[4], x[5]) = (float.NaN, float.PositiveInfinity, float.NegativeInfinity);   // in the vector body
        var dy = Random(length);
        var expected = x.Select((v, i) => ReferenceKernels.Unary(kind, v, dy[i], scalar)).ToArray();
        var xb = Upload(x);
        var y = Output(length);
        backend.Unary(kind, xb, y, scalar);
        AssertClose(Read(y), expected.Select(e => (double)e.Y).ToArray(), tolerance, $"{kind} y");
        var dx = Output(length);
        backend.UnaryBackward(kind, xb, Upload(dy), dx, scalar);
        AssertClose(Read(dx), expected.Select(e => (double)e.Dx).ToArray(), tolerance, $"{kind} dx");
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
        backend.Copy(Upload(x), 0, y, 0, length);
        Assert.That(Read(y), Is.EqualTo(x), "copy");

        // a range to another place: x[3 … 3+n) to y[5 …), the rest of y untouched
        int n = length - 9;
        var z = Output(length);
        backend.Fill(z, -1f);
        backend.Copy(Upload(x), 3, z, 5, n);
        Assert.That(Read(z), Is.EqualTo(Enumerable.Repeat(-1f, 5).Concat(x.Skip(3).Take(n)).Concat(Enumerable.Repeat(-1f, length - 5 - n))),
            "copy of a range");
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
        float[] absW = ReferenceKernels.Abs(w), absDy = ReferenceKernels.Abs(dy);
        // With a padding mode the references read x padded by hand, with no padding of their own, and the input
        // gradient is the padded input's folded back by the padding's backward.
        var (reference, paddedX) = s.Mode is { } mode
            ? (s.OnPaddedInput(), ReferenceKernels.Pad2dForward(mode, s.Padding(), x).Select(v => (float)v).ToArray())
            : (s, x);
        float[] absX = ReferenceKernels.Abs(paddedX);
        var xb = Upload(x);
        var wb = Upload(w);
        var dyb = Upload(dy);

        foreach (var b in new[] { bias, null })
            foreach (bool relu in new[] { false, true })
            {
                var y = Output(s.OutputLength);
                backend.Conv2dForward(s, xb, wb, b == null ? null : Upload(b), relu, y);
                var expected = ReferenceKernels.Conv2dForward(reference, paddedX, w, b);
                if (relu) expected = expected.Select(v => Math.Max(v, 0)).ToArray();
                AssertClose(Read(y), expected, ReferenceKernels.Conv2dForward(reference, absX, absW, b == null ? null : ReferenceKernels.Abs(b)),
                    tolerance, (b == null ? "y without bias" : "y with bias") + (relu ? ", ReLU fused" : ""));
            }

        var dx = Output(s.InputLength);
        backend.Conv2dBackwardInput(s, dyb, wb, dx);
        double[] InputGradient(float[] outputGradient, float[] weights)
        {
            var padded = ReferenceKernels.Conv2dBackwardInput(reference, outputGradient, weights);
            return s.Mode is { } fold ? ReferenceKernels.Pad2dBackward(fold, s.Padding(), padded.Select(v => (float)v).ToArray()) : padded;
        }
        AssertClose(Read(dx), InputGradient(dy, w), InputGradient(absDy, absW), tolerance, "dx");

        var (dwExpected, dbiasExpected) = ReferenceKernels.Conv2dBackwardWeight(reference, paddedX, dy);
        var (dwScale, dbiasScale) = ReferenceKernels.Conv2dBackwardWeight(reference, absX, absDy);
        var dw = Output(s.WeightLength);
        var dbias = Output(s.K);
        backend.Conv2dBackwardWeight(s, xb, dyb, dw, dbias);
        AssertClose(Read(dw), dwExpected, dwScale, tolerance, "dw");
        AssertClose(Read(dbias), dbiasExpected, dbiasScale, tolerance, "dbias");
        var dwWithoutBias = Output(s.WeightLength);
        backend.Conv2dBackwardWeight(s, xb, dyb, dwWithoutBias, null);
        AssertClose(Read(dwWithoutBias), dwExpected, dwScale, tolerance, "dw without dbias");

        // all three in one call: each as its own call gives it, bit for bit
        var (dxBoth, dwBoth, dbiasBoth) = (Output(s.InputLength), Output(s.WeightLength), Output(s.K));
        backend.Conv2dBackward(s, xb, dyb, wb, dxBoth, dwBoth, dbiasBoth);
        Assert.That(Read(dxBoth), Is.EqualTo(Read(dx)), "dx from the call that also makes dw");
        Assert.That(Read(dwBoth), Is.EqualTo(Read(dw)), "dw from the call that also makes dx");
        Assert.That(Read(dbiasBoth), Is.EqualTo(Read(dbias)), "dbias from the call that also makes dx");
    }

    /// <summary>
    /// A convolution with its ReLU and then BatchNorm in training, from the backend's one call, against its two kernels
    /// one after the other: the activation, y, the batch's statistics and the running ones bit for bit.
    /// </summary>
    public void Conv2dReluBatchNormForward(Conv2dShape s, int batches)
    {
        var norm = new NormShape(s.N, s.K, s.OutH * s.OutW, batches);
        var x = Upload(Random((int)s.InputLength));
        var w = Upload(Random((int)s.WeightLength));
        var bias = Upload(Random(s.K, -0.2, 0.2));
        var gamma = Upload(Random(s.K, 0.5, 1.5));
        var beta = Upload(Random(s.K));
        float[] runningMean = Random(s.K), runningVar = Random(s.K, 0.5, 2);
        float[][] Outputs(bool oneCall)
        {
            var (activation, y, mean, invStd) = (Output(s.OutputLength), Output(s.OutputLength), Output(batches * s.K), Output(batches * s.K));
            var (runningMeanb, runningVarb) = (Upload(runningMean), Upload(runningVar));
            if (oneCall)
                backend.Conv2dReluBatchNormForward(s, norm, x, w, bias, activation, gamma, beta, y, mean, invStd, runningMeanb, runningVarb, NormEps, NormMomentum);
            else
            {
                backend.Conv2dForward(s, x, w, bias, relu: true, activation);
                backend.BatchNormTrainForward(norm, activation, gamma, beta, y, mean, invStd, runningMeanb, runningVarb, NormEps, NormMomentum);
            }
            return [.. new[] { activation, y, mean, invStd, runningMeanb, runningVarb }.Select(Read)];
        }
        var (actual, expected) = (Outputs(oneCall: true), Outputs(oneCall: false));
        string[] names = ["activation", "y", "mean", "invStd", "running mean", "running var"];
        Assert.That(expected[0].Count(v => v > 0), Is.InRange(expected[0].Length / 4, 3 * expected[0].Length / 4), "the ReLU passes some of the activation");
        for (int i = 0; i < expected.Length; i++) Assert.That(actual[i], Is.EqualTo(expected[i]), names[i]);
    }

    /// <summary>
    /// The backward of a convolution whose ReLU'd output went through BatchNorm in training, from the backend's one call,
    /// against its two kernels one after the other (BatchNorm's, afterRelu, into a buffer; then the convolution's): every
    /// gradient bit for bit. BatchNorm's input is a ReLU's output (about half of it zeros, where the mask cuts dy off).
    /// </summary>
    public void Conv2dReluBatchNormBackward(Conv2dShape s, int batches, bool inputGradient)
    {
        var norm = new NormShape(s.N, s.K, s.OutH * s.OutW, batches);
        var x = Upload(Random((int)s.InputLength));
        var activation = Upload(Random((int)s.OutputLength).Select(v => Math.Max(v, 0f)).ToArray());
        var dz = Upload(Random((int)s.OutputLength));
        var gamma = Upload(Random(s.K, 0.5, 1.5));
        var mean = Upload(Random(batches * s.K, 0, 0.5));
        var invStd = Upload(Random(batches * s.K, 0.5, 2));
        var w = Upload(Random((int)s.WeightLength));
        float[][] Gradients(bool oneCall)
        {
            var (dx, dw, dbias, dgamma, dbeta) = (inputGradient ? Output(s.InputLength) : null, Output(s.WeightLength), Output(s.K), Output(s.K), Output(s.K));
            if (oneCall) backend.Conv2dReluBatchNormBackward(s, norm, x, activation, dz, gamma, mean, invStd, w, dx, dw, dbias, dgamma, dbeta);
            else IBackend.NormThenConv2dBackward(backend, s, norm, x, activation, dz, gamma, mean, invStd, w, dx, dw, dbias, dgamma, dbeta);
            return [.. new[] { dw, dbias, dgamma, dbeta, dx }.OfType<DeviceBuffer>().Select(Read)];
        }
        var (actual, expected) = (Gradients(oneCall: true), Gradients(oneCall: false));
        string[] names = ["dw", "dbias", "dgamma", "dbeta", "dx"];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.That(expected[i].Count(v => v != 0), Is.GreaterThan(expected[i].Length / 4), $"{names[i]} of the two kernels is mostly not zero");
            Assert.That(actual[i], Is.EqualTo(expected[i]), names[i]);
        }
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

    public void Pad2dBackwardOfNegativeZeros(PadMode mode, Pad2dShape s)
    {
        var dx = Output(s.Planes * s.H * s.W);
        backend.Pad2dBackward(mode, s, Upload(Enumerable.Repeat(-0f, s.Planes * s.OutH * s.OutW).ToArray()), dx);
        Assert.That(Read(dx).Select(BitConverter.SingleToInt32Bits), Is.All.Zero, "dx: +0, whose bits are all zero");
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
    /// x (N,C,L) spread spreads[c]·U(−1, 1) around <paramref name="offset"/> + n·<paramref name="rowStep"/>; without
    /// spreads (1 + c), so channels differ.
    /// </summary>
    private float[] NormInput(NormShape s, float offset, float[]? spreads = null, float rowStep = 0) =>
        Random((int)s.Length).Select((v, i) =>
        {
            int c = ReferenceKernels.Channel(s, i), n = i / (s.C * s.L);
            return offset + n * rowStep + v * (spreads?[c] ?? 1 + c);
        }).ToArray();

    /// <summary>
    /// The training forward and backward against the reference; with <paramref name="afterRelu"/>, the backward that
    /// folds in a ReLU before it, on x with every 7th element exactly 0. The batch's statistics and the running ones are
    /// held to <paramref name="statisticsTolerance"/> when given, else to <paramref name="tolerance"/>; each sample n of x
    /// is shifted by n·<paramref name="rowStep"/>.
    /// </summary>
    public void BatchNormTraining(NormShape s, float offset, double tolerance, float[]? spreads = null, bool afterRelu = false,
        double? statisticsTolerance = null, float rowStep = 0)
    {
        float[] x = NormInput(s, offset, spreads, rowStep), gamma = Random(s.C, 0.5, 1.5), beta = Random(s.C), dy = Random((int)s.Length);
        float[] runningMean = Random(s.C), runningVar = Random(s.C, 0.5, 2);
        if (afterRelu)
            for (int i = 0; i < x.Length; i += 7) x[i] = 0f;
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
        double statistics = statisticsTolerance ?? tolerance;
        AssertCloseOrUnit(Read(mean), expected.Mean, statistics, "mean");
        AssertCloseOrUnit(Read(invStd), expected.InvStd, statistics, "invStd");
        AssertCloseOrUnit(Read(runningMeanb), expected.RunningMean, statistics, "running mean");
        AssertCloseOrUnit(Read(runningVarb), expected.RunningVar, statistics, "running var");

        // Backward reads the saved statistics: feed the exact ones, so only its own error is measured.
        float[] exactMean = expected.Mean.Select(v => (float)v).ToArray(), exactInvStd = expected.InvStd.Select(v => (float)v).ToArray();
        var (dxExpected, dgammaExpected, dbetaExpected) = ReferenceKernels.BatchNormBackward(s, x, dy, gamma, exactMean, exactInvStd, afterRelu);
        var dx = Output(s.Length);
        var dgamma = Output(s.C);
        var dbeta = Output(s.C);
        backend.BatchNormBackward(s, xb, Upload(dy), gammab, Upload(exactMean), Upload(exactInvStd), dx, dgamma, dbeta, afterRelu);
        AssertCloseOrUnit(Read(dx), dxExpected, tolerance, "dx");
        var mass = GradientMass(s, x, dy, exactMean, exactInvStd);
        AssertClose(Read(dgamma), dgammaExpected, mass, tolerance, "dgamma");
        AssertClose(Read(dbeta), dbetaExpected, mass, tolerance, "dbeta");
    }

    /// <summary>
    /// A shape of several batches against one call per batch on that batch's rows, bit for bit: y and dx, each batch's
    /// statistics, the running statistics (taking each batch's update in turn) and dγ, dβ (each batch's, added in order).
    /// </summary>
    public void BatchNormTrainingInBatches(NormShape s, bool afterRelu)
    {
        float[] x = NormInput(s, 0), gamma = Random(s.C, 0.5, 1.5), beta = Random(s.C), dy = Random((int)s.Length);
        float[] runningMean = Random(s.C), runningVar = Random(s.C, 0.5, 2);
        if (afterRelu)
            for (int i = 0; i < x.Length; i += 7) x[i] = 0f;
        var (gammab, betab) = (Upload(gamma), Upload(beta));

        var (xb, y, mean, invStd) = (Upload(x), Output(s.Length), Output(s.Batches * s.C), Output(s.Batches * s.C));
        var (runningMeanb, runningVarb) = (Upload(runningMean), Upload(runningVar));
        backend.BatchNormTrainForward(s, xb, gammab, betab, y, mean, invStd, runningMeanb, runningVarb, NormEps, NormMomentum);
        var (dx, dgamma, dbeta) = (Output(s.Length), Output(s.C), Output(s.C));
        backend.BatchNormBackward(s, xb, Upload(dy), gammab, mean, invStd, dx, dgamma, dbeta, afterRelu);

        var batch = s.Batch();
        int length = (int)batch.Length;
        var (batchRunningMean, batchRunningVar) = (Upload(runningMean), Upload(runningVar));
        float[] dgammaSum = new float[s.C], dbetaSum = new float[s.C];
        for (int b = 0; b < s.Batches; b++)
        {
            var xBatch = Upload(x[(b * length)..((b + 1) * length)]);
            var (yBatch, meanBatch, invStdBatch) = (Output(length), Output(s.C), Output(s.C));
            backend.BatchNormTrainForward(batch, xBatch, gammab, betab, yBatch, meanBatch, invStdBatch, batchRunningMean, batchRunningVar, NormEps, NormMomentum);
            var (dxBatch, dgammaBatch, dbetaBatch) = (Output(length), Output(s.C), Output(s.C));
            backend.BatchNormBackward(batch, xBatch, Upload(dy[(b * length)..((b + 1) * length)]), gammab, meanBatch, invStdBatch,
                dxBatch, dgammaBatch, dbetaBatch, afterRelu);
            Assert.That(Read(y)[(b * length)..((b + 1) * length)], Is.EqualTo(Read(yBatch)), $"y of batch {b}");
            Assert.That(Read(mean)[(b * s.C)..((b + 1) * s.C)], Is.EqualTo(Read(meanBatch)), $"mean of batch {b}");
            Assert.That(Read(invStd)[(b * s.C)..((b + 1) * s.C)], Is.EqualTo(Read(invStdBatch)), $"invStd of batch {b}");
            Assert.That(Read(dx)[(b * length)..((b + 1) * length)], Is.EqualTo(Read(dxBatch)), $"dx of batch {b}");
            float[] dgammaPart = Read(dgammaBatch), dbetaPart = Read(dbetaBatch);
            for (int c = 0; c < s.C; c++)
            {
                dgammaSum[c] = b == 0 ? dgammaPart[c] : dgammaSum[c] + dgammaPart[c];
                dbetaSum[c] = b == 0 ? dbetaPart[c] : dbetaSum[c] + dbetaPart[c];
            }
        }
        Assert.That(Read(runningMeanb), Is.EqualTo(Read(batchRunningMean)), "running mean");
        Assert.That(Read(runningVarb), Is.EqualTo(Read(batchRunningVar)), "running var");
        Assert.That(Read(dgamma), Is.EqualTo(dgammaSum), "dgamma");
        Assert.That(Read(dbeta), Is.EqualTo(dbetaSum), "dbeta");
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

    /// <summary>
    /// |actual − expected| ≤ tolerance·scale element by element, naming the worst element; NaN passes only where NaN
    /// is expected, and an infinity only where the same one is.
    /// </summary>
    private static void AssertClose(float[] actual, double[] expected, double[] scale, double tolerance, string what)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what + ": length");
        int worst = -1;
        double worstRatio = 1;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]), allowed = tolerance * scale[i];
            if (error <= allowed || actual[i] == expected[i] || (float.IsNaN(actual[i]) && double.IsNaN(expected[i]))) continue;
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
