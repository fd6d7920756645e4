using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Nn;

namespace SimilarFaces.Tests.Nn;

/// <summary>
/// A Conv2d with the padding layer before it and the ReLU after it runs as one op, with the outputs and gradients of
/// the layers apart, bit for bit, and so does a BatchNorm2d after the ReLU in training; a padding layer before a
/// convolution that pads itself (here replicating its edges) runs apart.
/// </summary>
public sealed class SequentialTests
{
    [Test]
    public void ConvolutionThenReluRunsAsOneOpWithTheSameResults()
    {
        using var backend = new CpuBackend();
        var rng = new SeededRandom(1);
        using var first = new Conv2d(backend, 2, 3, (3, 3), rng);
        using var second = new Conv2d(backend, 3, 4, (3, 3), rng, padding: (1, 1), paddingMode: PaddingMode.Replicate);
        using var network = new Sequential(new ReflectionPad2d(1), first, new ReLU(), new ReplicationPad2d(2), second);
        var random = new SeededRandom(2);
        var pixels = Enumerable.Range(0, 2 * 2 * 7 * 6).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();

        var (output, fusedGradients, ops) = Run(backend, pixels, x => network.Forward(x), [first.Weight, first.Bias!, second.Weight]);
        var (expected, separateGradients, separateOps) = Run(backend, pixels,
            x => Ops.Conv2d(Ops.ReplicationPad2d(Ops.ReplicationPad2d(Ops.Relu(Ops.Conv2d(Ops.ReflectionPad2d(x, 1, 1, 1, 1), first.Weight, first.Bias)),
                2, 2, 2, 2), 1, 1, 1, 1), second.Weight, second.Bias),
            [first.Weight, first.Bias!, second.Weight]);

        Assert.That(ops, Is.EqualTo(new[] { "Conv2dRelu", "ReplicationPad2d", "Conv2d" }), "the ops the forward records, first to last");
        Assert.That(separateOps, Is.EqualTo(new[] { "ReflectionPad2d", "Conv2d", "Relu", "ReplicationPad2d", "ReplicationPad2d", "Conv2d" }));
        Assert.That(output, Is.EqualTo(expected));
        Assert.That(output.Count(v => v == 0), Is.Zero, "the last convolution is not followed by a ReLU");
        Assert.That(fusedGradients, Is.EqualTo(separateGradients), "gradients of the input and the parameters");
    }

    [Test]
    public void BatchNormAfterTheReluRunsWithTheConvolutionInTrainingWithTheSameResults()
    {
        using var backend = new CpuBackend();
        var rng = new SeededRandom(3);
        using var conv = new Conv2d(backend, 2, 3, (3, 3), rng);
        using var norm = new BatchNorm2d(backend, 3);
        using var separateNorm = new BatchNorm2d(backend, 3);
        using var network = new Sequential(new ReflectionPad2d(1), conv, new ReLU(), norm);
        var random = new SeededRandom(4);
        var pixels = Enumerable.Range(0, 2 * 2 * 7 * 6).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        foreach (var (target, value) in new[] { (norm.Weight, 1.3f), (norm.Bias, -0.2f), (separateNorm.Weight, 1.3f), (separateNorm.Bias, -0.2f) })
            target.CopyFrom(Enumerable.Repeat(value, 3).ToArray());
        Tensor[] Parameters(BatchNorm2d n) => [conv.Weight, conv.Bias!, n.Weight, n.Bias];

        var (output, fusedGradients, ops) = Run(backend, pixels, x => network.Forward(x), Parameters(norm));
        var (expected, separateGradients, separateOps) = Run(backend, pixels,
            x => separateNorm.Forward(Ops.Relu(Ops.Conv2d(Ops.ReflectionPad2d(x, 1, 1, 1, 1), conv.Weight, conv.Bias))), Parameters(separateNorm));

        Assert.That(ops, Is.EqualTo(new[] { "Conv2dReluBatchNorm" }), "the ops the forward records");
        Assert.That(separateOps, Is.EqualTo(new[] { "ReflectionPad2d", "Conv2d", "Relu", "BatchNorm" }));
        Assert.That(output, Is.EqualTo(expected));
        Assert.That(fusedGradients, Is.EqualTo(separateGradients), "gradients of the input and the parameters");
        Assert.That(fusedGradients[0].Count(v => v == 0), Is.LessThan(fusedGradients[0].Length / 4), "the input's gradient is not cut off");
        Assert.That(norm.RunningMean.ToArray(), Is.EqualTo(separateNorm.RunningMean.ToArray()));
        Assert.That(norm.RunningVar.ToArray(), Is.EqualTo(separateNorm.RunningVar.ToArray()));
        Assert.That(norm.BatchesTracked, Is.EqualTo(1));

        network.Train(false);
        var (_, _, evaluationOps) = Run(backend, pixels, x => network.Forward(x), Parameters(norm));
        Assert.That(evaluationOps, Is.EqualTo(new[] { "Conv2dRelu", "BatchNorm" }), "with the running statistics the batch norm runs apart");
        Assert.That(norm.BatchesTracked, Is.EqualTo(1));
    }

