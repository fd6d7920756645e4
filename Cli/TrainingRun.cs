using System.Diagnostics;
using System.Globalization;
using System.Text;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>The model as a verifier of validation people after an epoch.</summary>
public sealed record ValidationPoint(int Epoch, double Auc, double Eer, double Threshold);

/// <summary>
/// Runs a <see cref="Trainer"/> to its end, as `train` and every fold of `crossval` do: a progress bar; when validation
/// people are given, AUC and EER on them every few epochs and at the end (validation.csv, and the curve beside the loss
/// in loss.png), the best model by validation EER kept as best.safetensors, and the stored thresholds chosen on them;
/// checkpoints (model, optimizer state, loss.csv and loss.png) on <see cref="CheckpointEvery"/>'s clock, at the end, on
/// Ctrl-C, and when the loss stops being finite (the trainer has then rolled the bad step back).
/// </summary>
public sealed class TrainingRun(Trainer trainer, string outDir)
{
    public const string BestModelFile = "best.safetensors", ValidationFile = "validation.csv";

    /// <summary>Every file a run writes into its folder.</summary>
    public static IReadOnlyList<string> Files { get; } =
        [Trainer.ModelFile, Trainer.StateFile, BestModelFile, ValidationFile, LossReport.CsvFile, LossReport.PlotFile];

    /// <summary>Model metadata: seconds spent training, over every resumed part of the run.</summary>
    public const string TrainingSecondsKey = "training_seconds";

    private double _earlierSeconds;
    private Stopwatch _clock = new();

    /// <summary>The training set, for the threshold when there is no validation.</summary>
    public required IFaceDataset TrainingImages { get; init; }

    /// <summary>People never trained on, measured every <see cref="ValidateEvery"/> epochs; null trains without validation.</summary>
    public IFaceDataset? Validation { get; init; }
    public int ValidateEvery { get; init; } = 10;

    public CheckpointInterval CheckpointEvery { get; init; } = CheckpointInterval.Parse(CheckpointInterval.DefaultText);

    /// <summary>Words before the progress bar's own ("fold 2/5: ").</summary>
    public string Label { get; init; } = "";

    /// <param name="ExamplesPerSecond">Pairs or images a second of time in this run's steps after its first (<see cref="StepPace"/>; NaN after a single step).</param>
    public sealed record Outcome(bool Interrupted, TimeSpan Elapsed, double ExamplesPerSecond, IReadOnlyList<ValidationPoint> Validation,
        string KeptModel, double Threshold, string ThresholdSource);

