using System.Diagnostics.CodeAnalysis;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Diagnostics;

/// <summary>
/// The inputs and arguments of one call of an op, by name: the names PyTorch's fixtures use (<c>x</c>, <c>weight</c>,
/// <c>stride</c>...). Every argument is a list of numbers: a scalar is one, a pair two, a flag 0 or 1.
/// </summary>
public sealed class OpArguments(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyDictionary<string, double[]> values)
{
    /// <summary>The input called <paramref name="name"/>.</summary>
    public Tensor this[string name] => inputs.TryGetValue(name, out var t) ? t : throw Missing("input", name);

    /// <summary>The input called <paramref name="name"/>, or null when the call has none (an optional bias).</summary>
    public Tensor? Optional(string name) => inputs.GetValueOrDefault(name);

    /// <summary>A number argument, or <paramref name="fallback"/> when the call does not give it.</summary>
    public float Float(string name, float? fallback = null) => (float)Values(name, fallback)[0];

    /// <summary>A whole-number argument, or <paramref name="fallback"/> when the call does not give it.</summary>
    public int Int(string name, int? fallback = null) => (int)Values(name, fallback)[0];

    /// <summary>A flag argument (0 or 1).</summary>
    public bool Flag(string name) => Values(name, null)[0] != 0;

    /// <summary>A (height, width) argument, or <paramref name="fallback"/> when the call does not give it.</summary>
    public (int, int) Pair(string name, (int, int)? fallback = null) =>
        values.TryGetValue(name, out var v) ? ((int)v[0], (int)v[1]) : fallback ?? throw Missing("argument", name);

    /// <summary>A list of whole numbers (class targets).</summary>
    public int[] Ints(string name) => Values(name, null).Select(v => (int)v).ToArray();

    private double[] Values(string name, double? fallback) =>
        values.TryGetValue(name, out var v) ? v : fallback is { } f ? [f] : throw Missing("argument", name);

    private static KeyNotFoundException Missing(string what, string name) => new($"the call gives no {what} '{name}'");
}

/// <summary>
/// One op of <see cref="Ops"/> as every check sees it: how to call it from named inputs and arguments, its
/// gradient-check cases (inputs at small and awkward shapes, kept away from its kinks), and the PyTorch fixtures
/// (<c>Tests/Fixtures/ops/NAME.safetensors</c>, written by <c>tools/reference/op_fixtures.py</c>) its parity is
/// checked on. Gradient checks, the op-level comparison of every device with <c>cpu</c>, the kernel checks of its
/// element-wise kind and PyTorch parity all walk <see cref="OpTable.All"/>.
/// </summary>
public sealed class OpEntry
{
    internal OpEntry(string op, Func<OpArguments, Tensor> call, IReadOnlyList<string> fixtures, string? withoutFixture,
        UnaryKind? unary, BinaryKind? binary)
    {
        Op = op;
        Call = call;
        Fixtures = fixtures;
        WithoutFixture = withoutFixture;
        Unary = unary;
        Binary = binary;
    }

    /// <summary>The name the op records on the tape (and the <c>--op</c> of <c>similar-faces gradcheck</c>).</summary>
    public string Op { get; }

    /// <summary>Runs the op on named inputs and arguments.</summary>
    public Func<OpArguments, Tensor> Call { get; }

    /// <summary>The gradient-check cases of the op.</summary>
    public IReadOnlyList<GradCheckCase> Cases { get; internal set; } = [];

    /// <summary>The names of the PyTorch fixtures the op is checked against.</summary>
    public IReadOnlyList<string> Fixtures { get; }

    /// <summary>Why the op has no PyTorch fixture, when it has none.</summary>
    public string? WithoutFixture { get; }

    /// <summary>The element-wise kernel the op runs (e.g. "Relu", "Add"), checked on every device by the kernel tests; null for other ops.</summary>
    public string? Kernel => Unary?.ToString() ?? Binary?.ToString();

    /// <summary>The element-wise kernel the op runs, checked on every device by the kernel tests.</summary>
    internal UnaryKind? Unary { get; }

    /// <inheritdoc cref="Unary"/>
    internal BinaryKind? Binary { get; }
}

