using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The coupled-input-forget-gate LSTM of docs/cells.md (Greff et al. 2017, "LSTM: A Search Space Odyssey", the CIFG
/// variant), written against the public cell contract only, gate blocks f, g, o:
/// <code>
/// f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
/// c_t = f * c_{t-1} + (1 - f) * g
/// h_t = o * tanh(c_t)
/// </code>
/// </summary>
public readonly struct CifgLstmCell : IRecurrentCell<CifgLstmCell>
{
    public static string Name => "cifg-lstm";

    public static int GateCount => 3;

    public static bool HasMemory => true;

    public static int SavedBlocks => 1; // tanh(c_t)

    public static bool SeparateRecurrentGates => false;

    public static bool FeedsBackOutput => false;

    public static CifgLstmCell Create(Activation activation) => default;

    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> forget = row.Gate(0), candidate = row.Gate(1), output = row.Gate(2), tanhCell = row.Saved(0);
        Activations.SigmoidInPlace(forget);
        Activations.TanhInPlace(candidate);
        Activations.SigmoidInPlace(output);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // c_t = f c_{t-1} + (1 - f) g
            var f = lane.Load(forget);
            lane.Store((f * lane.Load(row.PreviousMemory)) + ((Vector<T>.One - f) * lane.Load(candidate)), row.Memory);
        }

        row.Memory.CopyTo(tanhCell);
        Activations.TanhInPlace(tanhCell);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // h_t = o tanh(c_t)
            lane.Store(lane.Load(output) * lane.Load(tanhCell), row.State);
        }
    }

    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var one = Vector<T>.One;
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            Vector<T> f = lane.Load(row.Gate(0)), g = lane.Load(row.Gate(1)), o = lane.Load(row.Gate(2));
            Vector<T> t = lane.Load(row.Saved(0)), dh = lane.Load(row.StateGradient);
            // h = o tanh(c)  =>  do = dh tanh(c);  dc += dh o (1 - tanh(c)^2)
            var dCell = lane.Load(row.MemoryGradient) + (dh * o * (one - (t * t)));
            // c = f c_prev + (1 - f) g  =>  df = dc (c_prev - g), dg = dc (1 - f), dc_prev = dc f
            lane.Store(dCell * (lane.Load(row.PreviousMemory) - g) * f * (one - f), row.GateGradient(0));
            lane.Store(dCell * (one - f) * (one - (g * g)), row.GateGradient(1));
            lane.Store(dh * t * o * (one - o), row.GateGradient(2));
            lane.Store(dCell * f, row.MemoryGradient);
        }
    }
}

/// <summary>A cell written outside the library: its gradients, training, and its model file.</summary>
public class CustomCellTests
{
    private static ModelConfig Config(int hidden, int layers = 1, bool bidirectional = false) => new()
    {
        CustomCell = CifgLstmCell.Name, InputSize = 2, HiddenSize = hidden, OutputSize = 1, Layers = layers, Bidirectional = bidirectional,
    };

    [Theory]
    [InlineData(3, 1, false)]
    [InlineData(5, 2, true)]
    public void GradientsMatchFiniteDifferences(int hidden, int layers, bool bidirectional)
    {
        const int steps = 6, batch = 3;
        int[] lengths = [6, 2, 4];
        var random = new Random(hidden);
        var model = SequenceModel<double>.Create<CifgLstmCell>(Config(hidden, layers, bidirectional));
        Initializers.Uniform<double>(model.Parameters.Values, -0.7, 0.7, random);
        int states = layers * model.Config.Directions * batch * hidden;
        var x = SequenceModelGradientTests.RandomArray(random, steps * batch * 2, 1);
        var h0 = SequenceModelGradientTests.RandomArray(random, states, 0.5);
        var c0 = SequenceModelGradientTests.RandomArray(random, states, 0.5);
        var targets = SequenceModelGradientTests.RandomArray(random, steps * batch, 1);

        double Loss()
        {
            model.Forward(x, steps, batch, h0, lengths, c0);
            return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty) + (0.5 * SumOfSquares(model.FinalCell));
        }

