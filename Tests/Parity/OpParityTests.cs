using System.Text.Json;
using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends;
using SimilarFaces.Engine.IO;
using SimilarFaces.Engine.Optim;

namespace SimilarFaces.Tests.Parity;

/// <summary>
/// Every op against PyTorch 1.13 (fixtures by tools/reference/gen_fixtures.py): the same inputs and upstream
/// gradient give the same output and the same gradient for every input, within rtol 1e-4 and atol 1e-5,
/// on every device. Edge cases are in the fixtures on purpose (ReLU at 0, clamp at its minimum, pool ties,
/// identical rows for the distance, distances on both sides of the margin).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class OpParityTests(string device) : DeviceTest(device)
{
    private const double Rtol = 1e-4, Atol = 1e-5;

    public static IEnumerable<TestCaseData> Cases => Fixtures.OpCases.Select(c => new TestCaseData(c).SetArgDisplayNames(c));

    [TestCaseSource(nameof(Cases))]
    public void MatchesPyTorch(string name)
    {
        var file = Fixtures.Load(Path.Combine("ops", name + ".safetensors"));
        using var args = JsonDocument.Parse(file.Metadata["args"]);
        if (name.StartsWith("adam") || name.StartsWith("sgd"))
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

    /// <summary>The op a fixture holds, run on its inputs (shared with <see cref="Autograd.OpCoverageTests"/>).</summary>
    internal static Tensor Forward(string name, Dictionary<string, Tensor> t, JsonElement args, SafeTensors.Contents file)
    {
        int Int(string key) => args.GetProperty(key).GetInt32();
        float Float(string key) => args.GetProperty(key).GetSingle();
        (int, int) Pair(string key) => (args.GetProperty(key)[0].GetInt32(), args.GetProperty(key)[1].GetInt32());
        return name switch
        {
            _ when name.StartsWith("linear") => Ops.Linear(t["x"], t["weight"], t.GetValueOrDefault("bias")),
            _ when name.StartsWith("conv2d") => Ops.Conv2d(t["x"], t["weight"], t.GetValueOrDefault("bias"), Pair("stride"), Pair("padding")),
            _ when name.StartsWith("replication_pad2d") => Ops.ReplicationPad2d(t["x"], Int("left"), Int("right"), Int("top"), Int("bottom")),
            _ when name.StartsWith("reflection_pad2d") => Ops.ReflectionPad2d(t["x"], Int("left"), Int("right"), Int("top"), Int("bottom")),
            _ when name.StartsWith("maxpool2d") => Ops.MaxPool2d(t["x"], Pair("kernel_size"), Pair("stride")),
            _ when name.StartsWith("batchnorm") => Ops.BatchNorm(t["x"], t["weight"], t["bias"], t["running_mean"], t["running_var"],
                args.GetProperty("training").GetBoolean(), Float("momentum"), Float("eps")),
            "relu" => Ops.Relu(t["x"]),
            "add" => Ops.Add(t["x"], t["y"]),
            "sub" => Ops.Sub(t["x"], t["y"]),
            "mul" => Ops.Mul(t["x"], t["y"]),
            "add_scalar" => Ops.AddScalar(t["x"], Float("scalar")),
            "mul_scalar" => Ops.MulScalar(t["x"], Float("scalar")),
            "square" => Ops.Square(t["x"]),
            "sqrt" => Ops.Sqrt(t["x"]),
            "clamp_min" => Ops.ClampMin(t["x"], Float("min")),
            "sum" => Ops.Sum(t["x"]),
            "mean" => Ops.Mean(t["x"]),
            "pairwise_distance" => Ops.PairwiseDistance(t["a"], t["b"], Float("eps")),
            "contrastive_loss" => Ops.ContrastiveLoss(t["d"], t["y"], Float("margin")),
            "l2_normalize" => Ops.L2Normalize(t["x"], Float("eps")),
            "cross_entropy" => Ops.CrossEntropy(t["logits"], file.Get("target", name).Longs!.Select(v => (int)v).ToArray()),
            _ => throw new AssertionException($"fixture {name} has no runner in {nameof(OpParityTests)}"),
        };
    }

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
