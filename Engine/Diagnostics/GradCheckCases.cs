namespace SimilarFaces.Engine.Diagnostics;

/// <summary>
/// Every differentiable op of the engine as a gradient-check case, and intermediates that feed more than one
/// use. Inputs are drawn away from each op's kinks (by more than the finite-difference step), which are named
/// in the case.
/// </summary>
public static class GradCheckCases
{
    private const double Smooth = 1e-2;

    /// <summary>Every case, in the order <c>similar-faces gradcheck</c> prints them.</summary>
    public static IReadOnlyList<GradCheckCase> All { get; } =
    [
        Case("Add", "add", "none", r => [U("a", r, 3, 4), U("b", r, 3, 4)], t => Ops.Add(t[0], t[1])),
        Case("Sub", "sub", "none", r => [U("a", r, 3, 4), U("b", r, 3, 4)], t => Ops.Sub(t[0], t[1])),
        Case("Mul", "mul", "none", r => [U("a", r, 3, 4), U("b", r, 3, 4)], t => Ops.Mul(t[0], t[1])),
        Case("AddScalar", "add_scalar", "none", r => [U("x", r, 2, 5)], t => Ops.AddScalar(t[0], 0.75f)),
        Case("MulScalar", "mul_scalar", "none", r => [U("x", r, 2, 5)], t => Ops.MulScalar(t[0], -1.5f)),
        Case("Square", "square", "none", r => [U("x", r, 2, 5)], t => Ops.Square(t[0])),
        Case("Sqrt", "sqrt", "x = 0 (inputs in [0.5, 2])", r => [U("x", r, 0.5, 2, 2, 5)], t => Ops.Sqrt(t[0])),
        Case("Relu", "relu", "x = 0 (|x| ≥ 0.05)", r => [AwayFrom("x", r, 0f, 0.05, 3, 7)], t => Ops.Relu(t[0])),
        Case("ClampMin", "clamp_min", "x = 0.25 (|x − 0.25| ≥ 0.05)", r => [AwayFrom("x", r, 0.25f, 0.05, 3, 7)], t => Ops.ClampMin(t[0], 0.25f)),
        Case("Sum", "sum", "none", r => [U("x", r, 3, 4)], t => Ops.Sum(t[0])),
        Case("Mean", "mean", "none", r => [U("x", r, 3, 4)], t => Ops.Mean(t[0])),
        Case("Reshape", "flatten", "none", r => [U("x", r, 2, 3, 2, 2)], t => Ops.Flatten(t[0])),
        Case("Linear", "linear", "none", r => [U("x", r, 3, 6), U("weight", r, 4, 6), U("bias", r, 4)],
            t => Ops.Linear(t[0], t[1], t[2])),
        Case("Linear", "linear_nobias", "none", r => [U("x", r, 5, 3), U("weight", r, 2, 3)], t => Ops.Linear(t[0], t[1])),
        Case("Conv2d", "conv2d_3x3", "none", r => [U("x", r, 2, 3, 6, 5), U("weight", r, 4, 3, 3, 3), U("bias", r, 4)],
            t => Ops.Conv2d(t[0], t[1], t[2])),
        Case("Conv2d", "conv2d_5x3_stride2_pad1_nobias", "none", r => [U("x", r, 1, 2, 9, 8), U("weight", r, 3, 2, 5, 3)],
            t => Ops.Conv2d(t[0], t[1], null, (2, 2), (1, 1))),
        Case("ReplicationPad2d", "replication_pad2d", "none", r => [U("x", r, 2, 2, 3, 4)],
            t => Ops.ReplicationPad2d(t[0], 1, 2, 0, 3)),
        Case("ReflectionPad2d", "reflection_pad2d", "none", r => [U("x", r, 2, 2, 4, 5)],
            t => Ops.ReflectionPad2d(t[0], 1, 2, 3, 0)),
        Case("MaxPool2d", "maxpool2d_2x2", "ties (window values distinct, ≥ 0.05 apart)", r => [Distinct("x", r, 2, 2, 4, 6)],
            t => Ops.MaxPool2d(t[0], (2, 2))),
        Case("MaxPool2d", "maxpool2d_3x3_s2", "ties (window values distinct, ≥ 0.05 apart)", r => [Distinct("x", r, 1, 2, 7, 7)],
            t => Ops.MaxPool2d(t[0], (3, 3), (2, 2))),
        Case("BatchNorm", "batchnorm2d_train", "none", r => [U("x", r, 3, 2, 3, 4), U("weight", r, 2), U("bias", r, 2), Stat("running_mean", 2, 0f), Stat("running_var", 2, 1f)],
            t => Ops.BatchNorm(t[0], t[1], t[2], t[3], t[4], training: true), tolerance: 2e-2),
        Case("BatchNorm", "batchnorm1d_train", "none", r => [U("x", r, 6, 3), U("weight", r, 3), U("bias", r, 3), Stat("running_mean", 3, 0f), Stat("running_var", 3, 1f)],
            t => Ops.BatchNorm(t[0], t[1], t[2], t[3], t[4], training: true), tolerance: 2e-2),
        Case("BatchNorm", "batchnorm2d_eval", "none", r => [U("x", r, 2, 3, 2, 3), U("weight", r, 3), U("bias", r, 3), Stat("running_mean", 3, 0.2f), Stat("running_var", 3, 1.5f)],
            t => Ops.BatchNorm(t[0], t[1], t[2], t[3], t[4], training: false)),
        Case("Dropout", "dropout_p0.3", "none (fixed seed: the mask does not depend on x)", r => [U("x", r, 4, 6)],
            t => Ops.Dropout(t[0], 0.3f, seed: 42, training: true)),
        Case("PairwiseDistance", "pairwise_distance", "d = 0 (rows differ)", r => [U("a", r, 5, 4), U("b", r, 5, 4)],
            t => Ops.PairwiseDistance(t[0], t[1])),
        Case("ContrastiveLoss", "contrastive_loss", "d = margin (|d − 2| ≥ 0.1)",
            r => [new CheckInput("distance", [8, 1], [0.3f, 0.9f, 1.5f, 1.8f, 2.3f, 2.9f, 0.6f, 3.4f]), new CheckInput("label", [8, 1], [0, 1, 0, 1, 0, 1, 1, 1], false)],
            t => Ops.ContrastiveLoss(t[0], t[1], 2f)),
        Case("L2Normalize", "l2_normalize", "‖x‖ = eps (rows far from 0)", r => [U("x", r, 4, 6)], t => Ops.L2Normalize(t[0])),
        Case("CrossEntropy", "cross_entropy", "none", r => [U("logits", r, -2.0, 2.0, 5, 4)], t => Ops.CrossEntropy(t[0], [2, 0, 3, 3, 1])),
        // an intermediate result read twice: its gradient is the sum of both uses
        Case("Mul", "intermediate_used_twice_by_mul", "none", r => [U("x", r, 3, 4), U("weight", r, 2, 4)],
            t =>
            {
                var h = Ops.Linear(t[0], t[1]);
                return Ops.Mul(h, h);
            }),
        Case("Add", "intermediate_feeding_two_ops", "none", r => [U("x", r, 3, 4), U("weight", r, 2, 4), U("bias", r, 2)],
            t =>
            {
                var h = Ops.Linear(t[0], t[1], t[2]);
                return Ops.Add(Ops.Square(h), Ops.MulScalar(h, -1.5f));
            }),
    ];

    private static GradCheckCase Case(string op, string name, string kinks, Func<SeededRandom, CheckInput[]> inputs,
        Func<Tensor[], Tensor> forward, double tolerance = Smooth) => new(op, name, kinks, tolerance, inputs, forward);

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
