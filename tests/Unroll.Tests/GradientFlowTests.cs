using Unroll.Init;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The per-step gradient norms ||dL/dh_k|| recorded during BPTT equal the gradient obtained
/// independently: the head's part at step k plus the finite-difference gradient of the later steps'
/// loss with respect to h_k (running those steps from h_k as their initial state).
/// </summary>
public class GradientFlowTests
{
    private const int Steps = 8, Batch = 2, Inputs = 2, Hidden = 3, Outputs = 2;

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void RecordedNormsEqualIndependentGradients(string cell)
    {
        var random = new Random(cell.Length * 7);
        var config = new ModelConfig { Architecture = cell, InputSize = Inputs, HiddenSize = Hidden, OutputSize = Outputs };
        var model = new SequenceModel<double>(config) { RecordGradientFlow = true };
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        var y = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Outputs, 1);
        model.Forward(x, Steps, Batch);
        var predictions = model.Predictions.ToArray();
        var states = model.States.ToArray();
        var dy = new double[y.Length];
        Losses.MeanSquaredError<double>(predictions, y, dy);
        model.Backward(dy);
        var recorded = model.StateGradientNorms(0).ToArray();
        Assert.Equal(Steps, recorded.Length);

        // The LSTM's cell states along the way, to start the later steps from (h_k, c_k).
        var cells = new double[Steps][];
        if (cell == "lstm")
        {
            for (int k = 0; k < Steps; k++)
            {
                model.Forward(x.AsSpan(0, (k + 1) * Batch * Inputs), k + 1, Batch);
                cells[k] = model.FinalCell.ToArray();
            }
        }

        var head = model.Parameters.Value(SequenceModel<double>.HeadWeightName).ToArray();
        int block = Batch * Hidden;
        double total = Steps * Batch * Outputs;
        for (int k = 0; k < Steps; k++)
        {
            // The head's part: dL/dy_k W.
            var gradient = new double[block];
            for (int b = 0; b < Batch; b++)
            {
                for (int j = 0; j < Hidden; j++)
                {
                    for (int o = 0; o < Outputs; o++)
                    {
                        gradient[(b * Hidden) + j] += dy[(((k * Batch) + b) * Outputs) + o] * head[(o * Hidden) + j];
                    }
                }
            }

            // The later steps' part, by finite differences with respect to h_k.
            int later = Steps - 1 - k;
            if (later > 0)
            {
                var hk = states.AsSpan(k * block, block).ToArray();
                var laterInputs = x.AsSpan((k + 1) * Batch * Inputs).ToArray();
                var laterTargets = y.AsSpan((k + 1) * Batch * Outputs).ToArray();
                double LaterLoss()
                {
                    model.Forward(laterInputs, later, Batch, hk, initialCell: cell == "lstm" ? cells[k] : default);
                    double sum = 0;
                    for (int i = 0; i < laterTargets.Length; i++)
                    {
                        double d = model.Predictions[i] - laterTargets[i];
                        sum += d * d;
                    }

                    return sum / total;
                }

                for (int i = 0; i < block; i++)
                {
                    gradient[i] += GradientCheck.FivePoint(hk, i, LaterLoss);
                }
            }

            double expected = Math.Sqrt(gradient.Sum(g => g * g));
            Assert.True(GradientCheck.RelativeError(recorded[k], expected) <= 1e-6, $"step {k}: recorded {recorded[k]:R}, independent {expected:R}");
        }
    }

    [Fact]
    public void NothingIsRecordedUnlessAsked()
    {
        var model = new SequenceModel<double>(new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 1 });
        model.Forward(new double[4], 4, 1);
        model.Backward(new double[4]);
        Assert.True(model.StateGradientNorms(0).IsEmpty);
    }
}
