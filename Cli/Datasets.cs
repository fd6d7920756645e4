using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>Loads the image folders that commands take with --data, printing the loader's warnings.</summary>
public static class Datasets
{
    public static ImageFolder Load(string path, int imageSize)
    {
        var folder = new ImageFolder(path, imageSize, imageSize);
        foreach (var warning in folder.Warnings)
            CommandLine.Console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
        return folder;
    }
}
