using System.Globalization;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace SimilarFaces.Benchmarks;

/// <summary>
/// The machine's peaks for one run. They come from <see cref="PeakBenchmarks"/> when the run included it
/// (the summary is joined, so its rows sit in the same summary as the kernels'), and otherwise from a Stopwatch
/// calibration of the same kernels in this process (<see cref="PeakKernels.Calibrate"/>), done once, after the
/// benchmarks, when the first column asks; <see cref="Source"/> says which. (BenchmarkDotNet also builds a
/// summary per benchmark class before joining them; those may trigger the calibration, but the printed table is
/// the joined summary's.)
/// </summary>
public sealed record MachinePeaks(double FlopsPerSecond, double BytesPerSecond, string Source)
{
    private static readonly ConditionalWeakTable<Summary, MachinePeaks> BySummary = new();
    private static readonly Lazy<MachinePeaks> Calibrated = new(() =>
    {
        var (flops, bytes) = PeakKernels.Calibrate();
        return new MachinePeaks(flops, bytes, "Stopwatch calibration (PeakBenchmarks not in this run)");
    });

    public static MachinePeaks Of(Summary summary) => BySummary.GetValue(summary, s =>
    {
        double? fma = MeasuredRate(s, nameof(PeakBenchmarks.FmaThroughput), w => w.Flops);
        double? copy = MeasuredRate(s, nameof(PeakBenchmarks.StreamCopy), w => w.Bytes);
        return fma is { } f && copy is { } c
            ? new MachinePeaks(f, c, "PeakBenchmarks in this run")
            : Calibrated.Value;
    });

    /// <summary>A GPU's peaks from <see cref="GpuPeakBenchmarks"/> of the same run; null when the run did not measure them.</summary>
    public static MachinePeaks? OfGpu(Summary summary, string device)
    {
        double? fma = MeasuredRate(summary, nameof(GpuPeakBenchmarks.FmaThroughput), w => w.Flops, typeof(GpuPeakBenchmarks), device);
        double? copy = MeasuredRate(summary, nameof(GpuPeakBenchmarks.DeviceCopy), w => w.Bytes, typeof(GpuPeakBenchmarks), device);
        return fma is { } f && copy is { } c ? new MachinePeaks(f, c, $"GpuPeakBenchmarks on {device} in this run") : null;
    }

    /// <summary>Every GPU whose peaks the run measured.</summary>
    public static IEnumerable<MachinePeaks> Gpus(Summary summary) =>
        summary.BenchmarksCases.Select(TargetOf).OfType<Target>().Where(t => t.IsGpu).Select(t => t.Device).Distinct()
            .Select(d => OfGpu(summary, d)).OfType<MachinePeaks>();

    public static Target? TargetOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<Target>().FirstOrDefault();

    private static double? MeasuredRate(Summary summary, string benchmark, Func<Work, double> amount,
        Type? type = null, string? device = null) =>
        summary.BenchmarksCases
            .Where(c => c.Descriptor.Type == (type ?? typeof(PeakBenchmarks)) && c.Descriptor.WorkloadMethod.Name == benchmark)
            .Where(c => device == null || TargetOf(c)?.Device == device)
            .Select(c => Throughput.Rate(summary, c, amount))
            .FirstOrDefault(rate => rate != null);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"FMA {FlopsPerSecond / 1e9:F1} GFLOP/s, copy {BytesPerSecond / 1e9:F1} GB/s ({Source})");
}

/// <summary>Declared work (<see cref="IDeclaresWork"/>) over the median time of a benchmark case.</summary>
public static class Throughput
{
    /// <summary>The work a case declares: its benchmark class made with the case's parameters, asked by method name.</summary>
    public static Work? Declared(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IDeclaresWork).IsAssignableFrom(type)) return null;
        var benchmark = (IDeclaresWork)Activator.CreateInstance(type)!;
        foreach (var parameter in benchmarkCase.Parameters.Items)
            type.GetProperty(parameter.Name)!.SetValue(benchmark, parameter.Value);
        return benchmark.WorkOf(benchmarkCase.Descriptor.WorkloadMethod.Name);
    }

    /// <summary><paramref name="amount"/> of the declared work per second at the median time; null when not measured or not declared.</summary>
    public static double? Rate(Summary summary, BenchmarkCase benchmarkCase, Func<Work, double> amount)
    {
        double? medianNs = summary[benchmarkCase]?.ResultStatistics?.Median;
        if (medianNs is not > 0 || Declared(benchmarkCase) is not { } work || amount(work) <= 0) return null;
        return amount(work) / (medianNs.Value * 1e-9);
    }
}

/// <summary>One throughput column: GFLOP/s, GB/s, their share of the machine's peaks, or items per second.</summary>
public sealed class ThroughputColumn : IColumn
{
    private readonly Func<Summary, BenchmarkCase, string> _value;

    private ThroughputColumn(string name, int priority, string legend, Func<Summary, BenchmarkCase, string> value)
    {
        ColumnName = name;
        PriorityInCategory = priority;
        Legend = legend;
        _value = value;
    }

    private const string None = "-";

    public static ThroughputColumn[] All { get; } =
    [
        new("GFLOP/s", 0, "Declared FLOPs (an FMA is 2) over the median time",
            (s, c) => Format(Throughput.Rate(s, c, w => w.Flops) / 1e9)),
        new("% FMA peak", 1, "GFLOP/s over the measured FMA peak: all CPU cores for cpu and ilgpu-cpu rows, the GPU's own for GPU rows",
            (s, c) => Share(s, c, w => w.Flops, p => p.FlopsPerSecond)),
        new("GB/s", 2, "Declared bytes (each input read once, each output written once) over the median time",
            (s, c) => Format(Throughput.Rate(s, c, w => w.Bytes) / 1e9)),
        new("% copy BW", 3, "GB/s over the measured copy bandwidth (read + write bytes): all CPU cores, or the GPU's device-to-device copy",
            (s, c) => Share(s, c, w => w.Bytes, p => p.BytesPerSecond)),
        new("Items/s", 4, "Pairs trained or embeddings computed per second at the median time",
            (s, c) => Throughput.Rate(s, c, w => w.Items) is { } rate
                ? $"{Format(rate)} {Throughput.Declared(c)!.Value.ItemName}"
                : None),
    ];

    /// <summary>One decimal from 10 up, two from 1, three significant digits below (the emulator's rates are tiny).</summary>
    private static string Format(double? value) => value switch
    {
        null => None,
        >= 10 => value.Value.ToString("F1", CultureInfo.InvariantCulture),
        >= 1 => value.Value.ToString("F2", CultureInfo.InvariantCulture),
        _ => value.Value.ToString("G3", CultureInfo.InvariantCulture),
    };

    private static string Share(Summary summary, BenchmarkCase benchmarkCase, Func<Work, double> amount, Func<MachinePeaks, double> peak)
    {
        if (Throughput.Rate(summary, benchmarkCase, amount) is not { } rate) return None;
        var peaks = MachinePeaks.TargetOf(benchmarkCase) is { IsGpu: true } gpu ? MachinePeaks.OfGpu(summary, gpu.Device) : MachinePeaks.Of(summary);
        return peaks == null ? None : Format(100 * rate / peak(peaks));
    }

    public string Id => $"{nameof(ThroughputColumn)}.{ColumnName}";
    public string ColumnName { get; }
    public string Legend { get; }
    public int PriorityInCategory { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => _value(summary, benchmarkCase);
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => _value(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
