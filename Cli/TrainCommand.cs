using System.CommandLine;
using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// `similar-faces train`: a recipe (the seed notebook's by default) on an image folder, or on built-in synthetic
/// identities when no --data is given; optionally validated on people left out of training (--val, --val-fraction).
/// Checkpoints every --checkpoint-every (5 minutes), at the end and on Ctrl-C; --resume continues exactly where the last
/// checkpoint stopped. A folder that already holds a run is never written over without --resume or --overwrite.
/// </summary>
public static class TrainCommand
{
    /// <summary>The synthetic set behind the default command: identities × images each.</summary>
    public const int SyntheticIdentities = 8, SyntheticImagesPerIdentity = 8;

    public static Command Create()
    {
        var training = new TrainingOptions();
        var data = new Option<string?>("--data") { Description = "Image folder, one sub-folder per person (default: built-in synthetic identities)" };
        var validation = new ValidationOptions();
        var device = ModelOptions.Device();
        var output = new Option<string>("--out") { Description = "Folder for model.safetensors, loss.csv, loss.png", DefaultValueFactory = _ => "runs/latest" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the run already in --out (its files are removed when training starts)" };
        var checkpointEvery = CheckpointInterval.Option();

        var command = new Command("train", "Train the Siamese network (the seed recipe unless --recipe says otherwise)");
        foreach (var option in training.All.Concat([data]).Concat(validation.All).Concat([device, output, resume, overwrite, checkpointEvery])) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var (architecture, settings) = training.Resolve(parse);
            var checkpoints = CheckpointInterval.Parse(parse.GetValue(checkpointEvery)!);
            string outDir = parse.GetValue(output)!;
            bool resuming = parse.GetValue(resume), replacing = parse.GetValue(overwrite);
            if (resuming && replacing) throw new ArgumentException("--resume and --overwrite: give one or the other");
            Outputs.Folder(outDir, "--out");
            Atomic.Recover(outDir);
            var earlierRun = TrainingRun.Files.Select(f => Path.Combine(outDir, f)).Where(File.Exists).ToList();
            if (!resuming && !replacing && earlierRun.Count > 0)
                throw new ArgumentException($"--out: {outDir} already holds a training run ({earlierRun[0]}); continue it with --resume, replace it with --overwrite, or give another --out");
            string? dataPath = parse.GetValue(data);
            var console = CommandLine.Console;
            IFaceDataset dataset = dataPath == null
                ? new SyntheticFaces(SyntheticIdentities, SyntheticImagesPerIdentity, architecture.ImageSize, architecture.ImageSize, settings.Seed)
                : Datasets.Load(dataPath, architecture.ImageSize);
            console.MarkupLine(dataPath == null
                ? $"data: built-in synthetic identities ({dataset.Identities.Count} × {SyntheticImagesPerIdentity} images); use --data DIR for real faces"
                : $"data: {Markup.Escape(dataPath)} ({dataset.Count} images of {dataset.Identities.Count} people)");
            var (trainingSet, validationSet) = validation.Split(parse, dataset, architecture.ImageSize, settings.Seed);
            if (validationSet != null)
                console.MarkupLine($"validation: {validationSet.Count} images of {validationSet.Identities.Count} people never trained on " +
                                   $"({Markup.Escape(string.Join(", ", validationSet.Identities))}); training on {trainingSet.Identities.Count} people");

            using var backend = Devices.Open(parse.GetValue(device)!);
            using var model = new SiameseNetwork(backend, architecture, new SeededRandom(settings.Seed));
            using var trainer = new Trainer(model, trainingSet, settings);
            if (resuming)
            {
                try
                {
                    trainer.Resume(outDir);
                }
                catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException)
                {
                    throw new ArgumentException($"--resume: {e.Message}", e);
                }
                console.MarkupLine($"resumed from {Markup.Escape(outDir)} at epoch {trainer.Epoch}, step {trainer.StepInEpoch}");
            }
            if (replacing)
                foreach (var file in earlierRun) File.Delete(file);
            console.MarkupLine(Markup.Escape($"device: {backend.Name} ({backend.Description}); {model.ParameterCount:N0} parameters; recipe {settings.Recipe}: {settings.ToJson()}"));

            var run = new TrainingRun(trainer, outDir)
            {
                TrainingImages = trainingSet, Validation = validationSet, ValidateEvery = validation.Every(parse), CheckpointEvery = checkpoints,
            }.Run();
            if (run.Interrupted)
            {
                console.MarkupLine($"[yellow]interrupted[/] at epoch {trainer.Epoch}, step {trainer.StepInEpoch}: checkpoint saved; continue with --resume --out {Markup.Escape(outDir)}");
                return 130;
            }
            var losses = trainer.StepLosses;
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"trained {settings.Epochs} epochs in {run.Elapsed.TotalSeconds:F1} s{(double.IsNaN(run.ExamplesPerSecond) ? "" : $" ({run.ExamplesPerSecond:F0} {trainer.ExampleName}/s in the steps after the first)")}; final loss {losses[^1]:F5} (mean of the last epoch {losses.TakeLast(trainer.StepsPerEpoch).Average():F5})")));
            if (run.Validation.Count > 0)
            {
                var best = run.Validation.OrderBy(p => p.Eer).ThenByDescending(p => p.Auc).First();
                var last = run.Validation[^1];
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"validation people: ROC AUC {last.Auc:F4}, EER {last.Eer:P1} at the end; best EER {best.Eer:P1} (AUC {best.Auc:F4}) at epoch {best.Epoch}, kept as {run.KeptModel}")));
            }
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"threshold {run.Threshold:F4}, from the {run.ThresholdSource}")));
            console.MarkupLine($"model: {Markup.Escape(Path.Combine(outDir, Trainer.ModelFile))}");
            console.MarkupLine($"loss:  {Markup.Escape(Path.Combine(outDir, LossReport.CsvFile))}, plot: {Markup.Escape(Path.Combine(outDir, LossReport.PlotFile))}");
            return 0;
        });
        return command;
    }
}
