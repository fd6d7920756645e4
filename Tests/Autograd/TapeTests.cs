using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Engine.Autograd;

namespace SimilarFaces.Tests.Autograd;

/// <summary>The tape's contract: accumulation, no-grad, release of the graph and of memory, errors.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Fixtures))]
public sealed class TapeTests(string device) : DeviceTest(device)
{
    [Test]
    public void GradientsAccumulateUntilZeroed()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [1f, 2f, 3f], 3);
        x.RequiresGrad = true;
        Ops.Sum(Ops.Square(x)).Backward();
        Ops.Sum(Ops.Square(x)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4f, 8f, 12f }), "two backwards of Σx² add 2x twice");
        x.ZeroGrad();
        Ops.Sum(Ops.MulScalar(x, 3f)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 3f, 3f, 3f }));
    }

    [Test]
    public void ATensorUsedTwiceGetsBothGradients()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [2f, -1f], 2);
        x.RequiresGrad = true;
        Ops.Sum(Ops.Mul(x, x)).Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4f, -2f }), "d(x·x)/dx = 2x");
    }

    [Test]
    public void AnIntermediateUsedTwiceByOneOpGetsBothGradients()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [2f, -1f, 0.5f], 3);
        x.RequiresGrad = true;
        var h = Ops.Square(x);
        Ops.Sum(Ops.Mul(h, h)).Backward();
        // loss = Σ h·h, dloss/dh = 2h = 2x²; dh/dx = 2x, so dloss/dx = 4x³
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 32f, -4f, 0.5f }));
    }

    [Test]
    public void AnIntermediateFeedingTwoOpsGetsBothGradients()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [2f, -1f, 0.5f], 3);
        x.RequiresGrad = true;
        var h = Ops.Square(x);
        var fromProduct = Ops.Mul(h, x);
        var fromScale = Ops.MulScalar(h, 3f);
        Ops.Sum(Ops.Add(fromProduct, fromScale)).Backward();
        // loss = Σ x³ + 3x², dloss/dx = 3x² + 6x: h passes on 3·2x from the scale and x·2x from the product,
        // and x also gets h = x² directly from the product
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 24f, -3f, 3.75f }));
    }

    [Test]
    public void NoGradRecordsNothing()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [1f, 2f], 2);
        x.RequiresGrad = true;
        Tensor y;
        using (Tape.NoGrad()) y = Ops.Sum(Ops.Square(x));
        Assert.That(y.TracksGrad, Is.False);
        Assert.That(Tape.IsRecording, Is.True, "recording resumes after the scope");
    }

    [Test]
    public void OpsOverConstantsRecordNothing()
    {
        using var scope = new TensorScope();
        var a = Tensor.Full(Backend, 2f, 3);
        var b = Tensor.Full(Backend, 5f, 3);
        Assert.That(Ops.Mul(a, b).TracksGrad, Is.False, "no input tracks gradients, so the product has no node");
    }

    [Test]
    public void DisposingANoGradScopeTwiceEndsItOnce()
    {
        var noGrad = Tape.NoGrad();
        noGrad.Dispose();
        noGrad.Dispose();
        Assert.That(Tape.IsRecording, Is.True);
    }

    [Test]
    public void BackwardFromALeafSeedsItsGradientWithOne()
    {
        using var x = Tensor.Persistent(Backend, [3f], 1);
        x.RequiresGrad = true;
        using (new TensorScope()) x.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1f }), "dx/dx = 1, kept after the scope that made it ends");
        using var constant = Tensor.Persistent(Backend, [3f], 1);
        using (new TensorScope()) constant.Backward();
        Assert.That(constant.Grad, Is.Null, "a leaf without RequiresGrad gets no gradient");
    }

    [Test]
    public void AnInputWithoutRequiresGradGetsNoGradient()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [1f, 2f, 4f, 8f], 2, 2);
        using var gamma = Tensor.Persistent(Backend, [1f, 1f], 2);
        using var beta = Tensor.Persistent(Backend, [0f, 0f], 2);
        using var runningMean = Tensor.Persistent(Backend, [0f, 0f], 2);
        using var runningVar = Tensor.Persistent(Backend, [1f, 1f], 2);
        x.RequiresGrad = true;
        Ops.Sum(Ops.Square(Ops.BatchNorm(x, gamma, beta, runningMean, runningVar, training: true))).Backward();
        Assert.That(x.Grad, Is.Not.Null);
        Assert.That(gamma.Grad, Is.Null, "BatchNorm's backward computes dγ, but γ does not want it");
        Assert.That(beta.Grad, Is.Null);
    }

    [Test]
    public void DisposingATensorScopeTwiceIsHarmless()
    {
        var scope = new TensorScope();
        scope.Dispose();
        Assert.DoesNotThrow(scope.Dispose);
    }

    [Test]
    public void DisposingScopesOutOfOrderIsAnError()
    {
        // on a thread of its own, whose scope nesting the error leaves broken and which ends with it
        InvalidOperationException? error = null;
        var thread = new Thread(() =>
        {
            var outer = new TensorScope();
            using var inner = new TensorScope();
            try { outer.Dispose(); }
            catch (InvalidOperationException e) { error = e; }
        });
        thread.Start();
        thread.Join();
        Assert.That(error, Is.Not.Null, "disposing the outer scope first throws");
        Assert.That(error!.Message, Does.Contain("reverse order of creation"));
    }

    [Test]
    public void TheGraphIsReleasedAfterBackward()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [1f, 2f], 2);
        x.RequiresGrad = true;
        var hidden = Ops.Square(x);
        var y = Ops.Sum(hidden);
        y.Backward();
        Assert.That(hidden.TracksGrad, Is.False, "intermediate tensors forget their node");
        Assert.That(y.TracksGrad, Is.False);
    }

    [Test]
    public void ScopesReturnMemoryToThePool()
    {
        using var w = Tensor.Persistent(Backend, new float[64 * 32], 32, 64);
        w.RequiresGrad = true;
        void Step()
        {
            using var scope = new TensorScope();
            var x = Tensor.Full(Backend, 0.5f, 16, 64);
            Ops.Mean(Ops.Relu(Ops.Linear(x, w))).Backward();
            w.ZeroGrad();
        }
        Step();
        Step();
        var before = Backend.PoolStatistics;
        for (int i = 0; i < 5; i++) Step();
        var after = Backend.PoolStatistics;
        Assert.That(after.Allocations, Is.EqualTo(before.Allocations), "a repeated step reuses pooled buffers after warm-up");
        Assert.That(after.BuffersLive, Is.EqualTo(before.BuffersLive), "a step leaves no buffer behind");
    }

    [Test]
    public void ShapeMismatchNamesTheOpAndBothShapes()
    {
        using var scope = new TensorScope();
        var x = Tensor.Zeros(Backend, 3, 5);
        var w = Tensor.Zeros(Backend, 4, 6);
        var e = Assert.Throws<ArgumentException>(() => Ops.Linear(x, w))!;
        Assert.That(e.Message, Does.Contain("Linear").And.Contain("(3,5)").And.Contain("(4,6)"));
        var a = Tensor.Zeros(Backend, 2, 3);
        var b = Tensor.Zeros(Backend, 3, 2);
        var e2 = Assert.Throws<ArgumentException>(() => Ops.Add(a, b))!;
        Assert.That(e2.Message, Does.Contain("Add").And.Contain("(2,3)").And.Contain("(3,2)"));
    }

    [Test]
    public void BackwardNeedsAScalar()
    {
        using var scope = new TensorScope();
        using var x = Tensor.Persistent(Backend, [1f, 2f], 2);
        x.RequiresGrad = true;
        var e = Assert.Throws<InvalidOperationException>(() => Ops.Square(x).Backward())!;
        Assert.That(e.Message, Does.Contain("scalar").And.Contain("(2)"));
    }

    [Test]
    public void RoundTripThroughHostIsExact()
    {
        using var scope = new TensorScope();
        var values = Enumerable.Range(0, 1000).Select(i => MathF.Sin(i) * 1e3f).ToArray();
        var t = Tensor.FromArray(Backend, values, 10, 100);
        Assert.That(t.ToArray(), Is.EqualTo(values));
        Assert.That(Ops.Reshape(t, 1000).ToArray(), Is.EqualTo(values));
    }
}
