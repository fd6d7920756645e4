using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// Training-mode BatchNorm2d of the seed's last block: x (N,8,S,S) normalised per channel over N·S² values
/// (seed: 128×8×100×100). Bytes: forward reads x and writes y; backward reads x and dy and writes dx.
/// </summary>
public class BatchNormBenchmarks : DeviceBenchmark
{
    private NormShape _shape;
    private DeviceBuffer _x = null!, _gamma = null!, _beta = null!, _y = null!, _mean = null!, _invStd = null!,
        _runningMean = null!, _runningVar = null!, _dy = null!, _dx = null!, _dgamma = null!, _dbeta = null!;

    private NormShape Shape => new(Scale.ImageBatch, Scale.Architecture.Channels[^1], Scale.Side * Scale.Side);

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        var s = _shape = Shape;
        _x = Random(s.Length);
        _gamma = Filled(s.C, 1f);
        _beta = Filled(s.C, 0f);
        _y = Output(s.Length);
        _mean = Output(s.C);
        _invStd = Output(s.C);
        _runningMean = Filled(s.C, 0f);
        _runningVar = Filled(s.C, 1f);
        _dy = Random(s.Length);
        _dx = Output(s.Length);
        _dgamma = Output(s.C);
        _dbeta = Output(s.C);
        Backend.BatchNormTrainForward(s, _x, _gamma, _beta, _y, _mean, _invStd, _runningMean, _runningVar, 1e-5f, 0.1f);
    }

    [Benchmark]
    public void TrainForward()
    {
        Backend.BatchNormTrainForward(_shape, _x, _gamma, _beta, _y, _mean, _invStd, _runningMean, _runningVar, 1e-5f, 0.1f);
        Backend.Synchronize();
    }

    [Benchmark]
    public void Backward()
    {
        Backend.BatchNormBackward(_shape, _x, _dy, _gamma, _mean, _invStd, _dx, _dgamma, _dbeta, afterRelu: false);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(TrainForward) => Work.Floats(2.0 * Shape.Length),
        nameof(Backward) => Work.Floats(3.0 * Shape.Length),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };
}
