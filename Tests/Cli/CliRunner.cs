using SimilarFaces.Cli;
using Spectre.Console;

namespace SimilarFaces.Tests.Cli;

/// <summary>Runs the `similar-faces` command line in-process and captures what it prints.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error);

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
