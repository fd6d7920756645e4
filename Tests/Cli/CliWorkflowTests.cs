using System.Text;
using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// The commands a user runs, end to end on the cpu device with the seed network: train on the built-in
/// synthetic identities, resume, embed, eval, compare. Small runs (one or two epochs of 64 pairs).
/// </summary>
[NonParallelizable]
public sealed class CliWorkflowTests
{
    private string _dir = null!;
    private string _faces = null!;
    private string _model = null!;
    private string _trainOutput = null!;

    [OneTimeSetUp]
    public void TrainOnce()
    {
        _dir = Fixtures.NewScratchFolder();
        _faces = WriteSyntheticFolder(Path.Combine(_dir, "faces"));
        var run = CliRunner.Run("train", "--epochs", "2", "--device", "cpu", "--out", Path.Combine(_dir, "run"));
        Assert.That(run.ExitCode, Is.Zero, run.Output + run.Error);
        _model = Path.Combine(_dir, "run", "model.safetensors");
        _trainOutput = run.Output;
        TestContext.Out.WriteLine(run.Output);
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    /// <summary>4 synthetic identities × 3 images as 8-bit PGM files, one folder per identity.</summary>
    internal static string WriteSyntheticFolder(string root)
    {
        var faces = new SyntheticFaces(4, 3, 100, 100, seed: 11);
        for (int i = 0; i < faces.Count; i++)
        {
            var folder = Path.Combine(root, faces.Identities[faces.Label(i)]);
            Directory.CreateDirectory(folder);
            var header = Encoding.ASCII.GetBytes("P5\n100 100\n255\n");
            var pixels = faces.Image(i).ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray();
            File.WriteAllBytes(Path.Combine(folder, $"{i % 3}.pgm"), header.Concat(pixels).ToArray());
        }
        return root;
    }

    [Test]
    public void TrainWritesModelLossCsvAndPlot()
    {
        var run = Path.Combine(_dir, "run");
        Assert.That(File.Exists(Path.Combine(run, "model.safetensors")));
        Assert.That(_trainOutput, Does.Match(@"trained 2 epochs in \d+\.\d s \(\d+ pairs/s in the steps after the first\)"));
        Assert.That(new FileInfo(Path.Combine(run, "loss.png")).Length, Is.GreaterThan(1000));
        var csv = File.ReadAllLines(Path.Combine(run, "loss.csv"));
        Assert.That(csv[0], Is.EqualTo("step,epoch,loss"));
        Assert.That(csv, Has.Length.EqualTo(3), "one row per step: 64 synthetic images in batches of 64, 2 epochs");
        var contents = SafeTensors.Read(_model);
        Assert.That(contents.Metadata, Does.ContainKey(Checkpoint.ThresholdKey));
        Assert.That(contents.Metadata[Checkpoint.ArchitectureKey], Is.EqualTo(SiameseArchitecture.Seed.ToJson()));
        Assert.That(contents.Tensors["fully_connect.0.weight"].Shape, Is.EqualTo(new[] { 500, 80000 }));
        Assert.That(contents.Tensors["conv_layers.3.num_batches_tracked"].Longs, Is.EqualTo(new[] { 4L }), "two towers × two steps");
    }

    [Test]
    public void ResumeEndsBitIdenticalToAnUninterruptedRun()
    {
        var split = Path.Combine(_dir, "split");
        Assert.That(CliRunner.Run("train", "--epochs", "1", "--device", "cpu", "--out", split).ExitCode, Is.Zero);
        var resumed = CliRunner.Run("train", "--epochs", "2", "--device", "cpu", "--out", split, "--resume");
        Assert.That(resumed.ExitCode, Is.Zero, resumed.Output + resumed.Error);
        Assert.That(resumed.Output, Does.Contain("resumed from"));
        // 1 epoch + resume to 2 must give the same weights and metadata as 2 epochs in one go
        Checkpoints.AssertSame(Path.Combine(split, "model.safetensors"), _model);
        Checkpoints.AssertSame(Path.Combine(split, "training-state.safetensors"), Path.Combine(_dir, "run", "training-state.safetensors"));
        Assert.That(File.ReadAllText(Path.Combine(split, "loss.csv")), Is.EqualTo(File.ReadAllText(Path.Combine(_dir, "run", "loss.csv"))));
    }

    [Test]
    public void ResumeWithADifferentRecipeIsRefused()
    {
        var split = Path.Combine(_dir, "recipe");
        Assert.That(CliRunner.Run("train", "--epochs", "1", "--device", "cpu", "--out", split).ExitCode, Is.Zero);
        var r = CliRunner.Run("train", "--epochs", "2", "--lr", "0.001", "--device", "cpu", "--out", split, "--resume");
        Assert.That(r.ExitCode, Is.Not.Zero);
        Assert.That(r.Error, Does.Contain("--resume").And.Contain("LearningRate: 0.0005 in the checkpoint, 0.001 now"));
    }

    [Test]
    public void EmbedWritesOneRowPerImage()
    {
        var csv = Path.Combine(_dir, "embeddings.csv");
        var r = CliRunner.Run("embed", "--model", _model, "--data", _faces, "--out", csv, "--device", "cpu");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        var lines = File.ReadAllLines(csv);
        Assert.That(lines[0], Is.EqualTo("path,identity,e0,e1,e2,e3,e4"));
        Assert.That(lines, Has.Length.EqualTo(13));
        Assert.That(lines[1], Does.StartWith("id000/0.pgm,id000,"));
        Assert.That(r.Output, Does.Match(@"images listed in \d+\.\d\d s, read and embedded in \d+\.\d\d s \([\d,]+ images/s\)"));
    }

    [Test]
    public void EvalReportsMetricsAndDrawsPictures()
    {
        var json = Path.Combine(_dir, "metrics.json");
        var pictures = Path.Combine(_dir, "eval");
        var r = CliRunner.Run("eval", "--model", _model, "--data", _faces, "--json", json, "--out", pictures, "--device", "cpu");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        using var metrics = JsonDocument.Parse(File.ReadAllText(json));
        Assert.That(metrics.RootElement.GetProperty("pairs").GetInt32(), Is.EqualTo(66), "12 images give 66 pairs");
        double auc = metrics.RootElement.GetProperty("auc").GetDouble();
        Assert.That(auc, Is.InRange(0.0, 1.0));
        foreach (var file in new[] { "roc.png", "distances.png", "pairs.png" })
            Assert.That(new FileInfo(Path.Combine(pictures, file)).Length, Is.GreaterThan(1000), file);
        Assert.That(r.Output, Does.Contain("ROC AUC"));
        Assert.That(r.Output, Does.Match(@"images listed in \d+\.\d\d s, read and embedded in \d+\.\d\d s \([\d,]+ images/s\); 66 pairs\s+compared\s+in \d+\.\d\d s"), "the console wraps lines at 80 columns");
    }

    [Test]
    public void CompareUsesTheStoredThreshold()
    {
        var a = Path.Combine(_faces, "id000", "0.pgm");
        var b = Path.Combine(_faces, "id000", "1.pgm");
        var r = CliRunner.Run("compare", "--model", _model, a, b, "--device", "cpu");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        Assert.That(r.Output, Does.Match(@"dissimilarity \d+\.\d+ \(threshold \d+\.\d+\): (same|different)"));
    }

    [Test]
    public void CompareRefusesAStoredThresholdThatIsNotANumber()
    {
        var contents = SafeTensors.Read(_model);
        var broken = Path.Combine(_dir, "nan-threshold.safetensors");
        SafeTensors.Write(broken, contents.Tensors.Values, new Dictionary<string, string>(contents.Metadata) { [Checkpoint.ThresholdKey] = "NaN" });
        var image = Path.Combine(_faces, "id000", "0.pgm");
        var r = CliRunner.Run("compare", "--model", broken, image, image, "--device", "cpu");
        Assert.That(r.ExitCode, Is.Not.Zero, r.Output);
        Assert.That(r.Error, Does.Contain(broken).And.Contain("stores the threshold NaN"));
    }

    [Test]
    public void NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint()
    {
        var run = Path.Combine(_dir, "diverge");
        var r = CliRunner.Run("train", "--epochs", "5", "--lr", "1e30", "--device", "cpu", "--out", run);
        Assert.That(r.ExitCode, Is.Not.Zero, r.Output);
        Assert.That(r.Error, Does.Match("error: the loss became (NaN|∞|-∞|Infinity|-Infinity) at epoch 2, step 1"));
        Assert.That(r.Error, Does.Contain($"training stopped; try a lower --lr; the checkpoint in {run} now holds the last finite step, at epoch 1, step 0"));
        // no checkpoint was due on the clock: the one written at the stop holds the last finite step, whole
        var kept = SafeTensors.Read(Path.Combine(run, "model.safetensors"));
        Assert.That((kept.Metadata["epoch"], kept.Metadata["step_in_epoch"]), Is.EqualTo(("1", "0")), "the state after epoch 1");
        foreach (var (name, tensor) in kept.Tensors.Where(t => t.Value.Floats != null))
            Assert.That(tensor.Floats!.All(float.IsFinite), name);
        Assert.That(kept.Tensors["conv_layers.3.num_batches_tracked"].Longs, Is.EqualTo(new[] { 2L }), "two towers × one step");

        // resumed, the same step fails again: the checkpoint is the run just before it
        var again = CliRunner.Run("train", "--epochs", "5", "--lr", "1e30", "--device", "cpu", "--out", run, "--resume");
        Assert.That(again.Error, Does.Match("the loss became (NaN|∞|-∞|Infinity|-Infinity) at epoch 2, step 1"));
        Assert.That(again.Error, Does.Contain($"the checkpoint in {run} is unchanged, at epoch 1, step 0"));
    }

    [Test]
    public void NonFiniteFirstStepWritesNoCheckpoint()
    {
        var run = Path.Combine(_dir, "diverge-at-once");
        var r = CliRunner.Run("train", "--epochs", "1", "--margin", "1e30", "--image-size", "16", "--device", "cpu", "--out", run);
        Assert.That(r.Error, Does.Match("the loss became .* at epoch 1, step 1;.*; no step was finite, so no checkpoint was written"));
        Assert.That(Directory.Exists(run) ? Directory.GetFiles(run) : [], Is.Empty, "nothing claims to be a checkpoint");
    }

    [Test]
    public void OverwriteReplacesTheRunInTheFolder()
    {
        var run = Path.Combine(_dir, "replaced");
        Directory.CreateDirectory(run);
        foreach (var file in new[] { "model.safetensors", "best.safetensors", "validation.csv" })
            File.WriteAllText(Path.Combine(run, file), "an earlier run");
        var r = CliRunner.Run("train", "--epochs", "1", "--image-size", "16", "--device", "cpu", "--out", run, "--overwrite");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        Assert.That(SafeTensors.Read(Path.Combine(run, "model.safetensors")).Metadata["epoch"], Is.EqualTo("1"));
        Assert.That(File.Exists(Path.Combine(run, "best.safetensors")) || File.Exists(Path.Combine(run, "validation.csv")), Is.False,
            "no file of the earlier run is left beside the new one");
    }

    [Test]
    public void GradCheckCommandPrintsEveryOp()
    {
        var r = CliRunner.Run("gradcheck", "--device", "cpu", "--op", "Conv2d");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        Assert.That(r.Output, Does.Contain("conv2d_3x3").And.Contain("all gradients agree"));
        var unknown = CliRunner.Run("gradcheck", "--op", "Softmax");
        Assert.That(unknown.ExitCode, Is.Not.Zero);
        Assert.That(unknown.Error, Does.Contain("--op").And.Contain("Conv2d"));
    }

    [Test]
    public void GradCheckListPrintsTheOpTable()
    {
        var r = CliRunner.Run("gradcheck", "--list");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        foreach (var entry in SimilarFaces.Engine.Diagnostics.OpTable.All)
        {
            Assert.That(r.Output, Does.Contain(entry.Op));
            foreach (var name in entry.Cases.Select(c => c.Name).Concat(entry.Fixtures))
                Assert.That(r.Output, Does.Contain(name), $"{entry.Op}: {name}");
        }
        Assert.That(r.Output, Does.Contain("LeakyRelu").And.Contain("leaky_relu"));
    }

    [Test]
    public void DevicesListsTheCpu()
    {
        var r = CliRunner.Run("devices");
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        Assert.That(r.Output, Does.Contain("cpu").And.Contain("default (--device auto)"));
    }

    [Test]
    public void SingleImageIdentityIsAWarning()
    {
        var root = Path.Combine(_dir, "lonely");
        foreach (var (identity, count) in new[] { ("a", 2), ("b", 2), ("c", 1) })
            for (int i = 0; i < count; i++)
            {
                Directory.CreateDirectory(Path.Combine(root, identity));
                File.Copy(Path.Combine(_faces, "id001", $"{i}.pgm"), Path.Combine(root, identity, $"{i}.pgm"));
            }
        var r = CliRunner.Run("train", "--data", root, "--epochs", "1", "--device", "cpu", "--out", Path.Combine(_dir, "lonely-run"));
        Assert.That(r.ExitCode, Is.Zero, r.Error);
        Assert.That(r.Output, Does.Contain("'c' has 1 image: usable only in different-identity pairs"));
    }
}
