using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// Truncated BPTT against independent references: one full forward/backward, central finite
/// differences of each window's own loss with its start state held fixed, and a single forward
/// pass over the whole stream for the carried states.
/// </summary>
public class TruncatedBpttTests
{
    private const int InputSize = 2;
    private const int Hidden = 3;
    private const int Outputs = 2;

    public static TheoryData<string> Architectures => new() { "rnn", "lstm", "gru" };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void WindowCoveringTheWholeStreamIsFullBptt(string architecture)
    {
        const int batch = 2, part = 7;
        var random = new Random(11);
        var model = NewModel(architecture, 1, random);
        var (streamInputs, streamTargets) = RandomStream(random, (batch * part) + 1);
        var (inputs, targets) = Layout(streamInputs, streamTargets, batch, part, 0, part);

        // The reference: one forward over all P steps from zero, MSE, one backward.
        model.Parameters.ZeroGradients();
        model.Forward(inputs, part, batch);
        var dPredictions = new double[targets.Length];
        double fullLoss = Losses.MeanSquaredError<double>(model.Predictions, targets, dPredictions);
        model.Backward(dPredictions);
        var fullGradients = (double[])model.Parameters.Gradients.Clone();

        foreach (var (k1, k2) in new[] { (part, part), (9, 9), (part, 20) })
        {
            var stream = new StreamBatches(streamInputs, streamTargets, InputSize, Outputs, batch, k1);
            Assert.Equal(1, stream.WindowCount);
            Assert.Equal(part, stream.WindowLength(0));
            var windowInputs = new double[part * batch * InputSize];
            var windowTargets = new double[part * batch * Outputs];
            stream.CopyWindow<double>(0, windowInputs, windowTargets);

            var tbptt = new TruncatedBptt<double>(model, k1, k2);
            tbptt.Reset(batch);
            double loss = tbptt.ComputeWindowGradients(windowInputs, windowTargets, part, batch);
            Assert.Equal(fullLoss, loss, 1e-12);
            for (int i = 0; i < fullGradients.Length; i++)
            {
                Assert.True(Math.Abs(fullGradients[i] - model.Parameters.Gradients[i]) <= 1e-12,
                    $"K=({k1},{k2}) gradient {i}: full BPTT {fullGradients[i]:R}, truncated {model.Parameters.Gradients[i]:R}");
            }
        }
    }

