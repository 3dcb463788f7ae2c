using System.Diagnostics;

namespace Unroll.Kernels;

/// <summary>A piece of parallel work: <see cref="Run"/> is called once for every part index.</summary>
internal interface IParallelJob
{
    /// <summary>Does part <paramref name="part"/> of <paramref name="parts"/>.</summary>
    void Run(int part, int parts);
}

/// <summary>
/// Persistent worker threads for the kernels: one call splits a job into parts, the calling thread runs
/// part 0 and the workers the rest, and the call returns when every part is done.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>Parallel.For</c>: the recurrent engine issues one small GEMM per time step (tens of
/// microseconds), and <c>Parallel.For</c> costs several microseconds per call, allocates, and wakes
/// pool threads that may have gone to sleep (measured by <c>Unroll.Bench dispatch</c>, see docs/kernels.md).
/// Here a worker spins for <see cref="SpinTicks"/> after finishing a part, so the next step's GEMM finds it
/// awake; only after that does it park on its own semaphore. A dispatch is then a counter increment, and
/// neither it nor the workers allocate.
/// </para>
/// <para>
/// Handshake without lost wake-ups: a worker that finds no new generation sets its parked flag, re-checks the
/// generation, and waits; the dispatcher publishes the generation first and then swaps each flag back to 0,
/// releasing the semaphore only when it took a 1. A worker that saw the new generation after parking swaps
/// its own flag back: getting 0 means the dispatcher already released it, so it consumes that release.
/// </para>
/// <para>
/// One job runs at a time: a call made while the pool is busy (from another thread, or from inside a part)
/// runs all its parts on the calling thread.
/// </para>
/// </remarks>
internal static class WorkerPool
{
    /// <summary>How long an idle worker keeps spinning before it parks: covers the element-wise work between two GEMMs of a time step.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 2000; // 0.5 ms

    private static readonly object Gate = new();
    private static Worker[] workers = [];
    private static IParallelJob? job;
    private static int jobParts;
    private static int generation;
    private static int pending;
    private static int busy;
    private static Exception? failure;

    /// <summary>Runs <paramref name="work"/> as <paramref name="parts"/> parts (at most <see cref="Parallelism.ThreadCount"/> run at once), and returns when all are done.</summary>
    public static void Run(IParallelJob work, int parts)
    {
        if (parts <= 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int part = 0; part < parts; part++)
            {
                work.Run(part, parts);
            }

            return;
        }

        try
        {
            EnsureWorkers(parts - 1);
            job = work;
            jobParts = parts;
            Volatile.Write(ref pending, parts - 1);
            Interlocked.Increment(ref generation);
            for (int w = 0; w < parts - 1; w++)
            {
                workers[w].Wake();
            }

            work.Run(0, parts);
            var spinner = default(SpinWait);
            while (Volatile.Read(ref pending) != 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            job = null;
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
    /// Bytes allocated so far by the worker threads (each worker's <see cref="GC.GetAllocatedBytesForCurrentThread"/>
    /// as of the end of its last part): lets a test check that the parts allocate nothing.
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

    /// <summary>Parts run so far on worker threads (not the caller's).</summary>
    public static long WorkerParts => Interlocked.Read(ref workerParts);

    private static long workerParts;

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
                grown[w] = new Worker(w + 1);
            }

            workers = grown;
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);
        private readonly int _part;
        private int _parked;

        // The generation when the worker was created: the dispatcher that created it publishes the next one,
        // possibly before the new thread first runs, so the thread must not read its starting point itself.
        private readonly int _createdAt;

        /// <summary>This worker thread's allocated bytes at the end of its last part.</summary>
        public long AllocatedBytes;

        public Worker(int part)
        {
            _part = part;
            _createdAt = Volatile.Read(ref generation);
            var thread = new Thread(Loop) { IsBackground = true, Name = $"Unroll worker {part}" };
            thread.Start();
        }

        public void Wake()
        {
            if (Interlocked.Exchange(ref _parked, 0) == 1)
            {
                _signal.Release();
            }
        }

        private void Loop()
        {
            int seen = _createdAt;
            while (true)
            {
                long spinStart = Stopwatch.GetTimestamp();
                while (Volatile.Read(ref generation) == seen && Stopwatch.GetTimestamp() - spinStart < SpinTicks)
                {
                    Thread.SpinWait(20);
                }

                if (Volatile.Read(ref generation) == seen)
                {
                    Interlocked.Exchange(ref _parked, 1);
                    if (Volatile.Read(ref generation) == seen || Interlocked.Exchange(ref _parked, 0) == 0)
                    {
                        _signal.Wait();
                    }
                }

                // Published before the generation: a worker not needed for this job (part >= parts) does nothing.
                seen = Volatile.Read(ref generation);
                int parts = Volatile.Read(ref jobParts);
                if (_part < parts)
                {
                    try
                    {
                        job!.Run(_part, parts);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref failure, e, null);
                    }
                    finally
                    {
                        Volatile.Write(ref AllocatedBytes, GC.GetAllocatedBytesForCurrentThread());
                        Interlocked.Increment(ref workerParts);
                        Interlocked.Decrement(ref pending);
                    }
                }
            }
        }
    }
}
