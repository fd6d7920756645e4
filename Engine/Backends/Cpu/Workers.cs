using System.Collections.Concurrent;

namespace SimilarFaces.Engine.Backends.Cpu;

/// <summary>
/// The cpu backend's threads: one fixed set, started once per process, that every parallel kernel runs on
/// (with the calling thread). Kernels keep packing and padding scratch per thread; on a fixed set of threads
/// that scratch is allocated once, where the .NET thread pool would add threads under load and each new
/// thread would allocate its own. The thread that calls a loop runs a share of it, so the set holds one thread
/// fewer than the cores (with one per core, three threads took turns on two cores).
/// </summary>
internal sealed class Workers : TaskScheduler
{
    public static readonly Workers Shared = new(Environment.ProcessorCount);

    private readonly BlockingCollection<Task> _queue = new();
    private readonly int _cores;

    private Workers(int cores)
    {
        _cores = cores;
        for (int i = 0; i < Math.Max(1, cores - 1); i++)
            new Thread(Run) { IsBackground = true, Name = $"cpu backend worker {i}" }.Start();
    }

    public ParallelOptions Options => new() { TaskScheduler = this };

    public override int MaximumConcurrencyLevel => _cores;

    private void Run()
    {
        foreach (var task in _queue.GetConsumingEnumerable()) TryExecuteTask(task);
    }

    protected override void QueueTask(Task task) => _queue.Add(task);

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        !taskWasPreviouslyQueued && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();
}