/// <summary>
/// Every op of the engine, once. Inputs of the gradient-check cases are drawn from a seeded generator away from each
/// op's kinks (by more than the finite-difference step), which are named in the case.
/// </summary>
public static class OpTable
{
    private const double Smooth = 1e-2;

    /// <summary>Every op, in the order <c>similar-faces gradcheck</c> prints them.</summary>
    public static IReadOnlyList<OpEntry> All { get; } =
    [
        Op("Add", a => Ops.Add(a["x"], a["y"]), ["add"], binary: BinaryKind.Add)
            .With("add", "none", r => [U("x", r, 3, 4), U("y", r, 3, 4)]),
        Op("Sub", a => Ops.Sub(a["x"], a["y"]), ["sub"], binary: BinaryKind.Sub)
            .With("sub", "none", r => [U("x", r, 3, 4), U("y", r, 3, 4)]),
        Op("Mul", a => Ops.Mul(a["x"], a["y"]), ["mul"], binary: BinaryKind.Mul)
            .With("mul", "none", r => [U("x", r, 3, 4), U("y", r, 3, 4)]),
        Op("AddScalar", a => Ops.AddScalar(a["x"], a.Float("scalar")), ["add_scalar"], unary: UnaryKind.AddScalar)
            .With("add_scalar", "none", r => [U("x", r, 2, 5)], new() { ["scalar"] = [0.75] }),
        Op("MulScalar", a => Ops.MulScalar(a["x"], a.Float("scalar")), ["mul_scalar"], unary: UnaryKind.MulScalar)
            .With("mul_scalar", "none", r => [U("x", r, 2, 5)], new() { ["scalar"] = [-1.5] }),
        Op("Square", a => Ops.Square(a["x"]), ["square"], unary: UnaryKind.Square)
            .With("square", "none", r => [U("x", r, 2, 5)]),
        Op("Sqrt", a => Ops.Sqrt(a["x"]), ["sqrt"], unary: UnaryKind.Sqrt)
            .With("sqrt", "x = 0 (inputs in [0.5, 2])", r => [U("x", r, 0.5, 2, 2, 5)]),
        Op("Relu", a => Ops.Relu(a["x"]), ["relu"], unary: UnaryKind.Relu)
            .With("relu", "x = 0 (|x| ≥ 0.05)", r => [AwayFrom("x", r, 0f, 0.05, 3, 7)]),
        Op("ClampMin", a => Ops.ClampMin(a["x"], a.Float("min")), ["clamp_min"], unary: UnaryKind.ClampMin)
            .With("clamp_min", "x = 0.25 (|x − 0.25| ≥ 0.05)", r => [AwayFrom("x", r, 0.25f, 0.05, 3, 7)], new() { ["min"] = [0.25] }),
        Op("LeakyRelu", a => Ops.LeakyRelu(a["x"], a.Float("negative_slope")), ["leaky_relu"], unary: UnaryKind.LeakyRelu)
            .With("leaky_relu", "x = 0 (|x| ≥ 0.05)", r => [AwayFrom("x", r, 0f, 0.05, 3, 7)], new() { ["negative_slope"] = [0.2] }),
        Op("Sum", a => Ops.Sum(a["x"]), ["sum"])
            .With("sum", "none", r => [U("x", r, 3, 4)]),
        Op("Mean", a => Ops.Mean(a["x"]), ["mean"])
            .With("mean", "none", r => [U("x", r, 3, 4)]),
        Op("Reshape", a => Ops.Flatten(a["x"]), [], withoutFixture: "a view of the same elements: nothing is computed")
            .With("flatten", "none", r => [U("x", r, 2, 3, 2, 2)]),
        Op("Concat", a => Ops.Concat(a["a"], a["b"], a["c"]), ["concat"])
            .With("concat", "none", r => [U("a", r, 2, 3, 2), U("b", r, 1, 3, 2), U("c", r, 3, 3, 2)]),
        Op("Narrow", a => Ops.Narrow(a["x"], a.Int("start"), a.Int("length")), ["narrow"])
            .With("narrow", "none", r => [U("x", r, 6, 4)], new() { ["start"] = [2], ["length"] = [3] }),
        Op("Linear", a => Ops.Linear(a["x"], a["weight"], a.Optional("bias")), ["linear", "linear_nobias"])
            .With("linear", "none", r => [U("x", r, 3, 6), U("weight", r, 4, 6), U("bias", r, 4)])
            .With("linear_nobias", "none", r => [U("x", r, 5, 3), U("weight", r, 2, 3)]),
        Op("Conv2d", a => Ops.Conv2d(a["x"], a["weight"], a.Optional("bias"), a.Pair("stride", (1, 1)), a.Pair("padding", (0, 0)), Mode(a)),
                ["conv2d_3x3", "conv2d_stride2_pad1", "conv2d_5x3_nobias", "conv2d_reflect"])
            .With("conv2d_3x3", "none", r => [U("x", r, 2, 3, 6, 5), U("weight", r, 4, 3, 3, 3), U("bias", r, 4)])
            .With("conv2d_5x3_stride2_pad1_nobias", "none", r => [U("x", r, 1, 2, 9, 8), U("weight", r, 3, 2, 5, 3)],
                new() { ["stride"] = [2, 2], ["padding"] = [1, 1] })
            .With("conv2d_reflect_pad2x1", "none", r => [U("x", r, 2, 2, 5, 6), U("weight", r, 3, 2, 3, 3), U("bias", r, 3)],
                new() { ["padding"] = [2, 1], ["padding_mode"] = [(int)PaddingMode.Reflect] }),
        Op("Conv2dRelu", a => Ops.Conv2dRelu(a["x"], a["weight"], a.Optional("bias"), a.Pair("stride", (1, 1)), a.Pair("padding", (0, 0)), Mode(a)),
                ["conv2d_relu", "conv2d_relu_replicate"])
            .With("conv2d_relu_pad1", "conv = 0 (|Σ w·x| ≤ 2.7 and the bias ±3: every output at least 0.3 from 0, half cut)",
                r => [U("x", r, 2, 3, 5, 6), U("weight", r, -0.1, 0.1, 4, 3, 3, 3), new CheckInput("bias", [4], [3f, -3f, 3f, -3f])],
                new() { ["padding"] = [1, 1] })
            .With("conv2d_relu_replicate_pad1", "conv = 0 (as conv2d_relu_pad1)",
                r => [U("x", r, 2, 3, 5, 6), U("weight", r, -0.1, 0.1, 4, 3, 3, 3), new CheckInput("bias", [4], [3f, -3f, 3f, -3f])],
                new() { ["padding"] = [1, 1], ["padding_mode"] = [(int)PaddingMode.Replicate] }),
        Op("Conv2dReluBatchNorm", a => Ops.Conv2dReluBatchNorm(a["x"], a["weight"], a.Optional("bias"), a["gamma"], a["beta"],
                a["running_mean"], a["running_var"], padding: a.Pair("padding", (0, 0)), paddingMode: Mode(a)), [],
                withoutFixture: "Conv2dRelu then BatchNorm in training, each checked on fixtures of its own; the fused op equals them bit for bit (SequentialTests)")
            .With("conv2d_relu_batchnorm_reflect_pad1",
                "conv = 0 (as conv2d_relu_pad1; the bias is not checked: where the ReLU passes a whole channel, BatchNorm takes"
                + " its mean away, the bias's gradient is 0 and finite differences measure only rounding)",
                r => [U("x", r, 3, 2, 5, 6), U("weight", r, -0.1, 0.1, 4, 2, 3, 3), new CheckInput("bias", [4], [3f, -3f, 3f, -3f], false),
                    U("gamma", r, 0.5, 1.5, 4), U("beta", r, 4), Stat("running_mean", 4, 0f), Stat("running_var", 4, 1f)],
                new() { ["padding"] = [1, 1], ["padding_mode"] = [(int)PaddingMode.Reflect] }, tolerance: 2e-2),
        Op("ReplicationPad2d", a => Ops.ReplicationPad2d(a["x"], a.Int("left"), a.Int("right"), a.Int("top"), a.Int("bottom")),
                ["replication_pad2d", "replication_pad2d_asym"])
            .With("replication_pad2d", "none", r => [U("x", r, 2, 2, 3, 4)], Pads(1, 2, 0, 3)),
        Op("ReflectionPad2d", a => Ops.ReflectionPad2d(a["x"], a.Int("left"), a.Int("right"), a.Int("top"), a.Int("bottom")),
                ["reflection_pad2d", "reflection_pad2d_asym"])
            .With("reflection_pad2d", "none", r => [U("x", r, 2, 2, 4, 5)], Pads(1, 2, 3, 0)),
        Op("MaxPool2d", a => Ops.MaxPool2d(a["x"], a.Pair("kernel_size"), a.Pair("stride", a.Pair("kernel_size"))),
                ["maxpool2d_2x2", "maxpool2d_3x3_s2"])
            .With("maxpool2d_2x2", "ties (window values distinct, ≥ 0.05 apart)", r => [Distinct("x", r, 2, 2, 4, 6)],
                new() { ["kernel_size"] = [2, 2] })
            .With("maxpool2d_3x3_s2", "ties (window values distinct, ≥ 0.05 apart)", r => [Distinct("x", r, 1, 2, 7, 7)],
                new() { ["kernel_size"] = [3, 3], ["stride"] = [2, 2] }),
        Op("BatchNorm", a => Ops.BatchNorm(a["x"], a["weight"], a["bias"], a["running_mean"], a["running_var"], a.Flag("training"),
                a.Float("momentum", Ops.DefaultBatchNormMomentum), a.Float("eps", Ops.DefaultBatchNormEps)),
                ["batchnorm2d_train", "batchnorm2d_eval", "batchnorm1d_train", "batchnorm1d_train_3d"])
            .With("batchnorm2d_train", "none", r => [U("x", r, 3, 2, 3, 4), U("weight", r, 2), U("bias", r, 2), Stat("running_mean", 2, 0f), Stat("running_var", 2, 1f)],
                new() { ["training"] = [1] }, tolerance: 2e-2)
            .With("batchnorm1d_train", "none", r => [U("x", r, 6, 3), U("weight", r, 3), U("bias", r, 3), Stat("running_mean", 3, 0f), Stat("running_var", 3, 1f)],
                new() { ["training"] = [1] }, tolerance: 2e-2)
            .With("batchnorm2d_eval", "none", r => [U("x", r, 2, 3, 2, 3), U("weight", r, 3), U("bias", r, 3), Stat("running_mean", 3, 0.2f), Stat("running_var", 3, 1.5f)],
                new() { ["training"] = [0] }),
        Op("Dropout", a => Ops.Dropout(a["x"], a.Float("p"), (ulong)a.Int("seed"), training: true), [],
                withoutFixture: "its mask is the engine's own counter hash, which torch's generator does not reproduce")
            .With("dropout_p0.3", "none (fixed seed: the mask does not depend on x)", r => [U("x", r, 4, 6)], new() { ["p"] = [0.3], ["seed"] = [42] }),
        Op("PairwiseDistance", a => Ops.PairwiseDistance(a["a"], a["b"], a.Float("eps", Ops.DefaultDistanceEps)), ["pairwise_distance"])
            .With("pairwise_distance", "d = 0 (rows differ)", r => [U("a", r, 5, 4), U("b", r, 5, 4)]),
        Op("ContrastiveLoss", a => Ops.ContrastiveLoss(a["d"], a["y"], a.Float("margin")), ["contrastive_loss"])
            .With("contrastive_loss", "d = margin (|d − 2| ≥ 0.1)",
                r => [new CheckInput("d", [8, 1], [0.3f, 0.9f, 1.5f, 1.8f, 2.3f, 2.9f, 0.6f, 3.4f]), new CheckInput("y", [8, 1], [0, 1, 0, 1, 0, 1, 1, 1], false)],
                new() { ["margin"] = [2] }),
        Op("L2Normalize", a => Ops.L2Normalize(a["x"], a.Float("eps", Ops.DefaultL2NormalizeEps)), ["l2_normalize"])
            .With("l2_normalize", "‖x‖ = eps (rows far from 0)", r => [U("x", r, 4, 6)]),
        Op("CrossEntropy", a => Ops.CrossEntropy(a["logits"], a.Ints("target")), ["cross_entropy"])
            .With("cross_entropy", "none", r => [U("logits", r, -2.0, 2.0, 5, 4)], new() { ["target"] = [2, 0, 3, 3, 1] }),
    ];

