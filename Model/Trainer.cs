using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Optim;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Model;

/// <summary>The seed notebook's recipe; every field is a `train` option.</summary>
public sealed record TrainingSettings
{
    public int Epochs { get; init; } = 200;
    public int BatchSize { get; init; } = 64;
    public float LearningRate { get; init; } = 5e-4f;
    public float Margin { get; init; } = 2f;
    public ulong Seed { get; init; }

    public string Describe() => $"epochs={Epochs} {Recipe}";

    /// <summary>Everything but the epoch count: a run resumes only under the same recipe (but may train longer).</summary>
    public string Recipe => string.Create(CultureInfo.InvariantCulture,
        $"batch={BatchSize} lr={LearningRate} margin={Margin} seed={Seed} optimizer=Adam(0.9,0.999,1e-8)");
}

/// <summary>
/// Trains a <see cref="SiameseNetwork"/> with the contrastive loss and Adam, as the seed notebook does:
/// for each batch of pairs, zero the gradients, embed both images with the shared tower, loss of the
/// distances, backward, step. Checkpoints (<see cref="Save"/>) hold the model (model.safetensors) and
/// everything needed to continue bit-identically (training-state.safetensors: Adam's moments, the
/// pair sampler's random state, the loss history).
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string ModelFile = "model.safetensors";
    public const string StateFile = "training-state.safetensors";

    private readonly PairSampler _sampler;
    private readonly PairBatch _batch;
    private readonly List<float> _losses = new();

    public Trainer(SiameseNetwork model, IFaceDataset data, TrainingSettings settings)
    {
        if (data.Width != model.Architecture.ImageSize || data.Height != model.Architecture.ImageSize)
            throw new ArgumentException($"images are {data.Width}×{data.Height} but the network takes {model.Architecture.ImageSize}×{model.Architecture.ImageSize}");
        if (settings.BatchSize < 2) throw new ArgumentException($"--batch must be at least 2 (BatchNorm needs a batch), got {settings.BatchSize}");
        if (settings.Epochs < 1) throw new ArgumentException($"--epochs must be at least 1, got {settings.Epochs}");
        Model = model;
        Settings = settings;
        _sampler = new PairSampler(data, settings.Seed);
        _batch = new PairBatch(settings.BatchSize, data.Height, data.Width);
        Optimizer = new Adam(model.Parameters(), settings.LearningRate);
    }

    public SiameseNetwork Model { get; }
    public TrainingSettings Settings { get; }
    public Adam Optimizer { get; }
    public int Epoch { get; private set; }
    public int StepInEpoch { get; private set; }
    public int StepsPerEpoch => (_sampler.PairsPerEpoch + Settings.BatchSize - 1) / Settings.BatchSize;
    public IReadOnlyList<float> StepLosses => _losses;

    /// <summary>Pairs in the batch of the last step (the last batch of an epoch may be smaller).</summary>
    public int LastBatchPairs => _batch.Count;
    public bool Finished => Epoch >= Settings.Epochs;

    /// <summary>Runs one training step on the next batch of pairs and returns its loss.</summary>
    public float Step()
    {
        if (Finished) throw new InvalidOperationException("training already finished");
        int remaining = _sampler.PairsPerEpoch - StepInEpoch * Settings.BatchSize;
        _sampler.Fill(_batch, Math.Min(Settings.BatchSize, remaining));
        float loss = TrainOn(_batch);
        _losses.Add(loss);
        if (++StepInEpoch == StepsPerEpoch)
        {
            StepInEpoch = 0;
            Epoch++;
        }
        return loss;
    }

    private float TrainOn(PairBatch batch)
    {
        int n = batch.Count, size = batch.Height * batch.Width;
        var backend = Model.Backend;
        using var scope = new TensorScope();
        Model.Train();
        Optimizer.ZeroGrad();
        var image0 = Tensor.FromArray(backend, batch.Image0.AsSpan(0, n * size), n, 1, batch.Height, batch.Width);
        var image1 = Tensor.FromArray(backend, batch.Image1.AsSpan(0, n * size), n, 1, batch.Height, batch.Width);
        var label = Tensor.FromArray(backend, batch.Label.AsSpan(0, n), n, 1);
        var (e0, e1) = Model.Forward(image0, image1);
        var loss = Ops.ContrastiveLoss(Ops.PairwiseDistance(e0, e1), label, Settings.Margin);
        loss.Backward();
        Optimizer.Step();
        // The step's only wait for the device. A non-finite loss leaves this model unusable, but the checkpoint
        // on disk is the last good one, and training stops here.
        float value = loss.Item();
        if (!float.IsFinite(value))
            throw new NonFiniteLossException(Epoch + 1, StepInEpoch + 1, value);
        return value;
    }

    /// <summary>Writes model.safetensors and training-state.safetensors into <paramref name="directory"/>, each atomically.</summary>
    public void Save(string directory, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        Directory.CreateDirectory(directory);
        var meta = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>())
        {
            [Checkpoint.TrainingKey] = Settings.Describe(),
            ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            ["step_in_epoch"] = StepInEpoch.ToString(CultureInfo.InvariantCulture),
            ["final_loss"] = _losses.Count > 0 ? _losses[^1].ToString("R", CultureInfo.InvariantCulture) : "",
        };
        var state = new List<SafeTensor>
        {
            SafeTensor.F32("loss_history", [_losses.Count], _losses.ToArray()),
            SafeTensor.I64("counters", [4], [Epoch, StepInEpoch, Optimizer.Steps, unchecked((long)_sampler.State)]),
        };
        foreach (var (key, tensor) in AdamState())
            state.Add(SafeTensor.Of(key, tensor));
        SafeTensors.Write(Path.Combine(directory, StateFile), state, new Dictionary<string, string>
        {
            ["recipe"] = Settings.Recipe,
            ["epoch"] = meta["epoch"],
            ["step_in_epoch"] = meta["step_in_epoch"],
        });
        Checkpoint.Save(Path.Combine(directory, ModelFile), Model, meta);
    }

    /// <summary>Continues from <see cref="Save"/>'s files: model weights, Adam state, sampler state, loss history.</summary>
    public void Resume(string directory)
    {
        var modelPath = Path.Combine(directory, ModelFile);
        var statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(modelPath) || !File.Exists(statePath))
            throw new FileNotFoundException($"--resume: {directory} has no checkpoint to resume ({ModelFile} and {StateFile} are needed)");
        var model = SafeTensors.Read(modelPath);
        var state = SafeTensors.Read(statePath);
        if (state.Metadata.GetValueOrDefault("recipe") != Settings.Recipe)
            throw new ArgumentException($"--resume: {statePath} was trained with [{state.Metadata.GetValueOrDefault("recipe")}], not [{Settings.Recipe}]; use the same options");
        if (model.Metadata.GetValueOrDefault("epoch") != state.Metadata.GetValueOrDefault("epoch")
            || model.Metadata.GetValueOrDefault("step_in_epoch") != state.Metadata.GetValueOrDefault("step_in_epoch"))
            throw new InvalidDataException($"--resume: {modelPath} and {statePath} come from different steps");
        StateDict.Load(Model, model, modelPath);
        var counters = state.Get("counters", statePath).Longs!;
        Epoch = (int)counters[0];
        StepInEpoch = (int)counters[1];
        Optimizer.RestoreSteps(counters[2]);
        _sampler.State = unchecked((ulong)counters[3]);
        _losses.Clear();
        _losses.AddRange(state.Get("loss_history", statePath).Floats!);
        foreach (var (key, tensor) in AdamState())
        {
            var stored = state.Get(key, statePath);
            if (!stored.Shape.AsSpan().SequenceEqual(tensor.Shape))
                throw new InvalidDataException($"{statePath}: '{key}' has shape ({string.Join(",", stored.Shape)}), expected {tensor.ShapeText}");
            tensor.CopyFrom(stored.Floats);
        }
    }

    /// <summary>Adam's moments keyed by parameter name: adam.{parameter}.exp_avg / exp_avg_sq.</summary>
    private IEnumerable<(string Key, Tensor Tensor)> AdamState()
    {
        var names = Model.NamedParameters().Select(p => p.Name).ToArray();
        foreach (var (name, tensor) in Optimizer.NamedState())
        {
            int dot = name.IndexOf('.');
            yield return ($"adam.{names[int.Parse(name[..dot], CultureInfo.InvariantCulture)]}.{name[(dot + 1)..]}", tensor);
        }
    }

    public void Dispose() => Optimizer.Dispose();
}

/// <summary>The loss became NaN or infinite: training stops and the last good checkpoint stays.</summary>
public sealed class NonFiniteLossException(int epoch, int step, float loss)
    : Exception($"the loss became {loss} at epoch {epoch}, step {step}; training stopped and the last good checkpoint was kept (try a lower --lr)");
