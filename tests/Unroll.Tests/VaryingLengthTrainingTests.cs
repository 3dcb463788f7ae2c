using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>Sequences of different lengths through the public set and trainer, scored as PyTorch's packed sequences are.</summary>
public class VaryingLengthTrainingTests
{
    private static readonly int[] Lengths = [3, 7, 5, 7, 2];

    private static SequenceSet RandomSet(int[] lengths, int seed)
    {
        var random = new Random(seed);
        var inputs = new List<double[,]>();
        var targets = new List<double[,]>();
        foreach (int length in lengths)
        {
            var x = new double[length, 2];
            var y = new double[length, 1];
            for (int t = 0; t < length; t++)
            {
                x[t, 0] = random.NextDouble() - 0.5;
                x[t, 1] = random.NextDouble() - 0.5;
                y[t, 0] = random.NextDouble() - 0.5;
            }

            inputs.Add(x);
            targets.Add(y);
        }

        return SequenceSet.FromArrays(inputs, targets);
    }

    [Fact]
    public void FromArraysKeepsEachSequencesLengthAndZerosThePadding()
    {
        var set = RandomSet(Lengths, seed: 1);
        Assert.True(set.HasVaryingLengths);
        Assert.Equal(7, set.Length);
        Assert.Equal(Lengths, Enumerable.Range(0, set.Count).Select(set.LengthOf));
        Assert.Equal(0.0, set.Input(4, 2, 0));
        Assert.NotEqual(0.0, set.Input(4, 1, 0));
        var slice = set.Slice(3, 2);
        Assert.Equal([7, 2], Enumerable.Range(0, 2).Select(slice.LengthOf));

        var uniform = RandomSet([4, 4], seed: 2);
        Assert.False(uniform.HasVaryingLengths);
        Assert.Equal(4, uniform.LengthOf(1));
    }

    [Fact]
    public void BadArraysAreRefusedWithTheSequenceNamed()
    {
        var error = Assert.Throws<UnrollException>(() => SequenceSet.FromArrays([new double[3, 2], new double[4, 3]], [new double[3, 1], new double[4, 1]]));
        Assert.Contains("sequence 1", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => SequenceSet.FromArrays([new double[3, 2]], [new double[2, 1]]));
        Assert.Contains("same number of steps", error.Message, StringComparison.Ordinal);
        var nan = new double[2, 1];
        nan[1, 0] = double.NaN;
        error = Assert.Throws<UnrollException>(() => SequenceSet.FromArrays([new double[2, 1]], [nan]));
        Assert.Contains("sequence 0, step 1", error.Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => new SequenceSet(2, 3, ["x"], ["y"], new double[6], new double[6], [3, 4]));
    }

    /// <summary>
    /// One SGD step of the trainer on a batch of sequences of different lengths moves every parameter by lr times the
    /// gradient that each sequence run alone (no padding, in double) gives, weighted as the masked loss weighs it:
    /// 1/B per sequence for a last-step head, T_b / sum(T) for a per-step head.
    /// </summary>
    [Theory]
    [InlineData("lstm", Pooling.LastStep)]
    [InlineData("gru", Pooling.EveryStep)]
    [InlineData("rnn", Pooling.EveryStep)]
    public void OneStepIsTheWeightedSumOfPerSequenceGradients(string architecture, Pooling pooling)
    {
        var set = RandomSet(Lengths, seed: 3);
        var config = new ModelConfig { Architecture = Architectures.Parse(architecture), InputSize = 2, HiddenSize = 5, OutputSize = 1, Pooling = pooling, Layers = 2 };
        var model = new SequenceModel<float>(config);
        Initializers.PyTorchDefault(model, new Random(4));
        var before = model.Parameters.Values.ToArray();

        var reference = new SequenceModel<double>(config);
        for (int i = 0; i < before.Length; i++)
        {
            reference.Parameters.Values[i] = before[i];
        }

        reference.Parameters.ZeroGradients();
        double expectedLoss = 0;
        int totalSteps = Lengths.Sum();
        for (int n = 0; n < set.Count; n++)
        {
            int steps = set.LengthOf(n);
            var x = new double[steps * 2];
            for (int t = 0; t < steps; t++)
            {
                x[t * 2] = set.Input(n, t, 0);
                x[(t * 2) + 1] = set.Input(n, t, 1);
            }

            reference.Forward(x, steps, 1);
            double[] y = pooling == Pooling.LastStep
                ? [set.Target(n, steps - 1, 0)]
                : Enumerable.Range(0, steps).Select(t => set.Target(n, t, 0)).ToArray();
            var gradients = new double[y.Length];
            double loss = Losses.MeanSquaredError<double>(reference.Predictions, y, gradients);
            double weight = pooling == Pooling.LastStep ? 1.0 / set.Count : (double)steps / totalSteps;
            expectedLoss += weight * loss;
            for (int i = 0; i < gradients.Length; i++)
            {
                gradients[i] *= weight;
            }

            reference.Backward(gradients);
        }

        const double rate = 0.5;
        var options = new TrainingOptions
        {
            Steps = 1,
            BatchSize = set.Count,
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = rate },
            Schedule = new ScheduleSettings { Kind = LearningRateSchedule.Constant },
        };
        var history = new Trainer(model, options).Run(set, null);

