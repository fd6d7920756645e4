using System.Globalization;
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

    /// <summary>What embed and eval print of their pace: how long reading the images and embedding them took.</summary>
    public static string Timing(int images, TimeSpan reading, TimeSpan embedding) => string.Create(CultureInfo.InvariantCulture,
        $"images read in {reading.TotalSeconds:F2} s, embedded in {embedding.TotalSeconds:F2} s ({images / embedding.TotalSeconds:N0} embeddings/s)");
}
