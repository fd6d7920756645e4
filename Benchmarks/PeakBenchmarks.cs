using BenchmarkDotNet.Attributes;

namespace SimilarFaces.Benchmarks;

/// <summary>The machine's FMA and copy peaks (see <see cref="PeakKernels"/>): the denominators of the "%" columns.</summary>
public class PeakBenchmarks : IDeclaresWork
{
    private float[] _source = null!, _destination = null!;

    [GlobalSetup(Target = nameof(StreamCopy))]
    public void AllocateCopyArrays() => (_source, _destination) = PeakKernels.CopyArrays();

    [Benchmark]
    public void FmaThroughput() => PeakKernels.RunFma();

    [Benchmark]
    public void StreamCopy() => PeakKernels.RunCopy(_source, _destination);

    public Work WorkOf(string benchmark) => benchmark switch
    {
        nameof(FmaThroughput) => new Work(Flops: PeakKernels.FmaFlops),
        nameof(StreamCopy) => new Work(Bytes: PeakKernels.CopyBytes),
        _ => throw new ArgumentException($"no work declared for {benchmark}"),
    };
}