    /// <summary>
    /// Two batches in one pass, BatchNorm (fused with the convolution, and alone) normalising each by its own statistics,
    /// against a forward per batch: the outputs, the input's gradient and BatchNorm's parameters' gradients bit for bit,
    /// the running statistics too; the convolution's weight gradient sums all images at once, so it holds to rounding.
    /// </summary>
    [Test]
    public void BatchesInOnePassMatchAForwardPerBatch()
    {
        using var backend = new CpuBackend();
        Sequential Network(out BatchNorm2d[] norms)
        {
            var rng = new SeededRandom(7);
            norms = [new BatchNorm2d(backend, 3), new BatchNorm2d(backend, 4)];
            return new Sequential(new ReflectionPad2d(1), new Conv2d(backend, 2, 3, (3, 3), rng), new ReLU(), norms[0],
                new Conv2d(backend, 3, 4, (3, 3), rng), norms[1], new MaxPool2d((2, 2)));
        }
        using var together = Network(out var togetherNorms);
        using var apart = Network(out var apartNorms);
        var random = new SeededRandom(8);
        var pixels = Enumerable.Range(0, 4 * 2 * 7 * 6).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
        int half = pixels.Length / 2;
        Tensor[] Parameters(Sequential network) => network.Parameters().ToArray();

        var (output, gradients, ops) = RunBatches(backend, pixels, x => together.Forward(x, batches: 2), Parameters(together));
        var (expected, expectedGradients, _) = RunBatches(backend, pixels, x => Ops.Concat(
            apart.Forward(Ops.Narrow(x, 0, 2)), apart.Forward(Ops.Narrow(x, 2, 2))), Parameters(apart));

        Assert.That(ops, Is.EqualTo(new[] { "Conv2dReluBatchNorm", "Conv2d", "BatchNorm", "MaxPool2d" }), "the ops the forward records");
        Assert.That(output, Is.EqualTo(expected));
        Assert.That(gradients[0], Is.EqualTo(expectedGradients[0]), "the input's gradient");
        var convolutions = together.Layers.OfType<Conv2d>().SelectMany(c => new[] { c.Weight, c.Bias! }).ToHashSet();
        var named = together.NamedParameters().ToArray();
        for (int i = 0; i < named.Length; i++)
        {
            float[] actual = gradients[i + 1], wanted = expectedGradients[i + 1];
            if (convolutions.Contains(named[i].Tensor))
                Assert.That(actual, Is.EqualTo(wanted).Within(1e-5 * wanted.Max(Math.Abs)), named[i].Name);
            else Assert.That(actual, Is.EqualTo(wanted), named[i].Name);
        }
        foreach (var (one, other) in togetherNorms.Zip(apartNorms))
        {
            Assert.That(one.RunningMean.ToArray(), Is.EqualTo(other.RunningMean.ToArray()), "running mean");
            Assert.That(one.RunningVar.ToArray(), Is.EqualTo(other.RunningVar.ToArray()), "running var");
            Assert.That(one.BatchesTracked, Is.EqualTo(2));
        }
    }

    [Test]
    public void BatchesInOnePassRefuseLayersThatMixThem()
    {
        using var backend = new CpuBackend();
        using var dropout = new Sequential(new ReLU(), new Dropout(0.5f, new SeededRandom(1)));
        using var scope = new TensorScope();
        var x = Tensor.Zeros(backend, 4, 3);
        var refused = Assert.Throws<NotSupportedException>(() => dropout.Forward(x, batches: 2))!;
        Assert.That(refused.Message, Does.Contain("layer 1 (Dropout) cannot run 2 batches in one pass"));
        Assert.That(dropout.Forward(x, batches: 1).Shape, Is.EqualTo(new[] { 4, 3 }), "one batch is a plain forward");
        dropout.Train(false);
        Assert.That(dropout.Forward(x, batches: 2).Shape, Is.EqualTo(new[] { 4, 3 }), "dropout in evaluation acts on each image apart");
        var uneven = Assert.Throws<ArgumentException>(() => dropout.Forward(x, batches: 3))!;
        Assert.That(uneven.Message, Does.Contain("batches must be at least 1 and divide the rows of input (4,3), got 3"));
    }

    [Test]
    public void AConvolutionLayerFillsItsPaddingAsItsModeSays()
    {
        using var backend = new CpuBackend();
        using var layer = new Conv2d(backend, 2, 3, (3, 3), new SeededRandom(1), padding: (2, 1), paddingMode: PaddingMode.Reflect);
        var random = new SeededRandom(2);
        using var scope = new TensorScope();
        var x = Tensor.FromArray(backend, Enumerable.Range(0, 2 * 2 * 5 * 6).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray(), 2, 2, 5, 6);

        var y = layer.Forward(x).ToArray();

        Assert.That(y, Is.EqualTo(Ops.Conv2d(Ops.ReflectionPad2d(x, 1, 1, 2, 2), layer.Weight, layer.Bias).ToArray()));
    }

    // Run on four images
    private static (float[] Output, float[][] Gradients, string[] Ops) RunBatches(CpuBackend backend, float[] pixels,
        Func<Tensor, Tensor> forward, Tensor[] parameters) => Run(backend, pixels, forward, parameters, images: 4);

    // the output, the gradients of the input and of the parameters after backward of Σ output², and the recorded ops
    private static (float[] Output, float[][] Gradients, string[] Ops) Run(CpuBackend backend, float[] pixels,
        Func<Tensor, Tensor> forward, Tensor[] parameters, int images = 2)
    {
        foreach (var p in parameters)
        {
            p.Grad?.Dispose();
            p.Grad = null;
        }
        using var scope = new TensorScope();
        var x = Tensor.FromArray(backend, pixels, images, 2, 7, 6);
        x.RequiresGrad = true;
        var y = forward(x);
        var ops = new List<string>();
        for (var node = y.Node; node != null; node = node.Inputs[0].Node) ops.Insert(0, node.Op);
        Ops.Sum(Ops.Mul(y, y)).Backward();
        return (y.ToArray(), [x.Grad!.ToArray(), .. parameters.Select(p => p.Grad!.ToArray())], ops.ToArray());
    }
}