    [Fact]
    public void FloatWindowCoveringTheWholeStreamIsFullBptt()
    {
        const int batch = 3, steps = 6;
        var random = new Random(12);
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = InputSize, HiddenSize = Hidden, OutputSize = Outputs });
        Initializers.Uniform<float>(model.Parameters.Values, -0.8, 0.8, random);
        var inputs = RandomArray(random, steps * batch * InputSize).Select(v => (float)v).ToArray();
        var targets = RandomArray(random, steps * batch * Outputs).Select(v => (float)v).ToArray();

        model.Parameters.ZeroGradients();
        model.Forward(inputs, steps, batch);
        var dPredictions = new float[targets.Length];
        float fullLoss = Losses.MeanSquaredError<float>(model.Predictions, targets, dPredictions);
        model.Backward(dPredictions);
        var fullGradients = (float[])model.Parameters.Gradients.Clone();

        var tbptt = new TruncatedBptt<float>(model, steps);
        tbptt.Reset(batch);
        Assert.Equal(fullLoss, tbptt.ComputeWindowGradients(inputs, targets, steps, batch), 1e-6);
        for (int i = 0; i < fullGradients.Length; i++)
        {
            Assert.Equal(fullGradients[i], model.Parameters.Gradients[i], 1e-6f);
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void WindowGradientIsThatOfItsOwnLossWithTheCarriedStateHeldFixed(string architecture)
    {
        const int batch = 2, part = 8, window = 4;
        var random = new Random(21);
        var model = NewModel(architecture, 1, random);
        var (streamInputs, streamTargets) = RandomStream(random, batch * part);
        var stream = new StreamBatches(streamInputs, streamTargets, InputSize, Outputs, batch, window);
        var tbptt = new TruncatedBptt<double>(model, window);
        tbptt.Reset(batch);

        var inputs0 = new double[window * batch * InputSize];
        var targets0 = new double[window * batch * Outputs];
        stream.CopyWindow<double>(0, inputs0, targets0);
        tbptt.ComputeWindowGradients(inputs0, targets0, window, batch);
        var carriedState = tbptt.State.ToArray();
        var carriedCell = tbptt.Cell.ToArray();

        var inputs1 = new double[window * batch * InputSize];
        var targets1 = new double[window * batch * Outputs];
        stream.CopyWindow<double>(1, inputs1, targets1);
        double loss = tbptt.ComputeWindowGradients(inputs1, targets1, window, batch);
        var truncated = (double[])model.Parameters.Gradients.Clone();

        double WindowLoss()
        {
            model.Forward(inputs1, window, batch, carriedState, default, carriedCell);
            return Losses.MeanSquaredError<double>(model.Predictions, targets1, Span<double>.Empty);
        }

        Assert.Equal(WindowLoss(), loss, 1e-12);
        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{view.Name}[{i}]", truncated[view.Offset + i], GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, WindowLoss));
            }
        }

        // The untruncated gradient of the same window loss also flows back through window 0 into
        // the carried state; it is the full BPTT over both windows with the loss on the second.
        var (bothInputs, bothTargets) = Layout(streamInputs, streamTargets, batch, part, 0, 2 * window);
        model.Parameters.ZeroGradients();
        model.Forward(bothInputs, 2 * window, batch);
        var dPredictions = new double[bothTargets.Length];
        int firstRows = window * batch * Outputs;
        Losses.MeanSquaredError<double>(model.Predictions[firstRows..], bothTargets.AsSpan(firstRows), dPredictions.AsSpan(firstRows));
        model.Backward(dPredictions);
        var untruncated = model.Parameters.Gradients;

        // The head reads the same states either way, so its gradient agrees; the recurrent
        // weights lose the terms dL_t/dh_k for k in window 0, so theirs differ.
        double largestRecurrentDifference = 0;
        foreach (var view in model.Parameters.Views)
        {
            for (int i = view.Offset; i < view.Offset + view.Length; i++)
            {
                double difference = GradientCheck.RelativeError(truncated[i], untruncated[i]);
                if (view.Name.StartsWith("head.", StringComparison.Ordinal))
                {
                    Assert.True(difference <= 1e-12, $"{view.Name}: truncated {truncated[i]:R}, untruncated {untruncated[i]:R}");
                }
                else
                {
                    largestRecurrentDifference = Math.Max(largestRecurrentDifference, difference);
                }
            }
        }

        Assert.True(largestRecurrentDifference > 1e-3, $"truncation changed the recurrent gradient by only {largestRecurrentDifference:E2}");
    }

    [Theory]
    [InlineData("rnn", 4)]
    [InlineData("lstm", 4)]
    [InlineData("gru", 4)]
    [InlineData("rnn", 9)]
    [InlineData("lstm", 9)]
    [InlineData("gru", 9)]
    public void CarriedStateIsTheStateOfOneForwardPassOverTheStream(string architecture, int backpropagationSteps)
    {
        const int batch = 2, part = 11, window = 4, layers = 2;
        var random = new Random(31);
        var model = NewModel(architecture, layers, random);
        var (streamInputs, streamTargets) = RandomStream(random, (batch * part) + 1);
        var stream = new StreamBatches(streamInputs, streamTargets, InputSize, Outputs, batch, window);
        Assert.Equal([4, 4, 3], Enumerable.Range(0, stream.WindowCount).Select(stream.WindowLength));
        var tbptt = new TruncatedBptt<double>(model, window, backpropagationSteps);
        tbptt.Reset(batch);

        var reference = NewModel(architecture, layers, new Random(0));
        model.Parameters.Values.CopyTo(reference.Parameters.Values, 0);
        for (int w = 0; w < stream.WindowCount; w++)
        {
            int steps = stream.WindowLength(w);
            var inputs = new double[steps * batch * InputSize];
            var targets = new double[steps * batch * Outputs];
            stream.CopyWindow<double>(w, inputs, targets);
            tbptt.ComputeWindowGradients(inputs, targets, steps, batch);

            int end = stream.WindowStart(w) + steps;
            var (prefix, _) = Layout(streamInputs, streamTargets, batch, part, 0, end);
            reference.Forward(prefix, end, batch);
            AssertClose(reference.FinalState, tbptt.State, $"h after window {w}");
            AssertClose(reference.FinalCell, tbptt.Cell, $"c after window {w}");
            Assert.Equal(end, tbptt.StepsSeen);
        }

        Assert.Equal(architecture == "lstm" ? layers * batch * Hidden : 0, tbptt.Cell.Length);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void EqualIntervalsAreStatefulTruncationWithWindowK(string architecture)
    {
        const int batch = 3, part = 10, window = 4;
        var random = new Random(41);
        var model = NewModel(architecture, 2, random);
        var (streamInputs, streamTargets) = RandomStream(random, batch * part);
        var stream = new StreamBatches(streamInputs, streamTargets, InputSize, Outputs, batch, window);
        var tbptt = new TruncatedBptt<double>(model, window, window);
        tbptt.Reset(batch);

        // Stateful TBPTT(K) by hand: forward from the carried state, MSE, backward, keep h_n (and c_n).
        var state = new double[2 * batch * Hidden];
        var cell = architecture == "lstm" ? new double[state.Length] : [];
        for (int w = 0; w < stream.WindowCount; w++)
        {
            int steps = stream.WindowLength(w);
            var inputs = new double[steps * batch * InputSize];
            var targets = new double[steps * batch * Outputs];
            stream.CopyWindow<double>(w, inputs, targets);

            model.Parameters.ZeroGradients();
            model.Forward(inputs, steps, batch, state, default, cell);
            var dPredictions = new double[targets.Length];
            double expectedLoss = Losses.MeanSquaredError<double>(model.Predictions, targets, dPredictions);
            model.Backward(dPredictions);
            var expectedGradients = (double[])model.Parameters.Gradients.Clone();
            model.FinalState.CopyTo(state);
            model.FinalCell.CopyTo(cell);

            double loss = tbptt.ComputeWindowGradients(inputs, targets, steps, batch);
            Assert.Equal(expectedLoss, loss, 1e-12);
            Assert.Equal(steps, tbptt.LastBackpropagatedSteps);
            AssertClose(expectedGradients, model.Parameters.Gradients, $"gradient of window {w}");
        }
    }

    [Theory]
    [InlineData("rnn", 1)]
    [InlineData("lstm", 2)]
    [InlineData("gru", 1)]
    public void LongerBackpropagationIsTheGradientOfTheLastK1StepsWithTheStateK2StepsBackFixed(string architecture, int layers)
    {
        const int batch = 2, part = 14, k1 = 3, k2 = 7;
        var random = new Random(51);
        var model = NewModel(architecture, layers, random);
        var (streamInputs, streamTargets) = RandomStream(random, batch * part);
        var stream = new StreamBatches(streamInputs, streamTargets, InputSize, Outputs, batch, k1);
        var tbptt = new TruncatedBptt<double>(model, k1, k2);
        tbptt.Reset(batch);
        var reference = NewModel(architecture, layers, new Random(0));
        model.Parameters.Values.CopyTo(reference.Parameters.Values, 0);

        // Windows end at 3, 6, 9, 12, 14: the re-run history is min(k2 - k1, a) = 0, 3, 4, 4, 4 steps.
        int[] expectedSpans = [3, 6, 7, 7, 6];
        Assert.Equal(expectedSpans.Length, stream.WindowCount);
        for (int w = 0; w < stream.WindowCount; w++)
        {
            int steps = stream.WindowLength(w), a = stream.WindowStart(w), end = a + steps;
            var inputs = new double[steps * batch * InputSize];
            var targets = new double[steps * batch * Outputs];
            stream.CopyWindow<double>(w, inputs, targets);
            double loss = tbptt.ComputeWindowGradients(inputs, targets, steps, batch);
            var gradients = (double[])model.Parameters.Gradients.Clone();
            Assert.Equal(expectedSpans[w], tbptt.LastBackpropagatedSteps);

            // The span is the window plus the min(k2 - k1, a) steps before it (k2 steps for a full
            // window once the stream has them). Its start state comes from one forward over the
            // stream before it (zero at the very start) and is held fixed.
            int start = a - Math.Min(k2 - k1, a);
            Assert.Equal(start, end - expectedSpans[w]);
            var startState = new double[layers * batch * Hidden];
            var startCell = architecture == "lstm" ? new double[startState.Length] : [];
            if (start > 0)
            {
                var (prefix, _) = Layout(streamInputs, streamTargets, batch, part, 0, start);
                reference.Forward(prefix, start, batch);
                reference.FinalState.CopyTo(startState);
                reference.FinalCell.CopyTo(startCell);
            }

            var (spanInputs, spanTargets) = Layout(streamInputs, streamTargets, batch, part, start, end - start);
            int earlierRows = (end - start - steps) * batch * Outputs;
            double LastK1Loss()
            {
                model.Forward(spanInputs, end - start, batch, startState, default, startCell);
                return Losses.MeanSquaredError<double>(model.Predictions[earlierRows..], spanTargets.AsSpan(earlierRows), Span<double>.Empty);
            }

            Assert.Equal(LastK1Loss(), loss, 1e-12);
            foreach (var view in model.Parameters.Views)
            {
                for (int i = 0; i < view.Length; i++)
                {
                    GradientCheck.AssertMatches($"window {w}, {view.Name}[{i}]", gradients[view.Offset + i],
                        GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, LastK1Loss));
                }
            }
        }
    }

    [Fact]
    public void InvalidSettingsAreRefused()
    {
        var model = NewModel("rnn", 1, new Random(1));
        Assert.Contains("k2", Assert.Throws<UnrollException>(() => new TruncatedBptt<double>(model, 5, 4)).Message, StringComparison.Ordinal);
        Assert.Contains("got 0", Assert.Throws<UnrollException>(() => new TruncatedBptt<double>(model, 0)).Message, StringComparison.Ordinal);
        var bidirectional = new SequenceModel<double>(new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 1, Bidirectional = true });
        Assert.Contains("unidirectional", Assert.Throws<UnrollException>(() => new TruncatedBptt<double>(bidirectional, 4)).Message, StringComparison.Ordinal);
        var manyToOne = new SequenceModel<double>(new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 1, Pooling = Pooling.LastStep });
        Assert.Throws<UnrollException>(() => new TruncatedBptt<double>(manyToOne, 4));

        var tbptt = new TruncatedBptt<double>(model, 3);
        Assert.Throws<InvalidOperationException>(() => tbptt.ComputeWindowGradients(new double[3 * 2 * InputSize], new double[3 * 2 * Outputs], 3, 2));
        tbptt.Reset(2);
        Assert.Throws<ArgumentException>(() => tbptt.ComputeWindowGradients(new double[4 * 2 * InputSize], new double[4 * 2 * Outputs], 4, 2));
        Assert.Throws<ArgumentException>(() => tbptt.ComputeWindowGradients(new double[5], new double[3 * 2 * Outputs], 3, 2));
    }

    [Fact]
    public void SingleStreamIsCutIntoContiguousPartsReadWindowByWindow()
    {
        // N = 10 steps, B = 3: parts of P = 3 steps (steps 0-2, 3-5, 6-8; step 9 unused), K = 2.
        const int length = 10, batch = 3, window = 2;
        var inputs = new double[length * 2];
        var targets = new double[length];
        for (int n = 0; n < length; n++)
        {
            inputs[2 * n] = 10 * n;
            inputs[(2 * n) + 1] = (10 * n) + 1;
            targets[n] = -n;
        }

        var stream = new StreamBatches(inputs, targets, 2, 1, batch, window);
        Assert.Equal(3, stream.PartLength);
        Assert.Equal(1, stream.UnusedSteps);
        Assert.Equal(2, stream.WindowCount);
        Assert.Equal(2, stream.WindowLength(0));
        Assert.Equal(1, stream.WindowLength(1));

        // Window 0: steps {0,1} of every part; rows are (t, b) time-major.
        var windowInputs = new double[2 * batch * 2];
        var windowTargets = new double[2 * batch];
        stream.CopyWindow<double>(0, windowInputs, windowTargets);
        Assert.Equal([0, 1, 30, 31, 60, 61, 10, 11, 40, 41, 70, 71], windowInputs);
        Assert.Equal([0, -3, -6, -1, -4, -7], windowTargets);

        // Window 1, the short one: step 2 of every part.
        var lastInputs = new float[batch * 2];
        var lastTargets = new float[batch];
        stream.CopyWindow<float>(1, lastInputs, lastTargets);
        Assert.Equal([20f, 21f, 50f, 51f, 80f, 81f], lastInputs);
        Assert.Equal([-2f, -5f, -8f], lastTargets);

        Assert.Throws<ArgumentOutOfRangeException>(() => stream.WindowLength(2));
        Assert.Throws<ArgumentException>(() => stream.CopyWindow<double>(1, new double[2 * batch * 2], new double[2 * batch]));
    }

    [Fact]
    public void SetOfSequencesGivesEachSequenceTheSameNumberOfParts()
    {
        // Two sequences of 7 steps, B = 4: two parts of 3 steps per sequence, one step unused each.
        const int count = 2, length = 7;
        var inputs = new double[count * length];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = 100 * (i / length) + (i % length); // 100 * sequence + step
        }

        var set = new SequenceSet(count, length, ["x"], ["y"], inputs, inputs);
        var stream = new StreamBatches(set, 4, 5);
        Assert.Equal(3, stream.PartLength);
        Assert.Equal(1, stream.UnusedSteps);
        Assert.Equal(1, stream.WindowCount);
        Assert.Equal(3, stream.WindowLength(0));
        var windowInputs = new double[3 * 4];
        var windowTargets = new double[3 * 4];
        stream.CopyWindow<double>(0, windowInputs, windowTargets);
        // Columns: sequence 0 part 0, sequence 0 part 1, sequence 1 part 0, sequence 1 part 1.
        Assert.Equal([0, 3, 100, 103, 1, 4, 101, 104, 2, 5, 102, 105], windowInputs);
        Assert.Equal(windowInputs, windowTargets);
    }

    [Fact]
    public void StreamBatchesRefuseBadSizesWithTheExpectedValue()
    {
        var set = new SequenceSet(2, 5, ["x"], ["y"], new double[10], new double[10]);
        Assert.Contains("got 0", Assert.Throws<UnrollException>(() => new StreamBatches(set, 2, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("got 0", Assert.Throws<UnrollException>(() => new StreamBatches(set, 0, 3)).Message, StringComparison.Ordinal);
        Assert.Contains("multiple of the 2 sequences", Assert.Throws<UnrollException>(() => new StreamBatches(set, 3, 3)).Message, StringComparison.Ordinal);
        Assert.Contains("at least 6 steps", Assert.Throws<UnrollException>(() => new StreamBatches(set, 12, 3)).Message, StringComparison.Ordinal);
        Assert.Contains("at least 4 steps", Assert.Throws<UnrollException>(() => new StreamBatches(new double[3], new double[3], 1, 1, 4, 2)).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => new StreamBatches(new double[6], new double[4], 2, 1, 1, 2));
        Assert.Contains("finite", Assert.Throws<UnrollException>(() => new StreamBatches([1, double.NaN], [1, 2], 1, 1, 1, 1)).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => new StreamBatches(new SequenceSet(0, 5, ["x"], ["y"], [], []), 1, 1));

        // B = N: parts of one step each, one window of one step.
        var shortest = new StreamBatches([1, 2, 3], [4, 5, 6], 1, 1, 3, 2);
        Assert.Equal(1, shortest.WindowCount);
        Assert.Equal(1, shortest.WindowLength(0));
    }

    private static SequenceModel<double> NewModel(string architecture, int layers, Random random)
    {
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Unroll.Models.Architectures.Parse(architecture),
            InputSize = InputSize,
            HiddenSize = Hidden,
            OutputSize = Outputs,
            Layers = layers,
        });
        // Larger than PyTorch's default so the state carried from earlier steps matters.
        Initializers.Uniform<double>(model.Parameters.Values, -0.8, 0.8, random);
        return model;
    }

    private static (double[] Inputs, double[] Targets) RandomStream(Random random, int length) =>
        (RandomArray(random, length * InputSize), RandomArray(random, length * Outputs));

    private static double[] RandomArray(Random random, int length)
    {
        var values = new double[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (2 * random.NextDouble()) - 1;
        }

        return values;
    }

    // Steps [start, start + steps) of every part of a single stream, part b being stream steps
    // [b P, (b + 1) P), time-major [steps, B, size]: built here from the definition, not by StreamBatches.
    private static (double[] Inputs, double[] Targets) Layout(double[] streamInputs, double[] streamTargets, int batch, int part, int start, int steps)
    {
        var inputs = new double[steps * batch * InputSize];
        var targets = new double[steps * batch * Outputs];
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                int n = (b * part) + start + t;
                Array.Copy(streamInputs, n * InputSize, inputs, ((t * batch) + b) * InputSize, InputSize);
                Array.Copy(streamTargets, n * Outputs, targets, ((t * batch) + b) * Outputs, Outputs);
            }
        }

        return (inputs, targets);
    }

    private static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-12, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