    /// <summary>Graphs of several ops whose intermediate results feed more than one use: their gradients add up.</summary>
    public static IReadOnlyList<GradCheckCase> Composites { get; } =
    [
        new("Mul", "intermediate_used_twice_by_mul", "none", Smooth, r => [U("x", r, 3, 4), U("weight", r, 2, 4)], t =>
        {
            var h = Ops.Linear(t[0], t[1]);
            return Ops.Mul(h, h);
        }),
        new("Add", "intermediate_feeding_two_ops", "none", Smooth, r => [U("x", r, 3, 4), U("weight", r, 2, 4), U("bias", r, 2)], t =>
        {
            var h = Ops.Linear(t[0], t[1], t[2]);
            return Ops.Add(Ops.Square(h), Ops.MulScalar(h, -1.5f));
        }),
    ];

    /// <summary>Every gradient-check case: each op's, then the composites.</summary>
    public static IReadOnlyList<GradCheckCase> GradCheckCases { get; } = [.. All.SelectMany(e => e.Cases), .. Composites];

    /// <summary>The op whose fixtures include <paramref name="fixture"/>.</summary>
    public static bool TryFindFixture(string fixture, [NotNullWhen(true)] out OpEntry? entry)
    {
        entry = All.FirstOrDefault(e => e.Fixtures.Contains(fixture));
        return entry != null;
    }

