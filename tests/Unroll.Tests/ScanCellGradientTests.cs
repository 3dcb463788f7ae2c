using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The LRU, minGRU and minLSTM layers' analytic gradients against central finite differences in double: every
/// parameter, the initial states and the inputs (or the embedding), stacked and bidirectional, with varying lengths.
/// The loss counts every step, padded ones included, so a gradient leaking out of a padded step would show.
/// </summary>
public class ScanCellGradientTests
{
    private const int Steps = 9;
    private const int Batch = 3;
    private const int InputSize = 2;
    private const int Hidden = 4;
    private const int Outputs = 2;
    private const int Vocabulary = 5;

    /// <summary>
    /// (architecture, layers, bidirectional, varying lengths, token input, input size): inputs of 2 and 8 take the
    /// min-cells' fused narrow-input path, 9 the GEMM path.
    /// </summary>
    public static TheoryData<string, int, bool, bool, bool, int> Cases
    {
        get
        {
            var data = new TheoryData<string, int, bool, bool, bool, int>();
            foreach (string architecture in new[] { "lru", "mingru", "minlstm" })
            {
                data.Add(architecture, 1, false, false, false, InputSize);
                data.Add(architecture, 2, true, true, false, InputSize);
                data.Add(architecture, 2, false, true, false, InputSize);
                data.Add(architecture, 2, true, true, false, 9);
                data.Add(architecture, 1, true, false, true, InputSize);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryGradientMatchesCentralFiniteDifferences(string architecture, int layers, bool bidirectional, bool varying, bool tokens, int inputSize)
    {
        var random = new Random(architecture.Length + (10 * layers) + (bidirectional ? 100 : 0) + (varying ? 1000 : 0) + (tokens ? 5000 : 0) + inputSize);
        var model = NewModel(architecture, layers, bidirectional, tokens ? Vocabulary : 0, random, inputSize);
        int states = layers * model.Config.Directions * Batch * Hidden;
        var inputs = RandomArray(random, Steps * Batch * inputSize, 1.0);
        int[] tokenIds = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(Vocabulary)).ToArray();
        var targets = RandomArray(random, Steps * Batch * Outputs, 1.0);
        var h0 = RandomArray(random, states, 0.5);
        int[] lengths = varying ? [5, Steps, 1] : [];
        model.ComputeInputGradients = !tokens;

        void Forward()
        {
            if (tokens)
            {
                model.ForwardTokens(tokenIds, Steps, Batch, h0, lengths);
            }
            else
            {
                model.Forward(inputs, Steps, Batch, h0, lengths);
            }
        }

        double Loss()
        {
            Forward();
            return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty);
        }

        model.Parameters.ZeroGradients();
        Forward();
        var dPredictions = new double[model.Predictions.Length];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dPredictions);
        model.Backward(dPredictions);
        var parameterGradients = (double[])model.Parameters.Gradients.Clone();
        var h0Gradient = model.InitialStateGradient.ToArray();
        var inputGradient = model.InputGradients.ToArray();

        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{architecture} {view.Name}[{i}]", parameterGradients[view.Offset + i],
                    GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, Loss));
            }
        }

        Assert.Equal(states, h0Gradient.Length);
        for (int i = 0; i < h0.Length; i++)
        {
            GradientCheck.AssertMatches($"{architecture} h0[{i}]", h0Gradient[i], GradientCheck.FivePoint(h0, i, Loss));
        }

        if (!tokens)
        {
            Assert.Equal(inputs.Length, inputGradient.Length);
            for (int i = 0; i < inputs.Length; i++)
            {
                GradientCheck.AssertMatches($"{architecture} input[{i}]", inputGradient[i], GradientCheck.FivePoint(inputs, i, Loss));
            }
        }
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void StepByStepInferenceReproducesTheSequenceForward(string architecture)
    {
        var random = new Random(9);
        var model = NewModel(architecture, 2, false, 0, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        var h0 = RandomArray(random, 2 * Batch * Hidden, 0.5);
        model.Forward(inputs, Steps, Batch, h0);
        var state = (double[])h0.Clone();
        var output = new double[Batch * Outputs];
        for (int t = 0; t < Steps; t++)
        {
            model.Step(inputs.AsSpan(t * Batch * InputSize, Batch * InputSize), state, output, Batch);
            for (int i = 0; i < output.Length; i++)
            {
                Assert.Equal(model.Predictions[(t * Batch * Outputs) + i], output[i], 12);
            }
        }

        var final = model.FinalState.ToArray();
        for (int i = 0; i < final.Length; i++)
        {
            Assert.Equal(final[i], state[i], 12);
        }
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void PaddedStepsKeepTheStateAndOutputZero(string architecture)
    {
        var random = new Random(4);
        var model = NewModel(architecture, 1, false, 0, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        int[] lengths = [4, Steps, 2];
        model.Forward(inputs, Steps, Batch, lengths: lengths);
        var padded = model.FinalState.ToArray();
        var outputs = model.States.ToArray();

        // Each sequence alone, run for its own length, ends in the state the padded batch reports.
        for (int b = 0; b < Batch; b++)
        {
            var alone = new double[lengths[b] * InputSize];
            for (int t = 0; t < lengths[b]; t++)
            {
                inputs.AsSpan(((t * Batch) + b) * InputSize, InputSize).CopyTo(alone.AsSpan(t * InputSize));
            }

            model.Forward(alone, lengths[b], 1);
            for (int j = 0; j < Hidden; j++)
            {
                Assert.Equal(model.FinalState[j], padded[(b * Hidden) + j], 12);
            }

            for (int t = lengths[b]; t < Steps; t++)
            {
                for (int j = 0; j < Hidden; j++)
                {
                    Assert.Equal(0.0, outputs[(((t * Batch) + b) * Hidden) + j]);
                }
            }
        }
    }

    internal static SequenceModel<double> NewModel(string architecture, int layers, bool bidirectional, int vocabulary, Random random, int inputSize = InputSize)
    {
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture),
            InputSize = inputSize,
            HiddenSize = Hidden,
            OutputSize = Outputs,
            Layers = layers,
            Bidirectional = bidirectional,
            VocabularySize = vocabulary,
        });
        if (architecture == "lru")
        {
            // A wide ring and every phase, so that the rotation and the decay both matter over 9 steps.
            ScanCellInitializers.Initialize(model, random, ringMin: 0.5, ringMax: 0.95, maxPhase: Math.PI);
        }
        else
        {
            // Larger than the default so the gates are far from 1/2; biases non-zero.
            Initializers.Uniform<double>(model.Parameters.Values, -1.2, 1.2, random);
        }

        return model;
    }

    internal static double[] RandomArray(Random random, int length, double scale)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = scale * ((2 * random.NextDouble()) - 1);
        }

        return values;
    }
}
