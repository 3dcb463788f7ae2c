using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// BPTT against five-point finite differences in double for every cell x {1, 2 layers} x {one, two
/// directions} x {equal, varying lengths}: every parameter, h0, c0 and every input; plus dropout,
/// token inputs and the classification heads.
/// </summary>
public class RecurrentGradientTests
{
    private const int Steps = 6;
    private const int Batch = 3;
    private const int InputSize = 2;
    private const int Hidden = 3;
    private const int Outputs = 2;
    private static readonly int[] VaryingLengths = [4, 6, 1];

    public static TheoryData<string, int, bool, bool> Grid()
    {
        var data = new TheoryData<string, int, bool, bool>();
        foreach (var cell in new[] { "rnn", "lstm", "gru" })
        {
            foreach (int layers in new[] { 1, 2 })
            {
                foreach (bool bidirectional in new[] { false, true })
                {
                    foreach (bool varying in new[] { false, true })
                    {
                        data.Add(cell, layers, bidirectional, varying);
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void RegressionGradientsMatchFiniteDifferences(string cell, int layers, bool bidirectional, bool varying)
    {
        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(cell), InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs, Layers = layers, Bidirectional = bidirectional,
        };
        // A fixed seed per grid point (HashCode is randomised per process, so it would make the test vary between runs).
        var random = new Random((cell.Length * 1000) + (cell[0] * 100) + (layers * 10) + (bidirectional ? 4 : 0) + (varying ? 2 : 0));
        var model = NewModel(config, random);
        model.ComputeInputGradients = true;
        int stateLength = layers * config.Directions * Batch * Hidden;
        var inputs = SequenceModelGradientTests.RandomArray(random, Steps * Batch * InputSize, 1.0);
        var targets = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Outputs, 1.0);
        var h0 = SequenceModelGradientTests.RandomArray(random, stateLength, 0.5);
        var c0 = cell == "lstm" ? SequenceModelGradientTests.RandomArray(random, stateLength, 0.5) : [];
        int[] lengths = varying ? VaryingLengths : [];

        double Loss()
        {
            model.Forward(inputs, Steps, Batch, h0, lengths, c0);
            return Losses.MaskedMeanSquaredError<double>(model.Predictions, targets, lengths, Steps, Batch, Span<double>.Empty);
        }

        model.Forward(inputs, Steps, Batch, h0, lengths, c0);
        var dPredictions = new double[targets.Length];
        Losses.MaskedMeanSquaredError<double>(model.Predictions, targets, lengths, Steps, Batch, dPredictions);
        model.Parameters.ZeroGradients();
        model.Backward(dPredictions);
        var gradients = (double[])model.Parameters.Gradients.Clone();
        var h0Gradient = model.InitialStateGradient.ToArray();
        var c0Gradient = model.InitialCellGradient.ToArray();
        var inputGradient = model.InputGradients.ToArray();

        CheckAll(model, gradients, Loss);
        CheckArray("h0", h0, h0Gradient, Loss);
        CheckArray("c0", c0, c0Gradient, Loss);
        CheckArray("input", inputs, inputGradient, Loss);
    }

    [Fact]
    public void PaddedStepsChangeNothing()
    {
        var config = new ModelConfig { Architecture = Architecture.Lstm, InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs, Layers = 2, Bidirectional = true };
        var random = new Random(5);
        var model = NewModel(config, random);
        var inputs = SequenceModelGradientTests.RandomArray(random, Steps * Batch * InputSize, 1.0);
        model.Forward(inputs, Steps, Batch, lengths: VaryingLengths);
        var states = model.States.ToArray();
        var final = model.FinalState.ToArray();

        // Junk in the padded positions must not change any output, state or final state.
        for (int t = 0; t < Steps; t++)
        {
            for (int b = 0; b < Batch; b++)
            {
                if (t >= VaryingLengths[b])
                {
                    for (int i = 0; i < InputSize; i++)
                    {
                        inputs[(((t * Batch) + b) * InputSize) + i] = 1e3;
                    }
                }
            }
        }

        model.Forward(inputs, Steps, Batch, lengths: VaryingLengths);
        Assert.Equal(states, model.States.ToArray());
        Assert.Equal(final, model.FinalState.ToArray());
    }

    [Fact]
    public void EachSequenceAloneGivesTheSameOutputsAsTheMaskedBatch()
    {
        var config = new ModelConfig { Architecture = Architecture.Gru, InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs, Layers = 2, Bidirectional = true };
        var random = new Random(6);
        var model = NewModel(config, random);
        var inputs = SequenceModelGradientTests.RandomArray(random, Steps * Batch * InputSize, 1.0);
        model.Forward(inputs, Steps, Batch, lengths: VaryingLengths);
        var batched = model.States.ToArray();
        var batchedFinal = model.FinalState.ToArray();
        int width = 2 * Hidden;
        for (int b = 0; b < Batch; b++)
        {
            int length = VaryingLengths[b];
            var alone = new double[length * InputSize];
            for (int t = 0; t < length; t++)
            {
                Array.Copy(inputs, ((t * Batch) + b) * InputSize, alone, t * InputSize, InputSize);
            }

            model.Forward(alone, length, 1);
            for (int t = 0; t < length; t++)
            {
                for (int j = 0; j < width; j++)
                {
                    Assert.Equal(model.States[(t * width) + j], batched[(((t * Batch) + b) * width) + j], 12);
                }
            }

            for (int index = 0; index < 4; index++)
            {
                for (int j = 0; j < Hidden; j++)
                {
                    Assert.Equal(model.FinalState[(index * Hidden) + j], batchedFinal[(((index * Batch) + b) * Hidden) + j], 12);
                }
            }
        }
    }

    [Theory]
    [InlineData(3, 0.4, 0.0, Pooling.EveryStep)]
    [InlineData(1, 0.0, 0.5, Pooling.EveryStep)]
    [InlineData(2, 0.3, 0.3, Pooling.LastStep)]
    public void DropoutGradientsMatchFiniteDifferencesWithTheMaskHeldFixed(int layers, double dropout, double headDropout, Pooling pooling)
    {
        var config = new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs, Layers = layers,
            Dropout = dropout, HeadDropout = headDropout, Pooling = pooling,
        };
        var random = new Random(7);
        var model = NewModel(config, random);
        model.Training = true;
        var inputs = SequenceModelGradientTests.RandomArray(random, Steps * Batch * InputSize, 1.0);
        var targets = SequenceModelGradientTests.RandomArray(random, (pooling == Pooling.EveryStep ? Steps : 1) * Batch * Outputs, 1.0);

        double Loss()
        {
            model.SetDropoutSeed(42);
            model.Forward(inputs, Steps, Batch);
            return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty);
        }

        Loss();
        var dPredictions = new double[targets.Length];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dPredictions);
        model.Backward(dPredictions);
        CheckAll(model, (double[])model.Parameters.Gradients.Clone(), Loss);

        // Evaluation mode is deterministic and differs from a training pass.
        var trainingPredictions = model.Predictions.ToArray();
        model.Training = false;
        model.Forward(inputs, Steps, Batch);
        Assert.NotEqual(trainingPredictions, model.Predictions.ToArray());
    }

