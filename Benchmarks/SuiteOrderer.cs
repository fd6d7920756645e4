using System.Collections.Immutable;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// Rows of the joined table in the order of a training step: the peaks, then the kernels from the big GEMMs
/// down to the optimiser, then the whole network; within a class by target, layer, then method as declared.
/// </summary>
public sealed class SuiteOrderer : DefaultOrderer
{
    private static readonly Type[] Classes =
    [
        typeof(PeakBenchmarks), typeof(GpuPeakBenchmarks), typeof(GemmBenchmarks), typeof(CublasBenchmarks), typeof(ConvBenchmarks), typeof(BatchNormBenchmarks),
        typeof(MaxPoolBenchmarks), typeof(DistanceLossBenchmarks), typeof(AdamBenchmarks), typeof(TrainingBenchmarks),
    ];

    public override IEnumerable<BenchmarkCase> GetSummaryOrder(ImmutableArray<BenchmarkCase> benchmarksCase, Summary summary) =>
        benchmarksCase
            .OrderBy(c => Array.IndexOf(Classes, c.Descriptor.Type) is var i and >= 0 ? i : Classes.Length)
            .ThenBy(c => Parameter<Target>(c)?.Device, StringComparer.Ordinal)
            .ThenBy(c => Parameter<Target>(c)?.Scale.Name, StringComparer.Ordinal)
            .ThenBy(c => Parameter<string>(c), StringComparer.Ordinal)
            .ThenBy(c => c.Descriptor.WorkloadMethod.MetadataToken);

    private static T? Parameter<T>(BenchmarkCase benchmarkCase) where T : class =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<T>().FirstOrDefault();
}
