using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Unroll.Kernels;

/// <summary>A piece of parallel work: <see cref="Run"/> is called once for every part index.</summary>
internal interface IParallelJob
{
    /// <summary>Does part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Run(int part, int parts);
}

/// <summary>
/// Persistent worker threads for the kernels: one call splits a job into parts, the calling thread and the
/// workers claim the parts one at a time until none is left, and the call returns when every part is done.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>Parallel.For</c>: the recurrent engine issues one small GEMM per time step (tens of
/// microseconds), and <c>Parallel.For</c> costs several microseconds per call, allocates, and wakes
/// pool threads that may have gone to sleep (measured by <c>Unroll.Bench dispatch</c>, see docs/kernels.md).
/// Here a worker spins for <see cref="SpinTicks"/> after its last part, so the next step's GEMM finds it
/// awake; only after that does it park on its own semaphore. Neither a dispatch nor a worker allocates.
/// </para>
/// <para>
/// Correct by construction, whatever the timing: the whole job lives in one 64-bit word, <see cref="state"/>,
/// holding (generation, parts, next unclaimed part). A thread claims a part with one compare-and-swap that moves
/// "next" on, so every part runs exactly once and the part count it reads belongs to the part it claimed. The job
/// reference is written before the word is published, and read by a thread only after a successful claim: the
/// dispatcher does not return, let alone publish another job, until <see cref="remaining"/> says every part,
/// this claimed one included, has finished. The generation makes every published word differ from every earlier one,
/// so a compare-and-swap prepared against an old word always fails.
/// </para>
/// <para>
/// Parts are claimed, not assigned, so a thread the OS has descheduled (a busy machine) delays only a part it had
/// already claimed: the caller and the other workers run the rest. What a part computes depends only on its index
/// and the part count, never on the thread that runs it, so the results are the same bit for bit whoever runs it.
/// A job must therefore keep any scratch memory per part index (or sized to every part's needs), not per thread.
/// </para>
/// <para>
/// Parking without lost wake-ups: a worker that finds nothing to claim sets its parked flag (a full fence), checks
/// the word again, and waits on its semaphore only if still nothing is there. The dispatcher publishes the word
/// (a full fence) and then swaps each flag back to 0, releasing the semaphore only when it took a 1. Either the
/// dispatcher sees the flag or the worker sees the word; a worker that saw the word after parking swaps its flag
/// back, and getting 0 means the dispatcher already released it, so it consumes that release.
/// </para>
/// <para>
/// One job runs at a time: a call made while the pool is busy (from another thread, or from inside a part)
/// runs all its parts on the calling thread.
/// </para>
/// </remarks>
internal static class WorkerPool
{
    /// <summary>The most parts one dispatch can carry (the width of a field of <see cref="state"/>); more run on the calling thread.</summary>
    internal const int MaxParts = 0xFFFF;

    /// <summary>How long an idle worker keeps looking for work before it parks: covers the element-wise work between two GEMMs of a time step.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 2000; // 0.5 ms

    private static readonly object Gate = new();
    private static Worker[] workers = [];

    // (generation << 32) | (parts << 16) | next unclaimed part. Only the dispatcher moves the generation on.
    private static long state;
    private static IParallelJob? job;
    private static int remaining;
    private static int activeWorkers;
    private static int busy;
    private static Exception? failure;
    private static long workerParts;
    private static long splitParts;

    /// <summary>Runs <paramref name="work"/> as <paramref name="parts"/> parts (at most <see cref="Parallelism.ThreadCount"/> run at once), and returns when all are done.</summary>
    public static void Run(IParallelJob work, int parts)
    {
        int helpers = Math.Min(parts, Parallelism.ThreadCount) - 1;
        if (helpers <= 0 || parts > MaxParts || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int part = 0; part < parts; part++)
            {
                work.Run(part, parts);
            }

            return;
        }

