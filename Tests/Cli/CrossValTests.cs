using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// `crossval` on the built-in synthetic identities (12 people, 3 folds, 2 epochs of the improved recipe): the report's
/// shape, the separation of people between training, validation and held-out sets, and reproducibility from --seed;
/// `train --val-fraction` and `--val`, whose validation people choose the kept model and its threshold.
/// </summary>
[NonParallelizable]
public sealed class CrossValTests
{
    private string _dir = null!;
    private JsonElement _report;

    private static readonly string[] Quick = ["--recipe", "improved", "--epochs", "2", "--val-every", "1", "--device", "cpu"];

    [OneTimeSetUp]
    public void RunOnce()
    {
        _dir = Fixtures.NewScratchFolder();
        var r = CliRunner.Run(["crossval", "--folds", "3", "--out", Path.Combine(_dir, "cv"), "--json", Path.Combine(_dir, "cv.json"), .. Quick]);
        Assert.That(r.ExitCode, Is.Zero, r.Output + r.Error);
        TestContext.Out.WriteLine(r.Output);
        _report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "cv.json"))).RootElement.Clone();
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    private static string[] Names(JsonElement fold, string set) => fold.GetProperty(set).EnumerateArray().Select(e => e.GetString()!).ToArray();

    [Test]
    public void NoPersonIsEverInBothTrainingAndEvaluation()
    {
        var folds = _report.GetProperty("per_fold").EnumerateArray().ToArray();
        Assert.That(folds, Has.Length.EqualTo(3));
        var everyone = Enumerable.Range(0, 12).Select(k => $"id{k:D3}").ToArray();
        Assert.That(folds.SelectMany(f => Names(f, "held_out")).Order(), Is.EqualTo(everyone), "each person held out exactly once");
        foreach (var fold in folds)
        {
            string[] training = Names(fold, "training"), validation = Names(fold, "validation"), heldOut = Names(fold, "held_out");
            Assert.That(training.Intersect(heldOut), Is.Empty, "trained on a held-out person");
            Assert.That(validation.Intersect(heldOut), Is.Empty);
            Assert.That(training.Intersect(validation), Is.Empty, "trained on a validation person");
            Assert.That(training.Concat(validation).Concat(heldOut).Order(), Is.EqualTo(everyone));
            Assert.That(validation, Has.Length.GreaterThanOrEqualTo(2));

            // the model itself knew only its training people: CosFace keeps one class vector per person it trained on
            var state = SafeTensors.Read(Path.Combine(_dir, "cv", $"fold-{fold.GetProperty("fold").GetInt32()}", Trainer.StateFile));
            Assert.That(state.Tensors["cosface.class_vectors"].Shape[0], Is.EqualTo(training.Length));
        }
    }

    [Test]
    public void ReportHoldsEveryFoldTheBaselineAndTheSummary()
    {
        foreach (var fold in _report.GetProperty("per_fold").EnumerateArray())
        {
            int people = Names(fold, "held_out").Length, images = 8 * people;
            Assert.That(fold.GetProperty("pairs").GetInt32(), Is.EqualTo(images * (images - 1) / 2), "all pairs of the held-out images");
            foreach (var key in new[] { "auc", "eer", "accuracy", "pixel_auc", "pixel_eer" })
                Assert.That(fold.GetProperty(key).GetDouble(), Is.InRange(0.0, 1.0), key);
            Assert.That(fold.GetProperty("threshold_source").GetString(), Does.Contain("validation people"), "threshold chosen without the held-out fold");
        }
        var folds = _report.GetProperty("per_fold").EnumerateArray().ToArray();
        double meanEer = folds.Average(f => f.GetProperty("eer").GetDouble());
        Assert.That(_report.GetProperty("mean").GetProperty("eer").GetDouble(), Is.EqualTo(meanEer).Within(1e-12));
        Assert.That(_report.GetProperty("std").GetProperty("eer").GetDouble(), Is.GreaterThanOrEqualTo(0));
        Assert.That(_report.GetProperty("recipe").GetString(), Is.EqualTo("improved"));
        Assert.That(new FileInfo(Path.Combine(_dir, "cv", "roc.png")).Length, Is.GreaterThan(1000));
        Assert.That(File.ReadAllText(Path.Combine(_dir, "cv", "crossval.json")), Is.EqualTo(File.ReadAllText(Path.Combine(_dir, "cv.json"))));
    }

    [Test]
    public void SameSeedGivesTheSameFigures()
    {
        var again = CliRunner.Run(["crossval", "--folds", "3", "--out", Path.Combine(_dir, "again"), .. Quick]);
        Assert.That(again.ExitCode, Is.Zero, again.Error);
        var second = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "again", "crossval.json"))).RootElement;
        Assert.That(Figures(second), Is.EqualTo(Figures(_report)));
    }

    [Test]
    public void ResumeKeepsFinishedFoldsAndRetrainsAMissingOne()
    {
        var copy = Path.Combine(_dir, "resumed");
        CopyFolder(Path.Combine(_dir, "cv"), copy);
        Directory.Delete(Path.Combine(copy, "fold-3"), recursive: true);
        var kept = File.ReadAllBytes(Path.Combine(copy, "fold-1", Trainer.ModelFile));
        var r = CliRunner.Run(["crossval", "--folds", "3", "--out", copy, "--resume", .. Quick]);
        Assert.That(r.ExitCode, Is.Zero, r.Output + r.Error);
        Assert.That(File.ReadAllBytes(Path.Combine(copy, "fold-1", Trainer.ModelFile)), Is.EqualTo(kept), "a finished fold is not trained again");
        var resumed = JsonDocument.Parse(File.ReadAllText(Path.Combine(copy, "crossval.json"))).RootElement;
        Assert.That(Figures(resumed), Is.EqualTo(Figures(_report)), "the retrained fold gives the same figures");
    }

    private static void CopyFolder(string from, string to)
    {
        foreach (var directory in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(directory.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(from, to));
    }

    private static string Figures(JsonElement report) => string.Join(";", report.GetProperty("per_fold").EnumerateArray().Select(f =>
        string.Join(",", new[] { "auc", "eer", "accuracy", "threshold", "pixel_eer" }.Select(k => f.GetProperty(k).GetDouble().ToString("R")))));

    [Test]
    public void NonEmptyOutputFolderIsRefused()
    {
        var r = CliRunner.Run(["crossval", "--folds", "3", "--out", Path.Combine(_dir, "cv"), .. Quick]);
        Assert.That(r.ExitCode, Is.Not.Zero);
        Assert.That(r.Error, Does.Contain("--out").And.Contain("not empty").And.Contain("--resume"));
    }

    [Test]
    public void TrainWithValidationPeopleKeepsTheBestModelAndTheirThreshold()
    {
        var run = Path.Combine(_dir, "validated");
        var r = CliRunner.Run(["train", "--recipe", "improved", "--epochs", "3", "--val-fraction", "0.25", "--val-every", "1", "--device", "cpu", "--out", run]);
        Assert.That(r.ExitCode, Is.Zero, r.Output + r.Error);
        Assert.That(r.Output, Does.Contain("validation: ").And.Contain("never trained on"));
        var rows = File.ReadAllLines(Path.Combine(run, "validation.csv"));
        Assert.That(rows[0], Is.EqualTo("epoch,auc,eer,threshold"));
        Assert.That(rows.Skip(1).Select(line => line.Split(',')[0]), Is.EqualTo(new[] { "1", "2", "3" }));
        var best = SafeTensors.Read(Path.Combine(run, "best.safetensors"));
        var final = SafeTensors.Read(Path.Combine(run, "model.safetensors"));
        foreach (var model in new[] { best, final })
            Assert.That(model.Metadata[Checkpoint.ThresholdSourceKey], Does.Contain("validation people never trained on"));
        var bestEpoch = rows.Skip(1).Select(line => line.Split(',')).OrderBy(f => double.Parse(f[2])).ThenByDescending(f => double.Parse(f[1])).First()[0];
        Assert.That(best.Metadata["epoch"], Is.EqualTo(bestEpoch), "the kept model is the one with the lowest validation EER");
        Assert.That(final.Metadata[Checkpoint.ThresholdKey], Is.EqualTo(double.Parse(rows[^1].Split(',')[3]).ToString("R")));
    }

    [Test]
    public void ValidationFolderSharingAPersonWithTheTrainingDataIsRefused()
    {
        var faces = Path.Combine(_dir, "faces");
        CliWorkflowTests.WriteSyntheticFolder(faces);
        var r = CliRunner.Run(["train", "--data", faces, "--val", faces, "--epochs", "1", "--device", "cpu", "--out", Path.Combine(_dir, "shared")]);
        Assert.That(r.ExitCode, Is.Not.Zero);
        Assert.That(r.Error, Does.Contain("--val").And.Contain("never be trained on"));
    }

    [Test]
    public void ImprovedModelIsUsedWithoutFlags()
    {
        string run = Path.Combine(_dir, "plain"), faces = Path.Combine(_dir, "plain-faces");
        Assert.That(CliRunner.Run(["train", "--recipe", "improved", "--epochs", "1", "--device", "cpu", "--out", run]).ExitCode, Is.Zero);
        CliWorkflowTests.WriteSyntheticFolder(faces);
        var model = Path.Combine(run, Trainer.ModelFile);
        var csv = Path.Combine(_dir, "plain.csv");
        var embed = CliRunner.Run(["embed", "--model", model, "--data", faces, "--out", csv, "--device", "cpu"]);
        Assert.That(embed.ExitCode, Is.Zero, embed.Error);
        var rows = File.ReadAllLines(csv);
        Assert.That(rows[0].Split(','), Has.Length.EqualTo(2 + 128), "path, identity and the 128 numbers");
        var unit = rows[1].Split(',').Skip(2).Select(v => double.Parse(v)).Sum(v => v * v);
        Assert.That(unit, Is.EqualTo(1).Within(1e-5), "unit embeddings");
        var compare = CliRunner.Run(["compare", "--model", model, Path.Combine(faces, "id000", "0.pgm"), Path.Combine(faces, "id000", "1.pgm"), "--device", "cpu"]);
        Assert.That(compare.ExitCode, Is.Zero, compare.Error);
        Assert.That(compare.Output, Does.Match(@"dissimilarity \d+\.\d+ \(threshold \d+\.\d+\)"));
    }

    [Test]
    public void ImprovedRecipeResumesBitIdentically()
    {
        string whole = Path.Combine(_dir, "whole"), split = Path.Combine(_dir, "split");
        Assert.That(CliRunner.Run(["train", "--recipe", "improved", "--epochs", "2", "--device", "cpu", "--out", whole]).ExitCode, Is.Zero);
        Assert.That(CliRunner.Run(["train", "--recipe", "improved", "--epochs", "1", "--device", "cpu", "--out", split]).ExitCode, Is.Zero);
        var resumed = CliRunner.Run(["train", "--recipe", "improved", "--epochs", "2", "--device", "cpu", "--out", split, "--resume"]);
        Assert.That(resumed.ExitCode, Is.Zero, resumed.Error);
        foreach (var file in new[] { Trainer.ModelFile, Trainer.StateFile })
            Checkpoints.AssertSame(Path.Combine(split, file), Path.Combine(whole, file));
    }
}
