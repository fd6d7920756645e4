using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Model;

/// <summary>How BatchNorm behaves at inference.</summary>
public enum BatchNormInference
{
    /// <summary>Running statistics from training (eval mode): an image's embedding does not depend on its batch.</summary>
    RunningStatistics,
    /// <summary>The seed notebook's test: training-mode BatchNorm on each image alone (its own statistics).</summary>
    PerImageStatistics,
}

/// <summary>Every pair's distance and label, and the report they give.</summary>
public sealed record Verification(VerificationReport Report, float[] Distances, bool[] Same, (int, int)[] Pairs);

/// <summary>Embeddings of whole datasets, without recording a graph.</summary>
public static class Embedder
{
    /// <summary>
    /// The embedding of every image, in batches, recording no graph (a batch's images are copied, or decoded, on all cores; a
    /// failure is that of the batch's first failing image); with running statistics, through the
    /// <see cref="FoldedTower"/> (BatchNorm folded into the layers around it). When the architecture averages with the mirror
    /// image, each image is also embedded flipped left to right and the two embeddings are summed (then scaled back to
    /// unit length when the architecture normalises, else halved).
    /// </summary>
    public static float[][] Embed(SiameseNetwork model, IFaceDataset data, BatchNormInference mode = BatchNormInference.RunningStatistics, int batchSize = 128)
    {
        int size = data.Width * data.Height, e = model.Architecture.EmbeddingSize;
        if (data.Width != model.Architecture.ImageSize || data.Height != model.Architecture.ImageSize)
            throw new ArgumentException($"images are {data.Width}×{data.Height} but the network takes {model.Architecture.ImageSize}×{model.Architecture.ImageSize}");
        if (mode == BatchNormInference.PerImageStatistics) batchSize = 1;
        var result = new float[data.Count][];
        var pixels = new float[batchSize * size];
        var norms = model.Modules().OfType<BatchNorm>().Select(norm => (norm, norm.UseBatchStatistics)).ToList();
        bool wasTraining = model.Training;
        model.Eval();
        foreach (var (norm, _) in norms) norm.UseBatchStatistics = mode == BatchNormInference.PerImageStatistics;
        try
        {
            using var noGrad = Tape.NoGrad();
            using var folded = mode == BatchNormInference.RunningStatistics ? new FoldedTower(model) : null;
            Func<Tensor, Tensor> tower = folded != null ? folded.Embed : model.Embed;
            for (int start = 0; start < data.Count; start += batchSize)
            {
                int n = Math.Min(batchSize, data.Count - start);
                // on all cores, as the images may be decoded from their files here (ImageDecoding.OnDemand)
                OrderedParallel.For(n, i => data.CopyImage(start + i, pixels.AsSpan(i * size, size)));
                var embeddings = EmbedBatch(model.Backend, tower, pixels.AsSpan(0, n * size), n, data.Height, data.Width);
                if (model.Architecture.FlipAverage)
                {
                    for (int i = 0; i < n; i++) Mirror(pixels.AsSpan(i * size, size), data.Height, data.Width);
                    var mirrored = EmbedBatch(model.Backend, tower, pixels.AsSpan(0, n * size), n, data.Height, data.Width);
                    for (int i = 0; i < embeddings.Length; i++) embeddings[i] += mirrored[i];
                }
                for (int i = 0; i < n; i++)
                {
                    var row = embeddings.AsSpan(i * e, e).ToArray();
                    if (model.Architecture.FlipAverage) Rescale(row, model.Architecture.Normalize);
                    result[start + i] = row;
                }
            }
        }
        finally
        {
            model.Train(wasTraining);
            foreach (var (norm, used) in norms) norm.UseBatchStatistics = used;
        }
        return result;
    }

    private static float[] EmbedBatch(IBackend backend, Func<Tensor, Tensor> tower, ReadOnlySpan<float> pixels, int n, int height, int width)
    {
        using var scope = new TensorScope();
        return tower(Tensor.FromArray(backend, pixels, n, 1, height, width)).ToArray();
    }

    // image (height, width) flipped left to right in place
    private static void Mirror(Span<float> image, int height, int width)
    {
        for (int y = 0; y < height; y++) image.Slice(y * width, width).Reverse();
    }

    // the sum of two embeddings back to unit length, or to their mean
    private static void Rescale(float[] sum, bool unitLength)
    {
        double norm = 0;
        foreach (float v in sum) norm += (double)v * v;
        float factor = unitLength ? (float)(1 / Math.Max(Math.Sqrt(norm), 1e-12)) : 0.5f;
        for (int i = 0; i < sum.Length; i++) sum[i] *= factor;
    }

    /// <summary>The model as a verifier on every pair of <paramref name="data"/>'s images.</summary>
    public static Verification Verify(SiameseNetwork model, IFaceDataset data, BatchNormInference mode = BatchNormInference.RunningStatistics) =>
        Verify(Embed(model, data, mode), data);

    /// <summary>The verifier that <paramref name="embeddings"/> (one per image of <paramref name="data"/>) make, on every pair.</summary>
    public static Verification Verify(float[][] embeddings, IFaceDataset data)
    {
        var (distances, same, pairs) = AllPairs(embeddings, data);
        return new Verification(VerificationReport.From(distances, same), distances, same, pairs);
    }

    /// <summary>Every unordered pair (i &lt; j): its distance and whether both images show the same identity.</summary>
    public static (float[] Distances, bool[] Same, (int, int)[] Pairs) AllPairs(float[][] embeddings, IFaceDataset data)
    {
        int n = embeddings.Length;
        var distances = new float[(long)n * (n - 1) / 2];
        var same = new bool[distances.Length];
        var pairs = new (int, int)[distances.Length];
        int k = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++, k++)
            {
                distances[k] = Ops.PairwiseDistance(embeddings[i], embeddings[j]);
                same[k] = data.Label(i) == data.Label(j);
                pairs[k] = (i, j);
            }
        return (distances, same, pairs);
    }
}
