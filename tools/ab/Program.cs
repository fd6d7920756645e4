// Times the seed's cpu kernels in two builds of SimilarFaces.Engine, in one process and in turn: each build is
// loaded into its own AssemblyLoadContext, and every round runs both (their order alternating), so the two see
// the same machine at nearly the same moment. On a shared machine whose speed drifts by 10–20 % between runs,
// the per-round ratio B/A is what a change is judged by. The step family runs the seed's whole training step (64
// pairs, Adam) of each build, through the Benchmarks build beside the engine, after 25 steps of warm-up; the inference
// family embeds 128 images through the folded tower that `embed` and `eval` run, after 30 batches of warm-up.
//   dotnet SimilarFaces.EngineAb.dll A.dll B.dll [gemm,conv,norm,step,inference] [ROUNDS]
using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: SimilarFaces.EngineAb A/SimilarFaces.Engine.dll B/SimilarFaces.Engine.dll [gemm,conv,norm,step,inference] [ROUNDS]");
    return 2;
}
foreach (var path in args.Take(2))
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"no engine build at {path}");
        return 2;
    }
var families = (args.Length > 2 ? args[2] : "gemm,conv").Split(',');
if (families.Except(["gemm", "conv", "norm", "step", "inference"]).FirstOrDefault() is { } unknown)
{
    Console.Error.WriteLine($"unknown kernel family '{unknown}': gemm, conv, norm, step or inference");
    return 2;
}
if (!int.TryParse(args.Length > 3 ? args[3] : "11", out int rounds) || rounds < 2)
{
    Console.Error.WriteLine($"ROUNDS must be a whole number of at least 2, not '{args[3]}'");
    return 2;
}
if (families.Contains("step") || families.Contains("inference"))
    foreach (var path in args.Take(2))
        if (!File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, EngineBuild.BenchmarksFile)))
        {
            Console.Error.WriteLine($"the step and inference families need {EngineBuild.BenchmarksFile} beside {path}: give the engine in a Benchmarks build's folder");
            return 2;
        }
var builds = args.Take(2).Select(path => new EngineBuild(path)).ToArray();
Console.WriteLine($"A = {args[0]}\nB = {args[1]}\n{Environment.ProcessorCount} threads, {rounds} rounds; medians in ms");
Console.WriteLine("| kernel | A | B | B/A median | B/A quartiles |\n|---|--:|--:|--:|--:|");

if (families.Contains("gemm"))
{
    // Linear(80000, 500) at batch 128: forward x·Wᵀ, input gradient dy·W, weight gradient dyᵀ·x; and its forward on one image
    const int batch = 128, outputs = 500, inputs = 80000;
    Compare("GEMM forward", b => b.Gemm(false, true, batch, outputs, inputs));
    Compare("GEMM input grad", b => b.Gemm(false, false, batch, inputs, outputs));
    Compare("GEMM weight grad", b => b.Gemm(true, false, outputs, inputs, batch));
    Compare("GEMM forward, one row", b => b.Gemm(false, true, 1, outputs, inputs));
}
if (families.Contains("conv"))
    foreach (var (input, output) in new[] { (1, 4), (4, 8), (8, 8) })
        foreach (var pass in new[] { "Conv2dForward", "Conv2dBackwardInput", "Conv2dBackwardWeight" })
            Compare($"{pass} {input}→{output}", b => b.Conv(pass, input, output));
if (families.Contains("conv"))
{
    // the seed's first block needs no input gradient: its input is the image
    Compare("weight gradient, reflection padding 1→4", b => b.ConvBackward(1, 4, inputGradient: false));
    foreach (var (input, output) in new[] { (4, 8), (8, 8) })
        Compare($"both gradients, reflection padding {input}→{output}", b => b.ConvBackward(input, output, inputGradient: true));
}
if (families.Contains("conv"))
{
    // a block's forward in training into its BatchNorm, and its whole backward through it: the first block's needs no
    // input gradient
    foreach (var (input, output) in new[] { (1, 4), (4, 8), (8, 8) })
        Compare($"into BatchNorm, {input}→{output}", b => b.ConvIntoNorm(input, output));
    Compare("through BatchNorm, 1→4", b => b.ConvThroughNorm(1, 4, inputGradient: false));
    foreach (var (input, output) in new[] { (4, 8), (8, 8) })
        Compare($"through BatchNorm, {input}→{output}", b => b.ConvThroughNorm(input, output, inputGradient: true));
}
if (families.Contains("norm"))
    foreach (int channels in new[] { 4, 8 })
        foreach (var pass in new[] { "BatchNormTrainForward", "BatchNormBackward" })
            Compare($"{pass} {channels} channels", b => b.Norm(pass, channels));
