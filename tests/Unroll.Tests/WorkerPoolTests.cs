using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>
/// The worker pool runs every part of every job exactly once, with the job's own part count, and returns only when all
/// parts are done; whatever the timing, including more threads than cores, back-to-back jobs and workers that park.
/// </summary>
[Collection("Gemm")]
public sealed class WorkerPoolTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void EveryPartRunsExactlyOnceUnderStress(int threads)
    {
        WithThreads(threads, () =>
        {
            var random = new Random(1000 + threads);
            CountingJob? previous = null;
            for (int i = 0; i < 4000; i++)
            {
                // Mostly a few parts (the kernels' case), sometimes many more parts than threads.
                int parts = random.Next(8) == 0 ? random.Next(1, 200) : random.Next(1, 2 * threads + 2);
                var job = new CountingJob(parts);
                WorkerPool.Run(job, parts);
                job.AssertEveryPartRanOnce(i);

                // Nothing of the job before ran after its dispatch returned.
                previous?.AssertEveryPartRanOnce(i - 1);
                previous = job;
            }
        });
    }

    [Fact]
    public void ParkedWorkersWakeForTheNextJob()
    {
        WithThreads(3, () =>
        {
            for (int i = 0; i < 6; i++)
            {
                var job = new CountingJob(5);
                WorkerPool.Run(job, 5);
                job.AssertEveryPartRanOnce(i);

                // Longer than the workers' spin (0.5 ms), so they park before the next dispatch.
                Thread.Sleep(5);
            }
        });
    }

    [Fact]
    public void CallsFromManyThreadsAtOnceEachRunAllTheirParts()
    {
        WithThreads(4, () =>
        {
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var callers = Enumerable.Range(0, 6).Select(c => new Thread(() =>
            {
                try
                {
                    var random = new Random(c);
                    for (int i = 0; i < 1500; i++)
                    {
                        int parts = random.Next(1, 9);
                        var job = new CountingJob(parts);
                        WorkerPool.Run(job, parts);
                        job.AssertEveryPartRanOnce(i);
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            })).ToArray();
            foreach (var caller in callers)
            {
                caller.Start();
            }

            foreach (var caller in callers)
            {
                caller.Join();
            }

            Assert.Empty(failures);
        });
    }

    [Fact]
    public void APartThatThrowsFailsItsDispatchAndThePoolGoesOn()
    {
        WithThreads(2, () =>
        {
            for (int failing = 0; failing < 4; failing++)
            {
                var job = new CountingJob(4, failingPart: failing);
                var thrown = Record.Exception(() => WorkerPool.Run(job, 4));

                // On the calling thread the exception comes as is; from a worker, wrapped.
                var inner = thrown is AggregateException aggregate ? aggregate.InnerException : thrown;
                Assert.IsType<InvalidOperationException>(inner);
                Assert.Contains($"part {failing}", inner!.Message, StringComparison.Ordinal);
                job.AssertEveryPartRanOnce(failing);
            }

            var after = new CountingJob(4);
            WorkerPool.Run(after, 4);
            after.AssertEveryPartRanOnce(0);
        });
    }

    [Fact]
    public void MorePartsThanOneDispatchCarriesRunOnTheCaller()
    {
        WithThreads(2, () =>
        {
            var job = new CountingJob(WorkerPool.MaxParts + 3);
            WorkerPool.Run(job, WorkerPool.MaxParts + 3);
            job.AssertEveryPartRanOnce(0);
        });
    }

    private static void WithThreads(int threads, Action action)
    {
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;
            action();
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }
    }

    private sealed class CountingJob(int parts, int failingPart = -1) : IParallelJob
    {
        private readonly int[] _runs = new int[parts];
        private int _wrongPartCounts;

        public void Run(int part, int parts)
        {
            if (parts != _runs.Length)
            {
                Interlocked.Increment(ref _wrongPartCounts);
                return;
            }

            Interlocked.Increment(ref _runs[part]);

            // A little work, so that parts overlap and workers are still inside one when the caller finishes its own.
            Thread.SpinWait(part % 3 * 50);
            if (part == failingPart)
            {
                throw new InvalidOperationException($"part {part} failed on purpose");
            }
        }

        public void AssertEveryPartRanOnce(int job)
        {
            Assert.True(Volatile.Read(ref _wrongPartCounts) == 0, $"job {job}: a part ran with another job's part count");
            for (int part = 0; part < _runs.Length; part++)
            {
                int runs = Volatile.Read(ref _runs[part]);
                Assert.True(runs == 1, $"job {job}: part {part} of {_runs.Length} ran {runs} times");
            }
        }
    }
}
