using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using NUnit.Framework;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Tests.Library;

/// <summary>
/// Engine/README.md, the package's README, shows the sample samples/Classifier/Program.cs part by part: its C# blocks
/// are, in order, the sample's regions marked <c>// &lt;name&gt;</c> … <c>// &lt;/name&gt;</c> (compared with their
/// common indentation removed, nothing else). The sample must reach the accuracy the README states, and a network
/// loaded from the weights it saves must predict exactly what the trained one does.
/// </summary>
[TestFixture]
public sealed partial class SampleTests
{
    /// <summary>The test accuracy, in percent, that the sample must reach and Engine/README.md states.</summary>
    private const int RequiredAccuracyPercent = 95;

    private static string ProgramPath => Path.Combine(Fixtures.RepositoryRoot, "samples", "Classifier", "Program.cs");
    private static string ReadmePath => Path.Combine(Fixtures.RepositoryRoot, "Engine", "README.md");

    [Test]
    public void EveryCSharpBlockOfTheReadmeIsTheSamplesRegionInTheSameOrder()
    {
        var regions = Regions(File.ReadAllText(ProgramPath));
        var blocks = CSharpBlocks(File.ReadAllText(ReadmePath));
        Assert.That(regions, Is.Not.Empty, "the regions of samples/Classifier/Program.cs");
        Assert.That(blocks, Has.Count.EqualTo(regions.Count),
            $"Engine/README.md has {blocks.Count} ```csharp blocks; samples/Classifier/Program.cs has {regions.Count} regions ({string.Join(", ", regions.Select(r => r.Name))})");
        for (int i = 0; i < regions.Count; i++)
        {
            var (name, code) = regions[i];
            string[] expected = Dedent(code), actual = Dedent(blocks[i]);
            for (int line = 0; line < Math.Max(expected.Length, actual.Length); line++)
            {
                string? want = line < expected.Length ? expected[line] : null, got = line < actual.Length ? actual[line] : null;
                if (want != got)
                    Assert.Fail($"Engine/README.md's ```csharp block {i + 1} differs from region <{name}> of samples/Classifier/Program.cs " +
                        $"at its line {line + 1}:\n  README:     {got ?? "(no line)"}\n  Program.cs: {want ?? "(no line)"}");
            }
        }
    }

    [Test]
    public void TheReadmeStatesTheAccuracyThisTestRequires()
    {
        var stated = RequiredAccuracyStatement().Matches(File.ReadAllText(ReadmePath));
        Assert.That(stated, Has.Count.EqualTo(1), "Engine/README.md says once \"requires a test accuracy of at least N%\"");
        Assert.That(int.Parse(stated[0].Groups[1].Value, CultureInfo.InvariantCulture), Is.EqualTo(RequiredAccuracyPercent),
            "the accuracy Engine/README.md says the sample requires");
    }

    [Test]
    public void TheSampleReachesTheRequiredAccuracyAndItsReloadedWeightsPredictTheSame()
    {
        var folder = Fixtures.NewScratchFolder();
        try
        {
            var sample = Path.Combine(AppContext.BaseDirectory, "SimilarFaces.Samples.Classifier.dll");
            var clock = Stopwatch.StartNew();
            var (code, output, error) = ChildProcess.Run("dotnet", ["exec", sample, "--device", "cpu", "--out", folder], TimeSpan.FromMinutes(2));
            TestContext.Out.WriteLine($"{output}(ran {clock.Elapsed.TotalSeconds:F1} s)");
            Assert.That(code, Is.EqualTo(0), $"exit code; error output: {error}");
            Assert.That(error, Is.Empty);

            var result = AccuracyLine().Match(output);
            Assert.That(result.Success, Is.True, $"a line \"test accuracy: X% (... required at least N%)\" in:\n{output}");
            Assert.That(int.Parse(result.Groups[2].Value, CultureInfo.InvariantCulture), Is.EqualTo(RequiredAccuracyPercent),
                "the accuracy the sample requires of itself");
            Assert.That(double.Parse(result.Groups[1].Value, CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(RequiredAccuracyPercent),
                "the sample's test accuracy, percent");

            Assert.That(output, Does.Contain("1000 of 1000 predictions identical, logits bit-identical"));
            var saved = SafeTensors.Read(Path.Combine(folder, "classifier.safetensors"));
            Assert.That(saved.Tensors.Keys.Order(StringComparer.Ordinal),
                Is.EqualTo(new[] { "0.bias", "0.weight", "3.bias", "3.weight", "7.bias", "7.weight" }), "the saved state_dict");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"requires a test accuracy of at least (\d+)%")]
    private static partial Regex RequiredAccuracyStatement();

    [GeneratedRegex(@"^test accuracy: (\d+(?:\.\d+)?)% \(.*required at least (\d+)%\)$", RegexOptions.Multiline)]
    private static partial Regex AccuracyLine();

    /// <summary>The regions <c>// &lt;name&gt;</c> … <c>// &lt;/name&gt;</c> of a C# file, in order; the marker lines excluded.</summary>
    private static List<(string Name, string Code)> Regions(string source)
    {
        var regions = new List<(string, string)>();
        string? open = null;
        var body = new List<string>();
        var lines = Lines(source);
        for (int i = 0; i < lines.Length; i++)
        {
            var marker = Regex.Match(lines[i], @"^\s*// <(/?)([a-z][a-z-]*)>\s*$");
            if (!marker.Success)
            {
                if (open != null) body.Add(lines[i]);
                continue;
            }
            string name = marker.Groups[2].Value;
            bool closing = marker.Groups[1].Value == "/";
            if (!closing && open != null) Assert.Fail($"Program.cs line {i + 1}: region <{name}> opens inside <{open}>");
            if (closing && open != name) Assert.Fail($"Program.cs line {i + 1}: </{name}> closes {(open == null ? "no region" : $"<{open}>")}");
            if (closing)
            {
                regions.Add((name, string.Join('\n', body)));
                body.Clear();
                open = null;
            }
            else open = name;
        }
        if (open != null) Assert.Fail($"Program.cs: region <{open}> is never closed");
        var twice = regions.GroupBy(r => r.Item1).FirstOrDefault(g => g.Count() > 1);
        if (twice != null) Assert.Fail($"Program.cs: region <{twice.Key}> appears {twice.Count()} times");
        return regions;
    }

    /// <summary>The contents of the Markdown's fenced blocks that start with ```csharp, in order.</summary>
    private static List<string> CSharpBlocks(string markdown)
    {
        var blocks = new List<string>();
        List<string>? block = null;
        bool inOtherFence = false;
        foreach (var line in Lines(markdown))
        {
            if (block != null)
            {
                if (line.TrimEnd() == "```")
                {
                    blocks.Add(string.Join('\n', block));
                    block = null;
                }
                else block.Add(line);
            }
            else if (line.StartsWith("```", StringComparison.Ordinal))
            {
                if (!inOtherFence && line.TrimEnd() == "```csharp") block = new List<string>();
                else inOtherFence = !inOtherFence;
            }
        }
        if (block != null) Assert.Fail("Engine/README.md: a ```csharp block is never closed");
        return blocks;
    }

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").Split('\n');

    /// <summary>The lines with the indentation they all share removed (blank lines count as sharing any).</summary>
    private static string[] Dedent(string code)
    {
        var lines = Lines(code);
        int common = lines.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return lines.Select(l => l.Trim().Length == 0 ? "" : l[common..]).ToArray();
    }
}