if (families.Contains("step"))
    Compare("training step, 64 pairs", b => b.TrainingStep(64));
if (families.Contains("inference"))
    Compare("inference, 128 images", b => b.Inference(128));
return 0;

void Compare(string name, Func<EngineBuild, Action> kernel)
{
    // Where a build's buffers land can favour one build over the other by up to 15 % on some kernels (the same build
    // loaded twice shows it), so half of the rounds run on buffers made in the order A, B and half on buffers made
    // in the order B, A.
    var times = new[] { new List<double>(), new List<double>() };
    var ratios = new List<double>();
    foreach (bool aFirst in new[] { true, false })
    {
        var runs = new Action[2];
        foreach (int b in aFirst ? new[] { 0, 1 } : new[] { 1, 0 }) runs[b] = kernel(builds[b]);
        foreach (var run in runs) { run(); run(); }   // JIT tiers and scratch buffers settle
        for (int round = 0; round < (rounds + 1) / 2; round++)
        {
            int first = round % 2;
            double[] t = new double[2];
            t[first] = Seconds(runs[first]);
            t[1 - first] = Seconds(runs[1 - first]);
            times[0].Add(t[0]);
            times[1].Add(t[1]);
            ratios.Add(t[1] / t[0]);
        }
        GC.Collect();
    }
    Console.WriteLine($"| {name} | {Median(times[0]) * 1e3:F2} | {Median(times[1]) * 1e3:F2} | {Median(ratios):F3} | " +
        $"{Quantile(ratios, 0.25):F3}–{Quantile(ratios, 0.75):F3} |");
}

static double Seconds(Action run)
{
    long start = Stopwatch.GetTimestamp();
    run();
    return Stopwatch.GetElapsedTime(start).TotalSeconds;
}

static double Median(List<double> values) => Quantile(values, 0.5);

static double Quantile(List<double> values, double q)
{
    var sorted = values.Order().ToArray();
    return sorted[(int)Math.Round(q * (sorted.Length - 1))];
}

/// <summary>One build of the engine and its cpu backend, reached by reflection (the kernels are internal).</summary>
sealed class EngineBuild
{
    private const BindingFlags Members = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
    public const string BenchmarksFile = "SimilarFaces.Benchmarks.dll";
    private readonly AssemblyLoadContext _context;
    private readonly Assembly _engine;
    private readonly object _backend;
    private readonly MethodInfo[] _methods;
    private Action? _trainingStep, _inference;

    public EngineBuild(string path)
    {
        path = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(path)!;
        _context = new AssemblyLoadContext(path);
        _context.Resolving += (c, name) =>
        {
            string dependency = Path.Combine(folder, name.Name + ".dll");
            return File.Exists(dependency) ? c.LoadFromAssemblyPath(dependency) : null;
        };
        _engine = _context.LoadFromAssemblyPath(path);
        _backend = _engine.GetType("SimilarFaces.Engine.Devices", throwOnError: true)!
            .GetMethod("Open", [typeof(string)])!.Invoke(null, ["cpu"])!;
        _methods = _engine.GetType("SimilarFaces.Engine.Backends.IBackend", throwOnError: true)!.GetMethods(Members);
    }

    /// <summary>
    /// A buffer whose every page has been written. A buffer never written reads as the kernel's one zero page, so a
    /// kernel that streams it would run from the caches and a difference in its memory traffic would not show.
    /// </summary>
    private object Buffer(long length)
    {
        object buffer = Method("Allocate", 1).Invoke(_backend, [length])!;
        Method("Fill", 2).Invoke(_backend, [buffer, 0.5f]);
        return buffer;
    }

