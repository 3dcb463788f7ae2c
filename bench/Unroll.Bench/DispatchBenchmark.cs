using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// The fixed cost of running a trivial job as two parts on two threads: Parallel.For against the
/// kernels' persistent spinning workers. This is the overhead each per-time-step product pays.
/// </summary>
internal static class DispatchBenchmark
{
    private const int CallsPerBatch = 2000;

    public static int Run(string[] options)
    {
        if (options.Length != 0)
        {
            throw new ArgumentException($"dispatch: unknown option '{options[0]}'");
        }

        Parallelism.ThreadCount = 2;
        var job = new EmptyJob();
        Console.WriteLine($"# Two parts of an empty job per call; microseconds per call: the best, and the median, of 25 batches of {CallsPerBatch} calls; bytes allocated per call.");
        Console.WriteLine($"{"method",-34} {"best_us",8} {"median_us",9} {"bytes/call",10}");
        Report("Parallel.For(0, 2, ...)", () => Parallel.For(0, 2, job.Body));
        Report("WorkerPool.Run (persistent)", () => WorkerPool.Run(job, 2));
        return 0;
    }

    private static void Report(string name, Action call)
    {
        for (int i = 0; i < CallsPerBatch; i++)
        {
            call();
        }

        var times = new List<double>();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        for (int batch = 0; batch < 25; batch++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < CallsPerBatch; i++)
            {
                call();
            }

            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds * 1e6 / CallsPerBatch);
        }

        double bytes = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (25.0 * CallsPerBatch);
        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-34} {times[0],8:F2} {times[times.Count / 2],9:F2} {bytes,10:F0}"));
    }

    private sealed class EmptyJob : IParallelJob
    {
        public int Count;

        public void Body(int part) => Interlocked.Increment(ref Count);

        public void Run(int part, int parts) => Interlocked.Increment(ref Count);
    }
}
