using BenchmarkDotNet.Attributes;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The seed's three 3×3 convolutions (1→4, 4→8, 8→8 channels) at batch N on pre-padded input, as the network
/// runs them after its ReplicationPad2d(1): x (N,C,S+2,S+2), w (K,C,3,3), bias (K) → y (N,K,S,S).
/// Each pass costs 2·N·K·S²·C·9 FLOPs; the bytes are the tensors each pass must read and write once.
/// Two ways to the same forward from the unpadded x (N,C,S,S): PadThenForward pads it into a buffer first (the
/// layers apart), ForwardPadding replicates the edges inside the convolution (the layers as one op).
/// </summary>
public class ConvBenchmarks : DeviceBenchmark
{
    private Conv2dShape _shape, _padding;
    private DeviceBuffer _x = null!, _w = null!, _bias = null!, _y = null!, _dy = null!, _dx = null!, _dw = null!, _dbias = null!;
    private DeviceBuffer _image = null!;

    /// <summary>"C→K": the channels of one of the seed's convolutions.</summary>
    [ParamsSource(nameof(Layers))]
    public string Layer { get; set; } = "";

    public static IEnumerable<string> Layers => Scale.Seed.Convolutions.Select(c => $"{c.In}→{c.Out}");

    private Conv2dShape Shape
    {
        get
        {
            var channels = Layer.Split('→').Select(int.Parse).ToArray();
            int padded = Scale.Side + 2;
            return new Conv2dShape(Scale.ImageBatch, channels[0], padded, padded, channels[1], 3, 3, 1, 1, 0, 0);
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        OpenDevice();
        var s = _shape = Shape;
        _x = Random(s.InputLength);
        _w = Random(s.WeightLength, 1f / MathF.Sqrt(s.C * 9));
        _bias = Random(s.K);
        _y = Output(s.OutputLength);
        _dy = Random(s.OutputLength);
        _dx = Output(s.InputLength);
        _dw = Output(s.WeightLength);
        _dbias = Output(s.K);
        _padding = s with { H = Scale.Side, W = Scale.Side, PadH = 1, PadW = 1, Mode = PadMode.Replication };
        _image = Random(_padding.InputLength);
    }

    [Benchmark]
    public void Forward()
    {
        Backend.Conv2dForward(_shape, _x, _w, _bias, relu: false, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void PadThenForward()
    {
        Backend.Pad2dForward(PadMode.Replication, _padding.Padding(), _image, _x);
        Backend.Conv2dForward(_shape, _x, _w, _bias, relu: false, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void ForwardPadding()
    {
        Backend.Conv2dForward(_padding, _image, _w, _bias, relu: false, _y);
        Backend.Synchronize();
    }

    [Benchmark]
    public void BackwardInput()
    {
        Backend.Conv2dBackwardInput(_shape, _dy, _w, _dx);
        Backend.Synchronize();
    }

    [Benchmark]
    public void BackwardWeight()
    {
        Backend.Conv2dBackwardWeight(_shape, _x, _dy, _dw, _dbias);
        Backend.Synchronize();
    }

    public override Work WorkOf(string benchmark)
    {
        var s = Shape;
        double flops = 2.0 * s.MultiplyAdds;
        double tensors = s.InputLength + s.WeightLength + s.OutputLength;
        return benchmark switch
        {
            nameof(Forward) or nameof(BackwardInput) or nameof(BackwardWeight) => Work.Floats(tensors) with { Flops = flops },
            // the least either way: the unpadded x in, y out
            nameof(PadThenForward) or nameof(ForwardPadding) =>
                Work.Floats((long)s.N * s.C * Scale.Side * Scale.Side + s.WeightLength + s.OutputLength) with { Flops = flops },
            _ => throw new ArgumentException($"no work declared for {benchmark}"),
        };
    }
}
