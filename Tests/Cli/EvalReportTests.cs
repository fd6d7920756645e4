using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Model;

namespace SimilarFaces.Tests.Cli;

/// <summary>
/// `eval --out`'s report.html opened in headless Chromium (Debian's package, installed here when absent): its three
/// pictures decode, it fetches nothing, and the numbers it shows are the ones `--json` wrote.
/// </summary>
[NonParallelizable]
public sealed class EvalReportTests
{
    private string _dir = null!;
    private string _chromium = null!;

    [OneTimeSetUp]
    public void Setup()
    {
        _chromium = Chromium.FindOrInstall();
        _dir = Fixtures.NewScratchFolder();
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void ReportRendersWithItsPicturesAndTheJsonNumbers()
    {
        var faces = CliWorkflowTests.WriteSyntheticFolder(Path.Combine(_dir, "faces"));
        var model = Path.Combine(_dir, "model.safetensors");
        using (var backend = new CpuBackend())
        using (var network = new SiameseNetwork(backend, new SiameseArchitecture { ImageSize = 16, Channels = [2], Hidden = [8], EmbeddingSize = 3 }, new SeededRandom(5)))
            Checkpoint.Save(model, network);
        var json = Path.Combine(_dir, "metrics.json");
        var output = Path.Combine(_dir, "eval");
        var run = CliRunner.Run("eval", "--model", model, "--data", faces, "--json", json, "--out", output, "--device", "cpu");
        Assert.That(run.ExitCode, Is.Zero, run.Error);

        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.That(Regex.IsMatch(html, @"(src|href)=""(https?:|//)"), Is.False, "the report fetches nothing from a network");

        var dom = Chromium.DumpDom(_chromium, Path.Combine(output, "report.html"));
        Assert.That(dom, Does.Contain("data-images-loaded=\"3/3\""), "every picture drawn to its last row in the browser");
        using var metrics = JsonDocument.Parse(File.ReadAllText(json));
        foreach (var key in new[] { "auc", "eer", "threshold", "accuracy", "pairs", "best_accuracy", "best_threshold" })
        {
            var shown = Regex.Match(dom, $"id=\"{key}\" data-value=\"([^\"]+)\"");
            Assert.That(shown.Success, Is.True, $"{key} is on the page");
            Assert.That(double.Parse(shown.Groups[1].Value, CultureInfo.InvariantCulture), Is.EqualTo(metrics.RootElement.GetProperty(key).GetDouble()), key);
        }
    }
}

/// <summary>Headless Chromium for page tests: found on PATH, else installed from Debian's package.</summary>
public static class Chromium
{
    public static string FindOrInstall()
    {
        if (Find() is { } found) return found;
        if (OperatingSystem.IsLinux() && File.Exists("/usr/bin/apt-get"))
        {
            Run("apt-get", ["update", "-qq"], TimeSpan.FromMinutes(3));
            Run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "chromium"], TimeSpan.FromMinutes(8),
                new() { ["DEBIAN_FRONTEND"] = "noninteractive" });
        }
        return Find() ?? throw new IgnoreException("Chromium is not installed and apt-get could not install it: the report was not rendered");
    }

    private static string? Find() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    /// <summary>The page's DOM after its load event, as headless Chromium serialises it.</summary>
    public static string DumpDom(string chromium, string page) =>
        Run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", $"file://{page}"], TimeSpan.FromMinutes(1));

    private static string Run(string file, string[] args, TimeSpan limit, Dictionary<string, string?>? environment = null)
    {
        var run = ChildProcess.Run(file, args, limit, environment);
        if (run.ExitCode != 0) TestContext.Out.WriteLine($"{file} {string.Join(' ', args)}: exit {run.ExitCode}: {run.Error}");
        return run.Output;
    }
}
