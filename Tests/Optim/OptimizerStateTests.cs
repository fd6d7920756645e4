using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Backends.Cpu;
using SimilarFaces.Engine.Nn;
using SimilarFaces.Engine.Optim;

namespace SimilarFaces.Tests.Optim;

/// <summary>An optimizer's state is named after the parameters it belongs to, so checkpoints need no index mapping.</summary>
public sealed class OptimizerStateTests
{
    private CpuBackend _backend = null!;

    [SetUp]
    public void Open() => _backend = new CpuBackend();

    [TearDown]
    public void Close() => _backend.Dispose();

    private Sequential Network() => new(new Linear(_backend, 3, 2, new SeededRandom(1)), new ReLU(), new Linear(_backend, 2, 1, new SeededRandom(2), bias: false));

    [Test]
    public void AdamStateIsNamedAfterTheModulesParameters()
    {
        using var network = Network();
        using var adam = new Adam(network.NamedParameters());
        Assert.That(adam.ParameterNames, Is.EqualTo(new[] { "0.weight", "0.bias", "2.weight" }));
        Assert.That(adam.NamedState().Select(s => s.Name), Is.EqualTo(new[]
        {
            "0.weight.exp_avg", "0.weight.exp_avg_sq", "0.bias.exp_avg", "0.bias.exp_avg_sq", "2.weight.exp_avg", "2.weight.exp_avg_sq",
        }));
        Assert.That(adam.NamedState().Select(s => s.Tensor.Shape), Is.EqualTo(new[] { new[] { 2, 3 }, [2, 3], [2], [2], [1, 2], [1, 2] }));
    }

    [Test]
    public void UnnamedParametersAreNamedByPosition()
    {
        using var network = Network();
        using var sgd = new Sgd(network.Parameters(), learningRate: 0.1f, momentum: 0.9f);
        Assert.That(sgd.NamedState().Select(s => s.Name), Is.EqualTo(new[] { "0.momentum_buffer", "1.momentum_buffer", "2.momentum_buffer" }));
    }

    [Test]
    public void RepeatedNamesAndFrozenParametersAreRefusedByName()
    {
        using var network = Network();
        var weight = network.NamedParameters().First().Tensor;
        var repeated = Assert.Throws<ArgumentException>(() => new Adam([("w", weight), ("w", weight)]))!;
        Assert.That(repeated.Message, Does.Contain("two parameters are named 'w'"));
        using var frozen = Tensor.Zeros(_backend, 2);
        var refused = Assert.Throws<ArgumentException>(() => new Sgd([("frozen", frozen)], learningRate: 0.1f))!;
        Assert.That(refused.Message, Does.Contain("parameter 'frozen' (2) does not require gradients"));
    }
}
