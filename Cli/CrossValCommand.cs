using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// `similar-faces crossval`: identity cross-validation of a recipe. The identities (never single images) are dealt into
/// k seeded folds; for each fold a model is trained on the other folds' people — a seeded share of them held back as
/// validation people, who choose the threshold — and its final model is measured on every pair of the held-out fold's
/// images, beside the raw-pixel distance on the same pairs. The model that was best on the validation people is
/// measured too and reported apart. Reports per fold and mean ± standard deviation; --resume keeps the folds already
/// trained in --out and continues an interrupted one.
/// </summary>
public static class CrossValCommand
{
    public const string RocFile = "roc.png", JsonFile = "crossval.json";

    /// <summary>The synthetic set used without --data: identities × images each.</summary>
    public const int SyntheticIdentities = 12, SyntheticImagesPerIdentity = 8;

    public static Command Create()
    {
        var training = new TrainingOptions();
        var data = new Option<string[]>("--data") { Description = "Image folder(s), one sub-folder per person; several are joined (default: built-in synthetic identities)" };
        var folds = NumberOptions.Whole("--folds", "Number of identity folds (at most half the people: each fold needs 2)", 2, 1000, byDefault: () => 5);
        var fraction = NumberOptions.Real("--val-fraction",
            "Share of each fold's training identities held back as validation people (0: none; the threshold then comes from the training images)",
            new NumberOptions.Interval(0, LowIncluded: true, 1), byDefault: () => 0.15);
        var every = ValidationOptions.EveryOption();
        var json = new Option<string?>("--json") { Description = "Write every fold's figures and the summary to this file" };
        var output = new Option<string>("--out") { Description = "Folder for each fold's model and plots, roc.png and crossval.json (new or empty, unless --resume)", DefaultValueFactory = _ => "runs/crossval" };
        var resume = new Option<bool>("--resume") { Description = "Keep the folds already trained in --out (same options), continue an interrupted fold, train the rest" };
        var checkpointEvery = CheckpointInterval.Option();
        var device = ModelOptions.Device();
        var command = new Command("crossval", "Cross-validate a recipe over identities: train on some people, measure on people never trained on");
        foreach (var option in training.All.Concat([data, folds, fraction, every, json, output, resume, checkpointEvery, device])) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var (architecture, settings) = training.Resolve(parse);
            var folders = parse.GetValue(data) ?? [];
            string outDir = parse.GetValue(output)!;
            bool resuming = parse.GetValue(resume);
            Outputs.Folder(outDir, "--out");
            if (!resuming && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
                throw new ArgumentException($"--out: {outDir} is not empty; cross-validation writes into a new or empty folder (or give --resume)");
            string? jsonPath = parse.GetValue(json);
            if (jsonPath != null) Outputs.File(jsonPath, "--json");
            double valFraction = parse.GetValue(fraction);
            int valEvery = parse.GetValue(every);
            var checkpoints = CheckpointInterval.Parse(parse.GetValue(checkpointEvery)!);

            IFaceDataset dataset = folders.Length == 0
                ? new SyntheticFaces(SyntheticIdentities, SyntheticImagesPerIdentity, architecture.ImageSize, architecture.ImageSize, settings.Seed)
                : new CombinedDataset(folders.Select(f => (IFaceDataset)Datasets.Load(f, architecture.ImageSize)).ToList());
            int k = parse.GetValue(folds);
            if (k < 2 || k > dataset.Identities.Count / 2)
                throw new ArgumentException($"--folds must be between 2 and {dataset.Identities.Count / 2} (each fold needs 2 people), got {k}");
            var console = CommandLine.Console;
            console.MarkupLine(Markup.Escape(folders.Length == 0
                ? $"data: built-in synthetic identities ({dataset.Identities.Count} × {SyntheticImagesPerIdentity} images); use --data DIR for real faces"
                : $"data: {string.Join(" + ", folders)} ({dataset.Count} images of {dataset.Identities.Count} people)"));
            console.MarkupLine(Markup.Escape($"recipe {settings.Recipe}: {settings.ToJson()}; {k} folds of people, seed {settings.Seed}"));

            using var backend = Devices.Open(parse.GetValue(device)!);
            var results = new List<FoldResult>();
            var identityFolds = IdentitySubset.Folds(dataset.Identities.Count, k, settings.Seed);
            for (int f = 0; f < k; f++)
            {
                var result = RunFold(f, k, identityFolds, dataset, architecture, settings, valFraction, valEvery, checkpoints, backend, outDir, resuming);
                if (result == null)
                {
                    console.MarkupLine($"[yellow]interrupted[/] in fold {f + 1}; the folds finished so far are in {Markup.Escape(outDir)}");
                    return 130;
                }
                results.Add(result);
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"fold {f + 1}/{k}: {result.HeldOut.Count} held-out people, AUC {result.Auc:F4}, EER {result.Eer:P2}, accuracy {result.Accuracy:P2} at threshold {result.Threshold:F4}; raw pixels AUC {result.PixelAuc:F4}, EER {result.PixelEer:P2}")
                    + (result.TrainSeconds is { } seconds ? string.Create(CultureInfo.InvariantCulture, $"; trained in {seconds:F0} s") : "; training time not recorded in the model")
                    + (result.Best is { } best ? string.Create(CultureInfo.InvariantCulture, $"; the best epoch on validation people ({best.Epoch}): AUC {best.Auc:F4}, EER {best.Eer:P2}") : "")));
            }

            var summary = Summary.Of(results);
            PrintTable(results, summary);
            WriteRoc(Path.Combine(outDir, RocFile), results);
            var report = JsonSerializer.Serialize(new
            {
                recipe = settings.Recipe, settings = JsonDocument.Parse(settings.ToJson()).RootElement,
                architecture = JsonDocument.Parse(architecture.ToJson()).RootElement,
                seed = settings.Seed, folds = k, val_fraction = valFraction, data = folders, identities = dataset.Identities.Count, images = dataset.Count,
                per_fold = results, mean = summary.Mean, std = summary.Std,
            }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
            Atomic.WriteAllText(Path.Combine(outDir, JsonFile), report);
            if (jsonPath != null) Atomic.WriteAllText(jsonPath, report);
            if (summary.Mean.BestEpochEer is { } bestEer)
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"the epochs best on the validation people, measured on the same pairs instead: AUC {summary.Mean.BestEpochAuc:F4} ± {summary.Std.BestEpochAuc:F4}, EER {bestEer:P2} ± {summary.Std.BestEpochEer:P2}")));
            console.MarkupLine($"held-out people and every figure per fold: {Markup.Escape(Path.Combine(outDir, JsonFile))}; ROC of every fold: {Markup.Escape(Path.Combine(outDir, RocFile))}");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// One fold's people and figures, as crossval.json lists them: the final model's (the headline), and apart, those
    /// of the epoch that was best on the validation people.
    /// </summary>
    public sealed record FoldResult(
        int Fold, IReadOnlyList<string> Training, IReadOnlyList<string> Validation, IReadOnlyList<string> HeldOut,
        int Pairs, int SamePairs, double Auc, double Eer, double Threshold, string ThresholdSource, double Accuracy,
        double PixelAuc, double PixelEer, double? TrainSeconds, BestEpoch? Best,
        [property: System.Text.Json.Serialization.JsonIgnore] IReadOnlyList<RocPoint> Roc);

    /// <summary>The model of the epoch with the lowest validation EER, measured on the same held-out pairs.</summary>
    public sealed record BestEpoch(int Epoch, double Auc, double Eer, double Threshold, double Accuracy);

    /// <summary>Mean or standard deviation over the folds; the best epochs' only with validation, the time only when every fold recorded it.</summary>
    public sealed record Figures(double Auc, double Eer, double Accuracy, double PixelAuc, double PixelEer,
        double? BestEpochAuc, double? BestEpochEer, double? TrainSeconds);

    private sealed record Summary(Figures Mean, Figures Std)
    {
        public static Summary Of(IReadOnlyList<FoldResult> r)
        {
            Figures Apply(Func<IEnumerable<double>, double> f)
            {
                double? Optional(Func<FoldResult, double?> value) => r.All(x => value(x) != null) ? f(r.Select(x => value(x)!.Value)) : null;
                return new(f(r.Select(x => x.Auc)), f(r.Select(x => x.Eer)), f(r.Select(x => x.Accuracy)), f(r.Select(x => x.PixelAuc)),
                    f(r.Select(x => x.PixelEer)), Optional(x => x.Best?.Auc), Optional(x => x.Best?.Eer), Optional(x => x.TrainSeconds));
            }
            return new Summary(Apply(v => v.Average()), Apply(StandardDeviation));
        }

        // sample standard deviation (n − 1)
        private static double StandardDeviation(IEnumerable<double> values)
        {
            var v = values.ToArray();
            double mean = v.Average();
            return v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        }
    }

    private static FoldResult? RunFold(int f, int k, int[][] identityFolds, IFaceDataset dataset, SiameseArchitecture architecture,
        TrainingSettings settings, double valFraction, int valEvery, CheckpointInterval checkpoints, IBackend backend, string outDir, bool resume)
    {
        var heldOutIds = identityFolds[f];
        var trainingIds = identityFolds.Where((_, i) => i != f).SelectMany(x => x).Order().ToArray();
        int[] fitIds = trainingIds, validationIds = [];
        if (valFraction > 0)
        {
            var (fit, validation) = IdentitySubset.Split(trainingIds.Length, valFraction, settings.Seed + (ulong)f + 1);
            fitIds = fit.Select(i => trainingIds[i]).ToArray();
            validationIds = validation.Select(i => trainingIds[i]).ToArray();
        }
        var fitSet = new IdentitySubset(dataset, fitIds);
        var validationSet = validationIds.Length > 0 ? new IdentitySubset(dataset, validationIds) : null;
        var heldOut = new IdentitySubset(dataset, heldOutIds);
        string foldDir = Path.Combine(outDir, $"fold-{f + 1}");
        string finalPath = Path.Combine(foldDir, Trainer.ModelFile), bestPath = Path.Combine(foldDir, TrainingRun.BestModelFile);

        if (!(resume && Finished(finalPath, settings, architecture)))
        {
            using var model = new SiameseNetwork(backend, architecture, new SeededRandom(settings.Seed));
            using var trainer = new Trainer(model, fitSet, settings);
            if (resume && File.Exists(Path.Combine(foldDir, Trainer.StateFile))) trainer.Resume(foldDir);
            var outcome = new TrainingRun(trainer, foldDir)
            {
                TrainingImages = fitSet, Validation = validationSet, ValidateEvery = valEvery, CheckpointEvery = checkpoints,
                Label = $"fold {f + 1}/{k}: ",
            }.Run();
            if (outcome.Interrupted) return null;
        }

        var final = Measure(finalPath, heldOut, backend);
        var best = validationSet != null ? Measure(bestPath, heldOut, backend) : null;
        var pixels = Enumerable.Range(0, heldOut.Count).Select(i => heldOut.Image(i).ToArray()).ToArray();
        var (pixelDistances, pixelSame, _) = Embedder.AllPairs(pixels, heldOut);
        var pixelReport = VerificationReport.From(pixelDistances, pixelSame);
        var report = final.Verification.Report;
        return new FoldResult(f + 1, fitSet.Identities, validationSet?.Identities ?? [], heldOut.Identities,
            report.Pairs, report.SamePairs, report.Auc, report.Eer, final.Threshold, final.Metadata.GetValueOrDefault(Checkpoint.ThresholdSourceKey, ""),
            final.Accuracy, pixelReport.Auc, pixelReport.Eer,
            final.Metadata.TryGetValue(TrainingRun.TrainingSecondsKey, out var seconds) ? double.Parse(seconds, CultureInfo.InvariantCulture) : null,
            best == null ? null : new BestEpoch(best.Epoch, best.Verification.Report.Auc, best.Verification.Report.Eer, best.Threshold, best.Accuracy),
            report.Roc);
    }

    /// <summary>A fold's model that already finished training under these options (kept by --resume).</summary>
    private static bool Finished(string modelPath, TrainingSettings settings, SiameseArchitecture architecture)
    {
        if (!File.Exists(modelPath)) return false;
        var metadata = SafeTensors.ReadMetadata(modelPath);
        return metadata.GetValueOrDefault("epoch") == settings.Epochs.ToString(CultureInfo.InvariantCulture)
            && metadata.GetValueOrDefault("step_in_epoch") == "0"
            && metadata.GetValueOrDefault(Checkpoint.TrainingKey) == settings.ToJson()
            && metadata.GetValueOrDefault(Checkpoint.ArchitectureKey) == architecture.ToJson()
            && metadata.ContainsKey(Checkpoint.ThresholdKey);
    }

    private sealed record Measured(Verification Verification, double Threshold, double Accuracy, int Epoch, IReadOnlyDictionary<string, string> Metadata);

    /// <summary>A saved model on every pair of the held-out images, and its accuracy at its stored threshold.</summary>
    private static Measured Measure(string modelPath, IFaceDataset heldOut, IBackend backend)
    {
        var loaded = Checkpoint.Load(modelPath, backend);
        using var network = loaded.Model;
        double threshold = loaded.Threshold ?? throw new InvalidDataException($"{modelPath} stores no threshold");
        var verification = Embedder.Verify(network, heldOut);
        return new Measured(verification, threshold, VerificationReport.AccuracyAt(verification.Distances, verification.Same, threshold),
            int.Parse(loaded.Metadata.GetValueOrDefault("epoch", "0"), CultureInfo.InvariantCulture), loaded.Metadata);
    }

    private static void PrintTable(IReadOnlyList<FoldResult> results, Summary summary)
    {
        string P(double v) => v.ToString("P2", CultureInfo.InvariantCulture);
        string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
        string Seconds(double? v) => v?.ToString("F0", CultureInfo.InvariantCulture) ?? "?";
        var table = new Table().AddColumns("fold", "people", "pairs", "AUC", "EER", "accuracy", "pixels AUC", "pixels EER", "train s");
        foreach (var r in results)
            table.AddRow(r.Fold.ToString(CultureInfo.InvariantCulture), r.HeldOut.Count.ToString(CultureInfo.InvariantCulture), r.Pairs.ToString(CultureInfo.InvariantCulture),
                F(r.Auc), P(r.Eer), P(r.Accuracy), F(r.PixelAuc), P(r.PixelEer), Seconds(r.TrainSeconds));
        var (m, s) = (summary.Mean, summary.Std);
        table.AddRow("mean ± std", "", "", $"{F(m.Auc)} ± {F(s.Auc)}", $"{P(m.Eer)} ± {P(s.Eer)}", $"{P(m.Accuracy)} ± {P(s.Accuracy)}",
            $"{F(m.PixelAuc)} ± {F(s.PixelAuc)}", $"{P(m.PixelEer)} ± {P(s.PixelEer)}", Seconds(m.TrainSeconds));
        CommandLine.Console.Write(table);
    }

    private static void WriteRoc(string path, IReadOnlyList<FoldResult> results)
    {
        var plot = new ScottPlot.Plot();
        foreach (var r in results)
        {
            var curve = plot.Add.ScatterLine(r.Roc.Select(p => p.FalsePositiveRate).ToArray(), r.Roc.Select(p => p.TruePositiveRate).ToArray());
            curve.LegendText = string.Create(CultureInfo.InvariantCulture, $"fold {r.Fold}: AUC {r.Auc:F4}, EER {r.Eer:P1} (pixels {r.PixelEer:P1})");
        }
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.LinePattern = ScottPlot.LinePattern.Dashed;
        plot.Title("ROC on held-out people, one curve per fold");
        plot.Axes.Bottom.Label.Text = "false accept rate";
        plot.Axes.Left.Label.Text = "true accept rate";
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        Atomic.Write(path, s => s.Write(plot.GetImageBytes(900, 650, ScottPlot.ImageFormat.Png)));
    }
}
