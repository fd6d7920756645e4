using System.Globalization;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Engine.Optim;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Model;

/// <summary>
/// Trains a <see cref="SiameseNetwork"/> under a <see cref="TrainingSettings"/> recipe. Each step zeroes the gradients,
/// embeds a batch with the shared tower, takes the recipe's loss, back-propagates and lets Adam step at the schedule's
/// learning rate. <see cref="LossKind.ContrastivePairs"/> is the seed notebook's step on random pairs; the other losses
/// train on batches of identities (<see cref="IdentityBatchSampler"/>). Checkpoints (<see cref="Save"/>) hold the model
/// (model.safetensors) and everything needed to continue bit-identically (training-state.safetensors: Adam's moments,
/// the CosFace class vectors, the sampler's random state, the loss history).
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string ModelFile = "model.safetensors";
    public const string StateFile = "training-state.safetensors";
    private const string ClassVectorsName = "cosface.class_vectors";

    private readonly PairSampler? _pairs;
    private readonly PairBatch? _pairBatch;
    private readonly IdentityBatchSampler? _identities;
    private readonly IdentityBatch? _identityBatch;
    private readonly Tensor? _classVectors;
    private readonly (string Name, Tensor Tensor)[] _trained;
    private readonly List<float> _losses = new();
    private readonly StepUndo _undo;

    public Trainer(SiameseNetwork model, IFaceDataset data, TrainingSettings settings)
    {
        var architecture = model.Architecture;
        if (data.Width != architecture.ImageSize || data.Height != architecture.ImageSize)
            throw new ArgumentException($"images are {data.Width}×{data.Height} but the network takes {architecture.ImageSize}×{architecture.ImageSize}");
        if (settings.Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {settings.Epochs}");
        if (!(settings.LearningRate > 0)) throw new ArgumentException($"the learning rate must be positive, got {settings.LearningRate}");
        if (!(settings.Margin > 0)) throw new ArgumentException($"the margin must be positive, got {settings.Margin}");
        Model = model;
        Settings = settings;
        var trained = model.NamedParameters().ToList();
        if (settings.Loss == LossKind.ContrastivePairs)
        {
            if (settings.BatchSize < 2) throw new ArgumentException($"a batch needs at least 2 pairs (BatchNorm needs a batch), got {settings.BatchSize}");
            _pairs = new PairSampler(data, settings.Seed);
            _pairBatch = new PairBatch(settings.BatchSize, data.Height, data.Width);
        }
        else
        {
            if (!architecture.Normalize)
                throw new ArgumentException($"the {settings.Loss} loss compares unit embeddings: the architecture must normalise them");
            _identities = new IdentityBatchSampler(data, Math.Min(settings.IdentitiesPerBatch, data.Identities.Count),
                settings.ImagesPerIdentity, settings.Augmentation, settings.Seed);
            _identityBatch = new IdentityBatch(_identities.IdentitiesPerBatch, settings.ImagesPerIdentity, data.Height, data.Width);
            if (settings.Loss == LossKind.CosFace)
            {
                // one learned direction per training identity, initialised as nn.Linear's weight: U(±1/√E)
                var rng = new SeededRandom(settings.Seed ^ 0xC05FACEUL);
                var values = new float[data.Identities.Count * architecture.EmbeddingSize];
                for (int i = 0; i < values.Length; i++) values[i] = rng.NextSymmetric(1 / Math.Sqrt(architecture.EmbeddingSize));
                _classVectors = Tensor.Persistent(model.Backend, values, data.Identities.Count, architecture.EmbeddingSize);
                _classVectors.RequiresGrad = true;
                trained.Add((ClassVectorsName, _classVectors));
            }
        }
        _trained = trained.ToArray();
        _undo = new StepUndo(this);
        Optimizer = new Adam(_trained, settings.LearningRate, weightDecay: settings.WeightDecay);
    }

    public SiameseNetwork Model { get; }
    public TrainingSettings Settings { get; }
    public Adam Optimizer { get; }
    public int Epoch { get; private set; }
    public int StepInEpoch { get; private set; }

    public int StepsPerEpoch => _pairs != null
        ? (_pairs.PairsPerEpoch + Settings.BatchSize - 1) / Settings.BatchSize
        : _identities!.StepsPerEpoch;

    public long TotalSteps => (long)Settings.Epochs * StepsPerEpoch;
    public IReadOnlyList<float> StepLosses => _losses;

    /// <summary>Examples in the batch of the last step: pairs, or images for the identity losses.</summary>
    public int LastBatchExamples => _pairBatch?.Count ?? _identityBatch!.Count;

    /// <summary>What <see cref="LastBatchExamples"/> counts.</summary>
    public string ExampleName => _pairs != null ? "pairs" : "images";

    public bool Finished => Epoch >= Settings.Epochs;

    /// <summary>The learning rate of step t (0-based) under the recipe's schedule.</summary>
    public float LearningRateAt(long step)
    {
        float peak = Settings.LearningRate;
        if (Settings.Schedule == ScheduleKind.Constant) return peak;
        long warmup = (long)Math.Round(Settings.WarmupFraction * TotalSteps);
        if (step < warmup) return peak / 25 + (peak - peak / 25) * step / warmup;
        double progress = (double)(step - warmup) / Math.Max(1, TotalSteps - warmup);
        return (float)(peak * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(progress, 1))));
    }

    /// <summary>
    /// Runs one training step on the next batch and returns its loss. A non-finite loss undoes the step — Adam never
    /// sees its gradients, and the sampler, BatchNorm's running statistics and counters go back to where they were — and
    /// throws <see cref="NonFiniteLossException"/>, so a checkpoint saved then holds the last finite step.
    /// </summary>
    public float Step()
    {
        if (Finished) throw new InvalidOperationException("training already finished");
        Optimizer.LearningRate = LearningRateAt(Optimizer.Steps);
        _undo.Capture();
        float loss;
        try
        {
            if (_pairs != null)
            {
                int remaining = _pairs.PairsPerEpoch - StepInEpoch * Settings.BatchSize;
                _pairs.Fill(_pairBatch!, Math.Min(Settings.BatchSize, remaining));
                loss = TrainOn(() => PairLoss(_pairBatch!));
            }
            else
            {
                _identities!.Fill(_identityBatch!);
                loss = TrainOn(() => IdentityLoss(_identityBatch!));
            }
        }
        catch (NonFiniteLossException)
        {
            _undo.Restore();
            throw;
        }
        _losses.Add(loss);
        if (++StepInEpoch == StepsPerEpoch)
        {
            StepInEpoch = 0;
            Epoch++;
        }
        return loss;
    }

    private float TrainOn(Func<Tensor> loss)
    {
        using var scope = new TensorScope();
        return TakeStep(Model, Optimizer, loss, value =>
        {
            if (!float.IsFinite(value)) throw new NonFiniteLossException(Epoch + 1, StepInEpoch + 1, value);
        });
    }

    /// <summary>
    /// One optimisation step, as training, the benchmark and the parity tests all take it: training mode, zero the
    /// gradients, the loss, backward, then the optimizer — after <paramref name="check"/>, when given, has seen the
    /// loss (reading it is the step's only wait for the device), so a check that throws keeps the gradients from the
    /// weights. The step's tensors go with the caller's <see cref="TensorScope"/>. Returns the loss.
    /// </summary>
    public static float TakeStep(Module model, Optimizer optimizer, Func<Tensor> loss, Action<float>? check = null)
    {
        model.Train();
        optimizer.ZeroGrad();
        var value = loss();
        value.Backward();
        float result = value.Item();
        check?.Invoke(result);
        optimizer.Step();
        return result;
    }

    /// <summary>What a step changes besides the weights and Adam's state: the sampler, the model's buffers (BatchNorm's running statistics) and counters.</summary>
    private sealed class StepUndo(Trainer trainer)
    {
        private readonly (Tensor Buffer, float[] Values)[] _buffers =
            trainer.Model.NamedBuffers().Select(b => (b.Tensor, new float[b.Tensor.Length])).ToArray();
        private (string Name, long Value)[] _counters = [];
        private ulong _sampler;

        public void Capture()
        {
            _sampler = trainer.SamplerState;
            foreach (var (buffer, values) in _buffers) buffer.CopyTo(values);
            _counters = trainer.Model.NamedCounters().ToArray();
        }

        public void Restore()
        {
            trainer.SamplerState = _sampler;
            foreach (var (buffer, values) in _buffers) buffer.CopyFrom(values);
            foreach (var (name, value) in _counters) trainer.Model.SetCounter(name, value);
        }
    }

    // the seed's step: both towers, distance, contrastive loss
    private Tensor PairLoss(PairBatch batch)
    {
        int n = batch.Count, size = batch.Height * batch.Width;
        var backend = Model.Backend;
        var image0 = Tensor.FromArray(backend, batch.Image0.AsSpan(0, n * size), n, 1, batch.Height, batch.Width);
        var image1 = Tensor.FromArray(backend, batch.Image1.AsSpan(0, n * size), n, 1, batch.Height, batch.Width);
        var label = Tensor.FromArray(backend, batch.Label.AsSpan(0, n), n, 1);
        return Model.PairLoss(image0, image1, label, Settings.Margin);
    }

    private Tensor IdentityLoss(IdentityBatch batch)
    {
        int n = batch.Count;
        var backend = Model.Backend;
        var images = Tensor.FromArray(backend, batch.Images, n, 1, batch.Height, batch.Width);
        var embeddings = Model.Embed(images);   // (n, E), unit rows
        return Settings.Loss == LossKind.CosFace
            ? Losses.CosFace(embeddings, _classVectors!, batch.Labels, Settings.Margin, Settings.Scale)
            : Losses.AllPairsContrastive(embeddings, batch.Labels, Settings.Margin);
    }

    /// <summary>
    /// Writes model.safetensors and training-state.safetensors into <paramref name="directory"/>, together: a crash
    /// leaves both old or, once <see cref="Resume"/> has recovered them, both new.
    /// </summary>
    public void Save(string directory, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var state = new List<SafeTensor>
        {
            SafeTensor.F32("loss_history", [_losses.Count], _losses.ToArray()),
            SafeTensor.I64("counters", [4], [Epoch, StepInEpoch, Optimizer.Steps, unchecked((long)SamplerState)]),
        };
        if (_classVectors != null) state.Add(SafeTensor.Of(ClassVectorsName, _classVectors));
        foreach (var (key, tensor) in AdamState())
            state.Add(SafeTensor.Of(key, tensor));
        Atomic.WriteTogether(directory,
        [
            (StateFile, SafeTensors.Writer(state, new Dictionary<string, string>
            {
                ["recipe"] = Settings.ResumeKey,
                ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
                ["step_in_epoch"] = StepInEpoch.ToString(CultureInfo.InvariantCulture),
            })),
            (ModelFile, Checkpoint.Writer(Model, ModelMetadata(extraMetadata))),
        ]);
    }

    /// <summary>The model alone, with the training settings and progress in its metadata.</summary>
    public void SaveModel(string path, IReadOnlyDictionary<string, string>? extraMetadata = null) =>
        Checkpoint.Save(path, Model, ModelMetadata(extraMetadata));

    private Dictionary<string, string> ModelMetadata(IReadOnlyDictionary<string, string>? extraMetadata) =>
        new(extraMetadata ?? new Dictionary<string, string>())
        {
            [Checkpoint.TrainingKey] = Settings.ToJson(),
            ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            ["step_in_epoch"] = StepInEpoch.ToString(CultureInfo.InvariantCulture),
            ["final_loss"] = _losses.Count > 0 ? _losses[^1].ToString("R", CultureInfo.InvariantCulture) : "",
        };

    /// <summary>
    /// Continues from <see cref="Save"/>'s files: model weights, Adam state, sampler state, loss history. A save that a
    /// crash stopped halfway is first finished or, if it had not yet committed, its temporary files are removed.
    /// </summary>
    public void Resume(string directory)
    {
        Atomic.Recover(directory);
        var modelPath = Path.Combine(directory, ModelFile);
        var statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(modelPath) || !File.Exists(statePath))
            throw new FileNotFoundException($"{directory} has no checkpoint to resume ({ModelFile} and {StateFile} are needed)");
        using var model = SafeTensors.Open(modelPath);
        using var state = SafeTensors.Open(statePath);
        string trainedWith = state.Metadata.GetValueOrDefault("recipe") ?? "{}";
        if (trainedWith != Settings.ResumeKey)
            throw new ArgumentException($"{statePath} was trained with other settings ({TrainingSettings.Differences(trainedWith, Settings.ResumeKey)}); resume with the same options");
        if (model.Metadata.GetValueOrDefault("epoch") != state.Metadata.GetValueOrDefault("epoch")
            || model.Metadata.GetValueOrDefault("step_in_epoch") != state.Metadata.GetValueOrDefault("step_in_epoch"))
            throw new InvalidDataException($"{modelPath} and {statePath} come from different steps");
        StateDict.Load(Model, model, modelPath);
        var counters = state.Get("counters", statePath).Longs!;
        Epoch = (int)counters[0];
        StepInEpoch = (int)counters[1];
        Optimizer.RestoreSteps(counters[2]);
        SamplerState = unchecked((ulong)counters[3]);
        _losses.Clear();
        _losses.AddRange(state.Get("loss_history", statePath).ReadFloats());
        var restored = AdamState().ToList();
        if (_classVectors != null) restored.Add((ClassVectorsName, _classVectors));
        foreach (var (key, tensor) in restored)
        {
            var stored = state.Get(key, statePath);
            if (!stored.Shape.AsSpan().SequenceEqual(tensor.Shape))
                throw new InvalidDataException($"{statePath}: '{key}' has shape ({string.Join(",", stored.Shape)}), expected {tensor.ShapeText}");
            stored.CopyTo(tensor);
        }
    }

    private ulong SamplerState
    {
        get => _pairs?.State ?? _identities!.State;
        set
        {
            if (_pairs != null) _pairs.State = value;
            else _identities!.State = value;
        }
    }

    /// <summary>Adam's moments keyed by parameter name: adam.{parameter}.exp_avg / exp_avg_sq.</summary>
    private IEnumerable<(string Key, Tensor Tensor)> AdamState() => Optimizer.NamedState().Select(s => ($"adam.{s.Name}", s.Tensor));

    public void Dispose()
    {
        Optimizer.Dispose();
        _classVectors?.Dispose();
    }
}

/// <summary>
/// The loss became NaN or infinite: <see cref="Trainer.Step"/> undid the step, and training stops. Whoever saves (or not)
/// on the way out adds what became of the checkpoint, and what to try, with <see cref="With"/>.
/// </summary>
public sealed class NonFiniteLossException(int epoch, int step, float loss, string? outcome = null)
    : Exception($"the loss became {loss} at epoch {epoch}, step {step}; the step was undone and training stopped{(outcome == null ? "" : $"; {outcome}")}")
{
    /// <summary>The same stop, its message completed by <paramref name="outcome"/>.</summary>
    public NonFiniteLossException With(string outcome) => new(epoch, step, loss, outcome);
}
