using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Bench;

/// <summary>
/// Training throughput of one full step (forward, loss, backward through time, gradient-norm clipping,
/// Adam) on the configurations bench/compare-pytorch.sh runs in PyTorch.
/// </summary>
internal static class TrainBenchmark
{
    /// <summary>Embedding width of the character models (the same on the PyTorch side).</summary>
    public const int EmbeddingSize = 64;

    /// <summary>One benchmarked configuration.</summary>
    /// <param name="Name">The suite name.</param>
    /// <param name="Architecture">rnn, lstm or gru.</param>
    /// <param name="Hidden">H.</param>
    /// <param name="Steps">T.</param>
    /// <param name="Batch">B.</param>
    /// <param name="Vocabulary">V for a character model (token input, softmax cross-entropy head over every step), 0 for the oscillator shape.</param>
    private sealed record Config(string Name, string Architecture, int Hidden, int Steps, int Batch, int Vocabulary);

    private static readonly Config[] Configs =
    [
        new("lstm-512", "lstm", 512, 64, 32, 65),
        new("lstm-256", "lstm", 256, 100, 64, 65),
        new("gru-512", "gru", 512, 64, 32, 65),

        // The oscillator shape: tanh RNN, one input, one output, mean squared error at every step.
        new("rnn-128", "rnn", 128, 200, 32, 0),

        // The other corners of the cell x width grid: the Elman network wide, the gated cells narrow.
        new("rnn-512", "rnn", 512, 200, 32, 0),
        new("lstm-128", "lstm", 128, 100, 32, 65),
        new("gru-128", "gru", 128, 100, 32, 65),

        // lstm-512 at half the batch: the rows each of two threads takes when a pass is split by rows.
        new("lstm-512-b16", "lstm", 512, 64, 16, 65),
    ];

    /// <summary>The suite names this benchmark answers to.</summary>
    public static IEnumerable<string> Names => Configs.Select(c => c.Name);

    public static int Run(string suite, string[] options)
    {
        var config = Configs.Single(c => c.Name == suite);
        double seconds = 3;
        var threadCounts = new List<int>();
        for (int i = 0; i < options.Length; i++)
        {
            if (options[i] == "--seconds" && i + 1 < options.Length)
            {
                seconds = double.Parse(options[++i], CultureInfo.InvariantCulture);
            }
            else if (options[i] == "--threads" && i + 1 < options.Length)
            {
                threadCounts.Add(int.Parse(options[++i], CultureInfo.InvariantCulture));
            }
            else
            {
                throw new ArgumentException($"{suite}: unknown option '{options[i]}'");
            }
        }

        if (threadCounts.Count == 0)
        {
            threadCounts.Add(Environment.ProcessorCount);
        }

        string shape = config.Vocabulary > 0
            ? $"V={config.Vocabulary} (embedding {EmbeddingSize}, softmax cross-entropy over all T*B rows)"
            : "1 input, 1 output (MSE)";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"# {suite}: {config.Architecture} H={config.Hidden} T={config.Steps} B={config.Batch} {shape}; one step = forward + loss + BPTT + clip-norm 5 + Adam."));
        Console.WriteLine("# chars/s = T*B / step time (the best, and the median, over >= 5 steps and the time budget, after 3 warm-up steps).");
        Console.WriteLine("# alloc/step: bytes allocated by all threads per step after warm-up.");
        Console.WriteLine("# cpu_ms: the least process CPU time (all threads) of one step; on a loaded machine T*B / cpu_ms is the steadier rate for one thread.");
        Console.WriteLine($"{"suite",-10} {"threads",7} {"best_ms",9} {"median_ms",9} {"chars/s",10} {"median/s",10} {"alloc/step",10} {"cpu_ms",9}");
        foreach (int threads in threadCounts)
        {
            Measure(config, threads, seconds);
        }

        return 0;
    }

    private static void Measure(Config config, int threads, double seconds)
    {
        SetThreads(threads);
        bool tokens = config.Vocabulary > 0;
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architectures.Parse(config.Architecture),
            InputSize = tokens ? EmbeddingSize : 1,
            HiddenSize = config.Hidden,
            OutputSize = tokens ? config.Vocabulary : 1,
            VocabularySize = config.Vocabulary,
            Head = tokens ? HeadKind.Classification : HeadKind.Regression,
        });
        Initializers.PyTorchDefault(model, new Random(1));
        var optimizer = new Adam<float>(1e-3, model.Parameters.Count);
        int rows = config.Steps * config.Batch;
        var random = new Random(2);
        int[] inputTokens = new int[rows];
        int[] targetTokens = new int[rows];
        float[] inputs = new float[rows];
        float[] targets = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            inputTokens[r] = random.Next(Math.Max(1, config.Vocabulary));
            targetTokens[r] = random.Next(Math.Max(1, config.Vocabulary));
            inputs[r] = (float)Math.Sin(r * 0.01);
            targets[r] = (float)Math.Cos(r * 0.01);
        }

        float[] predictionGradients = new float[rows * (tokens ? config.Vocabulary : 1)];
        model.Training = true;

        void Step()
        {
            ParallelReductions.Clear<float>(model.Parameters.Gradients); // as the trainer clears them
            if (tokens)
            {
                model.ForwardTokens(inputTokens, config.Steps, config.Batch);
                Losses.SoftmaxCrossEntropy<float>(model.Predictions, targetTokens, config.Vocabulary, predictionGradients);
            }
            else
            {
                model.Forward(inputs, config.Steps, config.Batch);
                Losses.MeanSquaredError<float>(model.Predictions, targets, predictionGradients);
            }

            model.Backward(predictionGradients);
            var gradients = model.Parameters.Gradients.AsSpan();
            double norm = GradientClipping.GlobalNorm<float>(gradients);
            GradientClipping.ClipByNorm(gradients, norm, 5.0);
            optimizer.Step(model.Parameters.Values, gradients);
        }

        for (int i = 0; i < 3; i++)
        {
            Step();
        }

        var times = new List<double>();
        double bestCpu = double.MaxValue;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var total = Stopwatch.StartNew();
        while (times.Count < 5 || total.Elapsed.TotalSeconds < seconds)
        {
            long start = Stopwatch.GetTimestamp();
            TimeSpan cpuStart = Environment.CpuUsage.TotalTime;
            Step();
            bestCpu = Math.Min(bestCpu, (Environment.CpuUsage.TotalTime - cpuStart).TotalSeconds);
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        long allocated = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / times.Count;
        times.Sort();
        double best = times[0], median = times[times.Count / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{config.Name,-10} {threads,7} {best * 1e3,9:F2} {median * 1e3,9:F2} {rows / best,10:F0} {rows / median,10:F0} {allocated,10} {bestCpu * 1e3,9:F2}"));
    }

    /// <summary>Sets the library's thread count.</summary>
    internal static void SetThreads(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentException($"--threads: expected at least 1, got {threads}");
        }

        Parallelism.ThreadCount = threads;
    }
}
