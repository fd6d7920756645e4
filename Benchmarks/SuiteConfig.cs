using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;
using Perfolizer.Metrology;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// A short job (one launch, 2 warm-up and 7 measured iterations of at least 250 ms) so the whole suite fits
/// a small shared machine; medians beside means because other processes disturb single iterations; one
/// joined summary, in milliseconds and in <see cref="SuiteOrderer"/>'s order, so the throughput columns see the
/// peak benchmarks of the same run.
/// </summary>
public static class SuiteConfig
{
    public static IConfig Create() => DefaultConfig.Instance
        .AddJob(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(7)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .AsDefault())
        .AddColumn(StatisticColumn.Median)
        .AddColumn(ThroughputColumn.All)
        .HideColumns(Column.Error)
        .WithOrderer(new SuiteOrderer())
        .WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(24).WithTimeUnit(TimeUnit.Millisecond))
        .WithOptions(ConfigOptions.JoinSummary);
}
