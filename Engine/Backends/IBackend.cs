namespace SimilarFaces.Engine.Backends;

/// <summary>
/// A compute device: what <see cref="Devices.Open"/> returns and every tensor belongs to. Users see its name,
/// description and <see cref="Synchronize"/>; disposing it frees the device and every buffer it holds.
/// Inside the engine it is also the seam to the kernels: every kernel the ops need is an internal member here,
/// and a backend implements all of them. Buffers are flat float32 arrays owned by the backend;
/// shapes travel as the small structs in <c>Shapes.cs</c>. Kernels overwrite their outputs
/// (never accumulate) unless the doc comment says otherwise, and the caller has already
/// validated every shape: a backend may assume lengths are consistent.
/// All tensors are row-major and contiguous; images are NCHW.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>Device name as users type it: "cpu", "ilgpu-cpu", "cuda:0", "opencl:1".</summary>
    string Name { get; }

    /// <summary>Human-readable description (hardware, memory, SIMD width...).</summary>
    string Description { get; }

    /// <summary>A buffer of <paramref name="length"/> floats, contents undefined; reused from the pool when possible.</summary>
    internal DeviceBuffer Allocate(long length);

    /// <summary>Statistics of the buffer pool (for tests that assert no allocation after warm-up).</summary>
    internal PoolStatistics PoolStatistics { get; }

    /// <summary>destination[destinationStart + i] = source[i].</summary>
    internal void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationStart = 0);
    internal void Download(DeviceBuffer source, Span<float> destination);

    /// <summary>Waits until every launched kernel has finished.</summary>
    void Synchronize();

    // ---- element-wise, n = y.Length ------------------------------------------------------

    internal void Fill(DeviceBuffer y, float value);
    /// <summary>y[yStart + i] = x[xStart + i] for i in [0, length).</summary>
    internal void Copy(DeviceBuffer x, long xStart, DeviceBuffer y, long yStart, long length);

    /// <summary>y = f(x, scalar).</summary>
    internal void Unary(UnaryKind kind, DeviceBuffer x, DeviceBuffer y, float scalar);

    /// <summary>dx = dy · f'(x, scalar).</summary>
    internal void UnaryBackward(UnaryKind kind, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx, float scalar);

    /// <summary>y = a ∘ b, all of equal length.</summary>
    internal void Binary(BinaryKind kind, DeviceBuffer a, DeviceBuffer b, DeviceBuffer y);

    /// <summary>y += alpha · x (accumulates).</summary>
    internal void Axpy(float alpha, DeviceBuffer x, DeviceBuffer y);

    /// <summary>result[0] = scale · Σ x.</summary>
    internal void Sum(DeviceBuffer x, DeviceBuffer result, float scale);

    /// <summary>y[i] = scale · scalar[0] for every i (the backward of Sum).</summary>
    internal void Broadcast(DeviceBuffer scalar, DeviceBuffer y, float scale);

    // ---- dense ----------------------------------------------------------------------------

    /// <summary>
    /// C (m,n) = alpha · op(A) · op(B) + beta · C, row-major. op(A) is (m,k): A is stored (m,k), or (k,m) when
    /// <paramref name="transA"/>. op(B) is (k,n): B is stored (k,n), or (n,k) when <paramref name="transB"/>.
    /// beta = 0 ignores C's previous contents (even NaN).
    /// </summary>
    internal void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b, float beta, DeviceBuffer c);

    /// <summary>y (rows, cols) += bias (cols) on every row (accumulates).</summary>
    internal void AddRowVector(DeviceBuffer y, DeviceBuffer bias, int rows, int cols);

    /// <summary>sums (cols) = Σ_rows x (rows, cols).</summary>
    internal void SumRows(DeviceBuffer x, DeviceBuffer sums, int rows, int cols);

    // ---- convolution, padding, pooling ---------------------------------------------------

    /// <summary>
    /// y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C,R,S)) + bias (K), padded as the shape says, cross-correlation as
    /// PyTorch; then, when <paramref name="relu"/>, y = max(y, 0) by the ReLU op's rule (<see cref="Relu"/>), in the
    /// same store.
    /// </summary>
    internal void Conv2dForward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias, bool relu, DeviceBuffer y);

    /// <summary>
    /// dx (N,C,H,W) from dy (N,K,OH,OW) and w (K,C,R,S), padded as the shape says: with a padding mode, the gradient
    /// of the padded input (<see cref="Conv2dShape.OnPaddedInput()"/>) folded back as <see cref="Pad2dBackward"/> does.
    /// </summary>
    internal void Conv2dBackwardInput(in Conv2dShape s, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx);

    /// <summary>dw (K,C,R,S) and, when given, dbias (K) from x (N,C,H,W), padded as the shape says, and dy (N,K,OH,OW).</summary>
    internal void Conv2dBackwardWeight(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw, DeviceBuffer? dbias);

    /// <summary>
    /// dw and dbias as <see cref="Conv2dBackwardWeight"/>, and dx as <see cref="Conv2dBackwardInput"/> when given: a backend
    /// may take both from one pass over dy.
    /// </summary>
    internal void Conv2dBackward(in Conv2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer? dx, DeviceBuffer dw, DeviceBuffer? dbias)
    {
        if (dx != null) Conv2dBackwardInput(s, dy, w, dx);
        Conv2dBackwardWeight(s, x, dy, dw, dbias);
    }

    /// <summary>
    /// A convolution with its ReLU (<see cref="Conv2dForward"/>) into activation, then BatchNorm in training of that
    /// (<see cref="BatchNormTrainForward"/>) into y. A backend may sum each image's rows for BatchNorm's statistics as the
    /// convolution writes them.
    /// </summary>
    internal void Conv2dReluBatchNormForward(in Conv2dShape s, in NormShape norm, DeviceBuffer x, DeviceBuffer w, DeviceBuffer? bias,
        DeviceBuffer activation, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y, DeviceBuffer mean, DeviceBuffer invStd,
        DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum)
    {
        Conv2dForward(s, x, w, bias, relu: true, activation);
        BatchNormTrainForward(norm, activation, gamma, beta, y, mean, invStd, runningMean, runningVar, eps, momentum);
    }

    /// <summary>
    /// The backward of a convolution whose output (activation, ReLU'd) went through BatchNorm in training: dgamma and
    /// dbeta, and the convolution's dy, as <see cref="BatchNormBackward"/> with afterRelu from dz (the gradient of
    /// BatchNorm's output); then dw, dbias and, when given, dx from that dy as <see cref="Conv2dBackward"/>. A backend
    /// may make dy an image at a time where the convolution reads it, instead of writing it whole.
    /// </summary>
    internal void Conv2dReluBatchNormBackward(in Conv2dShape s, in NormShape norm, DeviceBuffer x, DeviceBuffer activation, DeviceBuffer dz,
        DeviceBuffer gamma, DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer w, DeviceBuffer? dx, DeviceBuffer dw, DeviceBuffer? dbias,
        DeviceBuffer dgamma, DeviceBuffer dbeta) =>
        NormThenConv2dBackward(this, s, norm, x, activation, dz, gamma, mean, invStd, w, dx, dw, dbias, dgamma, dbeta);

    /// <summary><see cref="Conv2dReluBatchNormBackward"/> as its two kernels, dy written whole in between.</summary>
    internal static void NormThenConv2dBackward(IBackend backend, in Conv2dShape s, in NormShape norm, DeviceBuffer x, DeviceBuffer activation,
        DeviceBuffer dz, DeviceBuffer gamma, DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer w, DeviceBuffer? dx, DeviceBuffer dw,
        DeviceBuffer? dbias, DeviceBuffer dgamma, DeviceBuffer dbeta)
    {
        using var dy = backend.Allocate(activation.Length);
        backend.BatchNormBackward(norm, activation, dz, gamma, mean, invStd, dy, dgamma, dbeta, afterRelu: true);
        backend.Conv2dBackward(s, x, dy, w, dx, dw, dbias);
    }

    /// <summary>y (planes, OH, OW) = pad(x (planes, H, W)).</summary>
    internal void Pad2dForward(PadMode mode, in Pad2dShape s, DeviceBuffer x, DeviceBuffer y);

    /// <summary>dx (planes, H, W): each input element receives the sum of dy over every output that copied it.</summary>
    internal void Pad2dBackward(PadMode mode, in Pad2dShape s, DeviceBuffer dy, DeviceBuffer dx);

    /// <summary>y (planes, OH, OW) = max over each window of x (planes, H, W).</summary>
    internal void MaxPool2dForward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer y);

    /// <summary>dx: each window's dy goes to its maximum as <see cref="WindowMaximum"/> decides; overlapping windows add.</summary>
    internal void MaxPool2dBackward(in Pool2dShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dx);

    // ---- normalisation ---------------------------------------------------------------------

    /// <summary>
    /// Training-mode batch norm over x (N,C,L) per channel: mean and biased variance over N·L; writes
    /// y = gamma·(x−mean)·invStd + beta, saves mean (C) and invStd = 1/√(var+eps) (C) for backward, and
    /// updates running statistics in place: running = (1−momentum)·running + momentum·batch, with the
    /// unbiased variance (·N·L/(N·L−1)) for runningVar.
    /// </summary>
    internal void BatchNormTrainForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta, DeviceBuffer y,
        DeviceBuffer mean, DeviceBuffer invStd, DeviceBuffer runningMean, DeviceBuffer runningVar, float eps, float momentum);

    /// <summary>Eval-mode batch norm: y = gamma·(x−runningMean)/√(runningVar+eps) + beta.</summary>
    internal void BatchNormEvalForward(in NormShape s, DeviceBuffer x, DeviceBuffer gamma, DeviceBuffer beta,
        DeviceBuffer runningMean, DeviceBuffer runningVar, DeviceBuffer y, float eps);

    /// <summary>
    /// Training-mode backward: dx (N,C,L), dgamma (C), dbeta (C) from the saved mean and invStd. When
    /// <paramref name="afterRelu"/>, x is a ReLU's output and dx goes on through that ReLU's backward too: 0 where x ≤ 0.
    /// </summary>
    internal void BatchNormBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer mean,
        DeviceBuffer invStd, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, bool afterRelu);

    /// <summary>Eval-mode backward (running statistics are constants): dx = dy·gamma/√(runningVar+eps), dgamma = Σ dy·x̂, dbeta = Σ dy.</summary>
    internal void BatchNormEvalBackward(in NormShape s, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer gamma, DeviceBuffer runningMean,
        DeviceBuffer runningVar, DeviceBuffer dx, DeviceBuffer dgamma, DeviceBuffer dbeta, float eps);

    // ---- regularisation ---------------------------------------------------------------------

    /// <summary>mask[i] = 0 when DropoutHash.Uniform(seed, i) &lt; p, else 1/(1−p).</summary>
    internal void DropoutMask(DeviceBuffer mask, float p, ulong seed);

    // ---- distance and loss ---------------------------------------------------------------

    /// <summary>d (rows) = ‖a − b + eps‖₂ per row of a, b (rows, dim).</summary>
    internal void PairwiseDistanceForward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, float eps);

    /// <summary>da = dd·(a−b+eps)/d, db = −da (rows, dim); 0 for a row whose distance is 0 (as PyTorch).</summary>
    internal void PairwiseDistanceBackward(int rows, int dim, DeviceBuffer a, DeviceBuffer b, DeviceBuffer d, DeviceBuffer dd,
        DeviceBuffer da, DeviceBuffer db, float eps);

    /// <summary>loss[0] = mean((1−y)·d² + y·max(margin − d, 0)²) over n pairs; y = 1 means different.</summary>
    internal void ContrastiveLossForward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer loss, float margin);

    /// <summary>dd (n) = dloss[0]/n · (2(1−y)·d − 2y·max(margin − d, 0)).</summary>
    internal void ContrastiveLossBackward(int n, DeviceBuffer d, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dd, float margin);

    /// <summary>loss[0] = −mean_r log softmax(logits_r)[label_r] over rows; writes the softmax into probabilities (rows, classes).
    /// Labels hold class indices in [0, classes) as floats (checked by the op).</summary>
    internal void CrossEntropyForward(int rows, int classes, DeviceBuffer logits, DeviceBuffer label, DeviceBuffer probabilities, DeviceBuffer loss);

    /// <summary>dlogits (rows, classes) = dloss[0]/rows · (probabilities − onehot(label)).</summary>
    internal void CrossEntropyBackward(int rows, int classes, DeviceBuffer probabilities, DeviceBuffer label, DeviceBuffer dloss, DeviceBuffer dlogits);

    // ---- row normalisation ----------------------------------------------------------------

    /// <summary>y (rows, dim) = x / max(‖x_r‖, eps) per row; norms (rows) = ‖x_r‖ (before the clamp).</summary>
    internal void L2NormalizeForward(int rows, int dim, DeviceBuffer x, DeviceBuffer y, DeviceBuffer norms, float eps);

    /// <summary>dx = (dy − y·⟨y, dy⟩)/‖x‖ per row where ‖x‖ ≥ eps, else dy/eps.</summary>
    internal void L2NormalizeBackward(int rows, int dim, DeviceBuffer y, DeviceBuffer norms, DeviceBuffer dy, DeviceBuffer dx, float eps);

    // ---- optimisers (one fused pass per parameter tensor) --------------------------------------

    /// <summary>PyTorch Adam (L2 weight decay added to the gradient): updates param, m and v in place.</summary>
    internal void AdamStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, in AdamStepParameters h);

    /// <summary>PyTorch SGD with momentum/dampening/nesterov/weight decay: updates param and momentum buffer in place.</summary>
    internal void SgdStep(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer momentum, in SgdStepParameters h);
}
