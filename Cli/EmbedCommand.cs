using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using SimilarFaces.Engine;
using SimilarFaces.Engine.IO;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>`similar-faces embed`: one CSV row per image — path, identity, embedding.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var data = new Option<string>("--data") { Description = "Image folder, one sub-folder per person", Required = true };
        var output = new Option<string>("--out") { Description = "CSV file to write", Required = true };
        var device = ModelOptions.Device();
        var batchNorm = ModelOptions.BatchNorm();
        var command = new Command("embed", "Write the embedding of every image of a folder to a CSV file");
        foreach (var option in new Option[] { model, data, output, device, batchNorm }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            Outputs.File(path, "--out");
            using var backend = Devices.Open(parse.GetValue(device)!);
            var loaded = ModelOptions.Load(parse.GetValue(model)!, backend);
            using var network = loaded.Model;
            long start = Stopwatch.GetTimestamp();
            var dataset = Datasets.Load(parse.GetValue(data)!, network.Architecture.ImageSize, ImageDecoding.OnDemand);
            var listing = Stopwatch.GetElapsedTime(start);
            start = Stopwatch.GetTimestamp();
            var embeddings = Embedder.Embed(network, dataset, parse.GetValue(batchNorm));
            var embedding = Stopwatch.GetElapsedTime(start);
            var csv = new StringBuilder("path,identity");
            for (int i = 0; i < network.Architecture.EmbeddingSize; i++) csv.Append(CultureInfo.InvariantCulture, $",e{i}");
            csv.Append('\n');
            for (int i = 0; i < dataset.Count; i++)
            {
                csv.Append(Csv(dataset.RelativePath(i))).Append(',').Append(Csv(dataset.Identities[dataset.Label(i)]));
                foreach (var v in embeddings[i]) csv.Append(',').Append(v.ToString("R", CultureInfo.InvariantCulture));
                csv.Append('\n');
            }
            Atomic.WriteAllText(path, csv.ToString());
            CommandLine.Console.MarkupLine($"wrote {dataset.Count} embeddings to {Markup.Escape(path)}");
            CommandLine.Console.MarkupLine(Datasets.Timing(dataset.Count, listing, embedding));
            return 0;
        });
        return command;
    }

    private static string Csv(string value) =>
        value.IndexOfAny([',', '"', '\n']) < 0 ? value : "\"" + value.Replace("\"", "\"\"") + "\"";
}
