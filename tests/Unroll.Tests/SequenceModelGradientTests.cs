using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// Analytic BPTT against central finite differences in double, for every parameter, the initial
/// state and the inputs, for every activation, with B &gt; 1 and T &gt;= 10.
/// </summary>
public class SequenceModelGradientTests
{
    private const int Steps = 11;
    private const int Batch = 3;
    private const int InputSize = 2;
    private const int Hidden = 4;
    private const int Outputs = 2;

    public static TheoryData<Activation> AllActivations =>
        new() { Activation.Tanh, Activation.Sigmoid, Activation.Relu, Activation.Identity };

    [Theory]
    [MemberData(nameof(AllActivations))]
    public void EveryGradientMatchesCentralFiniteDifferences(Activation activation)
    {
        var random = new Random(1234 + (int)activation);
        var model = NewModel(activation, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        var targets = RandomArray(random, Steps * Batch * Outputs, 1.0);
        var h0 = RandomArray(random, Batch * Hidden, 0.5);
        model.ComputeInputGradients = true;

        double Loss() => LossOf(model, inputs, targets, h0);

        // Analytic gradients.
        model.Parameters.ZeroGradients();
        model.Forward(inputs, Steps, Batch, h0);
        var dPredictions = new double[Steps * Batch * Outputs];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dPredictions);
        model.Backward(dPredictions);
        var parameterGradients = (double[])model.Parameters.Gradients.Clone();
        var h0Gradient = model.InitialStateGradient.ToArray();
        var inputGradient = model.InputGradients.ToArray();

        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{view.Name}[{i}]", parameterGradients[view.Offset + i],
                    GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, Loss));
            }
        }

        for (int i = 0; i < h0.Length; i++)
        {
            GradientCheck.AssertMatches($"h0[{i}]", h0Gradient[i], GradientCheck.FivePoint(h0, i, Loss));
        }

        for (int i = 0; i < inputs.Length; i++)
        {
            GradientCheck.AssertMatches($"input[{i}]", inputGradient[i], GradientCheck.FivePoint(inputs, i, Loss));
        }
    }

    [Fact]
    public void ZeroInitialStateEqualsExplicitZeros()
    {
        var random = new Random(7);
        var model = NewModel(Activation.Tanh, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        model.Forward(inputs, Steps, Batch);
        var implicitZero = model.Predictions.ToArray();
        model.Forward(inputs, Steps, Batch, new double[Batch * Hidden]);
        Assert.Equal(implicitZero, model.Predictions.ToArray());
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        var random = new Random(8);
        var model = NewModel(Activation.Tanh, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        var dPredictions = RandomArray(random, Steps * Batch * Outputs, 1.0);
        model.Forward(inputs, Steps, Batch);
        model.Backward(dPredictions);
        var once = (double[])model.Parameters.Gradients.Clone();
        model.Forward(inputs, Steps, Batch);
        model.Backward(dPredictions);
        for (int i = 0; i < once.Length; i++)
        {
            Assert.Equal(2 * once[i], model.Parameters.Gradients[i], 12);
        }
    }

    [Fact]
    public void StepByStepInferenceReproducesTheSequenceForward()
    {
        var random = new Random(9);
        var model = NewModel(Activation.Tanh, random);
        var inputs = RandomArray(random, Steps * Batch * InputSize, 1.0);
        model.Forward(inputs, Steps, Batch);
        var state = new double[Batch * Hidden];
        var output = new double[Batch * Outputs];
        for (int t = 0; t < Steps; t++)
        {
            model.Step(inputs.AsSpan(t * Batch * InputSize, Batch * InputSize), state, output, Batch);
            for (int i = 0; i < output.Length; i++)
            {
                Assert.Equal(model.Predictions[(t * Batch * Outputs) + i], output[i], 12);
            }
        }

        Assert.Equal(model.FinalState.ToArray(), state);
    }

    [Fact]
    public void ShapeMismatchIsRefusedWithTheExpectedShape()
    {
        var model = NewModel(Activation.Tanh, new Random(1));
        var error = Assert.Throws<ArgumentException>(() => model.Forward(new double[5], Steps, Batch));
        Assert.Contains("[T=11, B=3, I=2]", error.Message, StringComparison.Ordinal);
    }

    internal static SequenceModel<double> NewModel(Activation activation, Random random)
    {
        var model = new SequenceModel<double>(new ModelConfig
        {
            InputSize = InputSize,
            HiddenSize = Hidden,
            OutputSize = Outputs,
            Activation = activation,
        });
        // Larger than PyTorch's default so the recurrence matters over 11 steps; ReLU units stay mixed.
        Initializers.Uniform<double>(model.Parameters.Values, -0.8, 0.8, random);
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

    private static double LossOf(SequenceModel<double> model, double[] inputs, double[] targets, double[] h0)
    {
        model.Forward(inputs, Steps, Batch, h0);
        return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty);
    }
}