    private MethodInfo Method(string name, int parameters) =>
        _methods.Single(m => m.Name == name && m.GetParameters().Length == parameters);

    private bool Has(string name, int parameters) => _methods.Any(m => m.Name == name && m.GetParameters().Length == parameters);

    /// <summary>One call of the backend's kernel <paramref name="name"/>, found once, not on every call.</summary>
    private Action Kernel(string name, object?[] arguments)
    {
        var kernel = Method(name, arguments.Length);
        return () => kernel.Invoke(_backend, arguments);
    }

    /// <summary>C (m,n) = op(A) (m,k) · op(B) (k,n), C overwritten.</summary>
    public Action Gemm(bool transA, bool transB, int m, int n, int k)
    {
        object[] arguments = [transA, transB, m, n, k, 1f, Buffer((long)m * k), Buffer((long)k * n), 0f, Buffer((long)m * n)];
        return Kernel("Gemm", arguments);
    }

    /// <summary>One pass of a seed convolution: batch 128, 3×3, pre-padded 102×102 input → 100×100.</summary>
    public Action Conv(string pass, int inputChannels, int outputChannels)
    {
        var shapeType = _engine.GetType("SimilarFaces.Engine.Backends.Conv2dShape", throwOnError: true)!;
        // later builds add optional parameters (the padding mode): those take their defaults
        var constructor = shapeType.GetConstructors().Single();
        object?[] sizes = [128, inputChannels, 102, 102, outputChannels, 3, 3, 1, 1, 0, 0];
        object shape = constructor.Invoke([.. sizes, .. constructor.GetParameters().Skip(sizes.Length).Select(p => p.DefaultValue)]);
        return Conv(pass, shape, shapeType, outputChannels);
    }

    /// <summary>
    /// The weight gradient, and the input gradient when asked, of a seed block's convolution as the step takes them:
    /// batch 128, 3×3 over 100×100 padded by reflection; both in one call where the build has one, else one call each.
    /// </summary>
    public Action ConvBackward(int inputChannels, int outputChannels, bool inputGradient)
    {
        var shapeType = _engine.GetType("SimilarFaces.Engine.Backends.Conv2dShape", throwOnError: true)!;
        object reflection = Enum.Parse(_engine.GetType("SimilarFaces.Engine.Backends.PadMode", throwOnError: true)!, "Reflection");
        object shape = shapeType.GetConstructors().Single().Invoke([128, inputChannels, 100, 100, outputChannels, 3, 3, 1, 1, 1, 1, reflection]);
        if (!inputGradient) return Conv("Conv2dBackwardWeight", shape, shapeType, outputChannels);
        if (!Has("Conv2dBackward", 7))
        {
            var input = Conv("Conv2dBackwardInput", shape, shapeType, outputChannels);
            var weight = Conv("Conv2dBackwardWeight", shape, shapeType, outputChannels);
            return () => { input(); weight(); };
        }
        return Conv("Conv2dBackward", shape, shapeType, outputChannels);
    }

    private Action Conv(string pass, object shape, Type shapeType, int outputChannels)
    {
        long Length(string property) => (long)shapeType.GetProperty(property)!.GetValue(shape)!;
        object input = Buffer(Length("InputLength")), weight = Buffer(Length("WeightLength")), output = Buffer(Length("OutputLength"));
        object bias = Buffer(outputChannels), weightGradient = Buffer(Length("WeightLength"));
        object[] arguments = pass switch
        {
            // builds since the fused ReLU take its flag before the output
            "Conv2dForward" when Has(pass, 6) => [shape, input, weight, bias, false, output],
            "Conv2dForward" => [shape, input, weight, bias, output],
            "Conv2dBackwardInput" => [shape, output, weight, input],
            "Conv2dBackwardWeight" => [shape, input, output, weightGradient, bias],
            "Conv2dBackward" => [shape, input, output, weight, Buffer(Length("InputLength")), weightGradient, bias],
            _ => throw new ArgumentException($"unknown pass {pass}"),
        };
        return Kernel(pass, arguments);
    }