        try
        {
            EnsureWorkers(helpers);
            job = work;
            Volatile.Write(ref failure, null);
            Volatile.Write(ref remaining, parts);
            Volatile.Write(ref activeWorkers, helpers);
            Interlocked.Add(ref splitParts, parts);
            long generation = (Volatile.Read(ref state) >>> 32) + 1;

            // Publish: everything above is visible to any thread whose claim succeeds on this word.
            Interlocked.Exchange(ref state, (generation << 32) | ((long)parts << 16));
            for (int w = 0; w < helpers; w++)
            {
                workers[w].Wake();
            }

            // The caller claims parts like any worker. A part that throws here is rethrown as is, but only once every
            // claimed part is done, so no worker is still inside this job when the next one starts.
            ExceptionDispatchInfo? callerFailure = null;
            while (TryClaim(out int part, out int claimedParts))
            {
                try
                {
                    work.Run(part, claimedParts);
                }
                catch (Exception thrown)
                {
                    callerFailure ??= ExceptionDispatchInfo.Capture(thrown);
                }
                finally
                {
                    Interlocked.Decrement(ref remaining);
                }
            }

            // Parts still running were claimed by workers; yielding lets a descheduled one finish on this core.
            var spinner = default(SpinWait);
            while (Volatile.Read(ref remaining) != 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            job = null;
            callerFailure?.Throw();
            if (Interlocked.Exchange(ref failure, null) is { } e)
            {
                throw new AggregateException("A kernel part failed on a worker thread.", e);
            }
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>
    /// Bytes allocated so far inside parts run on the worker threads (the growth of each worker's
    /// <see cref="GC.GetAllocatedBytesForCurrentThread"/> over its parts, not over its start or its waits): lets a test
    /// check that the parts allocate nothing.
    /// </summary>
    public static long WorkerAllocatedBytes
    {
        get
        {
            long total = 0;
            foreach (var worker in workers)
            {
                total += Volatile.Read(ref worker.AllocatedBytes);
            }

            return total;
        }
    }

    /// <summary>Parts run so far on worker threads (not the caller's): how many depends on timing.</summary>
    public static long WorkerParts => Interlocked.Read(ref workerParts);

    /// <summary>
    /// Parts of the jobs handed to the workers so far, whichever thread ran them: whether work was split over
    /// threads, which <see cref="WorkerParts"/> cannot tell when the caller claims every part of a job itself.
    /// </summary>
    public static long SplitParts => Interlocked.Read(ref splitParts);

    /// <summary>Whether the published word has a part nobody has claimed yet.</summary>
    private static bool HasWork(long word) => (word & 0xFFFF) < ((word >> 16) & 0xFFFF);

    /// <summary>Claims the next unclaimed part of the published job, if there is one.</summary>
    private static bool TryClaim(out int part, out int parts)
    {
        while (true)
        {
            long seen = Volatile.Read(ref state);
            part = (int)(seen & 0xFFFF);
            parts = (int)((seen >> 16) & 0xFFFF);
            if (part >= parts)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref state, seen + 1, seen) == seen)
            {
                return true;
            }
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (workers.Length >= count)
        {
            return;
        }

        lock (Gate)
        {
            var grown = new Worker[count];
            Array.Copy(workers, grown, workers.Length);
            for (int w = workers.Length; w < count; w++)
            {
                grown[w] = new Worker(w);
            }

            // Published before any dispatch that wakes these workers (the dispatcher is this thread).
            Volatile.Write(ref workers, grown);
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private readonly int _index;
        private int _parked;

        /// <summary>Bytes this worker thread allocated inside the parts it ran.</summary>
        public long AllocatedBytes;

        public Worker(int index)
        {
            _index = index;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"Unroll worker {index + 1}" };
            thread.Start();
        }

        public void Wake()
        {
            if (Interlocked.Exchange(ref _parked, 0) == 1)
            {
                _signal.Release();
            }
        }

        /// <summary>Whether there is a part this worker may claim (workers beyond the current thread count stay out).</summary>
        private bool WorkFor(long word) => HasWork(word) && _index < Volatile.Read(ref activeWorkers);

        private void Loop()
        {
            while (true)
            {
                while (WorkFor(Volatile.Read(ref state)) && TryClaim(out int part, out int parts))
                {
                    RunPart(part, parts);
                }

                // Look for the next job for a while, yielding now and then so that on a busy machine a thread that
                // has work (the caller, say) gets this core rather than waiting for the end of our time slice.
                long spinStart = Stopwatch.GetTimestamp();
                int spins = 0;
                while (!WorkFor(Volatile.Read(ref state)) && Stopwatch.GetTimestamp() - spinStart < SpinTicks)
                {
                    if (++spins % 8 == 0)
                    {
                        Thread.Yield();
                    }
                    else
                    {
                        Thread.SpinWait(20);
                    }
                }

                if (!WorkFor(Volatile.Read(ref state)))
                {
                    Interlocked.Exchange(ref _parked, 1);
                    if (!WorkFor(Volatile.Read(ref state)) || Interlocked.Exchange(ref _parked, 0) == 0)
                    {
                        _signal.Wait();
                    }
                }
            }
        }

        private void RunPart(int part, int parts)
        {
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                // Read only after the claim succeeded: the job of that claim is still the published one.
                Volatile.Read(ref job)!.Run(part, parts);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
            finally
            {
                Volatile.Write(ref AllocatedBytes, AllocatedBytes + (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore));
                Interlocked.Increment(ref workerParts);
                Interlocked.Decrement(ref remaining);
            }
        }
    }
}