        Assert.Equal(expectedLoss, history[0].TrainLoss, 1e-6);
        var after = model.Parameters.Values;
        double largest = reference.Parameters.Gradients.Max(Math.Abs);
        Assert.True(largest > 1e-3, "the reference gradient is too small for the comparison to mean anything");
        for (int i = 0; i < after.Length; i++)
        {
            double moved = (before[i] - (double)after[i]) / rate;
            Assert.True(
                Math.Abs(moved - reference.Parameters.Gradients[i]) <= 2e-5 + (1e-3 * largest),
                $"parameter {i}: moved by {moved} / lr, expected the gradient {reference.Parameters.Gradients[i]}");
        }
    }

    [Fact]
    public void ValidationScoresEachSequenceOnlyInsideItsLength()
    {
        var set = RandomSet(Lengths, seed: 5);
        var config = new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 4, OutputSize = 1 };
        var model = new SequenceModel<float>(config);
        Initializers.PyTorchDefault(model, new Random(6));
        double sum = 0;
        for (int n = 0; n < set.Count; n++)
        {
            double measured = Trainer.Evaluate(model, set.Slice(n, 1), batchSize: 1);
            sum += measured * set.LengthOf(n);
        }

        // Batches of 2 mix lengths in one forward pass; the mean over every scored step must not change.
        Assert.Equal(sum / Lengths.Sum(), Trainer.Evaluate(model, set, batchSize: 2), 5);
    }

    [Fact]
    public void TruncatedBpttRefusesSequencesOfDifferentLengths()
    {
        var set = RandomSet(Lengths, seed: 7);
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        var error = Assert.Throws<UnrollException>(() => new Trainer(model, new TrainingOptions { Steps = 2, BatchSize = 2, Bptt = [2] }).Run(set, null));
        Assert.Contains("different lengths", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainingOnVaryingLengthsLearnsALengthDependentTarget()
    {
        // Target at each sequence's last step: the mean of its inputs, which a model that read the zero padding
        // (or the wrong step) would get wrong for every sequence shorter than the longest.
        var random = new Random(8);
        var inputs = new List<double[,]>();
        var targets = new List<double[,]>();
        for (int n = 0; n < 256; n++)
        {
            int length = 2 + random.Next(9);
            var x = new double[length, 1];
            var y = new double[length, 1];
            double sum = 0;
            for (int t = 0; t < length; t++)
            {
                x[t, 0] = random.NextDouble() + 0.5;
                sum += x[t, 0];
            }

            y[length - 1, 0] = sum / length;
            inputs.Add(x);
            targets.Add(y);
        }

        var set = SequenceSet.FromArrays(inputs, targets);
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 1, HiddenSize = 16, OutputSize = 1, Pooling = Pooling.LastStep });
        Initializers.PyTorchDefault(model, new Random(9));
        var train = set.Slice(0, 192);
        var validation = set.Slice(192, 64);
        double before = Trainer.Evaluate(model, validation, 64);
        new Trainer(model, new TrainingOptions { Steps = 400, BatchSize = 32 }).Run(train, validation);
        double after = Trainer.Evaluate(model, validation, 64);
        var last = Enumerable.Range(0, 64).Select(n => validation.Target(n, validation.LengthOf(n) - 1, 0)).ToArray();
        double variance = last.Select(v => (v - last.Average()) * (v - last.Average())).Average();
        Assert.True(after < variance / 10, $"validation MSE {before} -> {after}; predicting the mean gives {variance}");
    }
}
