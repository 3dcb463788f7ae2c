using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;

namespace Unroll.Bench;

/// <summary>Command-line benchmarks: <c>dotnet run -c Release --project bench/Unroll.Bench -- SUITE [options]</c>.</summary>
internal static class Program
{
    private const string Usage =
        """
        usage: Unroll.Bench SUITE [options]
        suites:
          peak                                 the CPU's FMA ceiling (GFLOP/s) at each vector width, 1 and 2 threads
          gemm [--variant V]... [--threads N]... [--shape NAME]... [--seconds S]
                                               single-precision GEMM throughput (GFLOP/s and share of the FMA peak)
                                               per variant (reference, vector128, vector, vector512), shape and thread count
          activations                          ns per element of FastMath.Tanh/Sigmoid vs scalar MathF loops, and their max error
          dispatch                             per-call cost of Parallel.For vs the persistent kernel workers (2 parts)
          lstm-512 | lstm-256 | lstm-128 | gru-512 | gru-128 | rnn-512 | rnn-128 | lstm-512-b16 [--threads N]... [--seconds S]
                                               training throughput (forward + loss + BPTT + clip + Adam), characters/s
          inference [--threads N]... [--case NAME]... [--rounds R] [--seconds S]
                                               the predictor beside ONNX Runtime: per-step and whole-sequence latency at
                                               batch 1, throughput at batch 64, interleaved
          gemv [ROUNDS]                        the packed GEMV alone (an LSTM's W_hh times h) per variant, time and GB/s
          scan-step | scan-kernel [--steps T]... [--threads N]... [--hidden H] [--batch B] [--rounds R]
                                               LRU/minGRU/minLSTM steps against GRU/LSTM; the chunked scan against the sequential one
        """;

    private static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.Write(Usage);
            return 2;
        }

        try
        {
            return args[0] switch
            {
                "peak" => PeakBenchmark.Run(args[1..]),
                "gemm" => GemmBenchmark.Run(args[1..]),
                "activations" => ActivationBenchmark.Run(args[1..]),
                "dispatch" => DispatchBenchmark.Run(args[1..]),
                "inference" => InferenceBenchmark.Run(args[1..]),
                "gemv" => InferenceBenchmark.RunGemv(args[1..]),
                "scan-step" => ScanBenchmark.RunSteps(args[1..]),
                "scan-kernel" => ScanBenchmark.RunKernel(args[1..]),
                var suite when TrainBenchmark.Names.Contains(suite) => TrainBenchmark.Run(suite, args[1..]),
                _ => Fail($"unknown suite '{args[0]}'"),
            };
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message);
        }
        catch (UnrollException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        Console.Error.Write(Usage);
        return 2;
    }
}

/// <summary>Times <see cref="Gemm.Compute{T}"/> in float on the shapes the RNN engine cares about.</summary>
internal static class GemmBenchmark
{
    /// <summary>One benchmarked product: C (m x n) = op(A) (m x k) * op(B) (k x n).</summary>
    private sealed record Shape(string Name, Transpose TransA, Transpose TransB, int M, int N, int K, bool Packed = false);

    private static readonly Shape[] Shapes =
    [
        new("square", Transpose.No, Transpose.No, 1024, 1024, 1024),

        // One recurrent step: batch 32 rows times the stacked gate weights (k = H = 512, n = 4H = 2048),
        // with the weights stored k x n (NN) or as the 4H x H matrix W_hh read transposed (NT).
        new("rnn-step", Transpose.No, Transpose.No, 32, 2048, 512),
        new("rnn-step", Transpose.No, Transpose.Yes, 32, 2048, 512),

        // The same product as the training step runs it: W_hh packed once (per sequence), A = h_{t-1} read in place.
        new("rnn-step-packed", Transpose.No, Transpose.Yes, 32, 2048, 512, Packed: true),

        // The hoisted input projection over all T*B = 2048 rows.
        new("rnn-input", Transpose.No, Transpose.No, 2048, 2048, 512),

        // dW_hh = dGates^T * H_prev with dGates stored (T*B) x 4H: m = 4H = 2048, n = H = 512, k = T*B = 64*32.
        new("rnn-weight-grad", Transpose.Yes, Transpose.No, 2048, 512, 2048),
    ];

    /// <summary>Time budget per shape (at least 5 runs).</summary>
    private static double GemmSeconds = 1;

