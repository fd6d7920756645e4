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
    /// Applies each layer to the output of the one before. A <see cref="Conv2d"/> followed by a <see cref="ReLU"/>
    /// runs as one op (<see cref="Conv2d.ForwardRelu"/>): the same results, bit for bit, with one pass less.
    /// </summary>
    public override Tensor Forward(Tensor x)
    {
        for (int i = 0; i < _layers.Length; i++)
        {
            if (_layers[i] is Conv2d conv && i + 1 < _layers.Length && _layers[i + 1] is ReLU)
            {
                x = conv.ForwardRelu(x);
                i++;
            }
            else x = _layers[i].Forward(x);
        }
        return x;
    }
}
