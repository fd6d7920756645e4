using System.Collections.Concurrent;

namespace SimilarFaces.Engine.Backends.Cpu;

/// <summary>
/// The cpu backend's threads: one fixed set, started once per process, that every parallel kernel runs on
/// (with the calling thread). Kernels keep packing and padding scratch per thread; on a fixed set of threads
/// that scratch is allocated once, where the .NET thread pool would add threads under load and each new
/// thread would allocate its own.
/// </summary>
internal sealed class Workers : TaskScheduler
{
    public static readonly Workers Shared = new(Environment.ProcessorCount);

    private readonly BlockingCollection<Task> _queue = new();
    private readonly int _threads;

    private Workers(int threads)
    {
        _threads = threads;
        for (int i = 0; i < threads; i++)
            new Thread(Run) { IsBackground = true, Name = $"cpu backend worker {i}" }.Start();
    }

    public ParallelOptions Options => new() { TaskScheduler = this };

    public override int MaximumConcurrencyLevel => _threads;

    private void Run()
    {
        foreach (var task in _queue.GetConsumingEnumerable()) TryExecuteTask(task);
    }

    protected override void QueueTask(Task task) => _queue.Add(task);

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        !taskWasPreviouslyQueued && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();
}