    public static int Run(string[] options)
    {
        var variants = new List<GemmVariant>();
        var threadCounts = new List<int>();
        var shapes = new List<Shape>();
        for (int i = 0; i < options.Length; i++)
        {
            if (options[i] == "--variant" && i + 1 < options.Length)
            {
                variants.Add(Gemm.ChooseVariant(options[++i], Gemm.IsSupported));
            }
            else if (options[i] == "--threads" && i + 1 < options.Length)
            {
                threadCounts.Add(int.Parse(options[++i], CultureInfo.InvariantCulture));
            }
            else if (options[i] == "--seconds" && i + 1 < options.Length)
            {
                GemmSeconds = double.Parse(options[++i], CultureInfo.InvariantCulture);
            }
            else if (options[i] == "--shape" && i + 1 < options.Length)
            {
                string name = options[++i];
                shapes.AddRange(Shapes.Where(s => s.Name == name));
                if (!Shapes.Any(s => s.Name == name))
                {
                    throw new ArgumentException($"--shape: expected one of {string.Join(", ", Shapes.Select(s => s.Name).Distinct())}, got '{name}'");
                }
            }
            else
            {
                throw new ArgumentException($"gemm: unknown option '{options[i]}'");
            }
        }

        if (variants.Count == 0)
        {
            variants.AddRange(Enum.GetValues<GemmVariant>().Where(Gemm.IsSupported));
        }

        if (threadCounts.Count == 0)
        {
            threadCounts.Add(Parallelism.ThreadCount);
        }

        if (shapes.Count == 0)
        {
            shapes.AddRange(Shapes);
        }

        // Read first: a bad UNROLL_GEMM fails here, before any output.
        GemmVariant saved = Gemm.Variant;
        int widest = PeakBenchmark.WidestWidth;
        var peaks = new Dictionary<int, double>();
        foreach (int threads in threadCounts.Distinct())
        {
            peaks[threads] = widest == 0 ? double.NaN : PeakBenchmark.Measure(widest, Math.Min(threads, Environment.ProcessorCount));
        }

        Console.WriteLine($"# {PeakBenchmark.CpuDescription()}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# FMA peak measured now at {widest} bits: {string.Join(", ", peaks.Select(p => $"{p.Value:F1} GFLOP/s on {p.Key} thread(s)"))}"));
        Console.WriteLine("# GEMM, float. Shape m x n x k: C is m x n, op(A) is m x k, op(B) is k x n;");
        Console.WriteLine("# layout NN/NT/TN = transA,transB. GFLOP/s = 2*m*n*k / best time after warm-up; peak% = share of that FMA peak.");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"variant",-10} {"shape",-16} {"layout",-6} {"m",5} {"n",5} {"k",5} {"threads",7} {"best_ms",10} {"GFLOP/s",8} {"peak%",6}"));
        try
        {
            foreach (GemmVariant variant in variants)
            {
                Gemm.Variant = variant;
                foreach (int threads in threadCounts)
                {
                    TrainBenchmark.SetThreads(threads);
                    foreach (Shape shape in shapes)
                    {
                        double seconds = BestTime(shape);
                        double gflops = 2.0 * shape.M * shape.N * shape.K / seconds / 1e9;
                        string layout = $"{Letter(shape.TransA)}{Letter(shape.TransB)}";
                        Console.WriteLine(string.Create(
                            CultureInfo.InvariantCulture,
                            $"{variant.ToString().ToLowerInvariant(),-10} {shape.Name,-16} {layout,-6} {shape.M,5} {shape.N,5} {shape.K,5} {threads,7} {seconds * 1e3,10:F3} {gflops,8:F1} {100 * gflops / peaks[threads],6:F1}"));
                    }
                }
            }
        }
        finally
        {
            Gemm.Variant = saved;
        }

        return 0;
    }

    private static char Letter(Transpose t) => t == Transpose.No ? 'N' : 'T';

    /// <summary>Best wall time of one product, after one warm-up call, over at least 5 runs and at least 1 second.</summary>
    private static double BestTime(Shape shape)
    {
        var (aRows, aCols) = shape.TransA == Transpose.No ? (shape.M, shape.K) : (shape.K, shape.M);
        var (bRows, bCols) = shape.TransB == Transpose.No ? (shape.K, shape.N) : (shape.N, shape.K);
        var random = new Random(1);
        float[] a = RandomArray(random, aRows * aCols);
        float[] b = RandomArray(random, bRows * bCols);
        float[] c = new float[shape.M * shape.N];

        var packed = new PackedOperand<float>();
        if (shape.Packed)
        {
            packed.Pack(shape.TransB, shape.K, shape.N, b, bCols);
        }

        void Once()
        {
            if (shape.Packed)
            {
                Gemm.ComputePacked(shape.TransA, shape.M, 1f, a, aCols, packed, 0f, c, shape.N);
            }
            else
            {
                Gemm.Compute(shape.TransA, shape.TransB, shape.M, shape.N, shape.K, 1f, a, aCols, b, bCols, 0f, c, shape.N);
            }
        }

        Once();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int run = 0; run < 5 || total.Elapsed.TotalSeconds < GemmSeconds; run++)
        {
            long start = Stopwatch.GetTimestamp();
            Once();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        return best;
    }

    private static float[] RandomArray(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}

