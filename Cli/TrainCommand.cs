using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// `similar-faces train`: the seed recipe (200 epochs, batch 64, Adam 5e-4, margin 2) on an image folder,
/// or on built-in synthetic identities when no --data is given. Checkpoints after every epoch and on
/// Ctrl-C; --resume continues exactly where the last checkpoint stopped.
/// </summary>
public static class TrainCommand
{
    /// <summary>The synthetic set behind the default command: identities × images each.</summary>
    public const int SyntheticIdentities = 8, SyntheticImagesPerIdentity = 8;

    public static Command Create()
    {
        var defaults = new TrainingSettings();
        var data = new Option<string?>("--data") { Description = "Image folder, one sub-folder per person (default: built-in synthetic identities)" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data", DefaultValueFactory = _ => defaults.Epochs };
        var batch = new Option<int>("--batch") { Description = "Pairs per step", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => defaults.LearningRate };
        var margin = new Option<float>("--margin") { Description = "Contrastive-loss margin", DefaultValueFactory = _ => defaults.Margin };
        var seed = new Option<ulong>("--seed") { Description = "Seed of weights and pairs", DefaultValueFactory = _ => defaults.Seed };
        var device = new Option<string>("--device") { Description = "cpu, cuda:N, opencl:N, ilgpu-cpu or auto", DefaultValueFactory = _ => "auto" };
        var output = new Option<string>("--out") { Description = "Folder for model.safetensors, loss.csv, loss.png", DefaultValueFactory = _ => "runs/latest" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out" };

        var command = new Command("train", "Train the Siamese network with the contrastive loss");
        foreach (var option in new Option[] { data, epochs, batch, lr, margin, seed, device, output, resume }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var settings = new TrainingSettings
            {
                Epochs = parse.GetValue(epochs), BatchSize = parse.GetValue(batch), LearningRate = parse.GetValue(lr),
                Margin = parse.GetValue(margin), Seed = parse.GetValue(seed),
            };
            if (!(settings.LearningRate > 0)) throw new ArgumentException($"--lr must be positive, got {settings.LearningRate}");
            if (!(settings.Margin > 0)) throw new ArgumentException($"--margin must be positive, got {settings.Margin}");
            return Train(parse.GetValue(data), settings, parse.GetValue(device)!, parse.GetValue(output)!, parse.GetValue(resume));
        });
        return command;
    }

    private static int Train(string? dataPath, TrainingSettings settings, string deviceName, string outDir, bool resume)
    {
        var console = CommandLine.Console;
        var architecture = SiameseArchitecture.Seed;
        IFaceDataset dataset = dataPath == null
            ? new SyntheticFaces(SyntheticIdentities, SyntheticImagesPerIdentity, architecture.ImageSize, architecture.ImageSize, settings.Seed)
            : Datasets.Load(dataPath, architecture.ImageSize);
        console.MarkupLine(dataPath == null
            ? $"data: built-in synthetic identities ({dataset.Identities.Count} × {SyntheticImagesPerIdentity} images); use --data DIR for real faces"
            : $"data: {Markup.Escape(dataPath)} ({dataset.Count} images of {dataset.Identities.Count} people)");

        using var backend = Devices.Open(deviceName);
        using var model = new SiameseNetwork(backend, architecture, new SeededRandom(settings.Seed));
        using var trainer = new Trainer(model, dataset, settings);
        if (resume)
        {
            trainer.Resume(outDir);
            console.MarkupLine($"resumed from {Markup.Escape(outDir)} at epoch {trainer.Epoch}, step {trainer.StepInEpoch}");
        }
        console.MarkupLine($"device: {Markup.Escape(backend.Name)} ({Markup.Escape(backend.Description)}); {model.ParameterCount:N0} parameters; {Markup.Escape(settings.Describe())}");

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        System.Console.CancelKeyPress += onCancel;
        var clock = Stopwatch.StartNew();
        int pairsDone = 0;
        try
        {
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: (double)settings.Epochs * trainer.StepsPerEpoch);
                    task.Value = (double)trainer.Epoch * trainer.StepsPerEpoch + trainer.StepInEpoch;
                    while (!trainer.Finished && !cancel.IsCancellationRequested)
                    {
                        float loss = trainer.Step();
                        pairsDone += trainer.LastBatchPairs;
                        task.Increment(1);
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"epoch {trainer.Epoch + (trainer.StepInEpoch > 0 ? 1 : 0)}/{settings.Epochs} loss {loss:F4} {pairsDone / clock.Elapsed.TotalSeconds:F0} pairs/s");
                        if (trainer.StepInEpoch == 0) SaveAll(trainer, outDir);
                    }
                });
        }
        finally
        {
            System.Console.CancelKeyPress -= onCancel;
        }
        if (cancel.IsCancellationRequested)
        {
            SaveAll(trainer, outDir);
            console.MarkupLine($"[yellow]interrupted[/] at epoch {trainer.Epoch}, step {trainer.StepInEpoch}: checkpoint saved; continue with --resume --out {Markup.Escape(outDir)}");
            return 130;
        }
        var (distances, same, _) = Embedder.AllPairs(Embedder.Embed(model, dataset), dataset);
        var verification = VerificationReport.From(distances, same);
        trainer.Save(outDir, new Dictionary<string, string>
        {
            [Checkpoint.ThresholdKey] = verification.EerThreshold.ToString("R", CultureInfo.InvariantCulture),
            ["threshold_source"] = string.Create(CultureInfo.InvariantCulture, $"EER on the training images (AUC {verification.Auc:F4}); `eval --save-threshold` replaces it with a held-out one"),
        });
        var losses = trainer.StepLosses;
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"trained {settings.Epochs} epochs in {clock.Elapsed.TotalSeconds:F1} s; final loss {losses[^1]:F5} (mean of the last epoch {losses.TakeLast(trainer.StepsPerEpoch).Average():F5})"));
        console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"on the training images: ROC AUC {verification.Auc:F4}, EER {verification.Eer:P1} at distance {verification.EerThreshold:F3} (stored as the model's threshold)"));
        console.MarkupLine($"model: {Markup.Escape(Path.Combine(outDir, Trainer.ModelFile))}");
        console.MarkupLine($"loss:  {Markup.Escape(Path.Combine(outDir, LossReport.CsvFile))}, plot: {Markup.Escape(Path.Combine(outDir, LossReport.PlotFile))}");
        return 0;
    }

    private static void SaveAll(Trainer trainer, string outDir)
    {
        trainer.Save(outDir);
        LossReport.Write(outDir, trainer.StepLosses, trainer.StepsPerEpoch);
    }
}
