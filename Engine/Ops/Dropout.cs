using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine;

/// <summary>
/// Inverted dropout: each element is kept with probability 1−p and scaled by 1/(1−p).
///   mask[i] = [u(seed, i) ≥ p] / (1−p),  y = x·mask,  dx = dy·mask
/// u is <see cref="DropoutHash"/>: the same seed gives the same mask on every backend. Identity in eval.
/// </summary>
public static partial class Ops
{
    /// <summary>
    /// Inverted dropout with drop probability p in [0, 1); the mask is a function of <paramref name="seed"/> only,
    /// the same on every device. Returns x itself when not <paramref name="training"/> or p = 0.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, ulong seed, bool training)
    {
        Check.That(p >= 0f && p < 1f, "Dropout", $"probability must be in [0, 1), got {p}");
        if (!training || p == 0f) return x;
        var backend = x.Backend;
        var mask = Tensor.Empty(x, x.Shape);
        backend.DropoutMask(mask.Buffer, p, seed);
        var y = Tensor.Empty(x, x.Shape);
        backend.Binary(BinaryKind.Mul, x.Buffer, mask.Buffer, y.Buffer);
        return Tape.Record(y, "Dropout", [x], dy =>
        {
            var dx = Tensor.Empty(x, x.Shape);
            backend.Binary(BinaryKind.Mul, dy.Buffer, mask.Buffer, dx.Buffer);
            Tape.Accumulate(x, dx);
        });
    }
}
