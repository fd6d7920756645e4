using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
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

/// <summary>Embeddings of whole datasets, without recording a graph.</summary>
public static class Embedder
{
    public static float[][] Embed(SiameseNetwork model, IFaceDataset data, BatchNormInference mode = BatchNormInference.RunningStatistics, int batchSize = 128)
    {
        int size = data.Width * data.Height, e = model.Architecture.EmbeddingSize;
        if (data.Width != model.Architecture.ImageSize || data.Height != model.Architecture.ImageSize)
            throw new ArgumentException($"images are {data.Width}×{data.Height} but the network takes {model.Architecture.ImageSize}×{model.Architecture.ImageSize}");
        if (mode == BatchNormInference.PerImageStatistics) batchSize = 1;
        var result = new float[data.Count][];
        var pixels = new float[batchSize * size];
        // Per-image statistics must not leak into the stored running statistics: restore them afterwards.
        var saved = model.NamedBuffers().Select(b => (b.Tensor, Values: b.Tensor.ToArray())).ToList();
        bool wasTraining = model.Training;
        model.Train(mode == BatchNormInference.PerImageStatistics);
        try
        {
            using var noGrad = Tape.NoGrad();
            for (int start = 0; start < data.Count; start += batchSize)
            {
                int n = Math.Min(batchSize, data.Count - start);
                for (int i = 0; i < n; i++) data.Image(start + i).CopyTo(pixels.AsSpan(i * size, size));
                using var scope = new TensorScope();
                var images = Tensor.FromArray(model.Backend, pixels.AsSpan(0, n * size), n, 1, data.Height, data.Width);
                var embeddings = model.Embed(images).ToArray();
                for (int i = 0; i < n; i++) result[start + i] = embeddings.AsSpan(i * e, e).ToArray();
            }
        }
        finally
        {
            model.Train(wasTraining);
            foreach (var (tensor, values) in saved) tensor.CopyFrom(values);
        }
        return result;
    }

    /// <summary>‖a − b + 1e-6‖₂, the same distance the loss trains (PyTorch's pairwise_distance).</summary>
    public static float Distance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i] + 1e-6;
            sum += d * d;
        }
        return (float)Math.Sqrt(sum);
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
                distances[k] = Distance(embeddings[i], embeddings[j]);
                same[k] = data.Label(i) == data.Label(j);
                pairs[k] = (i, j);
            }
        return (distances, same, pairs);
    }
}
