using System.Runtime.ExceptionServices;

namespace SimilarFaces.Model.Data;

/// <summary>A loop on all cores whose failure is the one a plain loop from the first index up would meet first.</summary>
internal static class OrderedParallel
{
    /// <summary>
    /// Runs <paramref name="body"/>(i) for every i in [0, <paramref name="count"/>). When calls fail, throws the
    /// exception of the lowest failing i: the loop breaks at a failure, which still lets every lower i run.
    /// </summary>
    public static void For(int count, Action<int> body)
    {
        var failures = new Exception?[count];
        var result = Parallel.For(0, count, (i, loop) =>
        {
            try
            {
                body(i);
            }
            catch (Exception e)
            {
                failures[i] = e;
                loop.Break();
            }
        });
        if (result.LowestBreakIteration is long first)
            ExceptionDispatchInfo.Throw(failures[first]!);
    }
}
