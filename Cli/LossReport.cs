using System.Globalization;
using System.Text;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Cli;

/// <summary>
/// loss.csv (one row per step) and loss.png (per-step loss and per-epoch mean, on a logarithmic axis: the
/// loss falls over orders of magnitude) beside the model.
/// </summary>
public static class LossReport
{
    public const string CsvFile = "loss.csv", PlotFile = "loss.png";

    private static double Log(double loss) => Math.Log10(Math.Max(loss, 1e-12));

    public static void Write(string directory, IReadOnlyList<float> stepLosses, int stepsPerEpoch)
    {
        var csv = new StringBuilder("step,epoch,loss\n");
        for (int i = 0; i < stepLosses.Count; i++)
            csv.Append(CultureInfo.InvariantCulture, $"{i + 1},{i / stepsPerEpoch + 1},{stepLosses[i]:R}\n");
        Atomic.WriteAllText(Path.Combine(directory, CsvFile), csv.ToString());

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
        plot.Axes.Left.Label.Text = "contrastive loss";
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("G3", CultureInfo.InvariantCulture),
        };
        plot.Axes.Bottom.Label.Text = "step";
        plot.Title("Training loss");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        Atomic.Write(Path.Combine(directory, PlotFile), s => s.Write(plot.GetImageBytes(900, 500, ScottPlot.ImageFormat.Png)));
    }
}
