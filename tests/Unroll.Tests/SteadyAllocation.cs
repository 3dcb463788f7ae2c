using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>
/// Whether a repeated step settles into allocating nothing, on the calling thread and on the kernel worker threads.
/// </summary>
/// <remarks>
/// The kernels keep per-thread scratch buffers that a thread allocates the first time it runs a kind of part, and in
/// the claiming worker pool which thread runs which part depends on timing: under load the worker may first run some
/// kind of part many steps in. So the check is not "the steps after a fixed warm-up allocate nothing", which fails
/// whenever a thread meets a part late, but "the step settles": within <c>maxSteps</c>, <c>quietSteps</c> steps in a row
/// allocate nothing. One-time allocations are few (threads times kinds of parts); a step that allocates every time
/// never settles, whatever the timing. Measuring step by step also keeps a garbage collection that other tests' threads
/// set off from being counted against a long run of steps: the per-thread count is read from the thread's allocation
/// context, which a collection resets.
/// </remarks>
internal static class SteadyAllocation
{
    /// <summary>Runs <paramref name="step"/> until <paramref name="quietSteps"/> steps in a row allocate nothing; the bytes each step allocated.</summary>
    public static (bool Settled, List<long> BytesPerStep) Run(Action step, int maxSteps = 60, int quietSteps = 4)
    {
        var bytes = new List<long>();
        int quiet = 0;
        while (bytes.Count < maxSteps && quiet < quietSteps)
        {
            long caller = GC.GetAllocatedBytesForCurrentThread(), workers = WorkerPool.WorkerAllocatedBytes;
            step();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - caller + (WorkerPool.WorkerAllocatedBytes - workers);
            bytes.Add(allocated);
            quiet = allocated == 0 ? quiet + 1 : 0;
        }

        return (quiet >= quietSteps, bytes);
    }

    /// <summary>Fails unless <paramref name="step"/> settles (see <see cref="Run"/>).</summary>
    public static void AssertSettles(Action step, int maxSteps = 60, int quietSteps = 4)
    {
        var (settled, bytes) = Run(step, maxSteps, quietSteps);
        Assert.True(settled, $"the step kept allocating: bytes per step {string.Join(", ", bytes)}");
    }
}
