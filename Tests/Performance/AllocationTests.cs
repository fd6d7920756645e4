using NUnit.Framework;
using SimilarFaces.Engine;
using SimilarFaces.Model;
using SimilarFaces.Model.Data;

namespace SimilarFaces.Tests.Performance;

/// <summary>
/// A warmed-up training step of the seed network on the cpu backend (Trainer, batch 8 pairs) must not churn
/// memory. Allocation counts only: timings belong to the Benchmarks project. What is measured:
/// - device buffers: the backend pool's Allocations counter stays put (every buffer is reused) and no buffer
///   stays rented;
/// - managed bytes: on the stepping thread (GC.GetAllocatedBytesForCurrentThread: the tape, its closures,
///   Parallel.For's bookkeeping) every step stays under <see cref="StepBound"/>; over all threads
///   (GC.GetTotalAllocatedBytes) too. The bound is below the network's smallest activation
///   at this batch (8×4×100×100 floats, 1.28 MB), so a step that allocates any activation-, gradient- or
///   weight-sized array fails. A single array between the large-object threshold (85,000 bytes) and the bound
///   would pass unseen: byte counts cannot tell one large array from many small objects.
/// Kernels keep their packing scratch per thread; the cpu backend runs them on its own fixed threads, so no
/// thread appears after warm-up to allocate it again.
/// </summary>
[NonParallelizable]
public sealed class AllocationTests
{
    private const long StepBound = 1 << 20;
    private const int WarmUpSteps = 3, MeasuredSteps = 5;

    [Test]
    public void WarmedUpTrainingStepReusesEveryDeviceBufferAndAllocatesLittleManagedMemory()
    {
        using var backend = Devices.Open("cpu");
        var faces = new SyntheticFaces(identities: 4, imagesPerIdentity: 8, height: 100, width: 100, seed: 3);
        using var model = new SiameseNetwork(backend, SiameseArchitecture.Seed, new SeededRandom(5));
        using var trainer = new Trainer(model, faces, new TrainingSettings { BatchSize = 8, Epochs = 100 });
        for (int i = 0; i < WarmUpSteps; i++) trainer.Step();

        var pool = backend.PoolStatistics;
        var steppingThread = new long[MeasuredSteps];
        var allThreads = new long[MeasuredSteps];
        for (int i = 0; i < MeasuredSteps; i++)
        {
            long thread = GC.GetAllocatedBytesForCurrentThread(), total = GC.GetTotalAllocatedBytes(precise: true);
            trainer.Step();
            steppingThread[i] = GC.GetAllocatedBytesForCurrentThread() - thread;
            allThreads[i] = GC.GetTotalAllocatedBytes(precise: true) - total;
        }
        var after = backend.PoolStatistics;

        TestContext.Out.WriteLine($"managed bytes per warmed-up step at batch 8 pairs, stepping thread: {string.Join(", ", steppingThread)}");
        TestContext.Out.WriteLine($"managed bytes per warmed-up step at batch 8 pairs, all threads: {string.Join(", ", allThreads)}");
        TestContext.Out.WriteLine($"device buffers over {MeasuredSteps} steps: {after.Allocations - pool.Allocations} allocated, {after.Reuses - pool.Reuses} reused");
        Assert.That(after.Allocations, Is.EqualTo(pool.Allocations), "every device buffer of a warmed-up step comes from the pool");
        Assert.That(after.BuffersLive, Is.EqualTo(pool.BuffersLive), "a step returns every buffer it rents");
        Assert.That(steppingThread, Has.All.LessThan(StepBound), "managed bytes allocated by the stepping thread in each step");
        Assert.That(allThreads, Has.All.LessThan(StepBound), "managed bytes allocated by all threads in each step");
    }
}
