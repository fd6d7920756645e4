using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.IO;

namespace SimilarFaces.Model;

/// <summary>
/// model.safetensors: the network's state under PyTorch's state_dict names (loadable with
/// safetensors.torch.load_file + load_state_dict), with __metadata__ holding the architecture, the training
/// settings and, once measured, the verification threshold. Files that PyTorch wrote without our metadata
/// load as the seed architecture.
/// </summary>
public static class Checkpoint
{
    public const string ArchitectureKey = "architecture";
    public const string ThresholdKey = "threshold";
    public const string ThresholdSourceKey = "threshold_source";
    public const string TrainingKey = "training";

    public static void Save(string path, SiameseNetwork model, IReadOnlyDictionary<string, string>? metadata = null) =>
        Atomic.Write(path, Writer(model, metadata));

    /// <summary>What <see cref="Save"/> puts in the file, for a stream of <see cref="Atomic.WriteTogether"/>.</summary>
    public static Action<Stream> Writer(SiameseNetwork model, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var all = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>())
        {
            [ArchitectureKey] = model.Architecture.ToJson(),
            ["format"] = "SimilarFaces Siamese network, PyTorch state_dict names",
        };
        return SafeTensors.Writer(StateDict.Of(model), all);
    }

    public sealed record Loaded(SiameseNetwork Model, IReadOnlyDictionary<string, string> Metadata)
    {
        /// <summary>The verification threshold stored by `eval`, if any.</summary>
        public float? Threshold => Metadata.TryGetValue(ThresholdKey, out var t) && float.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    public static Loaded Load(string path, IBackend backend)
    {
        using var contents = SafeTensors.Open(path);
        var architecture = contents.Metadata.TryGetValue(ArchitectureKey, out var json)
            ? SiameseArchitecture.FromJson(json, path)
            : SiameseArchitecture.Seed;
        // The network holds no more than the file, so a file cannot make us allocate more than its own size;
        // what is left to check (names, shapes) is told tensor by tensor once the network is built.
        long stored = contents.Tensors.Values.Where(t => t.DType == "F32").Sum(t => t.Count);
        if (architecture.StateValues > stored)
            throw new InvalidDataException($"{path}: its architecture needs {architecture.StateValues:N0} parameter and buffer values, the file holds {stored:N0}");
        var model = new SiameseNetwork(backend, architecture, rng: null);
        try
        {
            StateDict.Load(model, contents, path);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new Loaded(model, contents.Metadata);
    }
}
