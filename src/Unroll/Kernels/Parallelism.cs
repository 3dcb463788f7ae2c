namespace Unroll.Kernels;

/// <summary>
/// How many threads Unroll's kernels use (the GEMM splits its work over this many; the calling thread is one of them).
/// </summary>
/// <remarks>
/// The default is every logical processor, or the environment variable <c>UNROLL_THREADS</c> when set.
/// <c>unroll train --threads N</c> sets it for a run.
/// </remarks>
public static class Parallelism
{
    /// <summary>The name of the environment variable that sets the default thread count.</summary>
    public const string ThreadsEnvironmentVariable = "UNROLL_THREADS";

    private static int threadCount;

    /// <summary>Threads used by the kernels, at least 1.</summary>
    /// <exception cref="UnrollException">Set below 1, or <c>UNROLL_THREADS</c> is not a positive integer.</exception>
    public static int ThreadCount
    {
        get
        {
            if (threadCount == 0)
            {
                threadCount = DefaultThreadCount();
            }

            return threadCount;
        }

        set
        {
            if (value < 1)
            {
                throw new UnrollException($"threads: expected at least 1, got {value}.");
            }

            threadCount = value;
        }
    }

    private static int DefaultThreadCount()
    {
        string? text = Environment.GetEnvironmentVariable(ThreadsEnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return Environment.ProcessorCount;
        }

        return int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) && value >= 1
            ? value
            : throw new UnrollException($"{ThreadsEnvironmentVariable}: expected a positive integer, got '{text}'.");
    }
}
