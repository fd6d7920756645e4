using System.CommandLine;
using SimilarFaces.Engine;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>`similar-faces devices`: the compute devices present on this machine.</summary>
public static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the compute devices on this machine (names to pass to --device)");
        command.SetAction(_ =>
        {
            var table = new Table().AddColumn("name").AddColumn("kind").AddColumn("description").AddColumn("status");
            foreach (var d in Devices.Available())
                table.AddRow(Markup.Escape(d.Name), d.IsGpu ? "GPU" : "CPU", Markup.Escape(d.Description),
                    d.Problem == null ? "[green]usable[/]" : $"[red]{Markup.Escape(d.Problem)}[/]");
            CommandLine.Console.Write(table);
            CommandLine.Console.MarkupLine($"default (--device auto): [bold]{Markup.Escape(Devices.DefaultName)}[/]");
            return 0;
        });
        return command;
    }
}