    private static OpEntry Op(string op, Func<OpArguments, Tensor> call, string[] fixtures, string? withoutFixture = null,
        UnaryKind? unary = null, BinaryKind? binary = null) => new(op, call, fixtures, withoutFixture, unary, binary);

    /// <summary>Adds a gradient-check case: inputs by name, in the order the op's <see cref="OpEntry.Call"/> names them.</summary>
    private static OpEntry With(this OpEntry entry, string name, string kinks, Func<SeededRandom, CheckInput[]> inputs,
        Dictionary<string, double[]>? arguments = null, double tolerance = Smooth)
    {
        var args = arguments ?? [];
        var names = inputs(new SeededRandom(0)).Select(i => i.Name).ToArray();
        entry.Cases = [.. entry.Cases, new GradCheckCase(entry.Op, name, kinks, tolerance, inputs, tensors =>
            entry.Call(new OpArguments(names.Zip(tensors).ToDictionary(p => p.First, p => p.Second), args)))];
        return entry;
    }

    /// <summary>A convolution's padding mode: the argument padding_mode, the number of a <see cref="PaddingMode"/> (0 zeros by default).</summary>
    private static PaddingMode Mode(OpArguments a) => (PaddingMode)a.Int("padding_mode", 0);

    private static Dictionary<string, double[]> Pads(int left, int right, int top, int bottom) =>
        new() { ["left"] = [left], ["right"] = [right], ["top"] = [top], ["bottom"] = [bottom] };

