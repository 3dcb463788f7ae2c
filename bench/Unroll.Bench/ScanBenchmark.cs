using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Bench;

/// <summary>
/// The scan-trained cells against the GRU and LSTM of the same width and batch (one full training step each:
/// forward, loss, backward, clipping, Adam), and the chunked scan against the sequential loop. Contestants run
/// interleaved, one step (or one scan) each per round, so that load from other processes falls on all of them alike.
/// </summary>
internal static class ScanBenchmark
{
    private static readonly string[] Contestants = ["gru", "lstm", "mingru", "mingru/sequential-scan", "minlstm", "lru"];

    /// <summary>
    /// <c>scan-step [--steps T]... [--threads N]... [--hidden H] [--batch B] [--rounds R]</c>: training steps of every
    /// contestant at each T (default 100, 1000, 10000), B sequences of 2 inputs and 1 output (MSE at every step).
    /// </summary>
    public static int RunSteps(string[] options)
    {
        var (steps, threads, hidden, batch, rounds) = Parse("scan-step", options, [100, 1000, 10000], 5);
        PrintMachine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# scan-step: H={hidden} B={batch}, 2 inputs, 1 output, MSE at every step; one step = forward + loss + backward + clip-norm 5 + Adam."));
        Console.WriteLine("# Contestants interleaved: each round runs one step of each, after 2 warm-up steps each. ms per step, best and median over the rounds;");
        Console.WriteLine("# x gru = the GRU's median / this contestant's median. mingru/sequential-scan: minGRU with LinearScan.Sequential set (the scan on one thread).");
        Console.WriteLine("# cpu_ms: the least process CPU time (all threads, spinning included) of one step; at one thread the steadier figure on a loaded machine.");
        Console.WriteLine($"{"T",6} {"threads",7} {"model",-24} {"best_ms",10} {"median_ms",10} {"x gru",7} {"cpu_ms",9} {"cpu x gru",9}");
        foreach (int t in steps)
        {
            foreach (int n in threads)
            {
                TrainBenchmark.SetThreads(n);
                var runs = Contestants.Select(name => new StepRun(name, hidden, t, batch)).ToArray();
                try
                {
                    Interleave(runs.Select(r => (Action)r.Step).ToArray(), rounds, out var times);
                    double gruMedian = Median(times[0]), gruCpu = runs[0].BestCpuSeconds;
                    for (int c = 0; c < runs.Length; c++)
                    {
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{t,6} {n,7} {runs[c].Name,-24} {times[c].Min() * 1e3,10:F2} {Median(times[c]) * 1e3,10:F2} {gruMedian / Median(times[c]),7:F2} {runs[c].BestCpuSeconds * 1e3,9:F2} {gruCpu / runs[c].BestCpuSeconds,9:F2}"));
                    }
                }
                finally
                {
                    LinearScan<float>.Sequential = false;
                }
            }

            GC.Collect();
        }

        PrintLoad("end");
        return 0;
    }

    /// <summary>
    /// <c>scan-kernel [--steps T]... [--hidden H] [--batch B] [--rounds R]</c>: the min-cells' real scan and the LRU's
    /// complex scan, forward then adjoint, over T steps of B*H values: one part (the sequential loop) against 2 parts.
    /// </summary>
    public static int RunKernel(string[] options)
    {
        var (steps, _, hidden, batch, rounds) = Parse("scan-kernel", options, [1000, 10000], 20);
        PrintMachine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# scan-kernel: forward scan then adjoint scan over T steps of B*H = {batch}*{hidden} floats (the time of the two scans only)."));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# {rounds} interleaved rounds; in each, every contestant runs {KernelRunsPerRound} times back to back, as a training step runs its scans"));
        Console.WriteLine("# between other parallel passes (the first run of a round may wait for a parked worker). speed-up = sequential median / chunked median.");
        Console.WriteLine($"{"T",6} {"scan",-8} {"parts",5} {"best_ms",10} {"median_ms",10} {"speed-up",8}");
        TrainBenchmark.SetThreads(2);
        foreach (int t in steps)
        {
            var real = new RealScan(t, batch * hidden);
            var complex = new ComplexScan(t, batch, hidden / 2);
            var times = InterleaveTimed([real.Run, real.Run, complex.Run, complex.Run], [1, 2, 1, 2], rounds);
            string[] names = ["real", "real", "complex", "complex"];
            for (int c = 0; c < 4; c++)
            {
                int parts = c % 2 == 0 ? 1 : 2;
                double speedUp = Median(times[c - (c % 2)]) / Median(times[c]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{t,6} {names[c],-8} {parts,5} {times[c].Min() * 1e3,10:F3} {Median(times[c]) * 1e3,10:F3} {speedUp,8:F2}"));
            }
        }

        PrintLoad("end");
        return 0;
    }

    private const int KernelRunsPerRound = 5;

    // Each contestant reports the seconds of its own timed region; every round runs each KernelRunsPerRound times.
    private static List<double>[] InterleaveTimed(Func<int, double>[] contestants, int[] parts, int rounds)
    {
        for (int c = 0; c < contestants.Length; c++)
        {
            contestants[c](parts[c]);
        }

        var times = contestants.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 0; c < contestants.Length; c++)
            {
                for (int run = 0; run < KernelRunsPerRound; run++)
                {
                    times[c].Add(contestants[c](parts[c]));
                }
            }
        }