    /// <summary>
    /// One training step of the seed (Benchmarks' TrainingSession: the network, Adam and a fixed batch of random pairs),
    /// after 25 steps for the JIT's tiers to settle. One session per build, whichever order the rounds run in: it holds
    /// 1.2 GB.
    /// </summary>
    public Action TrainingStep(int pairs) => _trainingStep ??= Warmed(Session("TrainingSession", pairs), "Step", 25);

    /// <summary>
    /// One batch of eval-mode embeddings of the seed (Benchmarks' InferenceSession: the folded tower and a fixed batch of
    /// random images), after 30 batches for the JIT's tiers to settle.
    /// </summary>
    public Action Inference(int images) => _inference ??= Warmed(Session("InferenceSession", images), "Embed", 30);

    /// <summary>The session's method <paramref name="name"/>, called <paramref name="warmUps"/> times first.</summary>
    private static Action Warmed(object session, string name, int warmUps)
    {
        var method = session.GetType().GetMethod(name)!;
        for (int i = 0; i < warmUps; i++) method.Invoke(session, null);
        return () => method.Invoke(session, null);
    }

    /// <summary>A session of the Benchmarks build beside the engine, made for the seed's architecture and a batch size.</summary>
    private object Session(string type, int size)
    {
        var benchmarks = _context.LoadFromAssemblyName(new AssemblyName(Path.GetFileNameWithoutExtension(BenchmarksFile)));
        var model = _context.LoadFromAssemblyName(new AssemblyName("SimilarFaces.Model"));
        object architecture = model.GetType("SimilarFaces.Model.SiameseArchitecture", throwOnError: true)!.GetProperty("Seed")!.GetValue(null)!;
        var sessionType = benchmarks.GetType($"SimilarFaces.Benchmarks.{type}", throwOnError: true)!;
        return Activator.CreateInstance(sessionType, [_backend, architecture, size])!;
    }

    private const int SeedBlockImages = 128;

    /// <summary>
    /// A seed block's convolution (3×3 over 100×100 padded by reflection) and its BatchNorm in training, batch 128 in two
    /// batches.
    /// </summary>
    private (object Convolution, object Norm) SeedBlock(int inputChannels, int outputChannels)
    {
        var shapeType = _engine.GetType("SimilarFaces.Engine.Backends.Conv2dShape", throwOnError: true)!;
        object reflection = Enum.Parse(_engine.GetType("SimilarFaces.Engine.Backends.PadMode", throwOnError: true)!, "Reflection");
        object shape = shapeType.GetConstructors().Single()
            .Invoke([SeedBlockImages, inputChannels, 100, 100, outputChannels, 3, 3, 1, 1, 1, 1, reflection]);
        object norm = _engine.GetType("SimilarFaces.Engine.Backends.NormShape", throwOnError: true)!.GetConstructors().Single()
            .Invoke([SeedBlockImages, outputChannels, 100 * 100, 2]);
        return (shape, norm);
    }

    /// <summary>
    /// The backward of a seed block in training, BatchNorm's and the convolution's (batch 128 in two batches, 3×3 over
    /// 100×100 padded by reflection), as the step takes it: in one call where the build has one, else BatchNorm's kernel
    /// into a buffer and then the convolution's.
    /// </summary>
    public Action ConvThroughNorm(int inputChannels, int outputChannels, bool inputGradient)
    {
        const int images = SeedBlockImages, plane = 100 * 100;
        var (shape, norm) = SeedBlock(inputChannels, outputChannels);
        long inputLength = (long)images * inputChannels * plane, outputLength = (long)images * outputChannels * plane;
        object x = Buffer(inputLength), activation = Buffer(outputLength), dz = Buffer(outputLength), dy = Buffer(outputLength);
        object? dx = inputGradient ? Buffer(inputLength) : null;
        object w = Buffer(outputChannels * inputChannels * 9), dw = Buffer(outputChannels * inputChannels * 9), dbias = Buffer(outputChannels);
        object gamma = Buffer(outputChannels), mean = Buffer(2 * outputChannels), invStd = Buffer(2 * outputChannels);
        object dgamma = Buffer(outputChannels), dbeta = Buffer(outputChannels);
        if (Has("Conv2dReluBatchNormBackward", 14))
            return Kernel("Conv2dReluBatchNormBackward", [shape, norm, x, activation, dz, gamma, mean, invStd, w, dx, dw, dbias, dgamma, dbeta]);
        var normBackward = Kernel("BatchNormBackward", [norm, activation, dz, gamma, mean, invStd, dy, dgamma, dbeta, true]);
        var convBackward = Kernel("Conv2dBackward", [shape, x, dy, w, dx, dw, dbias]);
        return () => { normBackward(); convBackward(); };
    }

