using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Layers;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// A time step split over the cores by hidden units, and a pass split by rows, compute exactly what one thread
/// computes: every part's product columns or rows, cell and carries are the same operations on the same values, and
/// the column sums take their rows in one order, so forward outputs, the loss and every gradient agree bit for bit
/// between one thread and three.
/// </summary>
[Collection("Gemm")]
public sealed class ParallelTimeStepTests
{
    private const int Steps = 7, Batch = 5, InputSize = 3, Hidden = 64, Outputs = 2, Layers = 2, Directions = 2;

    /// <summary>Each architecture under each packed GEMM variant the CPU supports (256-bit, and 512-bit with AVX-512).</summary>
    public static TheoryData<string, string> ArchitecturesAndVariants()
    {
        var data = new TheoryData<string, string>();
        foreach (string architecture in new[] { "rnn", "lstm", "gru" })
        {
            foreach (var variant in new[] { GemmVariant.Vector, GemmVariant.Vector512 }.Where(Gemm.IsSupported))
            {
                data.Add(architecture, variant.ToString());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ArchitecturesAndVariants))]
    public void SplitStepsMatchOneThreadBitForBit(string architecture, string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        var savedVariant = Gemm.Variant;
        Dictionary<string, float[]> one, two;
        long splitParts;
        try
        {
            Gemm.Variant = variant;
            one = Run(architecture, threads: 1, out _);
            two = Run(architecture, threads: 3, out splitParts);
        }
        finally
        {
            Gemm.Variant = savedVariant;
        }

        // Every step of every layer and direction, forward and backward, went through the workers
        // (the products after the loops add only a few more dispatches).
        Assert.True(splitParts >= 2L * Steps * Layers * Directions, $"only {splitParts} parts were handed to the worker pool");
        Assert.Equal(one.Count, two.Count);
        AssertSameBits(one, two, $"{architecture} ({variant})");
    }

    /// <summary>
    /// A batch of 19 rows at three threads runs each pass split by rows (two parts of 9 and 10 rows, eight steps per
    /// dispatch, then three), and the column sums after it: the same bits as one thread, with dense and token input.
    /// </summary>
    [Theory]
    [InlineData("rnn", false)]
    [InlineData("lstm", false)]
    [InlineData("gru", false)]
    [InlineData("lstm", true)]
    [InlineData("gru", true)]
    public void RowSplitPassesMatchOneThreadBitForBit(string architecture, bool tokens)
    {
        var one = RunRows(architecture, tokens, threads: 1, out long oneParts);
        var three = RunRows(architecture, tokens, threads: 3, out long threeParts);
        Assert.Equal(0, oneParts);
        // Per layer and direction: two chunks forward and two backward of two row parts, and the sums' parts; a split
        // by units at every step would hand out at least 2 x 11 x 2 parts per layer and direction.
        Assert.InRange(threeParts, 2L * 2 * 2 * RowLayers * Directions, 2L * RowSteps * 2 * RowLayers * Directions - 1);
        foreach (var values in one.Values)
        {
            Assert.Contains(values, v => v != 0);
        }

        AssertSameBits(one, three, $"{architecture} (tokens: {tokens})");
    }