    public Outcome Run()
    {
        var console = CommandLine.Console;
        bool resumed = trainer.Epoch > 0 || trainer.StepInEpoch > 0;
        var points = resumed && File.Exists(Path.Combine(outDir, ValidationFile))
            ? ReadValidation(Path.Combine(outDir, ValidationFile)).Where(p => p.Epoch <= trainer.Epoch).ToList()
            : new List<ValidationPoint>();
        _earlierSeconds = resumed ? EarlierSeconds(Path.Combine(outDir, Trainer.ModelFile)) : 0;
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        System.Console.CancelKeyPress += onCancel;
        _clock = Stopwatch.StartNew();
        var clock = _clock;
        var sinceCheckpoint = Stopwatch.StartNew();
        var pace = new StepPace();
        try
        {
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(Label + "training", maxValue: trainer.TotalSteps);
                    task.Value = (double)trainer.Epoch * trainer.StepsPerEpoch + trainer.StepInEpoch;
                    while (!trainer.Finished && !cancel.IsCancellationRequested)
                    {
                        float loss;
                        try
                        {
                            loss = pace.Step(trainer.Step, () => trainer.LastBatchExamples);
                        }
                        catch (NonFiniteLossException stop)
                        {
                            // the state after the last finite step, if this run took one
                            if (pace.TookStep)
                            {
                                SaveAll(points);
                                throw stop.With($"try a lower --lr; the checkpoint in {outDir} now holds the last finite step, at epoch {trainer.Epoch}, step {trainer.StepInEpoch}");
                            }
                            throw stop.With(resumed
                                ? $"try a lower --lr; the checkpoint in {outDir} is unchanged, at epoch {trainer.Epoch}, step {trainer.StepInEpoch}"
                                : $"try a lower --lr; no step was finite, so no checkpoint was written to {outDir}");
                        }
                        task.Increment(1);
                        if (trainer.StepInEpoch == 0 && Validation != null && (trainer.Epoch % ValidateEvery == 0 || trainer.Finished))
                            Validate(points);
                        string validation = points.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $", validation EER {points[^1].Eer:P1}") : "";
                        string rate = double.IsNaN(pace.Rate) ? "" : string.Create(CultureInfo.InvariantCulture, $" {pace.Rate:F0} {trainer.ExampleName}/s");
                        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                            $"{Label}epoch {trainer.Epoch + (trainer.StepInEpoch > 0 ? 1 : 0)}/{trainer.Settings.Epochs} loss {loss:F4}{rate}{validation}"));
                        if (!trainer.Finished && CheckpointEvery.Due(trainer.Epoch, trainer.StepInEpoch, sinceCheckpoint.Elapsed))
                        {
                            SaveAll(points);
                            sinceCheckpoint.Restart();
                        }
                    }
                });
        }
        finally
        {
            System.Console.CancelKeyPress -= onCancel;
        }
        if (cancel.IsCancellationRequested)
        {
            SaveAll(points);
            return new Outcome(true, TimeSpan.FromSeconds(_earlierSeconds) + clock.Elapsed, pace.Rate, points, Path.Combine(outDir, Trainer.ModelFile), double.NaN, "");
        }

        if (Validation != null && (points.Count == 0 || points[^1].Epoch != trainer.Epoch)) Validate(points);   // resumed after the end
        double threshold;
        string source;
        if (Validation != null)
        {
            // the final model's threshold comes from its own validation (the last point)
            threshold = points[^1].Threshold;
            source = string.Create(CultureInfo.InvariantCulture,
                $"EER on {Validation.Identities.Count} validation people never trained on (epoch {points[^1].Epoch}, AUC {points[^1].Auc:F4})");
        }
        else
        {
            var report = Embedder.Verify(trainer.Model, TrainingImages).Report;
            threshold = report.EerThreshold;
            source = string.Create(CultureInfo.InvariantCulture,
                $"EER on the training images (AUC {report.Auc:F4}): optimistic; `train --val` or `eval --save-threshold` on other people replaces it");
        }
        SaveAll(points, new Dictionary<string, string>
        {
            [Checkpoint.ThresholdKey] = threshold.ToString("R", CultureInfo.InvariantCulture),
            [Checkpoint.ThresholdSourceKey] = source,
        });
        string kept = Validation != null ? Path.Combine(outDir, BestModelFile) : Path.Combine(outDir, Trainer.ModelFile);
        return new Outcome(false, TimeSpan.FromSeconds(_earlierSeconds) + clock.Elapsed, pace.Rate, points, kept, threshold, source);
    }

    private void Validate(List<ValidationPoint> points)
    {
        var report = Embedder.Verify(trainer.Model, Validation!).Report;
        var point = new ValidationPoint(trainer.Epoch, report.Auc, report.Eer, report.EerThreshold);
        bool best = points.Count == 0 || points.All(p => point.Eer < p.Eer || (point.Eer == p.Eer && point.Auc > p.Auc));
        points.Add(point);
        if (!best) return;
        Directory.CreateDirectory(outDir);
        trainer.SaveModel(Path.Combine(outDir, BestModelFile), new Dictionary<string, string>
        {
            [Checkpoint.ThresholdKey] = point.Threshold.ToString("R", CultureInfo.InvariantCulture),
            [Checkpoint.ThresholdSourceKey] = string.Create(CultureInfo.InvariantCulture,
                $"EER on {Validation!.Identities.Count} validation people never trained on (epoch {point.Epoch}, the best of the run, AUC {point.Auc:F4})"),
        });
    }

    private void SaveAll(IReadOnlyList<ValidationPoint> points, IReadOnlyDictionary<string, string>? metadata = null)
    {
        // validation.csv before the checkpoint: a resumed run drops the points after its epoch, but could not bring back a missing one
        if (points.Count > 0) Atomic.WriteAllText(Path.Combine(outDir, ValidationFile), FormatValidation(points));
        trainer.Save(outDir, new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [TrainingSecondsKey] = (_earlierSeconds + _clock.Elapsed.TotalSeconds).ToString("F1", CultureInfo.InvariantCulture),
        });
        LossReport.Write(outDir, trainer.StepLosses, trainer.StepsPerEpoch, trainer.Settings.Loss, points);
    }

    private static double EarlierSeconds(string modelPath) =>
        File.Exists(modelPath) && SafeTensors.ReadMetadata(modelPath).TryGetValue(TrainingSecondsKey, out var text)
            && double.TryParse(text, CultureInfo.InvariantCulture, out double seconds) ? seconds : 0;

    private static string FormatValidation(IReadOnlyList<ValidationPoint> points)
    {
        var csv = new StringBuilder("epoch,auc,eer,threshold\n");
        foreach (var p in points) csv.Append(CultureInfo.InvariantCulture, $"{p.Epoch},{p.Auc:R},{p.Eer:R},{p.Threshold:R}\n");
        return csv.ToString();
    }

    private static IEnumerable<ValidationPoint> ReadValidation(string path) =>
        File.ReadLines(path).Skip(1).Where(line => line.Length > 0).Select(line =>
        {
            var f = line.Split(',');
            if (f.Length != 4 || !int.TryParse(f[0], CultureInfo.InvariantCulture, out int epoch))
                throw new InvalidDataException($"{path}: '{line}' is not epoch,auc,eer,threshold");
            double Number(string s) => double.TryParse(s, CultureInfo.InvariantCulture, out var v) ? v
                : throw new InvalidDataException($"{path}: '{line}' is not epoch,auc,eer,threshold");
            return new ValidationPoint(epoch, Number(f[1]), Number(f[2]), Number(f[3]));
        });
}
