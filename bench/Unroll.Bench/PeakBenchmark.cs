using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Bench;

/// <summary>
/// The machine's own single-precision FMA ceiling: twelve independent chains of fused multiply-adds (more than the
/// FMA latency times the FMA ports of any current x86 core, so the loop is throughput-bound) at each vector width,
/// on 1 and 2 threads; every other figure of the bench is reported as a share of this measured peak.
/// </summary>
internal static class PeakBenchmark
{
    /// <summary>The widths this CPU runs FMAs at, in bits.</summary>
    public static IEnumerable<int> Widths()
    {
        if (Fma.IsSupported)
        {
            yield return 128;
            yield return 256;
        }

        if (Avx512F.IsSupported)
        {
            yield return 512;
        }
    }

    /// <summary>The widest FMA width this CPU has, in bits (0 without FMA).</summary>
    public static int WidestWidth => Widths().DefaultIfEmpty(0).Max();

    public static int Run(string[] options)
    {
        if (options.Length != 0)
        {
            throw new ArgumentException($"peak: unknown option '{options[0]}'");
        }

        Console.WriteLine($"# {CpuDescription()}");
        Console.WriteLine("# FMA peak: 12 independent chains of fused multiply-adds per thread; GFLOP/s = 2 * lanes * FMAs / best time of 5 runs.");
        Console.WriteLine($"{"width",6} {"threads",7} {"GFLOP/s",9}");
        foreach (int width in Widths())
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{width,6} {threads,7} {Measure(width, threads),9:F1}"));
            }
        }

        return 0;
    }

    /// <summary>The CPU's model name, family and the vector features that matter here.</summary>
    public static string CpuDescription()
    {
        string model = "unknown CPU", family = "?";
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    model = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                    break;
                }

                if (line.StartsWith("cpu family", StringComparison.Ordinal))
                {
                    family = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }

        var features = new List<string>();
        if (Avx2.IsSupported)
        {
            features.Add("avx2");
        }

        if (Fma.IsSupported)
        {
            features.Add("fma");
        }

        if (Avx512F.IsSupported)
        {
            features.Add("avx512f");
        }

        if (Avx512BW.IsSupported)
        {
            features.Add("avx512bw");
        }

        if (Avx512Vbmi.IsSupported)
        {
            features.Add("avx512vbmi");
        }

        return $"{model}, family {family}, {Environment.ProcessorCount} logical CPUs, features: {string.Join(' ', features)}";
    }

    /// <summary>Best GFLOP/s of <paramref name="threads"/> threads each running the chains at <paramref name="width"/> bits.</summary>
    public static double Measure(int width, int threads)
    {
        const long Iterations = 4_000_000;
        int lanes = width / 32;
        Func<long, float> kernel = width switch
        {
            128 => Chains128,
            256 => Chains256,
            512 => Chains512,
            _ => throw new ArgumentException($"peak: expected a width of 128, 256 or 512, got {width}"),
        };
        kernel(1000);
        double best = double.MaxValue;
        for (int run = 0; run < 5; run++)
        {
            // Each thread times itself: the span from the first start to the last end is the run's time (the main
            // thread may itself be descheduled while the workers run, so it cannot hold the stopwatch).
            using var start = new Barrier(threads);
            long[] begins = new long[threads], ends = new long[threads];
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                begins[t] = Stopwatch.GetTimestamp();
                kernel(Iterations);
                ends[t] = Stopwatch.GetTimestamp();
            })).ToArray();
            foreach (var worker in workers)
            {
                worker.Start();
            }

            foreach (var worker in workers)
            {
                worker.Join();
            }

            best = Math.Min(best, (double)(ends.Max() - begins.Min()) / Stopwatch.Frequency);
        }

        return 2.0 * lanes * 12 * Iterations * threads / best / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains128(long iterations)
    {
        var m = Vector128.Create(0.999f);
        var a = Vector128.Create(0.001f);
        Vector128<float> c0 = Vector128.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        Vector128<float> c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a);
            c1 = Fma.MultiplyAdd(c1, m, a);
            c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a);
            c4 = Fma.MultiplyAdd(c4, m, a);
            c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a);
            c7 = Fma.MultiplyAdd(c7, m, a);
            c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a);
            c10 = Fma.MultiplyAdd(c10, m, a);
            c11 = Fma.MultiplyAdd(c11, m, a);
        }

        return Vector128.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iterations)
    {
        var m = Vector256.Create(0.999f);
        var a = Vector256.Create(0.001f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        Vector256<float> c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a);
            c1 = Fma.MultiplyAdd(c1, m, a);
            c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a);
            c4 = Fma.MultiplyAdd(c4, m, a);
            c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a);
            c7 = Fma.MultiplyAdd(c7, m, a);
            c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a);
            c10 = Fma.MultiplyAdd(c10, m, a);
            c11 = Fma.MultiplyAdd(c11, m, a);
        }

        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iterations)
    {
        var m = Vector512.Create(0.999f);
        var a = Vector512.Create(0.001f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        Vector512<float> c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(c0, m, a);
            c1 = Avx512F.FusedMultiplyAdd(c1, m, a);
            c2 = Avx512F.FusedMultiplyAdd(c2, m, a);
            c3 = Avx512F.FusedMultiplyAdd(c3, m, a);
            c4 = Avx512F.FusedMultiplyAdd(c4, m, a);
            c5 = Avx512F.FusedMultiplyAdd(c5, m, a);
            c6 = Avx512F.FusedMultiplyAdd(c6, m, a);
            c7 = Avx512F.FusedMultiplyAdd(c7, m, a);
            c8 = Avx512F.FusedMultiplyAdd(c8, m, a);
            c9 = Avx512F.FusedMultiplyAdd(c9, m, a);
            c10 = Avx512F.FusedMultiplyAdd(c10, m, a);
            c11 = Avx512F.FusedMultiplyAdd(c11, m, a);
        }

        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}