    /// <summary>Every result of the three-thread run has the bits of the one-thread run's.</summary>
    private static void AssertSameBits(Dictionary<string, float[]> one, Dictionary<string, float[]> three, string label)
    {
        foreach (var (name, values) in one)
        {
            var other = three[name];
            Assert.True(values.Length > 0, $"{name} is empty");
            Assert.Equal(values.Length, other.Length);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(values[i]) == BitConverter.SingleToInt32Bits(other[i]),
                    $"{label} {name}[{i}]: {values[i]:R} with one thread, {other[i]:R} with three");
            }
        }
    }

    /// <summary>Runs <paramref name="run"/> with <paramref name="threads"/> kernel threads and every time step split however small.</summary>
    private static TResult WithThreads<TResult>(int threads, Func<TResult> run)
    {
        int savedThreads = Parallelism.ThreadCount;
        long savedWork = RecurrentDirection.MinParallelStepWork;
        try
        {
            Parallelism.ThreadCount = threads;
            RecurrentDirection.MinParallelStepWork = 0;
            return run();
        }
        finally
        {
            Parallelism.ThreadCount = savedThreads;
            RecurrentDirection.MinParallelStepWork = savedWork;
        }
    }

    private const int RowSteps = 11, RowBatch = 19, RowLayers = 2, Vocabulary = 7;

    private static Dictionary<string, float[]> RunRows(string architecture, bool tokens, int threads, out long splitParts)
    {
        (var measured, splitParts) = WithThreads(threads, () =>
        {
            var model = new SequenceModel<float>(new ModelConfig
            {
                Architecture = Architectures.Parse(architecture), InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs,
                Layers = RowLayers, Bidirectional = true, VocabularySize = tokens ? Vocabulary : 0,
            });
            Initializers.PyTorchDefault(model, new Random(21));
            model.ComputeInputGradients = !tokens;
            var random = new Random(22);
            int[] lengths = [.. Enumerable.Range(0, RowBatch).Select(b => 1 + ((b * 5) % RowSteps))];
            float[] targets = Values(random, RowSteps * RowBatch * Outputs);
            long partsBefore = WorkerPool.SplitParts;
            model.Parameters.ZeroGradients();
            if (tokens)
            {
                int[] ids = [.. Enumerable.Range(0, RowSteps * RowBatch).Select(_ => random.Next(Vocabulary))];
                model.ForwardTokens(ids, RowSteps, RowBatch, lengths: lengths);
            }
            else
            {
                model.Forward(Values(random, RowSteps * RowBatch * InputSize), RowSteps, RowBatch, lengths: lengths);
            }

            float[] predictionGradients = new float[model.Predictions.Length];
            float loss = Losses.MeanSquaredError<float>(model.Predictions, targets, predictionGradients);
            model.Backward(predictionGradients);
            long parts = WorkerPool.SplitParts - partsBefore;
            var results = new Dictionary<string, float[]>
            {
                ["loss"] = [loss],
                ["predictions"] = model.Predictions.ToArray(),
                ["final state"] = model.FinalState.ToArray(),
                ["parameter gradients"] = model.Parameters.Gradients.ToArray(),
                ["h0 gradient"] = model.InitialStateGradient.ToArray(),
            };
            if (!tokens)
            {
                results["input gradients"] = model.InputGradients.ToArray();
            }

            return (results, parts);
        });
        return measured;
    }

    private static Dictionary<string, float[]> Run(string architecture, int threads, out long splitParts)
    {
        (var measured, splitParts) = WithThreads(threads, () =>
        {
            var model = new SequenceModel<float>(new ModelConfig
            {
                Architecture = Architectures.Parse(architecture), InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs,
                Layers = Layers, Bidirectional = true,
            });
            Initializers.PyTorchDefault(model, new Random(11));
            model.ComputeInputGradients = true;
            model.RecordGradientFlow = true;
            var random = new Random(12);
            float[] inputs = Values(random, Steps * Batch * InputSize);
            float[] targets = Values(random, Steps * Batch * Outputs);
            float[] h0 = Values(random, Layers * Directions * Batch * Hidden);
            float[] c0 = architecture == "lstm" ? Values(random, h0.Length) : [];
            int[] lengths = [7, 3, 5, 1, 6];

            long partsBefore = WorkerPool.SplitParts;
            model.Parameters.ZeroGradients();
            model.Forward(inputs, Steps, Batch, h0, lengths, c0);
            float[] predictionGradients = new float[model.Predictions.Length];
            float loss = Losses.MeanSquaredError<float>(model.Predictions, targets, predictionGradients);
            model.Backward(predictionGradients);
            long parts = WorkerPool.SplitParts - partsBefore;

            var results = new Dictionary<string, float[]>
            {
                ["loss"] = [loss],
                ["predictions"] = model.Predictions.ToArray(),
                ["states"] = model.States.ToArray(),
                ["final state"] = model.FinalState.ToArray(),
                ["parameter gradients"] = model.Parameters.Gradients.ToArray(),
                ["h0 gradient"] = model.InitialStateGradient.ToArray(),
                ["input gradients"] = model.InputGradients.ToArray(),
                ["dL/dh_t, last layer, reverse"] = model.StateGradients(Layers - 1, 1).ToArray(),
                ["dL/dh_t, first layer"] = model.StateGradients(0).ToArray(),
            };
            if (architecture == "lstm")
            {
                results["final cell"] = model.FinalCell.ToArray();
                results["c0 gradient"] = model.InitialCellGradient.ToArray();
                results["dL/dc_t, first layer"] = model.CellGradients(0).ToArray();
            }

            return (results, parts);
        });
        return measured;
    }

    private static float[] Values(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
