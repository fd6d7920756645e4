using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// MaxPool2d 2×2, stride 2, on the seed's feature maps x (N·8 planes, S, S) → y (N·8, S/2, S/2)
/// (seed: 128×8×100×100). Bytes: forward reads x and writes y; backward reads x and dy and writes dx.
/// </summary>
public class MaxPoolBenchmarks : DeviceBenchmark
{
    private Pool2dShape _shape;
    private DeviceBuffer _x = null!, _y = null!, _dy = null!, _dx = null!;

    private Pool2dShape Shape => new(Scale.ImageBatch * Scale.Architecture.Channels[^1], Scale.Side, Scale.Side, 2, 2, 2, 2);

    private static long InputLength(Pool2dShape s) => (long)s.Planes * s.H * s.W;
    private static long OutputLength(Pool2dShape s) => (long)s.Planes * s.OutH * s.OutW;

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        var s = _shape = Shape;
        _x = Random(InputLength(s));
        _y = Output(OutputLength(s));
        _dy = Random(OutputLength(s));
        _dx = Output(InputLength(s));
    }

    [Benchmark]
    public void Forward()
    {
        Backend.MaxPool2dForward(_shape, _x, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void Backward()
    {
        Backend.MaxPool2dBackward(_shape, _x, _dy, _dx);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(Forward) => Work.Floats(InputLength(Shape) + OutputLength(Shape)),
        nameof(Backward) => Work.Floats(2.0 * InputLength(Shape) + OutputLength(Shape)),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };
}
