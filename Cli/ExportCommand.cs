using System.CommandLine;
using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Model;
using Spectre.Console;

namespace SimilarFaces.Cli;

/// <summary>`similar-faces export`: a model's embedding tower as an ONNX graph (<see cref="OnnxExport"/>).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var onnx = new Option<string>("--onnx") { Description = "The .onnx file to write", Required = true };
        var opset = NumberOptions.Whole("--opset", "ONNX opset", OnnxExport.MinOpset, OnnxExport.MaxOpset, () => OnnxExport.DefaultOpset);
        var batch = new Option<string>("--batch") { Description = "The batch axis: dynamic, or a fixed number of images", DefaultValueFactory = _ => "dynamic" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the --onnx file if it exists" };
        var command = new Command("export", "Write a model's embedding network as ONNX, for ONNX Runtime and other deployment stacks");
        foreach (var option in new Option[] { model, onnx, opset, batch, overwrite }) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var path = parse.GetValue(onnx)!;
            Outputs.File(path, "--onnx");
            if (File.Exists(path) && !parse.GetValue(overwrite))
                throw new ArgumentException($"--onnx: {path} exists; pass --overwrite to replace it");
            int version = parse.GetValue(opset);
            var batchText = parse.GetValue(batch)!;
            int? fixedBatch = batchText == "dynamic" ? null
                : int.TryParse(batchText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n
                : throw new ArgumentException($"--batch: '{batchText}' is neither 'dynamic' nor a positive number of images");

            using var backend = Devices.Open("cpu");
            var loaded = ModelOptions.Load(parse.GetValue(model)!, backend);
            using var network = loaded.Model;
            var metadata = loaded.Metadata.Where(m => m.Key is Checkpoint.ThresholdKey or Checkpoint.ThresholdSourceKey or Checkpoint.TrainingKey)
                .ToDictionary(m => m.Key, m => m.Value);
            OnnxExport.Write(network, path, version, fixedBatch, metadata);
            var architecture = network.Architecture;
            CommandLine.Console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"wrote {path} ({new FileInfo(path).Length / 1e6:F1} MB, opset {version}): image ({fixedBatch?.ToString(CultureInfo.InvariantCulture) ?? "N"},1,{architecture.ImageSize},{architecture.ImageSize}) → embedding ({fixedBatch?.ToString(CultureInfo.InvariantCulture) ?? "N"},{architecture.EmbeddingSize})")));
            if (loaded.Threshold is { } threshold)
                CommandLine.Console.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"same person when ‖e1 − e2 + 1e-6‖₂ ≤ {threshold:R} (the model's threshold, also in the file's metadata)"));
            return 0;
        });
        return command;
    }
}
