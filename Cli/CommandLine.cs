using System.CommandLine;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// The `similar-faces` tool: one command per file. Errors print one line naming the file or argument
/// at fault and exit non-zero (2 for a usage error: an option or argument the command cannot take); `--verbose` adds
/// the stack trace.
/// </summary>
public static class CommandLine
{
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print stack traces with errors",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("SimilarFaces: train a Siamese network on faces and tell whether two photos show the same person.");
        root.Options.Add(Verbose);
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(CrossValCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(GradCheckCommand.Create());
        return root;
    }

    public static int Run(string[] args)
    {
        var parse = Build().Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            // a word where a number goes, an unknown option, a missing value: usage errors, one line each
            foreach (var error in parse.Errors) System.Console.Error.WriteLine($"error: {error.Message}");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var error = e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException! : e;
            System.Console.Error.WriteLine($"error: {OneLine(error.Message)}");
            if (parse.GetValue(Verbose)) System.Console.Error.WriteLine(error);
            return error is ArgumentException ? 2 : 1;
        }
    }

    /// <summary>A message as one line: control characters (a newline in a file name or in a name read from a
    /// file) are written as escapes.</summary>
    public static string OneLine(string message) =>
        string.Concat(message.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));

    /// <summary>The console used by every command (tests substitute a recording one).</summary>
    public static IAnsiConsole Console { get; set; } = AnsiConsole.Console;
}
