using System.Globalization;
using System.Text;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SkiaSharp;

namespace SimilarFaces.Cli;

/// <summary>
/// loss.csv (one row per step) and loss.png beside the model: the per-step loss and per-epoch mean on a logarithmic axis
/// (the loss falls over orders of magnitude) and, when training is validated, the validation EER and 1 − AUC per
/// measured epoch in a second panel to its right.
/// </summary>
public static class LossReport
{
    public const string CsvFile = "loss.csv", PlotFile = "loss.png";
    private const int PanelWidth = 900, PanelHeight = 500;

    private static double Log(double value) => Math.Log10(Math.Max(value, 1e-12));

    public static void Write(string directory, IReadOnlyList<float> stepLosses, int stepsPerEpoch, LossKind loss,
        IReadOnlyList<ValidationPoint> validation)
    {
        var csv = new StringBuilder("step,epoch,loss\n");
        for (int i = 0; i < stepLosses.Count; i++)
            csv.Append(CultureInfo.InvariantCulture, $"{i + 1},{i / stepsPerEpoch + 1},{stepLosses[i]:R}\n");
        Atomic.WriteAllText(Path.Combine(directory, CsvFile), csv.ToString());

        var panels = new List<byte[]> { LossPanel(stepLosses, stepsPerEpoch, loss) };
        if (validation.Count > 0) panels.Add(ValidationPanel(validation));
        using var surface = SKSurface.Create(new SKImageInfo(PanelWidth * panels.Count, PanelHeight));
        surface.Canvas.Clear(SKColors.White);
        for (int i = 0; i < panels.Count; i++)
        {
            using var image = SKImage.FromEncodedData(panels[i]);
            surface.Canvas.DrawImage(image, i * PanelWidth, 0);
        }
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        Atomic.Write(Path.Combine(directory, PlotFile), s => png.SaveTo(s));
    }

    private static byte[] LossPanel(IReadOnlyList<float> stepLosses, int stepsPerEpoch, LossKind loss)
    {
        var plot = new ScottPlot.Plot();
        var steps = Enumerable.Range(1, stepLosses.Count).Select(i => (double)i).ToArray();
        var line = plot.Add.ScatterLine(steps, stepLosses.Select(l => Log(l)).ToArray());
        line.LegendText = "loss per step";
        int epochs = stepLosses.Count / stepsPerEpoch;
        if (epochs > 1)
        {
            var epochEnds = Enumerable.Range(1, epochs).Select(e => (double)e * stepsPerEpoch).ToArray();
            var means = Enumerable.Range(0, epochs).Select(e => Log(stepLosses.Skip(e * stepsPerEpoch).Take(stepsPerEpoch).Average(l => (double)l))).ToArray();
            var mean = plot.Add.ScatterLine(epochEnds, means);
            mean.LegendText = "epoch mean";
            mean.LineWidth = 2;
        }
        plot.Axes.Left.Label.Text = loss == LossKind.CosFace ? "CosFace loss" : "contrastive loss";
        LogAxis(plot);
        plot.Axes.Bottom.Label.Text = "step";
        plot.Title("Training loss");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(PanelWidth, PanelHeight, ScottPlot.ImageFormat.Png);
    }

    private static byte[] ValidationPanel(IReadOnlyList<ValidationPoint> points)
    {
        var plot = new ScottPlot.Plot();
        var epochs = points.Select(p => (double)p.Epoch).ToArray();
        var eer = plot.Add.ScatterLine(epochs, points.Select(p => Log(Math.Max(p.Eer, 1e-4))).ToArray());
        eer.LegendText = "EER";
        eer.LineWidth = 2;
        var auc = plot.Add.ScatterLine(epochs, points.Select(p => Log(Math.Max(1 - p.Auc, 1e-4))).ToArray());
        auc.LegendText = "1 − AUC";
        plot.Axes.Left.Label.Text = "error on validation people (log)";
        LogAxis(plot);
        plot.Axes.Bottom.Label.Text = "epoch";
        plot.Title("Validation: people never trained on");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(PanelWidth, PanelHeight, ScottPlot.ImageFormat.Png);
    }

    private static void LogAxis(ScottPlot.Plot plot) =>
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("G3", CultureInfo.InvariantCulture),
        };
}
