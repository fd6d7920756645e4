using System.Diagnostics;

namespace SimilarFaces.Cli;

/// <summary>
/// The pace of a run's training steps, as the benchmark's step timer measures it: examples a second of time spent
/// inside steps. It leaves out the run's first step (JIT compilation, the buffer pool filling up) and whatever runs
/// between steps (validation, checkpoints, the final threshold), whose time the run's elapsed time shows.
/// </summary>
public sealed class StepPace
{
    private readonly Stopwatch _inSteps = new();
    private long _examples;

    /// <summary>Whether a step of this run has finished.</summary>
    public bool TookStep { get; private set; }

    /// <summary>Runs one step; when it finishes, <paramref name="examples"/> says how many examples it took.</summary>
    public T Step<T>(Func<T> step, Func<int> examples)
    {
        if (TookStep) _inSteps.Start();
        T result;
        try
        {
            result = step();
        }
        finally
        {
            _inSteps.Stop();
        }
        if (TookStep) _examples += examples();
        TookStep = true;
        return result;
    }

    /// <summary>Examples a second over the steps after the first; NaN until a second step has finished.</summary>
    public double Rate => _examples > 0 ? _examples / _inSteps.Elapsed.TotalSeconds : double.NaN;
}
