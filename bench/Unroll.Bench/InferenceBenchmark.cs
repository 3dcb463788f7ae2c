using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Unroll.Inference;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Onnx;

namespace Unroll.Bench;

/// <summary>
/// The predictor beside ONNX Runtime (same process, the model exported by Unroll's exporter) on the same weights and
/// inputs: per-step latency at batch 1, whole-sequence latency at batch 1, throughput at batch 64; 1 and 2 threads.
/// The contestants run in turns (round-robin), so a change in the machine's load reaches both.
/// </summary>
internal static partial class InferenceBenchmark
{
    /// <summary>One measured workload: <paramref name="Steps"/> steps of <paramref name="Batch"/> streams per call.</summary>
    private sealed record Case(string Name, ModelConfig Config, int Steps, int Batch, string Unit);

    private static readonly Case[] Cases =
    [
        new("step-lstm512-tokens", TokenLstm(512), 1, 1, "step"),
        new("step-lstm128-dense", DenseLstm(128), 1, 1, "step"),
        new("sequence-lstm512-tokens", TokenLstm(512), 256, 1, "sequence of 256 steps"),
        new("sequence-lstm128-dense", DenseLstm(128), 256, 1, "sequence of 256 steps"),
        new("batch64-lstm256-dense", DenseLstm(256), 100, 64, "batch of 64 sequences of 100 steps"),
    ];

    private static ModelConfig TokenLstm(int hidden) => new()
    {
        Architecture = Architecture.Lstm, VocabularySize = 65, InputSize = 64, HiddenSize = hidden, OutputSize = 65, Head = HeadKind.Classification,
    };

    private static ModelConfig DenseLstm(int hidden) => new() { Architecture = Architecture.Lstm, InputSize = 8, HiddenSize = hidden, OutputSize = 1 };

    /// <summary>A contestant: one call of the case's workload.</summary>
    private sealed record Contestant(string Name, Action Call);