    [Theory]
    [InlineData(Pooling.EveryStep, false)]
    [InlineData(Pooling.EveryStep, true)]
    [InlineData(Pooling.LastStep, false)]
    [InlineData(Pooling.LastStep, true)]
    public void ClassificationWithTokensMatchesFiniteDifferences(Pooling pooling, bool bidirectional)
    {
        const int vocabulary = 5, classes = 4;
        var config = new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = InputSize, HiddenSize = Hidden, OutputSize = classes, VocabularySize = vocabulary,
            Head = HeadKind.Classification, Pooling = pooling, Bidirectional = bidirectional,
        };
        var random = new Random(8);
        var model = NewModel(config, random);
        var tokens = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(vocabulary)).ToArray();
        int rows = pooling == Pooling.EveryStep ? Steps * Batch : Batch;
        var labels = Enumerable.Range(0, rows).Select(_ => random.Next(classes)).ToArray();
        if (pooling == Pooling.EveryStep)
        {
            // Padded steps carry the ignore label, as the trainer sets them.
            for (int t = 0; t < Steps; t++)
            {
                for (int b = 0; b < Batch; b++)
                {
                    if (t >= VaryingLengths[b])
                    {
                        labels[(t * Batch) + b] = -1;
                    }
                }
            }
        }

        double Loss()
        {
            model.ForwardTokens(tokens, Steps, Batch, lengths: VaryingLengths);
            return Losses.SoftmaxCrossEntropy<double>(model.Predictions, labels, classes, Span<double>.Empty);
        }

        Loss();
        var dLogits = new double[rows * classes];
        Losses.SoftmaxCrossEntropy<double>(model.Predictions, labels, classes, dLogits);
        model.Backward(dLogits);
        CheckAll(model, (double[])model.Parameters.Gradients.Clone(), Loss);
    }

    private static SequenceModel<double> NewModel(ModelConfig config, Random random)
    {
        var model = new SequenceModel<double>(config);
        Initializers.Uniform<double>(model.Parameters.Values, -0.7, 0.7, random);
        return model;
    }

    private static void CheckAll(SequenceModel<double> model, double[] gradients, Func<double> loss)
    {
        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{view.Name}[{i}]", gradients[view.Offset + i], GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, loss));
            }
        }
    }

    private static void CheckArray(string name, double[] values, double[] analytic, Func<double> loss)
    {
        Assert.Equal(values.Length, analytic.Length);
        for (int i = 0; i < values.Length; i++)
        {
            GradientCheck.AssertMatches($"{name}[{i}]", analytic[i], GradientCheck.FivePoint(values, i, loss));
        }
    }
}