        model.Forward(x, steps, batch, h0, lengths, c0);
        var dy = new double[targets.Length];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dy);
        model.Backward(dy, [], model.FinalCell.ToArray());
        var gradients = (double[])model.Parameters.Gradients.Clone();
        var c0Gradient = model.InitialCellGradient.ToArray();

        var (error, where) = FiniteDifferences.MaxRelativeError(model.Parameters, gradients, Loss);
        Assert.True(error <= 1e-6, $"dL/d{where}: relative error {error:R}");
        for (int i = 0; i < c0.Length; i++)
        {
            GradientCheck.AssertMatches($"c0[{i}]", c0Gradient[i], FiniteDifferences.Derivative(c0, i, Loss));
        }
    }

    [Fact]
    public void AWrongBackwardIsCaughtByTheFiniteDifferenceCheck()
    {
        var random = new Random(4);
        var model = SequenceModel<double>.Create<CifgLstmCell>(Config(3));
        Initializers.Uniform<double>(model.Parameters.Values, -0.7, 0.7, random);
        var x = SequenceModelGradientTests.RandomArray(random, 4 * 2 * 2, 1);
        var targets = SequenceModelGradientTests.RandomArray(random, 4 * 2, 1);

        double Loss()
        {
            model.Forward(x, 4, 2);
            return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty);
        }

        model.Forward(x, 4, 2);
        var dy = new double[targets.Length];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dy);
        model.Backward(dy);
        var gradients = (double[])model.Parameters.Gradients.Clone();
        gradients[model.Parameters.View("rnn.weight_hh_l0").Offset + 4] *= 1.01;
        Assert.True(FiniteDifferences.MaxRelativeError(model.Parameters, gradients, Loss).Error > 1e-3);
    }

    [Fact]
    public void TheTrainersDefaultDiagnosticIntervalTakesACellWithoutSquareGateBlocks()
    {
        // The CIFG cell's W_hh is [3H, H]: not the blocks the spectra read, which once failed every Trainer.Run on it.
        var model = SequenceModel<float>.Create<CifgLstmCell>(Config(16));
        Assert.Equal(100, Trainer.AutomaticDiagnosticInterval(model, 10 * 8));
    }

    [Fact]
    public void TheTrainerRunsADiagnosticStepOnACellWithoutSquareGateBlocks()
    {
        // Its spectra cannot be read from W_hh = [3H, H]: the diagnostic columns stay empty (NaN) and the run goes on.
        var model = SequenceModel<float>.Create<CifgLstmCell>(Config(16), seed: 1);
        var random = new Random(3);
        var inputs = new List<double[,]>();
        var targets = new List<double[,]>();
        for (int s = 0; s < 12; s++)
        {
            var input = new double[6, 2];
            var target = new double[6, 1];
            for (int t = 0; t < 6; t++)
            {
                input[t, 0] = random.NextDouble();
                input[t, 1] = random.NextDouble();
                target[t, 0] = random.NextDouble();
            }

            inputs.Add(input);
            targets.Add(target);
        }

        var data = SequenceSet.FromArrays(inputs, targets);
        var history = new Trainer(model, new TrainingOptions { Steps = 3, DiagnoseEvery = 1 }).Run(data.Slice(0, 8), data.Slice(8, 4));
        Assert.Equal(3, history.Count);
        Assert.All(history, m => Assert.True(double.IsNaN(m.SpectralRadius) && double.IsNaN(m.LargestSingularValue) && double.IsFinite(m.TrainLoss)));
    }

    [Fact]
    public void TrainsSavesAndLoads()
    {
        const int steps = 12, batch = 8;
        var model = SequenceModel<float>.Create<CifgLstmCell>(Config(16));
        Initializers.PyTorchDefault(model, new Random(1));
        var random = new Random(2);
        var x = new float[steps * batch * 2];
        var targets = new float[steps * batch];
        for (int r = 0; r < steps * batch; r++)
        {
            x[2 * r] = (float)((random.NextDouble() * 2) - 1);
            x[(2 * r) + 1] = (float)((random.NextDouble() * 2) - 1);
        }

        // The target is the first input one step back: the cell must remember it.
        for (int t = 1; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                targets[(t * batch) + b] = x[2 * (((t - 1) * batch) + b)];
            }
        }

        var optimizer = new Adam<float>(0.02, model.Parameters.Count);
        var dy = new float[targets.Length];
        float first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            model.Parameters.ZeroGradients();
            model.Forward(x, steps, batch);
            last = Losses.MeanSquaredError<float>(model.Predictions, targets, dy);
            first = step == 0 ? last : first;
            model.Backward(dy);
            optimizer.Step(model.Parameters.Values, model.Parameters.Gradients);
        }

        Assert.True(last < 0.5f * first, $"loss {first} -> {last}");

        using var directory = new IO.IoTestDirectory();
        string path = Path.Combine(directory.Path, "cifg.safetensors");
        ModelFile.Save(path, model);
        var loaded = ModelFile.Load<float, CifgLstmCell>(path).Model;
        Assert.Equal(CifgLstmCell.Name, loaded.Config.CustomCell);
        loaded.Run(x, [], steps, batch);
        model.Forward(x, steps, batch);
        Assert.Equal(model.Predictions.ToArray(), loaded.Predictions.ToArray());
        Assert.Contains(CifgLstmCell.Name, Assert.Throws<UnrollException>(() => ModelFile.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheConfigMustNameTheCellAndACustomCellCannotTakeABuiltInName()
    {
        Assert.Contains(CifgLstmCell.Name, Assert.Throws<UnrollException>(() =>
            SequenceModel<float>.Create<CifgLstmCell>(Config(4) with { CustomCell = "another-cell" })).Message, StringComparison.Ordinal);
        Assert.Contains("differ from the built-in architectures", Assert.Throws<UnrollException>(() =>
            SequenceModel<float>.Create<LstmCell>(Config(4))).Message, StringComparison.Ordinal);
        Assert.Contains("custom cell 'cifg-lstm'", Assert.Throws<UnrollException>(() =>
            new SequenceModel<float>(Config(4) with { CustomCell = CifgLstmCell.Name })).Message, StringComparison.Ordinal);
    }

    private static double SumOfSquares(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (double v in values)
        {
            sum += v * v;
        }

        return sum;
    }
}
