namespace Unroll.Tests;

/// <summary>
/// Checks that each fixture of scripts/reference/recurrent_golden.py (LSTM, GRU, stacked,
/// bidirectional, varying lengths, classification heads, Jordan) agrees with itself, recomputing
/// what can be recomputed from its own stored tensors in plain C# doubles with the cell equations
/// written out below. This guards the fixtures, not Unroll's model, and uses none of its code.
/// </summary>
public class RecurrentFixtureTests
{
    // Recomputing the forward pass from stored float64 values differs from PyTorch only by
    // summation order; over 7 steps and 2 layers observed at most 3.4e-16.
    private const double ForwardTolerance = 1e-13;

    // Prediction, loss and head gradients are short sums: observed at most 2.3e-16.
    private const double ReductionTolerance = 1e-14;

    // Central differences with step 1e-6: truncation ~1e-13, cancellation ~1e-16 * loss / 1e-6;
    // observed at most 3.6e-10. A wrong gradient element is off by far more.
    private const double FiniteDifferenceStep = 1e-6;
    private const double FiniteDifferenceTolerance = 3e-9;

    private static readonly int[] VaryingLengths = [4, 7, 1];

    public static TheoryData<string> FileNames => new(GoldenFixture.RecurrentFileNames);

    [Fact]
    public void GoldenDirectoryHoldsExactlyTheKnownRecurrentFixtures()
    {
        string[] prefixes = ["rnn_", "lstm_", "gru_", "jordan_"];
        string[] present = Directory.GetFiles(GoldenFixture.Directory, "*.json")
            .Select(Path.GetFileName).OfType<string>()
            .Where(n => prefixes.Any(p => n.StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(GoldenFixture.RecurrentFileNames.Order(StringComparer.Ordinal), present);
        Assert.Equal(29, GoldenFixture.RecurrentFileNames.Count);
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void HeaderMatchesTheFileName(string fileName)
    {
        GoldenFixture f = GoldenFixture.Load(fileName);
        string stem = fileName[..^".json".Length];
        string[] parts = stem.Split('_');
        Assert.Contains("PyTorch", f.Description, StringComparison.Ordinal);
        Assert.Equal((7, 3, 3, 4), (f.T, f.B, f.I, f.H));
        double[] lengths = f.Tensor("lengths");
        if (parts[1].StartsWith('l'))
        {
            // <cell>_l<layers>_<uni|bi>_<equal|varying>
            Assert.Equal(parts[0], f.Cell);
            Assert.Equal(int.Parse(parts[1][1..], System.Globalization.CultureInfo.InvariantCulture), f.Layers);
            Assert.Equal(parts[2] == "bi", f.Bidirectional);
            Assert.Equal(2, f.O);
            Assert.Equal(("mse", "every_step"), (f.LossKind, f.Readout));
            Assert.Equal(f.Cell == "rnn" ? "tanh" : "", f.Activation);
            Assert.Equal(parts[3] == "varying" ? VaryingLengths.Select(l => (double)l) : Enumerable.Repeat(7.0, 3), lengths);
            return;
        }

        Assert.Equal((1, false), (f.Layers, f.Bidirectional));
        switch (stem)
        {
            case "lstm_classify_per_step":
            case "lstm_classify_last":
                Assert.Equal(("lstm", "cross_entropy", 5), (f.Cell, f.LossKind, f.O));
                Assert.Equal(stem.EndsWith("last", StringComparison.Ordinal) ? "last_step" : "every_step", f.Readout);
                Assert.Equal(VaryingLengths.Select(l => (double)l), lengths);
                break;
            case "gru_embedding_per_step":
                Assert.Equal(("gru", "cross_entropy", "every_step", 6, 6), (f.Cell, f.LossKind, f.Readout, f.O, f.Size("V")));
                Assert.Equal(Enumerable.Repeat(7.0, 3), lengths);
                break;
            default:
                Assert.Equal(("jordan", "tanh", "mse", 2), (f.Cell, f.Activation, f.LossKind, f.O));
                Assert.Equal(stem["jordan_".Length..], f.Feedback);
                Assert.Equal(Enumerable.Repeat(7.0, 3), lengths);
                break;
        }
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void EveryTensorIsPresentWithItsShapeAndFinite(string fileName)
    {
        GoldenFixture f = GoldenFixture.Load(fileName);
        Dictionary<string, int[]> expected = ExpectedShapes(f);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), f.Names.Order(StringComparer.Ordinal));
        foreach (var (name, shape) in expected)
        {
            Assert.True(shape.SequenceEqual(f.Shape(name)), $"{fileName}: '{name}' has shape [{string.Join(", ", f.Shape(name))}], expected [{string.Join(", ", shape)}]");
            Assert.All(f.Tensor(name), v => Assert.True(double.IsFinite(v), $"{fileName}: '{name}' holds {v}"));
        }

        // Biases and initial states are drawn away from zero so that dropping one cannot pass.
        foreach (string name in expected.Keys.Where(n => !n.StartsWith("grad.", StringComparison.Ordinal)
                     && (n.Contains("bias", StringComparison.Ordinal) || n is "h0" or "c0" or "y0")))
        {
            Assert.All(f.Tensor(name), v => Assert.NotEqual(0.0, v));
        }
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void PaddedStepsHoldJunkInputButZeroOutputAndZeroInputGradient(string fileName)
    {
        GoldenFixture f = GoldenFixture.Load(fileName);
        int[] lengths = Lengths(f);
        double[] input = f.Tensor("input"), gradInput = f.Tensor("grad.input"), output = f.Tensor("output");
        int width = f.Directions * f.H;
        for (int t = 0; t < f.T; t++)
        {
            for (int b = 0; b < f.B; b++)
            {
                if (t < lengths[b])
                {
                    continue;
                }

                // Junk inputs are drawn with magnitude in [2, 4]; valid ones lie in [-1, 1].
                Assert.All(input[((t * f.B + b) * f.I)..((t * f.B + b + 1) * f.I)], v => Assert.True(Math.Abs(v) >= 2, $"{fileName}: padded input {v}"));
                Assert.All(gradInput[((t * f.B + b) * f.I)..((t * f.B + b + 1) * f.I)], v => Assert.Equal(0.0, v));
                Assert.All(output[((t * f.B + b) * width)..((t * f.B + b + 1) * width)], v => Assert.Equal(0.0, v));
            }
        }

        Assert.Equal(fileName.Contains("varying", StringComparison.Ordinal) || fileName.StartsWith("lstm_classify", StringComparison.Ordinal), lengths.Any(l => l < f.T));
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void FinalStateIsTheOutputAtEachSequencesOwnLastStep(string fileName) =>
        AssertBelow(FinalStateError(GoldenFixture.Load(fileName)), 0.0);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void PredictionIsTheHeadAppliedToOutput(string fileName) =>
        AssertBelow(PredictionError(GoldenFixture.Load(fileName)), ReductionTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void LossIsRecomputedFromPredictionAndTargetOverValidSteps(string fileName) =>
        AssertBelow(LossError(GoldenFixture.Load(fileName)), ReductionTolerance);

    // In free running the prediction is fed back, so the head gradient also has terms through later
    // steps and this closed form does not hold; the finite-difference check covers that fixture.
    public static TheoryData<string> FileNamesWithoutFedBackPrediction =>
        new(GoldenFixture.RecurrentFileNames.Where(n => n != "jordan_free_running.json"));

    [Theory]
    [MemberData(nameof(FileNamesWithoutFedBackPrediction))]
    public void HeadGradientsFollowFromThePredictionError(string fileName) =>
        AssertBelow(HeadGradientError(GoldenFixture.Load(fileName)), ReductionTolerance);

    [Fact]
    public void FreeRunningHeadGradientIncludesTheFeedbackPath()
    {
        // Shows the exclusion above is real: the feedback term is not negligible.
        Assert.True(HeadGradientError(GoldenFixture.Load("jordan_free_running.json")) > 1e-3);
    }

    [Theory]
    [MemberData(nameof(FileNames))]
    public void ForwardPassFollowsTheCellEquations(string fileName) =>
        AssertBelow(ForwardError(GoldenFixture.Load(fileName)), ForwardTolerance);

    [Theory]
    [MemberData(nameof(FileNames))]
    public void GradientsMatchCentralDifferencesOfTheLoss(string fileName) =>
        AssertBelow(FiniteDifferenceError(GoldenFixture.Load(fileName)), FiniteDifferenceTolerance);

    [Fact]
    public void EmbeddingGradientIsTheInputGradientSummedPerToken()
    {
        GoldenFixture f = GoldenFixture.Load("gru_embedding_per_step.json");
        double[] tokens = f.Tensor("tokens"), gradInput = f.Tensor("grad.input");
        var expected = new double[f.Size("V") * f.I];
        for (int row = 0; row < f.T * f.B; row++)
        {
            int token = (int)tokens[row];
            Assert.Equal((double)token, tokens[row]);
            for (int i = 0; i < f.I; i++)
            {
                expected[token * f.I + i] += gradInput[row * f.I + i];
            }
        }

        AssertBelow(MaxAbsDifference(expected, f.Tensor("grad.embedding.weight")), ReductionTolerance);
        Assert.True(tokens.Distinct().Count() >= 4, "the tokens should exercise most of the vocabulary");
    }

    [Fact]
    public void ConsistencyChecksCatchASingleCorruptedValue()
    {
        GoldenFixture f = GoldenFixture.Load("lstm_l2_bi_varying.json");
        GoldenFixture Changed(string name, int index, double delta) => f.WithValue(name, index, f.Tensor(name)[index] + delta);

        // output[t = 2, b = 1, reverse half]: a valid step.
        Assert.True(ForwardError(Changed("output", (2 * f.B + 1) * 8 + 6, 1e-12)) > ForwardTolerance);
        Assert.True(ForwardError(Changed("c_n", 5, 1e-12)) > ForwardTolerance);
        Assert.True(ForwardError(Changed("rnn.bias_hh_l1_reverse", 9, 1e-12)) > ForwardTolerance);
        Assert.True(ForwardError(Changed("c0", 3, 1e-12)) > ForwardTolerance);
        // h_n[layer 1, reverse, b = 0]; h_n[layer 1, forward, b = 2].
        Assert.True(FinalStateError(Changed("h_n", (3 * f.B + 0) * f.H + 1, 1e-15)) > 0);
        Assert.True(FinalStateError(Changed("h_n", (2 * f.B + 2) * f.H + 3, 1e-15)) > 0);
        Assert.True(PredictionError(Changed("head.weight", 5, 1e-12)) > ReductionTolerance);
        Assert.True(LossError(Changed("loss", 0, 1e-13)) > ReductionTolerance);
        // A target at a padded step must not matter; at a valid step it must.
        Assert.True(LossError(Changed("target", (6 * f.B + 0) * f.O, 1.0)) <= ReductionTolerance);
        Assert.True(LossError(Changed("target", (3 * f.B + 0) * f.O, 1e-12)) > ReductionTolerance);
        Assert.True(HeadGradientError(Changed("grad.head.bias", 1, 1e-13)) > ReductionTolerance);
        foreach (string name in new[] { "grad.rnn.weight_hh_l0_reverse", "grad.rnn.weight_ih_l1", "grad.h0", "grad.c0", "grad.input" })
        {
            Assert.True(FiniteDifferenceError(Changed(name, 4, 1e-7)) > FiniteDifferenceTolerance, $"a change to {name} went unnoticed");
        }

        GoldenFixture perStep = GoldenFixture.Load("lstm_classify_per_step.json");
        Assert.True(LossError(perStep.WithValue("target_class", 0, (perStep.Tensor("target_class")[0] + 1) % perStep.O)) > ReductionTolerance);
        GoldenFixture jordan = GoldenFixture.Load("jordan_free_running.json");
        Assert.True(ForwardError(jordan.WithValue("rnn.weight_yh_l0", 3, jordan.Tensor("rnn.weight_yh_l0")[3] + 1e-12)) > ForwardTolerance);
        Assert.True(FiniteDifferenceError(jordan.WithValue("grad.y0", 1, jordan.Tensor("grad.y0")[1] + 1e-7)) > FiniteDifferenceTolerance);
    }

    private static void AssertBelow(double error, double tolerance) =>
        Assert.True(error <= tolerance, $"discrepancy {error:R} exceeds {tolerance:R}");

    private static int Gates(string cell) => cell switch
    {
        "rnn" or "jordan" => 1,
        "gru" => 3,
        "lstm" => 4,
        _ => throw new ArgumentException($"expected rnn, lstm, gru or jordan, got '{cell}'", nameof(cell)),
    };

    private static string Suffix(int layer, int direction) => $"_l{layer}" + (direction == 1 ? "_reverse" : "");

    /// <summary>Parameter names and shapes in PyTorch's state_dict order (rnn., then head.).</summary>
    private static Dictionary<string, int[]> ParameterShapes(GoldenFixture f)
    {
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (f.Has("tokens"))
        {
            shapes["embedding.weight"] = [f.Size("V"), f.I];
        }

        if (f.Cell == "jordan")
        {
            shapes["rnn.weight_ih_l0"] = [f.H, f.I];
            shapes["rnn.weight_yh_l0"] = [f.H, f.O];
            shapes["rnn.bias_ih_l0"] = [f.H];
            shapes["rnn.bias_hh_l0"] = [f.H];
        }
        else
        {
            int rows = Gates(f.Cell) * f.H;
            for (int layer = 0; layer < f.Layers; layer++)
            {
                for (int d = 0; d < f.Directions; d++)
                {
                    string suffix = Suffix(layer, d);
                    shapes["rnn.weight_ih" + suffix] = [rows, layer == 0 ? f.I : f.Directions * f.H];
                    shapes["rnn.weight_hh" + suffix] = [rows, f.H];
                    shapes["rnn.bias_ih" + suffix] = [rows];
                    shapes["rnn.bias_hh" + suffix] = [rows];
                }
            }
        }

        shapes["head.weight"] = [f.O, f.Directions * f.H];
        shapes["head.bias"] = [f.O];
        return shapes;
    }

    private static Dictionary<string, int[]> ExpectedShapes(GoldenFixture f)
    {
        int states = f.Layers * f.Directions;
        var expected = new Dictionary<string, int[]>(StringComparer.Ordinal)
        {
            ["input"] = [f.T, f.B, f.I],
            ["lengths"] = [f.B],
            ["output"] = [f.T, f.B, f.Directions * f.H],
            ["h_n"] = [states, f.B, f.H],
            ["loss"] = [],
            ["grad.input"] = [f.T, f.B, f.I],
        };
        Dictionary<string, int[]> parameters = ParameterShapes(f);
        foreach (var (name, shape) in parameters)
        {
            expected[name] = shape;
            expected["grad." + name] = shape;
        }

        if (f.Cell == "jordan")
        {
            expected["y0"] = expected["grad.y0"] = [f.B, f.O];
        }
        else
        {
            expected["h0"] = expected["grad.h0"] = [states, f.B, f.H];
        }

        if (f.Cell == "lstm")
        {
            expected["c0"] = expected["grad.c0"] = expected["c_n"] = [states, f.B, f.H];
        }

        if (f.Has("tokens"))
        {
            expected["tokens"] = [f.T, f.B];
        }

        bool lastStep = f.Readout == "last_step";
        expected["prediction"] = lastStep ? [f.B, f.O] : [f.T, f.B, f.O];
        if (f.LossKind == "mse")
        {
            expected["target"] = [f.T, f.B, f.O];
        }
        else
        {
            expected["target_class"] = lastStep ? [f.B] : [f.T, f.B];
        }

        return expected;
    }

    private static int[] Lengths(GoldenFixture f) =>
        f.Tensor("lengths").Select(l =>
        {
            int length = (int)l;
            Assert.True(length == l && length >= 1 && length <= f.T, $"{f.Source}: length {l}");
            return length;
        }).ToArray();

    /// <summary>
    /// Largest |h_n - output| where they must coincide: the last layer's forward state at each
    /// sequence's own last valid step, and its reverse state at t = 0 (the reverse direction ends
    /// there). Stored values are copies, so they must agree exactly.
    /// </summary>
    private static double FinalStateError(GoldenFixture f)
    {
        int[] lengths = Lengths(f);
        double[] output = f.Tensor("output"), hN = f.Tensor("h_n");
        int width = f.Directions * f.H;
        double max = 0;
        for (int d = 0; d < f.Directions; d++)
        {
            int k = (f.Layers - 1) * f.Directions + d;
            for (int b = 0; b < f.B; b++)
            {
                int t = d == 0 ? lengths[b] - 1 : 0;
                for (int h = 0; h < f.H; h++)
                {
                    max = Math.Max(max, Math.Abs(hN[(k * f.B + b) * f.H + h] - output[(t * f.B + b) * width + d * f.H + h]));
                }
            }
        }

        return max;
    }

    /// <summary>The rows the head reads: every (t, b), or each sequence's last valid step.</summary>
    private static double[] HeadInput(GoldenFixture f, double[] output, int[] lengths)
    {
        if (f.Readout != "last_step")
        {
            return output;
        }

        int width = f.Directions * f.H;
        var rows = new double[f.B * width];
        for (int b = 0; b < f.B; b++)
        {
            Array.Copy(output, ((lengths[b] - 1) * f.B + b) * width, rows, b * width, width);
        }

        return rows;
    }

    /// <summary>y[row, o] = head.bias[o] + sum_k head.weight[o, k] x[row, k].</summary>
    private static double[] Head(double[] weight, double[] bias, double[] rows, int width)
    {
        int outputs = bias.Length, count = rows.Length / width;
        var y = new double[count * outputs];
        for (int row = 0; row < count; row++)
        {
            for (int o = 0; o < outputs; o++)
            {
                double sum = bias[o];
                for (int k = 0; k < width; k++)
                {
                    sum += weight[o * width + k] * rows[row * width + k];
                }

                y[row * outputs + o] = sum;
            }
        }

        return y;
    }

    private static double PredictionError(GoldenFixture f)
    {
        double[] rows = HeadInput(f, f.Tensor("output"), Lengths(f));
        return MaxAbsDifference(Head(f.Tensor("head.weight"), f.Tensor("head.bias"), rows, f.Directions * f.H), f.Tensor("prediction"));
    }

    /// <summary>Which prediction rows count towards the loss: valid steps, or every row of a last-step readout.</summary>
    private static bool[] CountedRows(GoldenFixture f, int[] lengths)
    {
        if (f.Readout == "last_step")
        {
            return Enumerable.Repeat(true, f.B).ToArray();
        }

        var counted = new bool[f.T * f.B];
        for (int t = 0; t < f.T; t++)
        {
            for (int b = 0; b < f.B; b++)
            {
                counted[t * f.B + b] = t < lengths[b];
            }
        }

        return counted;
    }

    /// <summary>
    /// dL/dy for every prediction row (zero for rows that do not count) and the loss:
    /// MSE: L = sum over counted (row, o) of e^2 / (N O), dL/dy = 2 e / (N O);
    /// cross-entropy: L = mean over counted rows of logsumexp(y) - y[class], dL/dy = (softmax(y) - onehot) / N.
    /// </summary>
    private static (double Loss, double[] Gradient) LossAndGradient(GoldenFixture f, double[] prediction, int[] lengths, IReadOnlyDictionary<string, double[]>? data = null)
    {
        bool[] counted = CountedRows(f, lengths);
        int n = counted.Count(c => c);
        var gradient = new double[prediction.Length];
        double loss = 0;
        if (f.LossKind == "mse")
        {
            double[] target = data?["target"] ?? f.Tensor("target");
            for (int row = 0; row < counted.Length; row++)
            {
                for (int o = 0; counted[row] && o < f.O; o++)
                {
                    double e = prediction[row * f.O + o] - target[row * f.O + o];
                    loss += e * e / (n * f.O);
                    gradient[row * f.O + o] = 2 * e / (n * f.O);
                }
            }

            return (loss, gradient);
        }

        double[] classes = f.Tensor("target_class");
        for (int row = 0; row < counted.Length; row++)
        {
            if (!counted[row])
            {
                continue;
            }

            int label = (int)classes[row];
            Assert.True(label == classes[row] && label >= 0 && label < f.O, $"{f.Source}: class {classes[row]}");
            ReadOnlySpan<double> logits = prediction.AsSpan(row * f.O, f.O);
            double max = double.NegativeInfinity;
            foreach (double z in logits)
            {
                max = Math.Max(max, z);
            }

            double total = 0;
            foreach (double z in logits)
            {
                total += Math.Exp(z - max);
            }

            loss += (max + Math.Log(total) - logits[label]) / n;
            for (int o = 0; o < f.O; o++)
            {
                gradient[row * f.O + o] = (Math.Exp(logits[o] - max) / total - (o == label ? 1 : 0)) / n;
            }
        }

        return (loss, gradient);
    }

    private static double LossError(GoldenFixture f) =>
        Math.Abs(LossAndGradient(f, f.Tensor("prediction"), Lengths(f)).Loss - f.Scalar("loss"));

    /// <summary>dL/db_head = sum over rows of dL/dy; dL/dW_head[o, k] = sum over rows of dL/dy[o] x[k].</summary>
    private static double HeadGradientError(GoldenFixture f)
    {
        int[] lengths = Lengths(f);
        double[] dy = LossAndGradient(f, f.Tensor("prediction"), lengths).Gradient;
        int width = f.Directions * f.H;
        double[] rows = HeadInput(f, f.Tensor("output"), lengths);
        var gradWeight = new double[f.O * width];
        var gradBias = new double[f.O];
        for (int row = 0; row < rows.Length / width; row++)
        {
            for (int o = 0; o < f.O; o++)
            {
                gradBias[o] += dy[row * f.O + o];
                for (int k = 0; k < width; k++)
                {
                    gradWeight[o * width + k] += dy[row * f.O + o] * rows[row * width + k];
                }
            }
        }

        return Math.Max(
            MaxAbsDifference(gradWeight, f.Tensor("grad.head.weight")),
            MaxAbsDifference(gradBias, f.Tensor("grad.head.bias")));
    }

    private sealed record Forward(double[] Output, double[] HN, double[]? CN, double[] Prediction, double Loss);

    private static double Sigmoid(double z) => 1.0 / (1.0 + Math.Exp(-z));

    /// <summary>Row-major matrix [rows, columns] times vector, plus bias.</summary>
    private static double[] Affine(double[] weight, double[] bias, ReadOnlySpan<double> x)
    {
        var y = new double[bias.Length];
        for (int r = 0; r < y.Length; r++)
        {
            double sum = bias[r];
            for (int c = 0; c < x.Length; c++)
            {
                sum += weight[r * x.Length + c] * x[c];
            }

            y[r] = sum;
        }

        return y;
    }

    /// <summary>
    /// One step in PyTorch's gate layout (rows of W_ih and W_hh, top to bottom), gi = W_ih x + b_ih,
    /// gh = W_hh h + b_hh:
    /// rnn  h' = tanh(gi + gh);
    /// lstm (i, f, g, o): c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c');
    /// gru  (r, z, n): r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r gh_n),
    ///      h' = (1 - z) n + z h.
    /// </summary>
    private static (double[] H, double[] C) Step(string cell, double[] gi, double[] gh, double[] h, double[] c)
    {
        int size = h.Length;
        var hNext = new double[size];
        var cNext = new double[c.Length];
        for (int k = 0; k < size; k++)
        {
            switch (cell)
            {
                case "rnn":
                    hNext[k] = Math.Tanh(gi[k] + gh[k]);
                    break;
                case "lstm":
                    double input = Sigmoid(gi[k] + gh[k]), forget = Sigmoid(gi[size + k] + gh[size + k]);
                    double candidate = Math.Tanh(gi[2 * size + k] + gh[2 * size + k]), outputGate = Sigmoid(gi[3 * size + k] + gh[3 * size + k]);
                    cNext[k] = forget * c[k] + input * candidate;
                    hNext[k] = outputGate * Math.Tanh(cNext[k]);
                    break;
                default:
                    double reset = Sigmoid(gi[k] + gh[k]), update = Sigmoid(gi[size + k] + gh[size + k]);
                    double fresh = Math.Tanh(gi[2 * size + k] + reset * gh[2 * size + k]);
                    hNext[k] = (1 - update) * fresh + update * h[k];
                    break;
            }
        }

        return (hNext, cNext);
    }

    /// <summary>
    /// The whole forward pass from the values in <paramref name="v"/>: stacked, optionally
    /// bidirectional layers run over each sequence's own valid steps (the reverse direction from its
    /// last valid step back to t = 0), padded outputs left zero; or the Jordan loop.
    /// </summary>
    private static Forward Run(GoldenFixture f, IReadOnlyDictionary<string, double[]> v)
    {
        int[] lengths = Lengths(f);
        if (f.Cell == "jordan")
        {
            return RunJordan(f, v, lengths);
        }

        int width = f.Directions * f.H, states = f.Layers * f.Directions;
        double[] layerInput = v["input"];
        int inputWidth = f.I;
        var hN = new double[states * f.B * f.H];
        double[]? cN = f.Cell == "lstm" ? new double[states * f.B * f.H] : null;
        for (int layer = 0; layer < f.Layers; layer++)
        {
            var layerOutput = new double[f.T * f.B * width];
            for (int d = 0; d < f.Directions; d++)
            {
                string suffix = Suffix(layer, d);
                double[] wIh = v["rnn.weight_ih" + suffix], wHh = v["rnn.weight_hh" + suffix];
                double[] bIh = v["rnn.bias_ih" + suffix], bHh = v["rnn.bias_hh" + suffix];
                int k = layer * f.Directions + d;
                for (int b = 0; b < f.B; b++)
                {
                    Range slot = ((k * f.B + b) * f.H)..((k * f.B + b + 1) * f.H);
                    double[] h = v["h0"][slot];
                    double[] c = cN is null ? [] : v["c0"][slot];
                    for (int s = 0; s < lengths[b]; s++)
                    {
                        int t = d == 0 ? s : lengths[b] - 1 - s;
                        ReadOnlySpan<double> x = layerInput.AsSpan((t * f.B + b) * inputWidth, inputWidth);
                        (h, c) = Step(f.Cell, Affine(wIh, bIh, x), Affine(wHh, bHh, h), h, c);
                        h.CopyTo(layerOutput, (t * f.B + b) * width + d * f.H);
                    }

                    h.CopyTo(hN, slot.Start.Value);
                    if (cN is not null)
                    {
                        c.CopyTo(cN, slot.Start.Value);
                    }
                }
            }

            layerInput = layerOutput;
            inputWidth = width;
        }

        double[] prediction = Head(v["head.weight"], v["head.bias"], HeadInput(f, layerInput, lengths), width);
        return new Forward(layerInput, hN, cN, prediction, LossAndGradient(f, prediction, lengths, v).Loss);
    }

    /// <summary>
    /// h_t = tanh(W_ih x_t + b_ih + W_yh y_(t-1) + b_hh), y~_t = head.weight h_t + head.bias, with
    /// y_(t-1) = target_(t-1) (teacher forcing) or y~_(t-1) (free running), y_(-1) = y0.
    /// </summary>
    private static Forward RunJordan(GoldenFixture f, IReadOnlyDictionary<string, double[]> v, int[] lengths)
    {
        var output = new double[f.T * f.B * f.H];
        var prediction = new double[f.T * f.B * f.O];
        double[] previous = v["y0"];
        double[] target = v["target"];
        for (int t = 0; t < f.T; t++)
        {
            for (int b = 0; b < f.B; b++)
            {
                double[] fromInput = Affine(v["rnn.weight_ih_l0"], v["rnn.bias_ih_l0"], v["input"].AsSpan((t * f.B + b) * f.I, f.I));
                double[] fromOutput = Affine(v["rnn.weight_yh_l0"], v["rnn.bias_hh_l0"], previous.AsSpan(b * f.O, f.O));
                double[] h = fromInput.Zip(fromOutput, (p, q) => Math.Tanh(p + q)).ToArray();
                h.CopyTo(output, (t * f.B + b) * f.H);
                Head(v["head.weight"], v["head.bias"], h, f.H).CopyTo(prediction, (t * f.B + b) * f.O);
            }

            Range step = (t * f.B * f.O)..((t + 1) * f.B * f.O);
            previous = f.Feedback == "teacher_forcing" ? target[step] : prediction[step];
        }

        double[] hN = output[((f.T - 1) * f.B * f.H)..];
        return new Forward(output, hN, null, prediction, LossAndGradient(f, prediction, lengths, v).Loss);
    }

    /// <summary>Parameters, initial states, input and target as stored; input embedded from tokens when asked.</summary>
    private static Dictionary<string, double[]> Values(GoldenFixture f, bool embedTokens = false)
    {
        var values = ParameterShapes(f).Keys.ToDictionary(n => n, f.Tensor, StringComparer.Ordinal);
        foreach (string name in new[] { "input", "h0", "c0", "y0", "target" }.Where(f.Has))
        {
            values[name] = f.Tensor(name);
        }

        if (embedTokens)
        {
            values["input"] = Embed(f, values["embedding.weight"]);
        }

        return values;
    }

    private static double[] Embed(GoldenFixture f, double[] table)
    {
        double[] tokens = f.Tensor("tokens");
        var input = new double[tokens.Length * f.I];
        for (int row = 0; row < tokens.Length; row++)
        {
            Array.Copy(table, (int)tokens[row] * f.I, input, row * f.I, f.I);
        }

        return input;
    }

    /// <summary>Largest difference between the stored forward results and a recomputation from the stored inputs.</summary>
    private static double ForwardError(GoldenFixture f)
    {
        Forward forward = Run(f, Values(f));
        double max = Math.Max(MaxAbsDifference(forward.Output, f.Tensor("output")), MaxAbsDifference(forward.HN, f.Tensor("h_n")));
        max = Math.Max(max, MaxAbsDifference(forward.Prediction, f.Tensor("prediction")));
        max = Math.Max(max, Math.Abs(forward.Loss - f.Scalar("loss")));
        if (forward.CN is not null)
        {
            max = Math.Max(max, MaxAbsDifference(forward.CN, f.Tensor("c_n")));
        }

        if (f.Has("tokens"))
        {
            max = Math.Max(max, MaxAbsDifference(Embed(f, f.Tensor("embedding.weight")), f.Tensor("input")));
        }

        return max;
    }

    /// <summary>
    /// Largest |stored gradient - central difference of the recomputed loss| over every element of
    /// every parameter, the input and the initial states. The embedding table is differentiated
    /// through the token lookup; every other tensor with the stored (embedded) input held fixed.
    /// </summary>
    private static double FiniteDifferenceError(GoldenFixture f)
    {
        var differentiable = ParameterShapes(f).Keys.Concat(new[] { "input", "h0", "c0", "y0" }.Where(f.Has)).ToList();
        double max = 0;
        foreach (string name in differentiable)
        {
            bool embedding = name == "embedding.weight";
            Dictionary<string, double[]> values = Values(f, embedding);
            double[] tensor = values[name];
            double[] gradient = f.Tensor("grad." + name);
            for (int i = 0; i < tensor.Length; i++)
            {
                double original = tensor[i];
                tensor[i] = original + FiniteDifferenceStep;
                double plus = LossOf(f, values, embedding);
                tensor[i] = original - FiniteDifferenceStep;
                double minus = LossOf(f, values, embedding);
                tensor[i] = original;
                max = Math.Max(max, Math.Abs((plus - minus) / (2 * FiniteDifferenceStep) - gradient[i]));
            }
        }

        return max;
    }

    private static double LossOf(GoldenFixture f, Dictionary<string, double[]> values, bool embedTokens)
    {
        if (embedTokens)
        {
            values["input"] = Embed(f, values["embedding.weight"]);
        }

        return Run(f, values).Loss;
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
