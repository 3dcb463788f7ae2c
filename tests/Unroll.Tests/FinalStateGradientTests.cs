using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// A loss on the final states h_n (and c_n) of every layer and direction, back-propagated beside or instead of a loss
/// on the predictions: against PyTorch (scripts/reference/final_state_golden.py) and against finite differences.
/// </summary>
public class FinalStateGradientTests
{
    [Theory]
    [InlineData("final_state_lstm_l2_bi_varying.json")]
    [InlineData("final_state_gru_l2_bi_varying.json")]
    public void DoubleMatchesPyTorch(string fileName) => Compare<double>(GoldenFixture.Load(fileName), 1e-10);

    [Theory]
    [InlineData("final_state_lstm_l2_bi_varying.json")]
    [InlineData("final_state_gru_l2_bi_varying.json")]
    public void FloatMatchesPyTorch(string fileName) => Compare<float>(GoldenFixture.Load(fileName), 3e-5);

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("rnn")]
    public void GradientsOfALossOnTheFinalStatesAloneMatchFiniteDifferences(string architecture)
    {
        const int steps = 5, batch = 3, inputs = 2, hidden = 3;
        int[] lengths = [3, 5, 1];
        var random = new Random(architecture.Length);
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = inputs, HiddenSize = hidden, OutputSize = 2, Layers = 2, Bidirectional = true,
        })
        {
            ComputeInputGradients = true,
        };
        Initializers.Uniform<double>(model.Parameters.Values, -0.7, 0.7, random);
        bool memory = architecture == "lstm";
        int stateLength = 4 * batch * hidden;
        var x = SequenceModelGradientTests.RandomArray(random, steps * batch * inputs, 1);
        var h0 = SequenceModelGradientTests.RandomArray(random, stateLength, 0.5);
        var c0 = memory ? SequenceModelGradientTests.RandomArray(random, stateLength, 0.5) : [];
        var stateTarget = SequenceModelGradientTests.RandomArray(random, stateLength, 0.5);
        var cellTarget = SequenceModelGradientTests.RandomArray(random, stateLength, 0.5);

        // L = 0.5 |h_n - a|^2 (+ 0.5 |c_n - b|^2): nothing reaches the head.
        double Loss()
        {
            model.Forward(x, steps, batch, h0, lengths, c0);
            return HalfSquaredDistance(model.FinalState, stateTarget) + (memory ? HalfSquaredDistance(model.FinalCell, cellTarget) : 0);
        }

        model.Forward(x, steps, batch, h0, lengths, c0);
        var dState = Difference(model.FinalState, stateTarget);
        var dCell = memory ? Difference(model.FinalCell, cellTarget) : [];
        model.Parameters.ZeroGradients();
        model.Backward([], dState, dCell);
        var gradients = (double[])model.Parameters.Gradients.Clone();
        var h0Gradient = model.InitialStateGradient.ToArray();
        var c0Gradient = model.InitialCellGradient.ToArray();
        var xGradient = model.InputGradients.ToArray();
        Assert.Contains(gradients, g => g != 0);
        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{view.Name}[{i}]", gradients[view.Offset + i], GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, Loss));
            }
        }

        for (int i = 0; i < h0.Length; i++)
        {
            GradientCheck.AssertMatches($"h0[{i}]", h0Gradient[i], GradientCheck.FivePoint(h0, i, Loss));
        }

        for (int i = 0; i < c0.Length; i++)
        {
            GradientCheck.AssertMatches($"c0[{i}]", c0Gradient[i], GradientCheck.FivePoint(c0, i, Loss));
        }

        for (int i = 0; i < x.Length; i++)
        {
            GradientCheck.AssertMatches($"x[{i}]", xGradient[i], GradientCheck.FivePoint(x, i, Loss));
        }
    }

    [Fact]
    public void MisshapedFinalStateGradientsAreRefused()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 1, HiddenSize = 2, OutputSize = 1 });
        model.Forward(new double[3], 3, 1);
        Assert.Contains("h_n", Assert.Throws<ArgumentException>(() => model.Backward([], new double[3], [])).Message, StringComparison.Ordinal);
        model.Forward(new double[3], 3, 1);
        Assert.Contains("c_n", Assert.Throws<ArgumentException>(() => model.Backward([], [], new double[2])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AScanCellRefusesAGradientOnItsFinalState()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.MinGru, InputSize = 1, HiddenSize = 2, OutputSize = 1 });
        model.Forward(new double[3], 3, 1);
        Assert.Contains("final states", Assert.Throws<UnrollException>(() => model.Backward([], new double[2], [])).Message, StringComparison.Ordinal);
    }

    private static double HalfSquaredDistance(ReadOnlySpan<double> values, double[] target)
    {
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += 0.5 * (values[i] - target[i]) * (values[i] - target[i]);
        }

        return sum;
    }

    private static double[] Difference(ReadOnlySpan<double> values, double[] target)
    {
        var difference = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            difference[i] = values[i] - target[i];
        }

        return difference;
    }

    private static void Compare<T>(GoldenFixture fixture, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var model = new SequenceModel<T>(new ModelConfig
        {
            Architecture = Architectures.Parse(fixture.Cell), InputSize = fixture.I, HiddenSize = fixture.H, OutputSize = fixture.O,
            Layers = fixture.Layers, Bidirectional = fixture.Bidirectional,
        })
        {
            ComputeInputGradients = true,
        };
        foreach (var view in model.Parameters.Views)
        {
            Assert.Equal(fixture.Shape(view.Name), view.Shape);
            GradientCheck.Convert<T>(fixture.Tensor(view.Name)).CopyTo(model.Parameters.Value(view.Name));
        }

        int steps = fixture.T, batch = fixture.B, outputs = fixture.O;
        int[] lengths = fixture.Tensor("lengths").Select(v => (int)v).ToArray();
        bool memory = fixture.Has("c_n");
        model.Forward(GradientCheck.Convert<T>(fixture.Tensor("input")), steps, batch, GradientCheck.Convert<T>(fixture.Tensor("h0")), lengths,
            memory ? GradientCheck.Convert<T>(fixture.Tensor("c0")) : []);

        // loss = sum over valid (t, b, o) of (y - target)^2 / (n_valid * O) + 0.5 |h_n - h_target|^2 (+ 0.5 |c_n - c_target|^2)
        var target = fixture.Tensor("target");
        var dPredictions = new double[model.Predictions.Length];
        double scale = 1.0 / (lengths.Sum() * outputs), loss = 0;
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                for (int o = 0; t < lengths[b] && o < outputs; o++)
                {
                    int at = (((t * batch) + b) * outputs) + o;
                    double difference = double.CreateChecked(model.Predictions[at]) - target[at];
                    loss += difference * difference * scale;
                    dPredictions[at] = 2 * difference * scale;
                }
            }
        }

        var hn = model.FinalState.ToArray().Select(double.CreateChecked).ToArray();
        var cn = model.FinalCell.ToArray().Select(double.CreateChecked).ToArray();
        loss += HalfSquaredDistance(hn, fixture.Tensor("h_target")) + (memory ? HalfSquaredDistance(cn, fixture.Tensor("c_target")) : 0);
        model.Backward(GradientCheck.Convert<T>(dPredictions), GradientCheck.Convert<T>(Difference(hn, fixture.Tensor("h_target"))),
            memory ? GradientCheck.Convert<T>(Difference(cn, fixture.Tensor("c_target"))) : []);

        GradientCheck.AssertClose("loss", [fixture.Scalar("loss")], [loss], tolerance);
        GradientCheck.AssertClose("h_n", fixture.Tensor("h_n"), model.FinalState, tolerance);
        foreach (var view in model.Parameters.Views)
        {
            GradientCheck.AssertClose("grad." + view.Name, fixture.Tensor("grad." + view.Name), model.Parameters.Gradient(view.Name), tolerance);
        }

        GradientCheck.AssertClose("grad.h0", fixture.Tensor("grad.h0"), model.InitialStateGradient, tolerance);
        GradientCheck.AssertClose("grad.input", fixture.Tensor("grad.input"), model.InputGradients, tolerance);
        if (memory)
        {
            GradientCheck.AssertClose("c_n", fixture.Tensor("c_n"), model.FinalCell, tolerance);
            GradientCheck.AssertClose("grad.c0", fixture.Tensor("grad.c0"), model.InitialCellGradient, tolerance);
        }
    }
}
