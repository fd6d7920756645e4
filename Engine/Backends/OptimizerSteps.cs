namespace SimilarFaces.Engine.Backends;

/// <summary>One Adam step. BiasCorrection1 = 1 − β1^t, BiasCorrection2 = 1 − β2^t, t counted from 1.</summary>
internal readonly record struct AdamStepParameters(
    float LearningRate, float Beta1, float Beta2, float Eps, float WeightDecay,
    float BiasCorrection1, float BiasCorrection2);

/// <summary>One SGD step. FirstStep: the momentum buffer is initialised to the gradient (PyTorch).</summary>
internal readonly record struct SgdStepParameters(
    float LearningRate, float Momentum, float Dampening, float WeightDecay, bool Nesterov, bool FirstStep);
