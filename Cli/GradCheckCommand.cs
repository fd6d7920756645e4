using System.CommandLine;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Diagnostics;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>
/// `similar-faces gradcheck`: runs the engine's finite-difference gradient checks and prints each op's
/// worst error — a way to watch backpropagation being verified.
/// </summary>
public static class GradCheckCommand
{
    public static Command Create()
    {
        var device = ModelOptions.Device(defaultName: "cpu");
        var op = new Option<string?>("--op") { Description = "Only the cases of this op (e.g. Conv2d)" };
        var list = new Option<bool>("--list") { Description = "Print the op table every check walks (cases, PyTorch fixtures, kernel) and run nothing" };
        var command = new Command("gradcheck", "Check every op's backward against finite differences and print the worst errors");
        command.Options.Add(device);
        command.Options.Add(op);
        command.Options.Add(list);
        command.SetAction(parse =>
        {
            if (parse.GetValue(list))
            {
                PrintTable();
                return 0;
            }
            using var backend = Devices.Open(parse.GetValue(device)!);
            var only = parse.GetValue(op);
            var cases = OpTable.GradCheckCases.Where(c => only == null || c.Op.Equals(only, StringComparison.OrdinalIgnoreCase)).ToList();
            if (cases.Count == 0)
                throw new ArgumentException($"--op: no op named '{only}'; ops: {string.Join(", ", OpTable.GradCheckCases.Select(c => c.Op).Distinct())}");

            var console = CommandLine.Console;
            console.MarkupLine($"Gradient checks on [bold]{Markup.Escape(backend.Name)}[/]: central differences, h = {GradCheck.Step}, error = max |numeric − analytic| / max |numeric|");
            var table = new Table().AddColumn("case").AddColumn("input").AddColumn(new TableColumn("checked").RightAligned())
                .AddColumn(new TableColumn("worst error").RightAligned()).AddColumn(new TableColumn("tolerance").RightAligned()).AddColumn("kinks avoided").AddColumn("");
            int failed = 0;
            foreach (var c in cases)
                foreach (var r in GradCheck.Run(c, backend))
                {
                    if (!r.Passed) failed++;
                    table.AddRow(Markup.Escape(r.Case), Markup.Escape(r.Input), r.Checked.ToString(), r.MaxError.ToString("E2"),
                        r.Tolerance.ToString("E0"), Markup.Escape(c.Kinks), r.Passed ? "[green]ok[/]" : "[red]FAIL[/]");
                }
            console.Write(table);
            console.MarkupLine(failed == 0 ? "[green]all gradients agree[/]" : $"[red]{failed} gradient(s) disagree[/]");
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>
    /// The op table, an op a line (names whole, so a narrow terminal wraps between them): its gradient-check cases, its
    /// PyTorch fixtures (or why it has none) and its element-wise kernel; then the cases that compose several ops.
    /// </summary>
    private static void PrintTable()
    {
        var console = CommandLine.Console;
        console.MarkupLine($"The op table ({OpTable.All.Count} ops): gradient checks, PyTorch parity, device comparisons and kernel checks walk it");
        foreach (var entry in OpTable.All)
        {
            string fixtures = entry.Fixtures.Count > 0 ? string.Join(", ", entry.Fixtures) : "none (" + entry.WithoutFixture + ")";
            string kernel = entry.Kernel is { } k ? $"; kernel {k}" : "";
            console.MarkupLine($"[bold]{Markup.Escape(entry.Op)}[/]: cases {Markup.Escape(string.Join(", ", entry.Cases.Select(c => c.Name)))}; " +
                $"fixtures {Markup.Escape(fixtures)}{Markup.Escape(kernel)}");
        }
        foreach (var c in OpTable.Composites)
            console.MarkupLine($"[bold]{Markup.Escape(c.Op)}[/] of several ops: case {Markup.Escape(c.Name)}");
    }
}
