namespace SimilarFaces.Engine.Nn;

/// <summary>Modules applied in order; children are named "0", "1", ... as in torch.nn.Sequential.</summary>
public sealed class Sequential : Module
{
    private readonly Module[] _layers;

    /// <summary>The layers, applied in the order given.</summary>
    public Sequential(params Module[] layers)
    {
        _layers = layers;
        for (int i = 0; i < layers.Length; i++) RegisterModule(i.ToString(), layers[i]);
    }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<Module> Layers => _layers;

    /// <summary>
    /// Applies each layer to the output of the one before. A <see cref="Conv2d"/> runs as one op with the
    /// <see cref="EdgePad2d"/> (replication or reflection) before it (when it has no padding of its own)
    /// and the <see cref="ReLU"/> after it, and with a <see cref="BatchNorm2d"/> after the ReLU when that normalises
    /// with the batch's statistics (in training): the same results, bit for bit, without writing the padded input or
    /// the pre-activation, and with the ReLU's backward done in BatchNorm's.
    /// </summary>
    public override Tensor Forward(Tensor x) => Forward(x, 1);

    /// <summary>
    /// <see cref="Forward(Tensor)"/> of x's N images as <paramref name="batches"/> equal batches, each as a forward of its
    /// own would see it, in one pass: every layer acts on each image apart, except a BatchNorm, which normalises each
    /// batch by its own statistics (<see cref="BatchNorm.Forward(Tensor, int)"/>). Layers that do not act on each image
    /// apart (dropout in training, which draws one mask per forward, and layers of other kinds) are refused.
    /// </summary>
    public Tensor Forward(Tensor x, int batches)
    {
        if (batches != 1 && (batches < 1 || x.Rank == 0 || x.Shape[0] % batches != 0))
            throw new ArgumentException($"Sequential: batches must be at least 1 and divide the rows of input {x.ShapeText}, got {batches}");
        for (int i = 0; i < _layers.Length; i++)
        {
            if (Convolution(i) is { } c)
            {
                x = c.Norm != null ? c.Layer.Forward(x, c.Padding, c.Mode, c.Norm, batches) : c.Layer.Forward(x, c.Padding, c.Mode, c.Relu);
                i = c.Last;
            }
            else x = _layers[i] switch
            {
                BatchNorm norm => norm.Forward(x, batches),
                Sequential inner => inner.Forward(x, batches),
                var layer when batches == 1 || ActsOnEachImage(layer) => layer.Forward(x),
                var layer => throw new NotSupportedException(
                    $"Sequential: layer {i} ({layer.GetType().Name}) cannot run {batches} batches in one pass: it does not act on each image apart"),
            };
        }
        return x;
    }

    private static bool ActsOnEachImage(Module layer) =>
        layer is Conv2d or EdgePad2d or ReLU or MaxPool2d or Flatten or Linear || layer is Dropout { Training: false };

    /// <summary>
    /// The convolution that starts at layer i (with a padding layer or at its Conv2d), the ReLU and batch norm after it
    /// that run with it, and its last layer.
    /// </summary>
    private (Conv2d Layer, (int H, int W) Padding, PaddingMode Mode, bool Relu, BatchNorm2d? Norm, int Last)? Convolution(int i)
    {
        var (padding, mode, at) = _layers[i] switch
        {
            EdgePad2d pad => ((pad.Padding, pad.Padding), pad.Mode, i + 1),
            _ => ((0, 0), PaddingMode.Zeros, i),
        };
        if (at >= _layers.Length || _layers[at] is not Conv2d conv || (at > i && conv.Padding != (0, 0))) return null;
        bool relu = at + 1 < _layers.Length && _layers[at + 1] is ReLU;
        var norm = relu && at + 2 < _layers.Length && _layers[at + 2] is BatchNorm2d { NormalisesByBatch: true } next ? next : null;
        int last = norm != null ? at + 2 : relu ? at + 1 : at;
        return at > i ? (conv, padding, mode, relu, norm, last) : (conv, conv.Padding, conv.PaddingMode, relu, norm, last);
    }
}