    public static int Run(string[] options)
    {
        var threadCounts = new List<int>();
        var names = new List<string>();
        // Many short rounds: on a loaded machine a long round measures the scheduler's share more than the code, while the
        // best of many short ones finds the moments the core was ours, and the median says how often that was.
        int rounds = 31;
        double seconds = 0.01;
        for (int i = 0; i < options.Length; i++)
        {
            switch (options[i])
            {
                case "--threads" when i + 1 < options.Length:
                    threadCounts.Add(int.Parse(options[++i], CultureInfo.InvariantCulture));
                    break;
                case "--case" when i + 1 < options.Length:
                    names.Add(options[++i]);
                    break;
                case "--rounds" when i + 1 < options.Length:
                    rounds = int.Parse(options[++i], CultureInfo.InvariantCulture);
                    break;
                case "--seconds" when i + 1 < options.Length:
                    seconds = double.Parse(options[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"inference: unknown option '{options[i]}'; expected --threads N, --case NAME, --rounds R or --seconds S (cases: {string.Join(", ", Cases.Select(c => c.Name))})");
            }
        }

        if (threadCounts.Count == 0)
        {
            threadCounts.AddRange([1, 2]);
        }

        var cases = names.Count == 0 ? Cases : Cases.Where(c => names.Contains(c.Name)).ToArray();
        Console.WriteLine($"# inference: Predictor vs ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version} (CPU provider), {rounds} rounds of ~{seconds} s per contestant, interleaved");
        Console.WriteLine($"# GEMV {Gemv.Variant}, GEMM {Kernels.Gemm.Gemm.Variant}; load average at start: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| case | threads | contestant | best | median | CPU time, median | ORT / Predictor (best) | ORT / Predictor (median) | ORT / Predictor (CPU time) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        int saved = Parallelism.ThreadCount;
        try
        {
            foreach (var workload in cases)
            {
                foreach (int threads in threadCounts)
                {
                    Parallelism.ThreadCount = threads;
                    Measure(workload, threads, rounds, seconds);
                }
            }
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }

        Console.WriteLine();
        Console.WriteLine($"# load average at end: {LoadAverage()}");
        return 0;
    }

    /// <summary>The packed GEMV alone, y = W x with W [4H, H] (an LSTM's W_hh), per variant: time and bytes of W read per second.</summary>
    public static int RunGemv(string[] options)
    {
        int rounds = options.Length > 0 ? int.Parse(options[0], CultureInfo.InvariantCulture) : 101;
        Console.WriteLine($"# GEMV y = W x, W [4H, H] float; {rounds} rounds, variants interleaved; load average at start: {LoadAverage()}");
        Console.WriteLine("| H | variant | best | median | GB/s of W (best) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (int hidden in new[] { 128, 256, 512 })
        {
            var random = new Random(1);
            var w = Enumerable.Range(0, 4 * hidden * hidden).Select(_ => (float)random.NextDouble()).ToArray();
            var x = Enumerable.Range(0, hidden).Select(_ => (float)random.NextDouble()).ToArray();
            var y = new float[4 * hidden];
            var packed = new GemvMatrix<float>(w, 4 * hidden, hidden);
            var variants = Enum.GetValues<GemvVariant>().Where(Gemv.IsSupported).ToArray();
            var times = variants.Select(_ => new List<double>()).ToArray();
            int iterations = Math.Max(2, 2_000_000 / w.Length);
            for (int round = 0; round < rounds; round++)
            {
                for (int v = 0; v < variants.Length; v++)
                {
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < iterations; i++)
                    {
                        Gemv.Multiply(variants[v], packed, x, default, y, 0, packed.PanelCount);
                    }

                    times[v].Add(clock.Elapsed.TotalMicroseconds / iterations);
                }
            }

            for (int v = 0; v < variants.Length; v++)
            {
                double best = times[v].Min(), median = times[v].Order().ElementAt(times[v].Count / 2);
                Console.WriteLine($"| {hidden} | {variants[v]} | {Format(best)} | {Format(median)} | {w.Length * 4.0 / best / 1000:F1} |");
            }
        }

        Console.WriteLine($"# load average at end: {LoadAverage()}");
        return 0;
    }

    private static void Measure(Case workload, int threads, int rounds, double seconds)
    {
        var config = workload.Config;
        var model = new SequenceModel<float>(config, seed: 1);
        var random = new Random(2);
        int steps = workload.Steps, batch = workload.Batch, outputs = config.OutputSize, hidden = config.HiddenSize;
        bool tokens = config.VocabularySize > 0;
        var tokenIds = Enumerable.Range(0, steps * batch).Select(_ => random.Next(config.VocabularySize > 0 ? config.VocabularySize : 1)).ToArray();
        var dense = Enumerable.Range(0, steps * batch * config.InputSize).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();

        // The predictor: a session of `batch` streams; a sequence or batch starts from a zero state, a step carries on.
        var session = new Predictor<float>(model).CreateSession(batch);
        var predicted = new float[steps * batch * outputs];
        void PredictorCall()
        {
            if (steps > 1)
            {
                session.Reset();
            }

            if (tokens)
            {
                session.Run(tokenIds, steps, predicted);
            }
            else
            {
                session.Run(dense, steps, predicted);
            }
        }

        // ONNX Runtime: the exported graph; a step feeds the last step's final states back (ping-pong between two sets).
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        using var ort = new InferenceSession(OnnxExporter.ToBytes(model), options);
        long[] stateShape = [config.Layers, batch, hidden];
        var stateA = (H: new float[config.Layers * batch * hidden], C: new float[config.Layers * batch * hidden]);
        var stateB = (H: new float[stateA.H.Length], C: new float[stateA.C.Length]);
        var ortOutput = new float[steps * batch * outputs];
        var ortTokens = tokenIds.Select(t => (long)t).ToArray();
        var values = new List<OrtValue>();
        OrtValue Value<TValue>(TValue[] data, long[] shape)
            where TValue : unmanaged
        {
            var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            values.Add(value);
            return value;
        }

        try
        {
            var input = tokens ? Value(ortTokens, [steps, batch]) : Value(dense, [steps, batch, config.InputSize]);
            var output = Value(ortOutput, [steps, batch, outputs]);
            var (hA, cA, hB, cB) = (Value(stateA.H, stateShape), Value(stateA.C, stateShape), Value(stateB.H, stateShape), Value(stateB.C, stateShape));
            string[] inputNames = [OnnxExporter.InputName(config), OnnxExporter.InitialStateName, OnnxExporter.InitialCellName];
            string[] outputNames = [OnnxExporter.OutputName(config), OnnxExporter.FinalStateName, OnnxExporter.FinalCellName];
            OrtValue[] fromA = [input, hA, cA], toB = [output, hB, cB], fromB = [input, hB, cB], toA = [output, hA, cA];
            using var runOptions = new RunOptions();
            bool flip = false;
            void OrtCall()
            {
                if (steps > 1)
                {
                    // A sequence from zero states, its final states written to the other set.
                    Array.Clear(stateA.H);
                    Array.Clear(stateA.C);
                    ort.Run(runOptions, inputNames, fromA, outputNames, toB);
                    return;
                }

                ort.Run(runOptions, inputNames, flip ? fromB : fromA, outputNames, flip ? toA : toB);
                flip = !flip;
            }

            // Both compute the same thing: one call of each from zero states, compared.
            session.Reset();
            PredictorCall();
            OrtCall();
            double largest = 0;
            for (int i = 0; i < predicted.Length; i++)
            {
                largest = Math.Max(largest, Math.Abs(predicted[i] - ortOutput[i]));
            }

            if (largest > 1e-3)
            {
                throw new InvalidOperationException($"{workload.Name}: the predictor and ONNX Runtime disagree by {largest}.");
            }

            Contestant[] contestants = [new("Predictor", PredictorCall), new($"ONNX Runtime", OrtCall)];
            var times = contestants.Select(_ => new List<double>()).ToArray();
            var cpuTimes = contestants.Select(_ => new List<double>()).ToArray();
            var iterations = contestants.Select(c => Calibrate(c.Call, seconds)).ToArray();
            for (int round = 0; round < rounds; round++)
            {
                for (int c = 0; c < contestants.Length; c++)
                {
                    // Alternate who goes first, so neither always runs on a cache the other warmed.
                    int index = (round % 2 == 0) ? c : contestants.Length - 1 - c;

                    // Let the last round's workers go idle first: both runtimes keep theirs spinning for a while after a
                    // call, and a spinning worker of one contestant would take the second core from the other. The calling
                    // thread waits busily, so that its core does not idle down before the round.
                    var pause = Stopwatch.StartNew();
                    while (pause.ElapsedMilliseconds < IdleMilliseconds)
                    {
                        Thread.SpinWait(100);
                    }

                    double cpu = ThreadCpuMicroseconds();
                    var clock = Stopwatch.StartNew();
                    for (int i = 0; i < iterations[index]; i++)
                    {
                        contestants[index].Call();
                    }

                    times[index].Add(clock.Elapsed.TotalMicroseconds / iterations[index]);
                    cpuTimes[index].Add((ThreadCpuMicroseconds() - cpu) / iterations[index]);
                }
            }

            var best = times.Select(t => t.Min()).ToArray();
            var median = times.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
            var cpuMedian = cpuTimes.Select(t => t.Order().ElementAt(t.Count / 2)).ToArray();
            for (int c = 0; c < contestants.Length; c++)
            {
                // The calling thread's CPU time leaves out the time the scheduler gave to others; with 2 threads the work
                // of the second is not in it, so it is shown at 1 thread only.
                string cpu = threads == 1 ? Format(cpuMedian[c]) : "n/a";
                string ratio = c == 0 ? $"{best[1] / best[0]:F2}x | {median[1] / median[0]:F2}x | {(threads == 1 ? $"{cpuMedian[1] / cpuMedian[0]:F2}x" : "n/a")}" : " | | ";
                Console.WriteLine($"| {workload.Name} ({workload.Unit}) | {threads} | {contestants[c].Name} | {Format(best[c])} | {Format(median[c])} | {cpu} | {ratio} |");
            }
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>The pause before every round, longer than either runtime's workers spin after a call (ONNX Runtime's spun for more than 20 ms here).</summary>
    private const int IdleMilliseconds = 50;

    // Iterations that take about `seconds` (at least 1).
    private static int Calibrate(Action call, double seconds)
    {
        call();
        var clock = Stopwatch.StartNew();
        int count = 0;
        while (clock.Elapsed.TotalSeconds < seconds || count < 1)
        {
            call();
            count++;
        }

        return Math.Max(1, (int)(count * seconds / Math.Max(1e-9, clock.Elapsed.TotalSeconds)));
    }

    // CLOCK_THREAD_CPUTIME_ID: the calling thread's CPU time, in nanoseconds of resolution (Linux); NaN elsewhere.
    private static double ThreadCpuMicroseconds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return double.NaN;
        }

        return ClockGetTime(3, out var time) == 0 ? (time.Seconds * 1e6) + (time.Nanoseconds / 1e3) : double.NaN;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private static string Format(double microseconds) => microseconds >= 1000
        ? $"{microseconds / 1000:F2} ms"
        : $"{microseconds:F1} us";

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
