using SimilarFaces.Engine;

namespace SimilarFaces.Model.Data;

/// <summary>
/// Made-up identities for training and testing without face data, generated in memory from a seed.
/// Identity k is a smooth pattern: a mid-gray background plus <see cref="BlobsPerIdentity"/> Gaussian
/// blobs, bright or dark, at identity-specific positions and widths,
///   p_k(x, y) = 0.5 + Σ_b a_b · exp(−((x − x_b)² / 2σx_b² + (y − y_b)² / 2σy_b²)).
/// Image j of identity k is that pattern shifted by up to 4% of the size, with its contrast scaled
/// by 0.85..1.15 and brightness moved by ±0.08, plus Gaussian noise of σ 0.03, clipped to [0, 1].
/// The within-identity jitter is small next to the differences between identities, so a small
/// Siamese network can learn to tell them apart.
/// </summary>
public sealed class SyntheticFaces : IFaceDataset
{
    public const int BlobsPerIdentity = 5;

    private readonly float[] _pixels;
    private readonly int _imagesPerIdentity;

    public SyntheticFaces(int identities, int imagesPerIdentity, int height, int width, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(identities, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(imagesPerIdentity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Width = width;
        Height = height;
        _imagesPerIdentity = imagesPerIdentity;
        Identities = Enumerable.Range(0, identities).Select(k => $"id{k:D3}").ToArray();
        _pixels = new float[(long)identities * imagesPerIdentity * height * width];

        var rng = new SeededRandom(seed);
        var blobs = new Blob[BlobsPerIdentity];
        for (int k = 0; k < identities; k++)
        {
            for (int b = 0; b < blobs.Length; b++)
                blobs[b] = new Blob(
                    X: rng.NextDouble(0.15, 0.85) * width,
                    Y: rng.NextDouble(0.15, 0.85) * height,
                    SigmaX: rng.NextDouble(0.06, 0.18) * width,
                    SigmaY: rng.NextDouble(0.06, 0.18) * height,
                    Amplitude: rng.NextDouble(0.25, 0.6) * (rng.NextInt(2) == 0 ? -1 : 1));
            for (int j = 0; j < imagesPerIdentity; j++)
                Draw(blobs, rng, _pixels.AsSpan((k * imagesPerIdentity + j) * height * width, height * width));
        }
    }

    public int Count => Identities.Count * _imagesPerIdentity;
    public int Width { get; }
    public int Height { get; }
    public IReadOnlyList<string> Identities { get; }

    public int Label(int index) => index / _imagesPerIdentity;
    public ReadOnlySpan<float> Image(int index) => _pixels.AsSpan(index * Width * Height, Width * Height);
    public string RelativePath(int index) => $"{Identities[Label(index)]}/{index % _imagesPerIdentity}";

    private readonly record struct Blob(double X, double Y, double SigmaX, double SigmaY, double Amplitude);

    // image (Height, Width): the identity's pattern with this image's shift, contrast, brightness, noise
    private void Draw(Blob[] blobs, SeededRandom rng, Span<float> image)
    {
        double shiftX = rng.NextDouble(-0.04, 0.04) * Width;
        double shiftY = rng.NextDouble(-0.04, 0.04) * Height;
        double contrast = rng.NextDouble(0.85, 1.15);
        double brightness = rng.NextDouble(-0.08, 0.08);
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                double pattern = 0;
                foreach (var blob in blobs)
                {
                    double dx = (x - shiftX - blob.X) / blob.SigmaX, dy = (y - shiftY - blob.Y) / blob.SigmaY;
                    pattern += blob.Amplitude * Math.Exp(-0.5 * (dx * dx + dy * dy));
                }
                double value = 0.5 + contrast * pattern + brightness + 0.03 * rng.NextGaussian();
                image[y * Width + x] = (float)Math.Clamp(value, 0, 1);
            }
    }
}
