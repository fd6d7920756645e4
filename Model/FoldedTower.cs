using SimilarFaces.Engine;
using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Model;

/// <summary>
/// One tower for inference with BatchNorm's running statistics folded into the layers around it, so that a batch
/// takes no normalisation pass. BatchNorm after Conv2d → ReLU computes, per channel c,
///   y = a_c · relu(z) + b_c,   a_c = γ_c / √(σ²_c + ε),   b_c = β_c − a_c · μ_c.
/// Where every a_c &gt; 0, a_c · relu(z) = relu(a_c · z): the scale goes into the convolution (w[c] and bias[c] times
/// a_c). The shift b_c is a per-channel constant, which reflection and replication padding and max pooling carry
/// through unchanged, so it goes into the bias of the next weighted layer:
///   Conv2d (no zero padding):   bias[k] += Σ_{c,r,s} w[k,c,r,s] · b_c
///   Linear after the flatten:   bias[j] += Σ_i W[j,i] · b_{c(i)}   (one product with W, on the device)
/// A BatchNorm that does not fit (some γ_c ≤ 0, a zero-padded convolution or nothing weighted after it) runs as it
/// is. A padding layer before a convolution runs inside it, as in <see cref="Sequential"/>. The embeddings equal <see cref="SiameseNetwork.Embed"/>'s up to float rounding; the network is not changed,
/// and the folded copy is made anew for each use, so it never outlives the weights it came from.
/// </summary>
public sealed class FoldedTower : IDisposable
{
    private readonly List<Func<Tensor, Tensor>> _steps = [];
    private readonly List<Tensor> _folded = [];

