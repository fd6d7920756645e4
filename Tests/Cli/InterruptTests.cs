using System.Diagnostics;
using NUnit.Framework;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// Ctrl-C (SIGINT) during `train`: the tool finishes the step it is in, writes a checkpoint, says how to
/// resume, and exits with 130; the checkpoint is complete and loads.
/// </summary>
[NonParallelizable]
public sealed class InterruptTests
{
    [Test]
    public void CtrlCLeavesACompleteCheckpoint()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Assert.Ignore("sends SIGINT with kill(1)");
        if (SigIntIgnored())
            Assert.Ignore("SIGINT is ignored in this process (a shell starts background jobs so), and a child inherits that: Ctrl-C cannot reach train");
        var dir = Fixtures.NewScratchFolder();
        try
        {
            var cli = Path.Combine(AppContext.BaseDirectory, "similar-faces.dll");
            var start = new ProcessStartInfo("dotnet", ["exec", cli, "train", "--epochs", "200", "--image-size", "32", "--checkpoint-every", "1epochs", "--device", "cpu", "--out", dir])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            var model = Path.Combine(dir, "model.safetensors");
            var clock = Stopwatch.StartNew();
            while (!File.Exists(model) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(100);
            Assert.That(File.Exists(model), Is.True, "the first epoch's checkpoint appears");

            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString()])) kill.WaitForExit();
            // the step in progress and a checkpoint, on a machine that may be busy with other work
            Assert.That(process.WaitForExit(TimeSpan.FromMinutes(5)), Is.True, "train stops after Ctrl-C");
            Assert.That(process.ExitCode, Is.EqualTo(130), error.Result);
            Assert.That(output.Result, Does.Contain("interrupted").And.Contain("--resume"));
            var saved = SafeTensors.Read(model);
            int epoch = int.Parse(saved.Metadata["epoch"]);
            Assert.That(epoch, Is.InRange(1, 199), "stopped before the end");
            Assert.That(SafeTensors.Read(Path.Combine(dir, "training-state.safetensors")).Metadata["epoch"], Is.EqualTo(saved.Metadata["epoch"]));
            Assert.That(Directory.GetFiles(dir, "*.tmp"), Is.Empty, "no half-written file is left");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // SIGINT (signal 2, bit 1) in the ignored-signal mask of /proc/self/status; elsewhere assume it is not ignored
    private static bool SigIntIgnored()
    {
        var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:")) : null;
        return line != null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << 1)) != 0;
    }
}
