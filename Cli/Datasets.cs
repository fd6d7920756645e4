using System.Globalization;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>Loads the image folders that commands take with --data, printing the loader's warnings.</summary>
public static class Datasets
{
    public static ImageFolder Load(string path, int imageSize, ImageDecoding decoding = ImageDecoding.AtLoad)
    {
        var folder = new ImageFolder(path, imageSize, imageSize, decoding);
        foreach (var warning in folder.Warnings)
            CommandLine.Console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
        return folder;
    }

    /// <summary>What embed and eval print of their pace: how long listing the folders took, and reading the images and
    /// embedding them (one batch read, then embedded, after another).</summary>
    public static string Timing(int images, TimeSpan listing, TimeSpan embedding) => string.Create(CultureInfo.InvariantCulture,
        $"images listed in {listing.TotalSeconds:F2} s, read and embedded in {embedding.TotalSeconds:F2} s ({images / embedding.TotalSeconds:N0} images/s)");
}