    private static CheckInput U(string name, SeededRandom r, params int[] shape) => U(name, r, -1, 1, shape);

    private static CheckInput U(string name, SeededRandom r, double low, double high, params int[] shape)
    {
        var v = new float[Tensor.Count(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(low + (high - low) * r.NextDouble());
        return new CheckInput(name, shape, v);
    }

    /// <summary>Uniform in ±1 but at least <paramref name="gap"/> from <paramref name="kink"/>.</summary>
    private static CheckInput AwayFrom(string name, SeededRandom r, float kink, double gap, params int[] shape)
    {
        var v = new float[Tensor.Count(shape)];
        for (int i = 0; i < v.Length; i++)
        {
            double offset = gap + (1 - gap) * r.NextDouble();
            v[i] = kink + (float)(r.NextDouble() < 0.5 ? -offset : offset);
        }
        return new CheckInput(name, shape, v);
    }

    /// <summary>A shuffled grid of values 0.05 apart: no two elements tie.</summary>
    private static CheckInput Distinct(string name, SeededRandom r, params int[] shape)
    {
        var v = new float[Tensor.Count(shape)];
        for (int i = 0; i < v.Length; i++) v[i] = 0.05f * (i - v.Length / 2);
        for (int i = v.Length - 1; i > 0; i--)
        {
            int k = r.NextInt(i + 1);
            (v[i], v[k]) = (v[k], v[i]);
        }
        return new CheckInput(name, shape, v);
    }

    private static CheckInput Stat(string name, int channels, float value) =>
        new(name, [channels], Enumerable.Repeat(value, channels).ToArray(), Differentiable: false);
}
