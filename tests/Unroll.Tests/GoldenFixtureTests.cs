namespace Unroll.Tests;

/// <summary>
/// Checks that each golden fixture agrees with itself, recomputing what can be recomputed from its
/// own stored tensors in plain C# doubles. This guards the fixtures (a hand edit, a truncated file,
/// a regenerated file with a mistake), not Unroll's model.
/// </summary>
public class GoldenFixtureTests
{
    // Recomputing one step from stored float64 values differs from PyTorch only by summation order:
    // observed at most 2.8e-16 on O(1) values.
    private const double ForwardTolerance = 1e-14;

    // Loss, head gradients and bias gradients are short sums: observed at most 1.7e-16.
    private const double ReductionTolerance = 1e-15;

    // Central differences with step 1e-6: truncation ~1e-13, cancellation ~1e-16 * loss / 1e-6;
    // observed at most 3.3e-10. A wrong gradient element is off by far more.
    private const double FiniteDifferenceStep = 1e-6;
    private const double FiniteDifferenceTolerance = 3e-9;

    private static readonly string[] ParameterNames =
    [
        "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "head.weight", "head.bias",
    ];

    public static TheoryData<string> FileNames => new(GoldenFixture.AllFileNames);

    [Fact]
    public void GoldenDirectoryHoldsExactlyTheKnownElmanFixtures()
    {
        string[] present = Directory.GetFiles(GoldenFixture.Directory, "elman_*.json")
            .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(GoldenFixture.AllFileNames.Order(StringComparer.Ordinal), present);
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void ActivationAndDescriptionMatchTheFileName(string fileName)
    {
        GoldenFixture fixture = GoldenFixture.Load(fileName);
        string expectedActivation = fileName["elman_".Length..^".json".Length].Replace("_zero_h0", "", StringComparison.Ordinal);
        Assert.Equal(expectedActivation, fixture.Activation);
        Assert.Contains("PyTorch", fixture.Description, StringComparison.Ordinal);
        Assert.Equal((12, 3, 3, 5, 2), (fixture.T, fixture.B, fixture.I, fixture.H, fixture.O));
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void EveryTensorIsPresentWithItsShape(string fileName)
    {
        GoldenFixture f = GoldenFixture.Load(fileName);
        bool hasH0 = !fileName.Contains("zero_h0", StringComparison.Ordinal);
        var expected = new Dictionary<string, int[]>
        {
            ["input"] = [f.T, f.B, f.I],
            ["target"] = [f.T, f.B, f.O],
            ["rnn.weight_ih_l0"] = [f.H, f.I],
            ["rnn.weight_hh_l0"] = [f.H, f.H],
            ["rnn.bias_ih_l0"] = [f.H],
            ["rnn.bias_hh_l0"] = [f.H],
            ["head.weight"] = [f.O, f.H],
            ["head.bias"] = [f.O],
            ["output"] = [f.T, f.B, f.H],
            ["prediction"] = [f.T, f.B, f.O],
            ["h_n"] = [1, f.B, f.H],
            ["loss"] = [],
            ["grad.input"] = [f.T, f.B, f.I],
        };
        foreach (string name in ParameterNames)
        {
            expected["grad." + name] = expected[name];
        }

        if (hasH0)
        {
            expected["h0"] = [1, f.B, f.H];
            expected["grad.h0"] = [1, f.B, f.H];
        }

        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), f.Names.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
        {
            Assert.True(shape.SequenceEqual(f.Shape(name)), $"{fileName}: '{name}' has shape [{string.Join(", ", f.Shape(name))}], expected [{string.Join(", ", shape)}]");
            Assert.All(f.Tensor(name), v => Assert.True(double.IsFinite(v), $"{fileName}: '{name}' holds {v}"));
        }

        // Biases are drawn away from zero so that an implementation dropping one cannot pass.
        Assert.All(ParameterNames.Where(n => n.Contains("bias", StringComparison.Ordinal)).SelectMany(f.Tensor), v => Assert.NotEqual(0.0, v));
        if (hasH0)
        {
            Assert.All(f.Tensor("h0"), v => Assert.NotEqual(0.0, v));
        }
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void OutputFollowsTheRecurrenceStepByStep(string fileName) =>
        AssertBelow(RecurrenceError(GoldenFixture.Load(fileName)), ForwardTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void PredictionIsTheHeadAppliedToOutput(string fileName) =>
        AssertBelow(PredictionError(GoldenFixture.Load(fileName)), ForwardTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void LossIsTheMeanSquaredErrorOfPrediction(string fileName) =>
        AssertBelow(LossError(GoldenFixture.Load(fileName)), ReductionTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void FinalStateIsTheLastOutput(string fileName)
    {
        GoldenFixture f = GoldenFixture.Load(fileName);
        int step = f.B * f.H;
        Assert.Equal(f.Tensor("output")[((f.T - 1) * step)..], f.Tensor("h_n"));
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void HeadGradientsFollowFromThePredictionError(string fileName) =>
        AssertBelow(HeadGradientError(GoldenFixture.Load(fileName)), ReductionTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void BothRecurrentBiasesHaveTheSameGradient(string fileName)
    {
        // dL/db_ih and dL/db_hh both equal the sum over t and b of dL/dz_t.
        GoldenFixture f = GoldenFixture.Load(fileName);
        AssertBelow(MaxAbsDifference(f.Tensor("grad.rnn.bias_ih_l0"), f.Tensor("grad.rnn.bias_hh_l0")), ReductionTolerance);
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void GradientsMatchCentralDifferencesOfTheLoss(string fileName) =>
        AssertBelow(FiniteDifferenceError(GoldenFixture.Load(fileName)), FiniteDifferenceTolerance);

    [Fact]
    public void ConsistencyChecksCatchASingleCorruptedValue()
    {
        GoldenFixture f = GoldenFixture.Load("elman_tanh.json");
        double Changed(string name, int index, double delta) => f.Tensor(name)[index] + delta;

        Assert.True(RecurrenceError(f.WithValue("output", 40, Changed("output", 40, 1e-11))) > ForwardTolerance);
        Assert.True(RecurrenceError(f.WithValue("rnn.bias_hh_l0", 2, Changed("rnn.bias_hh_l0", 2, 1e-11))) > ForwardTolerance);
        Assert.True(PredictionError(f.WithValue("head.weight", 3, Changed("head.weight", 3, 1e-11))) > ForwardTolerance);
        Assert.True(LossError(f.WithValue("loss", 0, Changed("loss", 0, 1e-13))) > ReductionTolerance);
        Assert.True(HeadGradientError(f.WithValue("grad.head.bias", 1, Changed("grad.head.bias", 1, 1e-13))) > ReductionTolerance);
        foreach (string name in new[] { "grad.rnn.weight_hh_l0", "grad.rnn.weight_ih_l0", "grad.h0", "grad.input" })
        {
            GoldenFixture corrupted = f.WithValue(name, 4, Changed(name, 4, 1e-7));
            Assert.True(FiniteDifferenceError(corrupted) > FiniteDifferenceTolerance, $"a change to {name} went unnoticed");
        }
    }

    [Fact]
    public void LoaderRejectsATensorWhoseDataDoesNotFitItsShape()
    {
        const string json = """
            {"description": "d", "activation": "tanh", "sizes": {"T": 1, "B": 1, "I": 1, "H": 2, "O": 1},
             "tensors": {"h0": {"shape": [1, 1, 2], "data": [0.5]}}}
            """;
        var error = Assert.Throws<InvalidDataException>(() => GoldenFixture.Parse(json, "short.json"));
        Assert.Contains("short.json: tensor 'h0' of shape [1, 1, 2] expected 2 values, got 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownTensorNameIsReportedWithTheNamesPresent()
    {
        var error = Assert.Throws<KeyNotFoundException>(() => GoldenFixture.Load("elman_tanh_zero_h0.json").Tensor("h0"));
        Assert.Contains("no tensor 'h0'", error.Message, StringComparison.Ordinal);
        Assert.Contains("grad.input", error.Message, StringComparison.Ordinal);
    }

    private static void AssertBelow(double error, double tolerance) =>
        Assert.True(error <= tolerance, $"discrepancy {error:R} exceeds {tolerance:R}");

    private static Func<double, double> ActivationOf(string name) => name switch
    {
        "tanh" => Math.Tanh,
        "relu" => z => Math.Max(z, 0.0),
        "sigmoid" => z => 1.0 / (1.0 + Math.Exp(-z)),
        "identity" => z => z,
        _ => throw new ArgumentException($"expected tanh, relu, sigmoid or identity, got '{name}'", nameof(name)),
    };

    /// <summary>
    /// Largest |output[t] - f(W_ih x_t + b_ih + W_hh output[t-1] + b_hh)| over all t, with
    /// output[-1] = h0 (zeros when absent). Uses the stored previous state, so each step is checked
    /// on its own.
    /// </summary>
    private static double RecurrenceError(GoldenFixture f)
    {
        double[] output = f.Tensor("output");
        double[] previous = f.Has("h0") ? f.Tensor("h0") : new double[f.B * f.H];
        var values = ParameterValues(f);
        values["input"] = f.Tensor("input");
        double max = 0;
        for (int t = 0; t < f.T; t++)
        {
            double[] state = Step(f, values, t, previous);
            double[] stored = output[(t * f.B * f.H)..((t + 1) * f.B * f.H)];
            max = Math.Max(max, MaxAbsDifference(state, stored));
            previous = stored;
        }

        return max;
    }

    private static double PredictionError(GoldenFixture f) =>
        MaxAbsDifference(Head(f, ParameterValues(f), f.Tensor("output")), f.Tensor("prediction"));

    private static double LossError(GoldenFixture f) =>
        Math.Abs(MeanSquaredError(f.Tensor("prediction"), f.Tensor("target")) - f.Scalar("loss"));

    /// <summary>
    /// With e = prediction - target and N = T*B*O: dL/db_head = (2/N) sum_{t,b} e_t,b and
    /// dL/dW_head[o,h] = (2/N) sum_{t,b} e_t,b,o output_t,b,h.
    /// </summary>
    private static double HeadGradientError(GoldenFixture f)
    {
        double[] prediction = f.Tensor("prediction"), target = f.Tensor("target"), output = f.Tensor("output");
        double scale = 2.0 / prediction.Length;
        var gradWeight = new double[f.O * f.H];
        var gradBias = new double[f.O];
        for (int row = 0; row < f.T * f.B; row++)
        {
            for (int o = 0; o < f.O; o++)
            {
                double e = scale * (prediction[row * f.O + o] - target[row * f.O + o]);
                gradBias[o] += e;
                for (int h = 0; h < f.H; h++)
                {
                    gradWeight[o * f.H + h] += e * output[row * f.H + h];
                }
            }
        }

        return Math.Max(
            MaxAbsDifference(gradWeight, f.Tensor("grad.head.weight")),
            MaxAbsDifference(gradBias, f.Tensor("grad.head.bias")));
    }

    /// <summary>
    /// Largest |stored gradient - central difference of the loss| over every element of every
    /// parameter, the input and h0. The loss is recomputed by a plain forward pass from the stored
    /// inputs, so every stored gradient is checked against the stored forward data.
    /// </summary>
    private static double FiniteDifferenceError(GoldenFixture f)
    {
        var values = ParameterValues(f);
        values["input"] = f.Tensor("input");
        values["target"] = f.Tensor("target");
        var differentiable = ParameterNames.Append("input").ToList();
        if (f.Has("h0"))
        {
            values["h0"] = f.Tensor("h0");
            differentiable.Add("h0");
        }

        double max = 0;
        foreach (string name in differentiable)
        {
            double[] tensor = values[name];
            double[] gradient = f.Tensor("grad." + name);
            for (int i = 0; i < tensor.Length; i++)
            {
                double original = tensor[i];
                tensor[i] = original + FiniteDifferenceStep;
                double plus = Loss(f, values);
                tensor[i] = original - FiniteDifferenceStep;
                double minus = Loss(f, values);
                tensor[i] = original;
                max = Math.Max(max, Math.Abs((plus - minus) / (2 * FiniteDifferenceStep) - gradient[i]));
            }
        }

        return max;
    }

    private static Dictionary<string, double[]> ParameterValues(GoldenFixture f) =>
        ParameterNames.ToDictionary(n => n, f.Tensor);

    /// <summary>h_t[b, :] = f(W_ih x_t[b, :] + b_ih + W_hh h_prev[b, :] + b_hh) for every b.</summary>
    private static double[] Step(GoldenFixture f, Dictionary<string, double[]> v, int t, double[] previous)
    {
        Func<double, double> activation = ActivationOf(f.Activation);
        double[] x = v["input"], wIh = v["rnn.weight_ih_l0"], wHh = v["rnn.weight_hh_l0"];
        double[] bIh = v["rnn.bias_ih_l0"], bHh = v["rnn.bias_hh_l0"];
        var state = new double[f.B * f.H];
        for (int b = 0; b < f.B; b++)
        {
            for (int h = 0; h < f.H; h++)
            {
                double z = bIh[h] + bHh[h];
                for (int i = 0; i < f.I; i++)
                {
                    z += wIh[h * f.I + i] * x[(t * f.B + b) * f.I + i];
                }

                for (int k = 0; k < f.H; k++)
                {
                    z += wHh[h * f.H + k] * previous[b * f.H + k];
                }

                state[b * f.H + h] = activation(z);
            }
        }

        return state;
    }

    /// <summary>y[row, o] = head.bias[o] + sum_h head.weight[o, h] output[row, h] for every (t, b) row.</summary>
    private static double[] Head(GoldenFixture f, Dictionary<string, double[]> v, double[] output)
    {
        double[] weight = v["head.weight"], bias = v["head.bias"];
        int rows = output.Length / f.H;
        var prediction = new double[rows * f.O];
        for (int row = 0; row < rows; row++)
        {
            for (int o = 0; o < f.O; o++)
            {
                double y = bias[o];
                for (int h = 0; h < f.H; h++)
                {
                    y += weight[o * f.H + h] * output[row * f.H + h];
                }

                prediction[row * f.O + o] = y;
            }
        }

        return prediction;
    }

    private static double Loss(GoldenFixture f, Dictionary<string, double[]> v)
    {
        double[] state = v.TryGetValue("h0", out double[]? h0) ? h0 : new double[f.B * f.H];
        var output = new double[f.T * f.B * f.H];
        for (int t = 0; t < f.T; t++)
        {
            state = Step(f, v, t, state);
            state.CopyTo(output, t * f.B * f.H);
        }

        return MeanSquaredError(Head(f, v, output), v["target"]);
    }

    private static double MeanSquaredError(double[] prediction, double[] target)
    {
        double sum = 0;
        for (int i = 0; i < prediction.Length; i++)
        {
            double e = prediction[i] - target[i];
            sum += e * e;
        }

        return sum / prediction.Length;
    }

    private static double MaxAbsDifference(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }
}
