using SimilarFaces.Cli;
using Spectre.Console;

namespace SimilarFaces.Tests.Cli;

/// <summary>Runs the `similar-faces` command line in-process and captures what it prints.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>A failed run that printed exactly one line, "error: ...", mentioning each of <paramref name="mentions"/>.</summary>
    public static void AssertOneLineError(Result r, params string[] mentions)
    {
        NUnit.Framework.Assert.That(r.ExitCode, NUnit.Framework.Is.Not.Zero, $"exit code; output: {r.Output}");
        var lines = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        NUnit.Framework.Assert.That(lines, NUnit.Framework.Has.Length.EqualTo(1), $"one error line, got: {r.Error}");
        NUnit.Framework.Assert.That(lines[0], NUnit.Framework.Does.StartWith("error: "));
        foreach (var m in mentions) NUnit.Framework.Assert.That(lines[0], NUnit.Framework.Does.Contain(m));
    }

    public static Result Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var previousConsole = CommandLine.Console;
        var previousError = Console.Error;
        CommandLine.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        Console.SetError(error);
        try
        {
            int code = CommandLine.Run(args);
            return new Result(code, output.ToString(), error.ToString());
        }
        finally
        {
            CommandLine.Console = previousConsole;
            Console.SetError(previousError);
        }
    }
}

/// <summary>Checkpoints compared as a resumed run must match an uninterrupted one.</summary>
public static class Checkpoints
{
    /// <summary>Every tensor bit for bit, and every metadata entry but the training time (which no two runs share).</summary>
    public static void AssertSame(string actualPath, string expectedPath)
    {
        var actual = SimilarFaces.Engine.IO.SafeTensors.Read(actualPath);
        var expected = SimilarFaces.Engine.IO.SafeTensors.Read(expectedPath);
        NUnit.Framework.Assert.That(actual.Tensors.Keys.Order(), NUnit.Framework.Is.EqualTo(expected.Tensors.Keys.Order()), actualPath);
        foreach (var (name, tensor) in expected.Tensors)
        {
            var other = actual.Tensors[name];
            NUnit.Framework.Assert.That(other.Shape, NUnit.Framework.Is.EqualTo(tensor.Shape), name);
            if (tensor.Floats != null)
                NUnit.Framework.Assert.That(other.Floats!.Select(BitConverter.SingleToInt32Bits), NUnit.Framework.Is.EqualTo(tensor.Floats.Select(BitConverter.SingleToInt32Bits)), name);
            else
                NUnit.Framework.Assert.That(other.Longs, NUnit.Framework.Is.EqualTo(tensor.Longs), name);
        }
        static IEnumerable<KeyValuePair<string, string>> Lasting(IReadOnlyDictionary<string, string> m) =>
            m.Where(e => e.Key != SimilarFaces.Cli.TrainingRun.TrainingSecondsKey).OrderBy(e => e.Key, StringComparer.Ordinal);
        NUnit.Framework.Assert.That(Lasting(actual.Metadata), NUnit.Framework.Is.EqualTo(Lasting(expected.Metadata)), actualPath + " metadata");
    }
}
