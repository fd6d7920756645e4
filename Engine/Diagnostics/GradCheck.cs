using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;

namespace SimilarFaces.Engine.Diagnostics;

/// <summary>One input of a gradient-check problem; <paramref name="Differentiable"/> false for labels and statistics.</summary>
public sealed record CheckInput(string Name, int[] Shape, float[] Values, bool Differentiable = true)
{
    /// <summary>The input as a tensor on <paramref name="backend"/>, requiring gradients when it is differentiable.</summary>
    internal Tensor ToTensor(IBackend backend)
    {
        var t = Tensor.FromArray(backend, Values, Shape);
        t.RequiresGrad = Differentiable;
        return t;
    }
}

/// <summary>
/// An op under test: its inputs (drawn from a seeded generator, kept away from the op's declared kinks)
/// and the forward pass that maps them to one output tensor.
/// </summary>
public sealed record GradCheckCase(
    string Op, string Name, string Kinks, double Tolerance,
    Func<SeededRandom, CheckInput[]> MakeInputs, Func<Tensor[], Tensor> Forward);

/// <summary>Worst normalised error of one input's gradient.</summary>
public sealed record GradCheckResult(string Case, string Op, string Input, int Checked, double MaxError, double Tolerance)
{
    /// <summary>True when the worst error is within the tolerance.</summary>
    public bool Passed => MaxError <= Tolerance;
}

/// <summary>
/// Finite-difference gradient checker. The output y is projected on a fixed random direction R,
/// L = Σ y·R (in double on the host), and for each checked element i of each differentiable input
///   numeric_i = (L(x + h·e_i) − L(x − h·e_i)) / 2h,   analytic_i = (backward of R)_i
/// The error of an input is max_i |numeric_i − analytic_i| / max(max_i |numeric_i|, 1e-3): normalised by the
/// gradient's scale, so one tolerance serves ops of any magnitude. float32 forwards with h = 1e-2 give
/// errors near 1e-4 on smooth ops; a backward that is wrong by a few percent fails.
/// </summary>
public static class GradCheck
{
    /// <summary>The finite-difference step h.</summary>
    public const float Step = 1e-2f;
    private const int MaxCheckedPerInput = 40;

    /// <summary>Checks every differentiable input of <paramref name="c"/> on <paramref name="backend"/>, with inputs drawn from <paramref name="seed"/>.</summary>
    public static IReadOnlyList<GradCheckResult> Run(GradCheckCase c, IBackend backend, ulong seed = 1)
    {
        var rng = new SeededRandom(seed);
        var specs = c.MakeInputs(rng);
        var results = new List<GradCheckResult>();
        using var scope = new TensorScope();
        var inputs = specs.Select(s => s.ToTensor(backend)).ToArray();
        try
        {
            var output = c.Forward(inputs);
            var direction = new float[output.Length];
            for (int i = 0; i < direction.Length; i++) direction[i] = rng.NextSymmetric(1.0);
            output.Backward(Tensor.FromArray(backend, direction, output.Shape));

            for (int j = 0; j < inputs.Length; j++)
            {
                if (!specs[j].Differentiable) continue;
                var analytic = inputs[j].Grad?.ToArray() ?? new float[inputs[j].Length];
                var values = (float[])specs[j].Values.Clone();
                double worst = 0, scale = 1e-3;
                var indices = ChooseIndices(values.Length, rng);
                var numeric = new double[indices.Length];
                for (int q = 0; q < indices.Length; q++)
                {
                    int i = indices[q];
                    float original = values[i];
                    values[i] = original + Step;
                    double plus = Projected(c, inputs, j, values, direction);
                    values[i] = original - Step;
                    double minus = Projected(c, inputs, j, values, direction);
                    values[i] = original;
                    numeric[q] = (plus - minus) / (2.0 * Step);
                    scale = Math.Max(scale, Math.Abs(numeric[q]));
                }
                inputs[j].CopyFrom(values);
                for (int q = 0; q < indices.Length; q++)
                    worst = Math.Max(worst, Math.Abs(numeric[q] - analytic[indices[q]]) / scale);
                results.Add(new GradCheckResult(c.Name, c.Op, specs[j].Name, indices.Length, worst, c.Tolerance));
            }
        }
        finally
        {
            foreach (var t in inputs) t.Dispose();
        }
        return results;
    }

    private static double Projected(GradCheckCase c, Tensor[] inputs, int which, float[] values, float[] direction)
    {
        inputs[which].CopyFrom(values);
        using var scope = new TensorScope();
        using var noGrad = Tape.NoGrad();
        var y = c.Forward(inputs).ToArray();
        double sum = 0;
        for (int i = 0; i < y.Length; i++) sum += (double)y[i] * direction[i];
        return sum;
    }

    private static int[] ChooseIndices(int length, SeededRandom rng)
    {
        if (length <= MaxCheckedPerInput) return Enumerable.Range(0, length).ToArray();
        var chosen = new SortedSet<int>();
        while (chosen.Count < MaxCheckedPerInput) chosen.Add(rng.NextInt(length));
        return chosen.ToArray();
    }
}
