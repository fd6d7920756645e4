using BenchmarkDotNet.Running;
using SimilarFaces.Benchmarks;
using SimilarFaces.Engine;

// The kernel suite (BenchmarkDotNet), or with --memory the peak resident memory of seed training:
//   dotnet run -c Release --project Benchmarks -- [--device cpu,ilgpu-cpu] [BenchmarkDotNet options, e.g. --filter '*Gemm*']
//   dotnet run -c Release --project Benchmarks -- --memory [--device cpu] [--steps 5] [--warmup 0] [--pairs 64] [--image-size 100]
//   dotnet run -c Release --project Benchmarks -- --memory --inference [--device cpu] [--steps 5] [--warmup 0] [--image-size 100]
// (--inference implies --memory; it embeds the suite's batch of 128 images, so --pairs does not apply; --warmup steps
// run before the timed ones and count in no median)
// Without --filter every benchmark runs. --device takes names from `dotnet run --project Cli -- devices`.

string? device = null;
bool memory = false, inference = false;
int steps = 5, warmup = 0, pairs = Scale.Seed.PairBatch, imageSize = Scale.Seed.Architecture.ImageSize;
var benchmarkArgs = new List<string>();
try
{
    for (int i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--device":
                device = Value(i++);
                break;
            case "--memory":
                memory = true;
                break;
            case "--inference":
                memory = inference = true;
                break;
            case "--steps":
                steps = Positive(i++);
                break;
            case "--warmup":
                warmup = NonNegative(i++);
                break;
            case "--pairs":
                pairs = Positive(i++);
                break;
            case "--image-size":
                imageSize = Positive(i++);
                break;
            default:
                benchmarkArgs.Add(args[i]);
                break;
        }
    }
    var present = Devices.Available().Where(d => d.IsUsable).Select(d => d.Name).ToList();
    foreach (var name in device?.Split(',', StringSplitOptions.TrimEntries) ?? [])
        if (!present.Contains(name))
            throw new ArgumentException($"--device: '{name}' is not a usable device here; usable: {string.Join(", ", present)}");
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

if (memory)
{
    PeakMemory.Run(device ?? "cpu", steps, warmup, pairs, imageSize, inference);
    return 0;
}

if (device != null) Environment.SetEnvironmentVariable(Targets.DevicesVariable, device);
if (!benchmarkArgs.Contains("--filter")) benchmarkArgs.AddRange(["--filter", "*"]);
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(benchmarkArgs.ToArray(), SuiteConfig.Create()).ToList();
foreach (var summary in summaries)
{
    Console.WriteLine($"Machine peaks of the % columns: {MachinePeaks.Of(summary)}");
    foreach (var gpu in MachinePeaks.Gpus(summary))
        Console.WriteLine($"GPU peaks of the % columns: {gpu}");
}
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;

string Value(int i) => i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");

int Positive(int i) => int.TryParse(Value(i), out var n) && n > 0 ? n : throw new ArgumentException($"{args[i]} must be a positive integer, got '{args[i + 1]}'");

int NonNegative(int i) => int.TryParse(Value(i), out var n) && n >= 0 ? n : throw new ArgumentException($"{args[i]} must be a whole number of 0 or more, got '{args[i + 1]}'");