    /// <summary>
    /// The forward of a seed block in training, the convolution with its ReLU and BatchNorm (batch 128 in two batches, 3×3
    /// over 100×100 padded by reflection): in one call where the build has one, else the convolution's kernel and then
    /// BatchNorm's.
    /// </summary>
    public Action ConvIntoNorm(int inputChannels, int outputChannels)
    {
        const int images = SeedBlockImages, plane = 100 * 100;
        var (shape, norm) = SeedBlock(inputChannels, outputChannels);
        long outputLength = (long)images * outputChannels * plane;
        object x = Buffer((long)images * inputChannels * plane), activation = Buffer(outputLength), y = Buffer(outputLength);
        object w = Buffer(outputChannels * inputChannels * 9), bias = Buffer(outputChannels);
        object gamma = Buffer(outputChannels), beta = Buffer(outputChannels), mean = Buffer(2 * outputChannels), invStd = Buffer(2 * outputChannels);
        object runningMean = Buffer(outputChannels), runningVar = Buffer(outputChannels);
        if (Has("Conv2dReluBatchNormForward", 15))
            return Kernel("Conv2dReluBatchNormForward", [shape, norm, x, w, bias, activation, gamma, beta, y, mean, invStd, runningMean, runningVar, 1e-5f, 0.1f]);
        var convolution = Kernel("Conv2dForward", [shape, x, w, bias, true, activation]);
        var normalization = Kernel("BatchNormTrainForward", [norm, activation, gamma, beta, y, mean, invStd, runningMean, runningVar, 1e-5f, 0.1f]);
        return () => { convolution(); normalization(); };
    }

    /// <summary>One pass of a seed batch norm in training: one tower's 64 images of 100×100 in each channel.</summary>
    public Action Norm(string pass, int channels)
    {
        var shapeType = _engine.GetType("SimilarFaces.Engine.Backends.NormShape", throwOnError: true)!;
        // later builds add optional parameters (the sub-batches): those take their defaults
        var constructor = shapeType.GetConstructors().Single();
        object?[] sizes = [64, channels, 100 * 100];
        object shape = constructor.Invoke([.. sizes, .. constructor.GetParameters().Skip(sizes.Length).Select(p => p.DefaultValue)]);
        long length = 64L * channels * 100 * 100;
        object x = Buffer(length), y = Buffer(length), dx = Buffer(length);
        object gamma = Buffer(channels), beta = Buffer(channels), mean = Buffer(channels), invStd = Buffer(channels);
        object runningMean = Buffer(channels), runningVar = Buffer(channels), dgamma = Buffer(channels), dbeta = Buffer(channels);
        object[] arguments = pass switch
        {
            "BatchNormTrainForward" => [shape, x, gamma, beta, y, mean, invStd, runningMean, runningVar, 1e-5f, 0.1f],
            // builds since the folded ReLU take its flag last
            "BatchNormBackward" when Has(pass, 10) => [shape, x, y, gamma, mean, invStd, dx, dgamma, dbeta, false],
            "BatchNormBackward" => [shape, x, y, gamma, mean, invStd, dx, dgamma, dbeta],
            _ => throw new ArgumentException($"unknown pass {pass}"),
        };
        return Kernel(pass, arguments);
    }
}
