using SimilarFaces.Engine;
using SimilarFaces.Model;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The size a benchmark runs at: the seed network's (128 images through a kernel, 64 pairs per training
/// step), or a small network of the same form for ILGPU's CPU emulator, which runs the GPU kernels at about
/// 0.1 GFLOP/s. Every kernel shape and every FLOP count of the suite derives from these fields.
/// </summary>
public sealed record Scale(string Name, SiameseArchitecture Architecture, int ImageBatch, int PairBatch)
{
    public static Scale Seed { get; } = new("seed", SiameseArchitecture.Seed, ImageBatch: 128, PairBatch: 64);
    public static Scale Small { get; } = new("small", new SiameseArchitecture { ImageSize = 16, Hidden = [32, 32] }, ImageBatch: 8, PairBatch: 4);

    /// <summary>Side of the images and of every feature map (the convolutions keep it).</summary>
    public int Side => Architecture.ImageSize;

    /// <summary>Inputs of the first Linear: channels of the last block × Side².</summary>
    public int Features => Architecture.FlattenedFeatures;

    /// <summary>Width of the hidden Linear layers.</summary>
    public int Hidden => Architecture.Hidden[0];

    /// <summary>(in, out) channels of each 3×3 convolution.</summary>
    public IEnumerable<(int In, int Out)> Convolutions =>
        Architecture.Channels.Select((k, i) => (i == 0 ? 1 : Architecture.Channels[i - 1], k));

    /// <summary>(in, out) features of each Linear layer.</summary>
    public IEnumerable<(int In, int Out)> Linears =>
        Architecture.Hidden.Append(Architecture.EmbeddingSize)
            .Select((o, i) => (i == 0 ? Features : Architecture.Hidden[i - 1], o));

    /// <summary>Weights, biases and BatchNorm affine parameters, as SiameseNetwork.ParameterCount counts them (seed: 40,254,465).</summary>
    public long ParameterCount =>
        Convolutions.Sum(c => (long)c.Out * c.In * 9 + c.Out + 2 * c.Out) + Linears.Sum(l => (long)l.Out * l.In + l.Out);

    /// <summary>FLOPs of one forward pass of <paramref name="images"/> images: 2·MACs of every convolution and every Linear.</summary>
    public double ForwardFlops(int images) =>
        Convolutions.Sum(c => 2.0 * images * c.Out * Side * Side * c.In * 9) + Linears.Sum(l => 2.0 * images * l.In * l.Out);

    /// <summary>
    /// FLOPs of one training step of <paramref name="pairs"/> pairs (2·pairs images): every GEMM and convolution
    /// forward, then its input and weight gradients, each costing as much as the forward, except the first
    /// convolution, whose input (the image) needs no gradient. Element-wise work (BatchNorm, ReLU, pads, Adam)
    /// is not counted: it is bound by memory, not arithmetic.
    /// </summary>
    public double TrainingStepFlops(int pairs)
    {
        int images = 2 * pairs;
        var (in0, out0) = Convolutions.First();
        double firstConv = 2.0 * images * out0 * Side * Side * in0 * 9;
        return 3 * ForwardFlops(images) - firstConv;
    }
}

/// <summary>One device at one scale: the parameter of every device benchmark, shown as "cpu/seed".</summary>
public sealed record Target(string Device, bool IsGpu, Scale Scale)
{
    public override string ToString() => $"{Device}/{Scale.Name}";
}

/// <summary>
/// The targets benchmarks run on: <c>cpu</c> at both scales, <c>ilgpu-cpu</c> at the small scale only, and each
/// usable GPU at the seed scale. <see cref="DevicesVariable"/> (set by <c>--device</c>) narrows the devices; it
/// is an environment variable so that the processes BenchmarkDotNet starts per case see the same list.
/// </summary>
public static class Targets
{
    public const string DevicesVariable = "SIMILARFACES_BENCH_DEVICES";

    public static IEnumerable<Target> Present()
    {
        var wanted = Environment.GetEnvironmentVariable(DevicesVariable)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var device in Devices.Available().Where(d => d.IsUsable))
        {
            if (wanted != null && !wanted.Contains(device.Name)) continue;
            if (device.Name == "cpu")
            {
                yield return new Target(device.Name, false, Scale.Seed);
                yield return new Target(device.Name, false, Scale.Small);
            }
            else if (device.IsGpu) yield return new Target(device.Name, true, Scale.Seed);
            else yield return new Target(device.Name, false, Scale.Small);
        }
    }

    /// <summary>The GPU targets of <see cref="Present"/>: where the device's own peaks are measured.</summary>
    public static IEnumerable<Target> Gpus() => Present().Where(t => t.IsGpu);

    /// <summary>The CUDA targets of <see cref="Present"/>: where cuBLAS runs beside our GEMM.</summary>
    public static IEnumerable<Target> Cuda() => Present().Where(t => t.Device.StartsWith("cuda:", StringComparison.Ordinal));
}
