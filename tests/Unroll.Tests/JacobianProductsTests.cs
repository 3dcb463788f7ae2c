using Unroll.Diagnostics;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The Jacobian products dh_t/dh_k equal five-point finite differences of h_t run forward from a
/// perturbed h_k (c_k held fixed for the LSTM), for every cell; their norms obey the Pascanu et al.
/// bound for an Elman network and equal s^lag exactly for a scaled rotation.
/// </summary>
public class JacobianProductsTests
{
    private const int Steps = 6, Batch = 2, Inputs = 2, Hidden = 3;

    [Theory]
    [InlineData("rnn", 1, 0)]
    [InlineData("gru", 1, 0)]
    [InlineData("lstm", 2, 0)]
    [InlineData("lstm", 2, 1)]
    public void JacobiansEqualFiniteDifferences(string cell, int layers, int layer)
    {
        var random = new Random(3 + cell.Length + layer);
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architectures.Parse(cell), InputSize = Inputs, HiddenSize = Hidden, OutputSize = 1, Layers = layers }, initialize: false);
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        const int end = Steps - 1;
        var jacobians = JacobianProducts.Jacobians(model, x, Steps, Batch, layer, 0, end);
        Assert.Equal(end + 1, jacobians.Length);
        AssertIdentity(jacobians[0]);

        int block = Batch * Hidden, slot = layer * block;
        for (int k = 0; k < end; k++)
        {
            // (h_k, c_k) of every layer, then the later steps run from it; only layer `layer`'s h_k is perturbed.
            model.Forward(x.AsSpan(0, (k + 1) * Batch * Inputs), k + 1, Batch);
            var state = model.FinalState.ToArray();
            var cells = model.FinalCell.ToArray();
            var later = x.AsSpan((k + 1) * Batch * Inputs).ToArray();
            double[] LaterState()
            {
                model.Forward(later, end - k, Batch, state, initialCell: cells);
                return model.FinalState.Slice(slot, block).ToArray();
            }

            AssertMatchesFiniteDifferences($"{cell} layer {layer}, lag {end - k}", jacobians[end - k], state, slot, LaterState);
        }
    }

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void JacobiansDoNotDependOnHowManySeedsAPassCarries(string cell)
    {
        // H = 3 seeds as one pass of three copies, and as passes of 2 + 1 and of 1 + 1 + 1: the same rows.
        var random = new Random(40 + cell.Length);
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architectures.Parse(cell), InputSize = Inputs, HiddenSize = Hidden, OutputSize = 1, Layers = 2 }, initialize: false);
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        var whole = JacobianProducts.Jacobians(model, x, Steps, Batch, 1, 0, Steps - 1);
        int saved = JacobianProducts.SeedsPerPass;
        try
        {
            foreach (int seeds in new[] { 2, 1 })
            {
                JacobianProducts.SeedsPerPass = seeds;
                var split = JacobianProducts.Jacobians(model, x, Steps, Batch, 1, 0, Steps - 1);
                Assert.Equal(whole.Length, split.Length);
                for (int lag = 0; lag < whole.Length; lag++)
                {
                    for (int i = 0; i < whole[lag].Length; i++)
                    {
                        Assert.Equal(whole[lag][i], split[lag][i], 1e-14);
                    }
                }

                Assert.Contains(whole[^1], v => v != 0);
            }
        }
        finally
        {
            JacobianProducts.SeedsPerPass = saved;
        }
    }

    [Fact]
    public void ReverseDirectionJacobiansEqualFiniteDifferences()
    {
        var random = new Random(21);
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Gru, InputSize = Inputs, HiddenSize = Hidden, OutputSize = 1, Bidirectional = true }, initialize: false);
        Initializers.Uniform<double>(model.Parameters.Values, -0.9, 0.9, random);
        var x = SequenceModelGradientTests.RandomArray(random, Steps * Batch * Inputs, 1);
        const int end = 1;
        var jacobians = JacobianProducts.Jacobians(model, x, Steps, Batch, 0, 1, end);
        Assert.Equal(Steps - end, jacobians.Length);
        AssertIdentity(jacobians[0]);

        model.Forward(x, Steps, Batch);
        var outputs = model.States.ToArray();
        int block = Batch * Hidden;
        for (int k = end + 1; k < Steps; k++)
        {
            // The reverse direction reads x_{k-1} .. x_t from h_k: run the steps t..k-1 with h_k as its initial state.
            var state = new double[2 * block];
            for (int b = 0; b < Batch; b++)
            {
                outputs.AsSpan((((k * Batch) + b) * 2 * Hidden) + Hidden, Hidden).CopyTo(state.AsSpan(block + (b * Hidden)));
            }

            var between = x.AsSpan(end * Batch * Inputs, (k - end) * Batch * Inputs).ToArray();
            double[] EarlierState()
            {
                model.Forward(between, k - end, Batch, state);
                return model.FinalState.Slice(block, block).ToArray();
            }

            AssertMatchesFiniteDifferences($"reverse, lag {k - end}", jacobians[k - end], state, block, EarlierState);
        }
    }

    [Fact]
    public void ElmanNormsStayUnderTheBoundForEverySequenceEndAndLag()
    {
        foreach (var (activation, scale) in new[] { (Activation.Tanh, 0.6), (Activation.Tanh, 2.5), (Activation.Sigmoid, 3.0) })
        {
            const int steps = 30, batch = 3, hidden = 6;
            var random = new Random(7);
            var model = new SequenceModel<double>(new ModelConfig { InputSize = Inputs, HiddenSize = hidden, OutputSize = 1, Activation = activation }, initialize: false);
            Initializers.Uniform<double>(model.Parameters.Values, -0.5, 0.5, random);
            foreach (ref double w in model.Parameters.Value(SequenceModel<double>.WeightHhName))
            {
                w *= scale;
            }

            var x = SequenceModelGradientTests.RandomArray(random, steps * batch * Inputs, 1);
            var profile = Assert.Single(JacobianProducts.Measure(model, x, steps, batch, endSteps: 3));
            var weight = model.Parameters.Value(SequenceModel<double>.WeightHhName).ToArray();
            double beta = SingularValues.Of(weight, hidden, hidden)[0];
            Assert.Equal(beta, profile.LargestSingularValue, 12);
            Assert.Equal(activation == Activation.Sigmoid ? 0.25 : 1.0, profile.Gamma);
            Assert.Equal([29, 24, 19], profile.EndSteps);
            Assert.Equal(19, profile.MaxLag);
            Assert.Equal(batch * 3, profile.Norms.Length);
            foreach (var sample in profile.Norms)
            {
                Assert.Equal(1.0, sample[0], 9);
                for (int lag = 1; lag <= profile.MaxLag; lag++)
                {
                    Assert.True(sample[lag] <= profile.Bound(lag) * (1 + 1e-9), $"{activation} x{scale}: lag {lag} norm {sample[lag]:R} above the bound {profile.Bound(lag):R}");
                }
            }

            // The geometric mean is the mean of the logs.
            int middle = profile.MaxLag / 2;
            Assert.Equal(Math.Exp(profile.Norms.Average(s => Math.Log(s[middle]))), profile.GeometricMeanNorms[middle], 12);

            // The norms are the largest singular values of the exact Jacobians.
            var exact = JacobianProducts.Jacobians(model, x, steps, batch, 0, 0, 24);
            var matrix = exact[middle].AsSpan(2 * hidden * hidden, hidden * hidden).ToArray();
            Assert.Equal(SingularValues.Of(matrix, hidden, hidden)[0], profile.Norms[(2 * 3) + 1][middle], 8);
        }
    }

    [Fact]
    public void ScaledRotationHasNormsAndFittedRateExactlyItsScale()
    {
        // Identity activation, W_hh = s R(theta): dh_t/dh_k = W^(t-k), whose norm is s^(t-k).
        const double s = 0.9, theta = 0.7;
        var model = new SequenceModel<double>(new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 1, Activation = Activation.Identity }, initialize: false);
        var (sin, cos) = Math.SinCos(theta);
        double[] w = [s * cos, -s * sin, s * sin, s * cos];
        w.CopyTo(model.Parameters.Value(SequenceModel<double>.WeightHhName));
        model.Parameters.Value(SequenceModel<double>.WeightIhName).Fill(0.3);
        var x = SequenceModelGradientTests.RandomArray(new Random(2), 20 * 2, 1);
        var profile = Assert.Single(JacobianProducts.Measure(model, x, 20, 2, endSteps: 2, maxLag: 8));
        Assert.Equal(8, profile.MaxLag);
        for (int lag = 0; lag <= 8; lag++)
        {
            Assert.Equal(Math.Pow(s, lag), profile.GeometricMeanNorms[lag], 10);
            Assert.Equal(Math.Pow(s, lag), profile.Bound(lag), 10);
        }

        Assert.Equal(s, profile.FittedRate, 10);
    }

    [Fact]
    public void GatedCellsHaveNoBound()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 1, HiddenSize = 2, OutputSize = 1 }, initialize: false);
        Initializers.Uniform<double>(model.Parameters.Values, -0.5, 0.5, new Random(4));
        var x = SequenceModelGradientTests.RandomArray(new Random(5), 10, 1);
        var profile = Assert.Single(JacobianProducts.Measure(model, x, 10, 1));
        Assert.True(double.IsNaN(profile.BoundRate));
        Assert.True(double.IsNaN(profile.Bound(3)));
        Assert.True(profile.FittedRate is > 0 and < 1, $"fitted rate {profile.FittedRate}");
    }

    [Fact]
    public void FitRateIsTheExponentOfTheLeastSquaresSlope()
    {
        // log y = 2 - 0.5 lag exactly for lags >= 1; lag 0 and a zero are ignored.
        double[] norms = [123, Math.Exp(1.5), Math.Exp(1.0), 0, Math.Exp(0.0)];
        Assert.Equal(Math.Exp(-0.5), JacobianProducts.FitRate(norms), 12);
        Assert.True(double.IsNaN(JacobianProducts.FitRate([1, 0.5])));
    }

    private static void AssertIdentity(double[] jacobian)
    {
        for (int b = 0; b < Batch; b++)
        {
            for (int i = 0; i < Hidden; i++)
            {
                for (int j = 0; j < Hidden; j++)
                {
                    Assert.Equal(i == j ? 1.0 : 0.0, jacobian[(((b * Hidden) + i) * Hidden) + j]);
                }
            }
        }
    }

    // Column j of sequence b's dh_t/dh_k by the five-point stencil on state[offset + b H + j].
    private static void AssertMatchesFiniteDifferences(string what, double[] jacobian, double[] state, int offset, Func<double[]> run)
    {
        const double h = 1e-4;
        for (int b = 0; b < Batch; b++)
        {
            for (int j = 0; j < Hidden; j++)
            {
                int index = offset + (b * Hidden) + j;
                double saved = state[index];
                double[] At(double delta)
                {
                    state[index] = saved + delta;
                    return run();
                }

                var plus2 = At(2 * h);
                var plus1 = At(h);
                var minus1 = At(-h);
                var minus2 = At(-2 * h);
                state[index] = saved;
                for (int i = 0; i < Hidden; i++)
                {
                    int row = (b * Hidden) + i;
                    double numeric = (-plus2[row] + (8 * plus1[row]) - (8 * minus1[row]) + minus2[row]) / (12 * h);
                    GradientCheck.AssertMatches($"{what}: d h_t[{b},{i}] / d h_k[{b},{j}]", jacobian[(((b * Hidden) + i) * Hidden) + j], numeric);
                }
            }
        }
    }
}
