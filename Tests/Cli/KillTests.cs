using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// `train` killed with SIGKILL at seeded random moments, a checkpoint written after every epoch so that many kills land
/// in one: after every kill the folder holds a model that loads and a checkpoint that `train --resume` continues from
/// (its model and optimizer state from the same step, or a journal that resuming finishes), or, before the first
/// checkpoint, nothing that claims to be one and a plain run starts. After the last kill the run, resumed to its end,
/// is bit-identical to one never interrupted.
/// </summary>
[NonParallelizable]
public sealed class KillTests
{
    private const int Kills = 24;

    /// <summary>Longest wait after training starts before the kill: about three one-step epochs, each with its checkpoint.</summary>
    private const int MaxKillDelayMs = 1500;

    /// <summary>A small seed network (32×32 inputs: a 17 MB model, 35 MB of Adam state); one step an epoch.</summary>
    private static readonly string[] Training = ["train", "--image-size", "32", "--device", "cpu"];

    [Test]
    public void EveryKillLeavesACheckpointThatResumes()
    {
        var dir = Fixtures.NewScratchFolder();
        var run = Path.Combine(dir, "killed");
        var model = Path.Combine(run, Trainer.ModelFile);
        var state = Path.Combine(run, Trainer.StateFile);
        var random = new Random(20261201);
        var clock = Stopwatch.StartNew();
        int midCheckpoint = 0, afterCommit = 0, beforeFirstCheckpoint = 0;
        try
        {
            for (int kill = 1; kill <= Kills; kill++)
            {
                bool journal = File.Exists(Path.Combine(run, Atomic.JournalFile));
                int? onDisk = File.Exists(model) ? Epoch(model) : null;
                bool resume = onDisk != null || journal;
                var output = StartAndKill([.. Training, "--checkpoint-every", "1epochs", "--epochs", "1000000", "--out", run, .. resume ? ["--resume"] : Array.Empty<string>()],
                    random.Next(MaxKillDelayMs), $"run {kill}");
                if (resume)
                {
                    var resumed = Regex.Match(output, @"resumed from .* at epoch (\d+), step 0");
                    Assert.That(resumed.Success, $"run {kill} resumed: {output}");
                    int epoch = int.Parse(resumed.Groups[1].Value);
                    // a journal holds a newer checkpoint that resuming finishes writing; without one, the files on disk are the checkpoint
                    if (journal) Assert.That(epoch, Is.GreaterThanOrEqualTo(onDisk ?? 1), $"run {kill} resumed from the newest checkpoint");
                    else Assert.That(epoch, Is.EqualTo(onDisk), $"run {kill} resumed from the checkpoint on disk");
                }

                var left = Directory.Exists(run) ? Directory.GetFiles(run).Select(Path.GetFileName).ToList() : [];
                bool writing = left.Any(f => f!.StartsWith('.'));
                journal = left.Contains(Atomic.JournalFile);
                if (writing) midCheckpoint++;
                if (journal) afterCommit++;
                if (File.Exists(model))
                {
                    using (var backend = new CpuBackend()) Checkpoint.Load(model, backend).Model.Dispose();
                    if (!journal)
                        Assert.That(Epoch(state), Is.EqualTo(Epoch(model)), $"after kill {kill} the optimizer state and the model are from the same step");
                }
                else if (!journal)
                {
                    beforeFirstCheckpoint++;
                    Assert.That(left.Where(f => !f!.StartsWith('.')), Is.Empty, $"killed before the first checkpoint, nothing but temporary files is left: {string.Join(", ", left)}");
                }
            }

            // the run resumed to an end past the newest checkpoint, beside the same run never interrupted
            string end = (Epoch(model) + 2).ToString();
            var finished = CliRunner.Run([.. Training, "--checkpoint-every", "1epochs", "--epochs", end, "--out", run, "--resume"]);
            Assert.That(finished.ExitCode, Is.Zero, finished.Output + finished.Error);
            Assert.That(Directory.GetFiles(run).Select(Path.GetFileName).Where(f => f!.StartsWith('.')), Is.Empty, "no temporary file or journal is left");
            var whole = Path.Combine(dir, "uninterrupted");
            var reference = CliRunner.Run([.. Training, "--epochs", end, "--out", whole]);
            Assert.That(reference.ExitCode, Is.Zero, reference.Output + reference.Error);
            Checkpoints.AssertSame(model, Path.Combine(whole, Trainer.ModelFile));
            Checkpoints.AssertSame(state, Path.Combine(whole, Trainer.StateFile));

            TestContext.Out.WriteLine($"{Kills} kills in {clock.Elapsed.TotalSeconds:F1} s: {midCheckpoint} left a checkpoint half-written " +
                $"({afterCommit} of them after its journal), {beforeFirstCheckpoint} came before the first checkpoint; {end} epochs in the end");
            Assert.That(midCheckpoint, Is.GreaterThan(0), "some kills land while a checkpoint is written");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int Epoch(string path) => int.Parse(SafeTensors.Read(path).Metadata["epoch"]);

    /// <summary>Starts the command line as its own process, kills it <paramref name="delayMs"/> after training starts, and returns what it printed by then.</summary>
    private static string StartAndKill(string[] args, int delayMs, string what)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "similar-faces.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        // the console wraps long lines: joined again, they are what was printed
        var printed = new System.Text.StringBuilder();
        bool training = false;
        for (string? line; !training && (line = process.StandardOutput.ReadLine()) != null;)
        {
            printed.Append(line);
            training = line.StartsWith("device:");
        }
        Assert.That(training, () => $"{what} stopped before training: {printed}{error.Result}");
        var rest = process.StandardOutput.ReadToEndAsync();
        Thread.Sleep(delayMs);
        Assert.That(process.HasExited, Is.False, () => $"{what} stopped by itself: {printed}{rest.Result}{error.Result}");
        process.Kill();
        process.WaitForExit();
        return printed.ToString();
    }
}
