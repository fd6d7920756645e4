using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.Diagnostics;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Optim;

namespace SimilarFaces.Tests.Parity;

/// <summary>
/// Every op against PyTorch 1.13 (fixtures by tools/reference/gen_fixtures.py): the same inputs and upstream
/// gradient give the same output and the same gradient for every input, within rtol 1e-4 and atol 1e-5,
/// on every device. Edge cases are in the fixtures on purpose (ReLU at 0, clamp at its minimum, NaN, ±∞ and −0 in
/// every element-wise op, pool ties, identical rows for the distance, distances on both sides of the margin); NaN
/// must meet NaN and an infinity the same infinity.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class OpParityTests(string device) : DeviceTest(device)
{
    private const double Rtol = 1e-4, Atol = 1e-5;

    /// <summary>The fixtures of the optimizers, which are not ops of the table.</summary>
    internal static IEnumerable<string> OptimizerFixtures => Fixtures.OpCases.Where(IsOptimizer);

    /// <summary>Every op's fixtures, as the op table lists them, then the optimizers'.</summary>
    public static IEnumerable<TestCaseData> Cases =>
        OpTable.All.SelectMany(e => e.Fixtures).Concat(OptimizerFixtures).Select(c => new TestCaseData(c).SetArgDisplayNames(c));

    private static bool IsOptimizer(string fixture) => fixture.StartsWith("adam") || fixture.StartsWith("sgd");

    [TestCaseSource(nameof(Cases))]
    public void MatchesPyTorch(string name)
    {
        var file = Fixtures.Load(Path.Combine("ops", name + ".safetensors"));
        using var args = JsonDocument.Parse(file.Metadata["args"]);
        if (IsOptimizer(name))
        {
            CheckOptimizer(name, file, args.RootElement);
            return;
        }

        using var scope = new TensorScope();
        var inputs = Inputs(file, Backend, input => file.Tensors.ContainsKey("grad." + input));
        try
        {
            var output = Forward(name, inputs, args.RootElement, file);
            double worst = Compare(output, file.Get("out", name), $"{name} output");
            if (name.StartsWith("batchnorm") && name.Contains("train"))
            {
                worst = Math.Max(worst, Compare(inputs["running_mean"], file.Get("out.running_mean", name), $"{name} running_mean"));
                worst = Math.Max(worst, Compare(inputs["running_var"], file.Get("out.running_var", name), $"{name} running_var"));
            }
            var gradOut = file.Get("grad_out", name);
            output.Backward(Tensor.FromArray(Backend, gradOut.Floats, output.Shape));
            int gradients = 0;
            foreach (var (inputName, tensor) in inputs)
            {
                if (!file.Tensors.TryGetValue("grad." + inputName, out var expected)) continue;
                Assert.That(tensor.Grad, Is.Not.Null, $"{name}: no gradient reached {inputName}");
                worst = Math.Max(worst, Compare(tensor.Grad!, expected, $"{name} grad.{inputName}"));
                gradients++;
            }
            Assert.That(gradients, Is.GreaterThan(0), $"{name}: the fixture holds no gradient to compare");
            TestContext.Out.WriteLine($"[parity] {name} on {DeviceName}: worst relative error {worst:E2}");
        }
        finally
        {
            foreach (var t in inputs.Values) t.Dispose();
        }
    }

    /// <summary>A fixture's "in." tensors by input name, on <paramref name="backend"/>, requiring gradients where asked.</summary>
    internal static Dictionary<string, Tensor> Inputs(SafeTensors.Contents file, IBackend backend, Func<string, bool> requiresGrad) =>
        file.Tensors.Values.Where(t => t.Name.StartsWith("in.")).ToDictionary(t => t.Name[3..], t =>
        {
            var tensor = Tensor.FromArray(backend, t.Floats, t.Shape);
            tensor.RequiresGrad = requiresGrad(t.Name[3..]);
            return tensor;
        });

    /// <summary>The op of the table that claims the fixture, run on its inputs and arguments (shared with <see cref="Autograd.OpCoverageTests"/>).</summary>
    internal static Tensor Forward(string name, Dictionary<string, Tensor> inputs, JsonElement args, SafeTensors.Contents file)
    {
        if (!OpTable.TryFindFixture(name, out var entry))
            throw new AssertionException($"fixture {name} is claimed by no op of {nameof(OpTable)}");
        var values = args.EnumerateObject().Where(p => p.Value.ValueKind is JsonValueKind.Number or JsonValueKind.True
                or JsonValueKind.False or JsonValueKind.Array)
            .ToDictionary(p => p.Name, p => Numbers(p.Value));
        if (file.Tensors.TryGetValue("target", out var target)) values["target"] = target.Longs!.Select(v => (double)v).ToArray();
        return entry.Call(new OpArguments(inputs, values));
    }

    // a JSON number, flag or list of numbers as the table's argument values
    private static double[] Numbers(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => value.EnumerateArray().SelectMany(Numbers).ToArray(),
        JsonValueKind.True => [1],
        JsonValueKind.False => [0],
        _ => [value.GetDouble()],
    };

    private void CheckOptimizer(string name, SafeTensors.Contents file, JsonElement args)
    {
        var start = file.Get("in.param", name);
        using var param = Tensor.Persistent(Backend, start.Floats, start.Shape);
        param.RequiresGrad = true;
        using Optimizer optimizer = name.StartsWith("adam")
            ? new Adam([param], args.GetProperty("lr").GetSingle(), args.GetProperty("betas")[0].GetSingle(),
                args.GetProperty("betas")[1].GetSingle(), args.GetProperty("eps").GetSingle(), args.GetProperty("weight_decay").GetSingle())
            : new Sgd([param], args.GetProperty("lr").GetSingle(), args.GetProperty("momentum").GetSingle(),
                args.GetProperty("dampening").GetSingle(), args.GetProperty("weight_decay").GetSingle(), args.GetProperty("nesterov").GetBoolean());
        double worst = 0;
        for (int step = 1; step <= 3; step++)
        {
            param.ZeroGrad();
            using (new TensorScope())
            {
                var grad = Tensor.FromArray(Backend, file.Get($"in.grad_step{step}", name).Floats, start.Shape);
                Ops.Sum(Ops.Mul(param, grad)).Backward();
            }
            optimizer.Step();
            worst = Math.Max(worst, Compare(param, file.Get($"out.param_step{step}", name), $"{name} step {step}"));
        }
        var state = optimizer.NamedState().ToDictionary(s => s.Name[(s.Name.LastIndexOf('.') + 1)..], s => s.Tensor);
        foreach (var key in new[] { "exp_avg", "exp_avg_sq", "momentum_buffer" })
            if (file.Tensors.TryGetValue("out." + key, out var expected))
                worst = Math.Max(worst, Compare(state[key], expected, $"{name} {key}"));
        TestContext.Out.WriteLine($"[parity] {name} on {DeviceName}: worst relative error {worst:E2}");
    }

    private static double Compare(Tensor actual, SafeTensor expected, string what)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape");
        return Close.AssertClose(actual.ToArray(), expected.Floats!, Rtol, Atol, what);
    }
}