/// <summary>Times the fast float tanh and sigmoid against scalar loops of the exact MathF functions.</summary>
internal static class ActivationBenchmark
{
    private const int Length = 64 * 1024;

    public static int Run(string[] options)
    {
        if (options.Length != 0)
        {
            throw new ArgumentException($"activations: unknown option '{options[0]}'");
        }

        // Gate pre-activations of a trained network are mostly within a few units of 0: uniform in [-8, 8].
        var random = new Random(1);
        float[] x = new float[Length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)((random.NextDouble() * 16) - 8);
        }

        float[] y = new float[Length];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {Length} floats uniform in [-8, 8], one thread; ns/element = best time / {Length} over >= 20 runs and 0.5 s, after 0.3 s of warm-up."));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# Vector256 hardware: {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}, FMA: {System.Runtime.Intrinsics.X86.Fma.IsSupported}"));
        Console.WriteLine($"{"function",-34} {"ns/element",10}");
        Report("FastMath.Tanh (span)", () => FastMath.Tanh(x, y));
        Report("FastMath.Tanh (scalar path)", () => FastMath.Tanh(x, y, FastMathPath.Scalar));
        Report("MathF.Tanh loop", () =>
        {
            for (int i = 0; i < x.Length; i++)
            {
                y[i] = MathF.Tanh(x[i]);
            }
        });
        Report("FastMath.Sigmoid (span)", () => FastMath.Sigmoid(x, y));
        Report("FastMath.Sigmoid (scalar path)", () => FastMath.Sigmoid(x, y, FastMathPath.Scalar));
        Report("1/(1+MathF.Exp(-x)) loop", () =>
        {
            for (int i = 0; i < x.Length; i++)
            {
                y[i] = 1f / (1f + MathF.Exp(-x[i]));
            }
        });

        // Accuracy on the documented sweep: every (-10 + i 1e-4), i = 0..200000, against double.
        float[] sweep = new float[200_001];
        for (int i = 0; i < sweep.Length; i++)
        {
            sweep[i] = (float)(-10 + (i * 1e-4));
        }

        float[] tanh = new float[sweep.Length];
        float[] sigmoid = new float[sweep.Length];
        FastMath.Tanh(sweep, tanh);
        FastMath.Sigmoid(sweep, sigmoid);
        double tanhError = 0, sigmoidError = 0;
        for (int i = 0; i < sweep.Length; i++)
        {
            tanhError = Math.Max(tanhError, Math.Abs(tanh[i] - Math.Tanh(sweep[i])));
            sigmoidError = Math.Max(sigmoidError, Math.Abs(sigmoid[i] - (1 / (1 + Math.Exp(-(double)sweep[i])))));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# max abs error on [-10, 10] step 1e-4: tanh {tanhError:E2}, sigmoid {sigmoidError:E2}"));
        return 0;
    }

    private static void Report(string name, Action once)
    {
        // Warm up for 0.3 s so tiered compilation has promoted the loops before anything is timed.
        for (var warmUp = Stopwatch.StartNew(); warmUp.Elapsed.TotalSeconds < 0.3;)
        {
            once();
        }

        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int run = 0; run < 20 || total.Elapsed.TotalSeconds < 0.5; run++)
        {
            long start = Stopwatch.GetTimestamp();
            once();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-34} {best * 1e9 / Length,10:F3}"));
    }
}
