using System.CommandLine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Model;

namespace SimilarFaces.Cli;

/// <summary>The options every inference command shares (and `--device`, which every command that computes takes), defined once.</summary>
public static class ModelOptions
{
    public static Option<string> Model() =>
        new("--model") { Description = "A model.safetensors written by `train` (or exported from PyTorch)", Required = true };

    public static Option<string> Device(string defaultName = "auto") =>
        new("--device") { Description = "cpu, cuda:N, opencl:N, ilgpu-cpu or auto (see `devices`)", DefaultValueFactory = _ => defaultName };

    public static Option<BatchNormInference> BatchNorm() => new("--batchnorm")
    {
        Description = "RunningStatistics (eval mode, default) or PerImageStatistics (the seed notebook's test: each image normalised by its own statistics)",
        DefaultValueFactory = _ => BatchNormInference.RunningStatistics,
    };

    public static Checkpoint.Loaded Load(string path, IBackend backend)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"--model: {path} does not exist", path);
        return Checkpoint.Load(path, backend);
    }
}
