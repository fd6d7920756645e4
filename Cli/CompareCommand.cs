using System.CommandLine;
using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>`similar-faces compare A B`: the dissimilarity of two photos and the verdict at the model's threshold.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var first = new Argument<string>("A") { Description = "First image" };
        var second = new Argument<string>("B") { Description = "Second image" };
        var threshold = NumberOptions.Real<float?>("--threshold",
            "Distance at or below which the faces are the same person (default: the model's stored threshold)", NumberOptions.Interval.NonNegative);
        var device = ModelOptions.Device();
        var batchNorm = ModelOptions.BatchNorm();
        var command = new Command("compare", "Tell whether two photos show the same person");
        command.Arguments.Add(first);
        command.Arguments.Add(second);
        foreach (var option in new Option[] { model, threshold, device, batchNorm }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            using var backend = Devices.Open(parse.GetValue(device)!);
            var modelPath = parse.GetValue(model)!;
            var loaded = ModelOptions.Load(modelPath, backend);
            using var network = loaded.Model;
            float limit = parse.GetValue(threshold) ?? loaded.Threshold
                ?? throw new ArgumentException($"--threshold: {modelPath} stores no threshold; pass --threshold T or run `eval --save-threshold` first");
            if (!(limit >= 0 && float.IsFinite(limit)))
                throw new InvalidDataException($"{modelPath} stores the threshold {limit}, not a finite number ≥ 0; pass --threshold T or run `eval --save-threshold` again");
            int size = network.Architecture.ImageSize;
            var images = new[] { parse.GetValue(first)!, parse.GetValue(second)! }.Select(path =>
            {
                if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such image", path);
                var pixels = new float[size * size];
                ImageLoader.LoadResized(path, size, size, pixels);
                return pixels;
            }).ToArray();
            var pair = new LooseImages(images, size);
            var embeddings = Embedder.Embed(network, pair, parse.GetValue(batchNorm));
            float distance = Ops.PairwiseDistance(embeddings[0], embeddings[1]);
            bool same = distance <= limit;
            CommandLine.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                $"dissimilarity {distance:F4} (threshold {limit:F4}): {(same ? "[green]same[/]" : "[red]different[/]")}"));
            return 0;
        });
        return command;
    }
}