        return times;
    }

    private static void Interleave(Action[] contestants, int rounds, out List<double>[] times)
    {
        foreach (var contestant in contestants)
        {
            contestant();
            contestant();
        }

        times = contestants.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 0; c < contestants.Length; c++)
            {
                long start = Stopwatch.GetTimestamp();
                contestants[c]();
                times[c].Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]);
    }

    private static (List<int> Steps, List<int> Threads, int Hidden, int Batch, int Rounds) Parse(string suite, string[] options, int[] defaultSteps, int defaultRounds)
    {
        var steps = new List<int>();
        var threads = new List<int>();
        int hidden = 128, batch = 32, rounds = defaultRounds;
        for (int i = 0; i < options.Length; i++)
        {
            if (i + 1 >= options.Length)
            {
                throw new ArgumentException($"{suite}: option '{options[i]}' needs a value");
            }

            int value = int.Parse(options[i + 1], CultureInfo.InvariantCulture);
            if (value < 1)
            {
                throw new ArgumentException($"{suite}: {options[i]} expects a positive integer, got {value}");
            }

            switch (options[i++])
            {
                case "--steps": steps.Add(value); break;
                case "--threads": threads.Add(value); break;
                case "--hidden": hidden = value; break;
                case "--batch": batch = value; break;
                case "--rounds": rounds = value; break;
                default: throw new ArgumentException($"{suite}: unknown option '{options[i - 1]}'");
            }
        }

        if (hidden % 2 != 0)
        {
            throw new ArgumentException($"{suite}: --hidden expects an even width (the LRU has H/2 complex states), got {hidden}");
        }

        return (steps.Count == 0 ? [.. defaultSteps] : steps, threads.Count == 0 ? [Environment.ProcessorCount] : threads, hidden, batch, rounds);
    }

    private static void PrintMachine()
    {
        string model = "unknown";
        if (File.Exists("/proc/cpuinfo"))
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? model;
        }

        Console.WriteLine($"# CPU: {model}, {Environment.ProcessorCount} logical processors; AVX2 {System.Runtime.Intrinsics.X86.Avx2.IsSupported}, FMA {System.Runtime.Intrinsics.X86.Fma.IsSupported}, AVX-512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}; GEMM {Kernels.Gemm.Gemm.Variant}");
        PrintLoad("start");
    }

    private static void PrintLoad(string when)
    {
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        Console.WriteLine($"# load average at {when}: {load}");
    }

    /// <summary>One model's training step on fixed data.</summary>
    private sealed class StepRun
    {
        private readonly SequenceModel<float> _model;
        private readonly Adam<float> _optimizer;
        private readonly float[] _inputs;
        private readonly float[] _targets;
        private readonly float[] _predictionGradients;
        private readonly int _steps;
        private readonly int _batch;
        private readonly bool _sequentialScan;

        public StepRun(string name, int hidden, int steps, int batch)
        {
            Name = name;
            _steps = steps;
            _batch = batch;
            _sequentialScan = name.EndsWith("/sequential-scan", StringComparison.Ordinal);
            string architecture = name.Split('/')[0];
            _model = new SequenceModel<float>(new ModelConfig { Architecture = Architectures.Parse(architecture), InputSize = 2, HiddenSize = hidden, OutputSize = 1 });
            if (architecture is "lru" or "mingru" or "minlstm")
            {
                ScanCellInitializers.Initialize(_model, new Random(1));
            }
            else
            {
                Initializers.PyTorchDefault(_model, new Random(1));
            }

            _model.Training = true;
            _optimizer = new Adam<float>(1e-3, _model.Parameters.Count);
            var random = new Random(2);
            _inputs = Enumerable.Range(0, steps * batch * 2).Select(_ => (float)random.NextDouble()).ToArray();
            _targets = Enumerable.Range(0, steps * batch).Select(_ => (float)random.NextDouble()).ToArray();
            _predictionGradients = new float[steps * batch];
        }

        public string Name { get; }

        /// <summary>The least process CPU time of one step so far.</summary>
        public double BestCpuSeconds { get; private set; } = double.MaxValue;

        public void Step()
        {
            TimeSpan cpuStart = Environment.CpuUsage.TotalTime;
            LinearScan<float>.Sequential = _sequentialScan;
            ParallelReductions.Clear<float>(_model.Parameters.Gradients); // as the trainer clears them
            _model.Forward(_inputs, _steps, _batch);
            Losses.MeanSquaredError<float>(_model.Predictions, _targets, _predictionGradients);
            _model.Backward(_predictionGradients);
            var gradients = _model.Parameters.Gradients.AsSpan();
            GradientClipping.ClipByNorm(gradients, GradientClipping.GlobalNorm<float>(gradients), 5.0);
            _optimizer.Step(_model.Parameters.Values, gradients);
            LinearScan<float>.Sequential = false;
            BestCpuSeconds = Math.Min(BestCpuSeconds, (Environment.CpuUsage.TotalTime - cpuStart).TotalSeconds);
        }
    }

    /// <summary>The min-cells' scan: h_t = a_t h_{t-1} + b_t, then its adjoint, over [T, width].</summary>
    private sealed class RealScan
    {
        private readonly LinearScan<float> _scan = new();
        private readonly GatedRecurrence<float> _recurrence = new();
        private readonly float[] _coefficients;
        private readonly float[] _inputs;
        private readonly float[] _states;
        private readonly float[] _gradients;
        private readonly float[] _carry;
        private readonly int _steps;
        private readonly int _width;

        public RealScan(int steps, int width)
        {
            var random = new Random(3);
            _steps = steps;
            _width = width;
            _coefficients = Enumerable.Range(0, steps * width).Select(_ => (float)random.NextDouble()).ToArray();
            _inputs = Enumerable.Range(0, steps * width).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            _states = new float[(steps + 1) * width];
            _gradients = new float[steps * width];
            _carry = new float[width];
        }

        public double Run(int parts)
        {
            Array.Copy(_inputs, _gradients, _gradients.Length);
            Array.Clear(_carry);
            long start = Stopwatch.GetTimestamp();
            _recurrence.SetForward(_steps, _width, _coefficients, _inputs, _states, 1, backwardsInTime: false);
            _scan.Run(_recurrence, _carry, parts);
            Array.Clear(_carry);
            _recurrence.SetAdjoint(_steps, _width, _coefficients, _gradients, backwardsInTime: true);
            _scan.Run(_recurrence, _carry, parts);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    /// <summary>The LRU's scan: v_t = lambda v_{t-1} + gamma p_t, then its adjoint, over T steps of B rows of N complex values.</summary>
    private sealed class ComplexScan
    {
        private readonly LinearScan<float> _scan = new();
        private readonly DiagonalComplexRecurrence<float> _recurrence = new();
        private readonly float[] _lambdaReal;
        private readonly float[] _lambdaImaginary;
        private readonly float[] _gamma;
        private readonly float[] _inputs;
        private readonly float[] _states;
        private readonly float[] _gradients;
        private readonly float[] _carry;
        private readonly int _steps;
        private readonly int _batch;
        private readonly int _units;

        public ComplexScan(int steps, int batch, int units)
        {
            var random = new Random(4);
            _steps = steps;
            _batch = batch;
            _units = units;
            _lambdaReal = Enumerable.Range(0, units).Select(n => 0.95f * MathF.Cos(0.1f * n)).ToArray();
            _lambdaImaginary = Enumerable.Range(0, units).Select(n => 0.95f * MathF.Sin(0.1f * n)).ToArray();
            _gamma = Enumerable.Range(0, units).Select(_ => 0.3f).ToArray();
            _inputs = Enumerable.Range(0, steps * batch * 4 * units).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            _states = new float[(steps + 1) * batch * 2 * units];
            _gradients = new float[steps * batch * 2 * units];
            _carry = new float[batch * 2 * units];
        }

        public double Run(int parts)
        {
            Array.Copy(_inputs, _gradients, _gradients.Length);
            Array.Clear(_carry);
            long start = Stopwatch.GetTimestamp();
            _recurrence.SetForward(_steps, _batch, _units, _lambdaReal, _lambdaImaginary, _gamma, _inputs, 4 * _units, _states, 1, [], false, backwardsInTime: false);
            _scan.Run(_recurrence, _carry, parts);
            Array.Clear(_carry);
            _recurrence.SetAdjoint(_steps, _batch, _units, _lambdaReal, _lambdaImaginary, _gradients, [], false, backwardsInTime: true);
            _scan.Run(_recurrence, _carry, parts);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }
}
