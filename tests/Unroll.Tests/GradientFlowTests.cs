using Unroll.Diagnostics;
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
        var config = new ModelConfig { Architecture = Architectures.Parse(cell), InputSize = Inputs, HiddenSize = Hidden, OutputSize = Outputs };
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

    /// <summary>
    /// GradientFlow.Measure's per-step norms, for the total loss and for the last step's loss alone,
    /// equal the norms of gradients obtained independently: the head's part at step k plus the
    /// five-point finite-difference gradient, with respect to h_k (and c_k for the LSTM), of the later
    /// steps' loss run from (h_k, c_k) as the initial state.
    /// </summary>
    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void MeasuredFlowOfBothLossesEqualsFiniteDifferences(string cell)
    {
        var random = new Random(11 + cell.Length);
        var config = new ModelConfig { Architecture = Architectures.Parse(cell), InputSize = Inputs, HiddenSize = Hidden, OutputSize = Outputs };
        var model = new SequenceModel<double>(config);
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        var y = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Outputs, 1);
        model.Parameters.Gradients[0] = 42;

        var profile = Assert.Single(GradientFlow.Measure(model, x, y, Steps, Batch));
        Assert.Equal(42, model.Parameters.Gradients[0]);
        Assert.False(model.RecordGradientFlow);
        Assert.Equal(Steps, profile.TotalLoss.Length);
        Assert.Equal(cell == "lstm" ? Steps : 0, profile.TotalLossCell.Length);

        model.Forward(x, Steps, Batch);
        var predictions = model.Predictions.ToArray();
        var states = model.States.ToArray();
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
        int block = Batch * Hidden, row = Batch * Outputs;
        foreach (bool lastStepOnly in new[] { false, true })
        {
            // dL/dy: 2 (y - target) / N over every step (N = T B O), or over the last step only (N = B O).
            double count = lastStepOnly ? row : Steps * row;
            var dy = new double[y.Length];
            for (int i = lastStepOnly ? (Steps - 1) * row : 0; i < y.Length; i++)
            {
                dy[i] = 2 * (predictions[i] - y[i]) / count;
            }

            var measured = lastStepOnly ? profile.LastStepLoss : profile.TotalLoss;
            var measuredCell = lastStepOnly ? profile.LastStepLossCell : profile.TotalLossCell;
            for (int k = 0; k < Steps; k++)
            {
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

                var cellGradient = new double[block];
                int later = Steps - 1 - k;
                if (later > 0)
                {
                    var hk = states.AsSpan(k * block, block).ToArray();
                    var ck = cell == "lstm" ? cells[k] : [];
                    var laterInputs = x.AsSpan((k + 1) * Batch * Inputs).ToArray();
                    var laterTargets = y.AsSpan((k + 1) * row).ToArray();
                    double LaterLoss()
                    {
                        model.Forward(laterInputs, later, Batch, hk, initialCell: ck);
                        double sum = 0;
                        for (int i = lastStepOnly ? (later - 1) * row : 0; i < laterTargets.Length; i++)
                        {
                            double d = model.Predictions[i] - laterTargets[i];
                            sum += d * d;
                        }

                        return sum / count;
                    }

                    for (int i = 0; i < block; i++)
                    {
                        gradient[i] += GradientCheck.FivePoint(hk, i, LaterLoss);
                        if (cell == "lstm")
                        {
                            cellGradient[i] = GradientCheck.FivePoint(ck, i, LaterLoss);
                        }
                    }
                }

                string what = $"{(lastStepOnly ? "last-step" : "total")} loss, step {k}";
                GradientCheck.AssertMatches($"||dL/dh|| {what}", measured[k], Math.Sqrt(gradient.Sum(g => g * g)));
                if (cell == "lstm")
                {
                    GradientCheck.AssertMatches($"||dL/dc|| {what}", measuredCell[k], Math.Sqrt(cellGradient.Sum(g => g * g)));
                }
            }
        }

        // The last step's loss reaches the last step only through the head: its flow is not the total's.
        Assert.NotEqual(profile.TotalLoss[0], profile.LastStepLoss[0]);
        Assert.Equal(profile.LastStepLoss[0] / profile.LastStepLoss[^1], profile.LastStepLossRatio, 12);
    }

    [Fact]
    public void BidirectionalFlowEndsEachDirectionAtItsOwnLastStep()
    {
        var random = new Random(5);
        var config = new ModelConfig { Architecture = Architecture.Gru, InputSize = Inputs, HiddenSize = Hidden, OutputSize = Outputs, Layers = 2, Bidirectional = true };
        var model = new SequenceModel<double>(config);
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        var y = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Outputs, 1);
        var profiles = GradientFlow.Measure(model, x, y, Steps, Batch);
        Assert.Equal([(0, false), (0, true), (1, false), (1, true)], profiles.Select(p => (p.Layer, p.Reverse)));

        // In the top layer, y_{T-1} reads the reverse direction only at t = T-1, its first step, so
        // with the loss at T-1 every other step of that direction would get zero; the loss at
        // t = 0, the reverse direction's last step, reaches all of them through its recurrence.
        var top = profiles[3];
        Assert.All(top.LastStepLoss, norm => Assert.True(norm > 0));
        Assert.Equal(top.LastStepLoss[Steps - 1] / top.LastStepLoss[0], top.LastStepLossRatio, 12);
        Assert.All(profiles[2].LastStepLoss, norm => Assert.True(norm > 0));
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