    /// <summary>The folded copy of <paramref name="model"/>'s tower, in evaluation mode with running statistics.</summary>
    public FoldedTower(SiameseNetwork model)
    {
        float[]? shift = null;   // b of the last folded BatchNorm, not yet added into a bias
        ((int H, int W) Size, PaddingMode Mode)? padding = null;   // a padding layer the next convolution does itself
        var layers = model.ConvLayers.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            switch (layers[i])
            {
                case Conv2d conv:
                    bool relu = i + 1 < layers.Count && layers[i + 1] is ReLU;
                    var norm = relu && i + 2 < layers.Count ? layers[i + 2] as BatchNorm2d : null;
                    var affine = norm != null && TakesShift(layers, i + 3, model.FullyConnect) ? PositiveAffine(norm) : null;
                    var (weight, bias) = FoldConvolution(conv, shift, affine?.Scale);
                    var (size, mode) = padding ?? (conv.Padding, conv.PaddingMode);
                    _steps.Add(relu ? x => Ops.Conv2dRelu(x, weight, bias, conv.Stride, size, mode)
                        : x => Ops.Conv2d(x, weight, bias, conv.Stride, size, mode));
                    shift = affine?.Shift;
                    padding = null;
                    if (affine != null) FoldedNorms++;
                    i += affine != null ? 2 : relu ? 1 : 0;
                    break;
                case EdgePad2d pad when i + 1 < layers.Count && layers[i + 1] is Conv2d { Padding: (0, 0) }:
                    padding = ((pad.Padding, pad.Padding), pad.Mode);
                    break;
                case EdgePad2d or MaxPool2d:
                    _steps.Add(layers[i].Forward);
                    break;
                default:
                    if (shift != null) throw new InvalidOperationException($"a folded shift cannot pass {layers[i].GetType().Name}");
                    _steps.Add(layers[i].Forward);
                    break;
            }
        }
        _steps.Add(Ops.Flatten);
        var dense = model.FullyConnect.Layers;
        for (int i = 0; i < dense.Count; i++)
        {
            if (i == 0 && shift != null && dense[0] is Linear first)
            {
                var bias = LinearBias(first, shift);
                _steps.Add(x => Ops.Linear(x, first.Weight, bias));
            }
            else _steps.Add(dense[i].Forward);
        }
        if (model.Architecture.Normalize) _steps.Add(x => Ops.L2Normalize(x));
    }

    /// <summary>How many of the network's BatchNorms were folded; the others run as they are.</summary>
    public int FoldedNorms { get; }

    /// <summary>Images (N,1,S,S) → embeddings (N,E), as the network's <see cref="SiameseNetwork.Embed"/> in evaluation mode.</summary>
    public Tensor Embed(Tensor images)
    {
        foreach (var step in _steps) images = step(images);
        return images;
    }

    public void Dispose()
    {
        foreach (var tensor in _folded) tensor.Dispose();
        _folded.Clear();
    }

    /// <summary>
    /// Whether the layers from <paramref name="start"/> carry a per-channel constant unchanged to a layer that can take
    /// it into its bias: past padding that copies values and max pooling, a convolution without padding of its own, or
    /// the first Linear after the flatten.
    /// </summary>
    private static bool TakesShift(IReadOnlyList<Module> layers, int start, Sequential dense)
    {
        for (int i = start; i < layers.Count; i++)
        {
            if (layers[i] is EdgePad2d or MaxPool2d) continue;
            return layers[i] is Conv2d { Padding: (0, 0) };
        }
        return dense.Layers.Count > 0 && dense.Layers[0] is Linear;
    }

    /// <summary>The BatchNorm's a and b in evaluation mode, when every a_c is positive; else null.</summary>
    private static (float[] Scale, float[] Shift)? PositiveAffine(BatchNorm norm)
    {
        float[] gamma = norm.Weight.ToArray(), beta = norm.Bias.ToArray();
        float[] mean = norm.RunningMean.ToArray(), variance = norm.RunningVar.ToArray();
        var scale = new float[gamma.Length];
        var shift = new float[gamma.Length];
        for (int c = 0; c < gamma.Length; c++)
        {
            double a = gamma[c] / Math.Sqrt(variance[c] + (double)norm.Eps);
            if (!(a > 0)) return null;
            scale[c] = (float)a;
            shift[c] = (float)(beta[c] - a * mean[c]);
        }
        return (scale, shift);
    }

    /// <summary>
    /// The convolution's weight and bias with the input's per-channel <paramref name="shift"/> added into the bias and
    /// each output channel k then multiplied by <paramref name="scale"/>[k] (each step skipped when null).
    /// </summary>
    private (Tensor Weight, Tensor? Bias) FoldConvolution(Conv2d conv, float[]? shift, float[]? scale)
    {
        if (shift == null && scale == null) return (conv.Weight, conv.Bias);
        int[] shape = conv.Weight.Shape;
        int outputs = shape[0], inputs = shape[1], taps = shape[2] * shape[3];
        float[] w = conv.Weight.ToArray();
        float[] b = conv.Bias?.ToArray() ?? new float[outputs];
        for (int k = 0; k < outputs; k++)
        {
            double sum = b[k];
            if (shift != null)
                for (int c = 0; c < inputs; c++)
                    for (int t = 0; t < taps; t++) sum += (double)w[(k * inputs + c) * taps + t] * shift[c];
            float factor = scale?[k] ?? 1f;
            b[k] = (float)(sum * factor);
            for (int j = k * inputs * taps; j < (k + 1) * inputs * taps; j++) w[j] *= factor;
        }
        return (Keep(Tensor.Persistent(conv.Weight.Backend, w, shape)), Keep(Tensor.Persistent(conv.Weight.Backend, b, outputs)));
    }

    /// <summary>The Linear's bias plus W · (the per-channel shift repeated over each channel's flattened pixels).</summary>
    private Tensor LinearBias(Linear linear, float[] shift)
    {
        int features = linear.InFeatures, pixels = features / shift.Length;
        var repeated = new float[features];
        for (int i = 0; i < features; i++) repeated[i] = shift[i / pixels];
        float[] product;
        using (var row = Tensor.FromArray(linear.Weight.Backend, repeated, 1, features))
        using (var result = Ops.Linear(row, linear.Weight, linear.Bias))
            product = result.ToArray();
        return Keep(Tensor.Persistent(linear.Weight.Backend, product, product.Length));
    }

    private Tensor Keep(Tensor tensor)
    {
        _folded.Add(tensor);
        return tensor;
    }
}
