using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using SkiaSharp;

namespace SimilarFaces.Cli;

/// <summary>The pictures `eval --out` draws: ROC curve, distance histograms, and labelled example pairs.</summary>
public static class EvalPictures
{
    public const string RocFile = "roc.png", HistogramFile = "distances.png", PairsFile = "pairs.png";
    private const int GridPairs = 16;

    public static void Write(string directory, VerificationReport report, float[] distances, bool[] same, (int, int)[] pairs, IFaceDataset data)
    {
        Directory.CreateDirectory(directory);

        var roc = new ScottPlot.Plot();
        roc.Add.ScatterLine(report.Roc.Select(p => p.FalsePositiveRate).ToArray(), report.Roc.Select(p => p.TruePositiveRate).ToArray());
        var chance = roc.Add.Line(0, 0, 1, 1);
        chance.LinePattern = ScottPlot.LinePattern.Dashed;
        roc.Add.Marker(report.Eer, 1 - report.Eer).LegendText = $"EER {report.Eer:P1}";
        roc.Title(string.Create(CultureInfo.InvariantCulture, $"ROC, AUC {report.Auc:F4} ({report.Pairs} pairs)"));
        roc.Axes.Bottom.Label.Text = "false accept rate";
        roc.Axes.Left.Label.Text = "true accept rate";
        roc.ShowLegend();
        Save(roc, Path.Combine(directory, RocFile));

        var histogram = new ScottPlot.Plot();
        double max = distances.Max();
        foreach (var (label, isSame) in new[] { ("same person", true), ("different people", false) })
        {
            var values = distances.Where((_, i) => same[i] == isSame).Select(d => (double)d).ToArray();
            var h = ScottPlot.Statistics.Histogram.WithBinCount(40, 0, max * 1.0001);
            h.AddRange(values);
            var bars = histogram.Add.Bars(h.Bins, h.GetProbability());
            bars.LegendText = label;
            foreach (var bar in bars.Bars) bar.Size = h.FirstBinSize * 0.9;
        }
        histogram.Add.VerticalLine(report.EerThreshold).LegendText = string.Create(CultureInfo.InvariantCulture, $"threshold {report.EerThreshold:F3}");
        histogram.Title("Distances between embeddings");
        histogram.Axes.Bottom.Label.Text = "dissimilarity";
        histogram.Axes.Left.Label.Text = "fraction of pairs";
        histogram.ShowLegend();
        Save(histogram, Path.Combine(directory, HistogramFile));

        WritePairGrid(Path.Combine(directory, PairsFile), distances, same, pairs, data, report.EerThreshold);
    }

    private static void Save(ScottPlot.Plot plot, string path) =>
        Atomic.Write(path, s => s.Write(plot.GetImageBytes(900, 550, ScottPlot.ImageFormat.Png)));

    /// <summary>Example pairs (half same, half different, drawn with a fixed seed) side by side with their dissimilarity, as the seed showed them.</summary>
    private static void WritePairGrid(string path, float[] distances, bool[] same, (int, int)[] pairs, IFaceDataset data, double threshold)
    {
        var rng = new SeededRandom(7);
        var chosen = new List<int>();
        foreach (var wantSame in new[] { true, false })
        {
            var candidates = Enumerable.Range(0, pairs.Length).Where(i => same[i] == wantSame).ToArray();
            for (int k = 0; k < GridPairs / 2 && candidates.Length > 0; k++) chosen.Add(candidates[rng.NextInt(candidates.Length)]);
        }
        int w = data.Width, h = data.Height, columns = 4, label = 22, cellW = 2 * w + 6, cellH = h + label + 6;
        int rows = (chosen.Count + columns - 1) / columns;
        using var surface = SKSurface.Create(new SKImageInfo(columns * cellW, Math.Max(1, rows) * cellH));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 13);
        using var paint = new SKPaint { IsAntialias = true };
        for (int c = 0; c < chosen.Count; c++)
        {
            var (a, b) = pairs[chosen[c]];
            float x = c % columns * cellW, y = c / columns * cellH;
            DrawGray(canvas, data.Image(a), w, h, x, y);
            DrawGray(canvas, data.Image(b), w, h, x + w + 2, y);
            bool accepted = distances[chosen[c]] <= threshold;
            paint.Color = accepted == same[chosen[c]] ? new SKColor(0, 110, 0) : new SKColor(190, 0, 0);
            canvas.DrawText(string.Create(CultureInfo.InvariantCulture, $"{distances[chosen[c]]:F2} {(same[chosen[c]] ? "same" : "diff")}"),
                x + 2, y + h + 16, SKTextAlign.Left, font, paint);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        Atomic.Write(path, s => png.SaveTo(s));
    }

    private static void DrawGray(SKCanvas canvas, ReadOnlySpan<float> pixels, int w, int h, float x, float y)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Gray8, SKAlphaType.Opaque));
        var bytes = new byte[w * h];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Clamp(MathF.Round(pixels[i] * 255f), 0, 255);
        System.Runtime.InteropServices.Marshal.Copy(bytes, 0, bitmap.GetPixels(), bytes.Length);
        canvas.DrawBitmap(bitmap, x, y);
    }
}
