using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// `similar-faces eval`: the model as a face verifier over all pairs of the given images (identities from
/// folder names): ROC AUC, EER and its threshold, accuracy there, the best accuracy; pictures of the ROC
/// curve, the distance histograms and a grid of labelled pairs.
/// </summary>
public static class EvalCommand
{
    /// <summary>Below these, `eval` warns that its figures carry little meaning.</summary>
    public const int MinimumIdentities = 5, MinimumPairs = 500;

    public static Command Create()
    {
        var model = ModelOptions.Model();
        var data = new Option<string[]>("--data") { Description = "Image folder(s), one sub-folder per person", Required = true, AllowMultipleArgumentsPerToken = false };
        var json = new Option<string?>("--json") { Description = "Write {auc, eer, threshold, accuracy, pairs} to this file" };
        var output = new Option<string?>("--out") { Description = "Folder for report.html (self-contained), roc.png, distances.png and pairs.png" };
        var save = new Option<bool>("--save-threshold") { Description = "Store the EER threshold in the model file (used by `compare`)" };
        var device = ModelOptions.Device();
        var batchNorm = ModelOptions.BatchNorm();
        var command = new Command("eval", "Measure face verification on all pairs of images of people");
        foreach (var option in new Option[] { model, data, json, output, save, device, batchNorm }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var modelPath = parse.GetValue(model)!;
            string? jsonPath = parse.GetValue(json), outDir = parse.GetValue(output);
            if (jsonPath != null) Outputs.File(jsonPath, "--json");
            if (outDir != null) Outputs.Folder(outDir, "--out");
            if (parse.GetValue(save)) Outputs.File(modelPath, "--save-threshold");
            using var backend = Devices.Open(parse.GetValue(device)!);
            var loaded = ModelOptions.Load(modelPath, backend);
            using var network = loaded.Model;
            var folders = parse.GetValue(data)!;
            long start = Stopwatch.GetTimestamp();
            var dataset = new CombinedDataset(folders.Select(f => (IFaceDataset)Datasets.Load(f, network.Architecture.ImageSize, ImageDecoding.OnDemand)).ToList());
            var listing = Stopwatch.GetElapsedTime(start);
            var mode = parse.GetValue(batchNorm);
            start = Stopwatch.GetTimestamp();
            var embeddings = Embedder.Embed(network, dataset, mode);
            var embedding = Stopwatch.GetElapsedTime(start);
            start = Stopwatch.GetTimestamp();
            var (report, distances, same, pairs) = Embedder.Verify(embeddings, dataset);
            var comparing = Stopwatch.GetElapsedTime(start);

            var console = CommandLine.Console;
            if (dataset.Identities.Count < MinimumIdentities || report.Pairs < MinimumPairs)
                console.MarkupLine("[yellow]warning:[/] " + Markup.Escape($"{dataset.Identities.Count} identities and {report.Pairs} pairs are too few to measure a verifier " +
                    $"(at least {MinimumIdentities} people and {MinimumPairs} pairs are needed for the figures to mean much); `crossval` measures a recipe over many people"));
            var table = new Table().AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
            table.AddRow("images / identities", $"{dataset.Count} / {dataset.Identities.Count}");
            table.AddRow("pairs (same / different)", $"{report.Pairs} ({report.SamePairs} / {report.DifferentPairs})");
            table.AddRow("ROC AUC", report.Auc.ToString("F4", CultureInfo.InvariantCulture));
            table.AddRow("EER", report.Eer.ToString("P2", CultureInfo.InvariantCulture));
            table.AddRow("threshold at EER", report.EerThreshold.ToString("F4", CultureInfo.InvariantCulture));
            table.AddRow("accuracy at that threshold", report.AccuracyAtEer.ToString("P2", CultureInfo.InvariantCulture));
            table.AddRow("best accuracy (threshold)", $"{report.BestAccuracy.ToString("P2", CultureInfo.InvariantCulture)} ({report.BestThreshold.ToString("F4", CultureInfo.InvariantCulture)})");
            table.AddRow("BatchNorm at inference", mode.ToString());
            console.Write(table);
            console.MarkupLine(Datasets.Timing(dataset.Count, listing, embedding) +
                string.Create(CultureInfo.InvariantCulture, $"; {report.Pairs:N0} pairs compared in {comparing.TotalSeconds:F2} s"));

            if (jsonPath != null)
            {
                Atomic.WriteAllText(jsonPath, JsonSerializer.Serialize(new
                {
                    auc = report.Auc, eer = report.Eer, threshold = report.EerThreshold, accuracy = report.AccuracyAtEer,
                    pairs = report.Pairs, same_pairs = report.SamePairs, different_pairs = report.DifferentPairs,
                    best_accuracy = report.BestAccuracy, best_threshold = report.BestThreshold, batchnorm = mode.ToString(),
                }, new JsonSerializerOptions { WriteIndented = true }));
                console.MarkupLine($"metrics: {Markup.Escape(jsonPath)}");
            }
            if (outDir != null)
            {
                EvalPictures.Write(outDir, report, distances, same, pairs, dataset);
                EvalReport.Write(outDir, report, modelPath, folders, dataset.Count, dataset.Identities.Count, mode, loaded.Metadata);
                console.MarkupLine($"report: {Markup.Escape(Path.Combine(outDir, EvalReport.File))} (with {Markup.Escape(EvalPictures.RocFile)}, {Markup.Escape(EvalPictures.HistogramFile)}, {Markup.Escape(EvalPictures.PairsFile)})");
            }
            if (parse.GetValue(save))
            {
                var metadata = new Dictionary<string, string>(loaded.Metadata)
                {
                    [Checkpoint.ThresholdKey] = report.EerThreshold.ToString("R", CultureInfo.InvariantCulture),
                    [Checkpoint.ThresholdSourceKey] = $"EER on {string.Join(", ", folders)} (AUC {report.Auc:F4})",
                };
                Checkpoint.Save(modelPath, network, metadata);
                console.MarkupLine($"stored threshold {report.EerThreshold:F4} in {Markup.Escape(modelPath)}");
            }
            return 0;
        });
        return command;
    }
}
