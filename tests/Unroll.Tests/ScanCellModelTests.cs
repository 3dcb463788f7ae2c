using System.Numerics;
using Unroll.Diagnostics;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The LRU, minGRU and minLSTM models as a whole: the scans split over three threads, more than the cores (by units, or
/// chunked by steps), give the sequential results bit for bit, a training step allocates nothing, the config counts and refuses correctly, the LRU's
/// eigenvalues are its parameters and set the decay of its gradients.
/// </summary>
[Collection("Gemm")]
public sealed class ScanCellModelTests
{
    private const int Steps = 23, InputSize = 3, Outputs = 2, Layers = 2;

    /// <summary>(architecture, batch, hidden): B*H = 100 (LRU: B*N = 50) units are chunked by steps; 320 (160) split by units.</summary>
    [Theory]
    [InlineData("lru", 5, 20)]
    [InlineData("mingru", 5, 20)]
    [InlineData("minlstm", 5, 20)]
    [InlineData("lru", 8, 40)]
    [InlineData("mingru", 8, 40)]
    [InlineData("minlstm", 8, 40)]
    public void ParallelScansMatchTheSequentialLoopBitForBit(string architecture, int batch, int hidden)
    {
        var sequential = Run(architecture, batch, hidden, threads: 1, sequential: true, out _);
        var chunked = Run(architecture, batch, hidden, threads: 3, sequential: false, out long splitRuns);

        // Every layer and direction's forward and adjoint scan was split.
        Assert.True(splitRuns >= 2 * Layers * 2, $"only {splitRuns} scans were split");
        Assert.Equal(sequential.Keys, chunked.Keys);
        foreach (var (name, values) in sequential)
        {
            var other = chunked[name];
            Assert.True(values.Length > 0, $"{name} is empty");
            Assert.Equal(values.Length, other.Length);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.True(
                    BitConverter.SingleToInt32Bits(values[i]) == BitConverter.SingleToInt32Bits(other[i]),
                    $"{architecture} {name}[{i}]: {values[i]:R} sequentially, {other[i]:R} over 3 threads");
            }
        }
    }

    [Theory]
    [InlineData("lru", 1)]
    [InlineData("lru", 2)]
    [InlineData("mingru", 2)]
    [InlineData("minlstm", 2)]
    public void TrainingStepAllocatesNothingAfterWarmUp(string architecture, int threads)
    {
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;

            // Long enough that the scans and the row passes are split over the workers.
            const int Length = 400, Sequences = 16, Vocabulary = 11;
            var model = new SequenceModel<float>(new ModelConfig
            {
                Architecture = Architectures.Parse(architecture), InputSize = 8, HiddenSize = 32, OutputSize = Vocabulary, VocabularySize = Vocabulary,
                Head = HeadKind.Classification, Layers = 2,
            });
            ScanCellInitializers.Initialize(model, new Random(3));
            model.Training = true;
            var optimizer = new Adam<float>(1e-3, model.Parameters.Count);
            var random = new Random(4);
            int[] inputs = Enumerable.Range(0, Length * Sequences).Select(_ => random.Next(Vocabulary)).ToArray();
            int[] targets = Enumerable.Range(0, Length * Sequences).Select(_ => random.Next(Vocabulary)).ToArray();
            float[] logitGradients = new float[Length * Sequences * Vocabulary];
            float firstLoss = 0, lastLoss = 0;

            void Step()
            {
                model.Parameters.ZeroGradients();
                model.ForwardTokens(inputs, Length, Sequences);
                lastLoss = Losses.SoftmaxCrossEntropy<float>(model.Predictions, targets, Vocabulary, logitGradients);
                model.Backward(logitGradients);
                var gradients = model.Parameters.Gradients.AsSpan();
                GradientClipping.ClipByNorm(gradients, GradientClipping.GlobalNorm<float>(gradients), 5.0);
                optimizer.Step(model.Parameters.Values, gradients);
            }

            for (int i = 0; i < 3; i++)
            {
                Step();
                firstLoss = i == 0 ? lastLoss : firstLoss;
            }

            long splitBefore = LinearScan<float>.SplitRuns;
            SteadyAllocation.AssertSettles(Step);
            if (threads > 1)
            {
                Assert.True(LinearScan<float>.SplitRuns > splitBefore, "no scan was split over the worker threads");
            }

            Assert.True(lastLoss < firstLoss, $"loss {firstLoss} -> {lastLoss}");
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }
    }

    [Theory]
    [InlineData("lru", 1, false, 0)]
    [InlineData("lru", 3, true, 7)]
    [InlineData("mingru", 2, true, 0)]
    [InlineData("minlstm", 3, false, 9)]
    public void ParameterCountMatchesTheLayout(string architecture, int layers, bool bidirectional, int vocabulary)
    {
        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = 3, HiddenSize = 6, OutputSize = 4, Layers = layers,
            Bidirectional = bidirectional, VocabularySize = vocabulary,
        };
        var model = new SequenceModel<float>(config);
        Assert.Equal(model.Parameters.Count, config.ParameterCount);
        Assert.Equal(config, ModelConfig.FromJson(config.ToJson()) with { InputNames = config.InputNames, OutputNames = config.OutputNames });
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void ModelFileRoundTripGivesTheSamePredictions(string architecture)
    {
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = 2, HiddenSize = 6, OutputSize = 1, Layers = 2, Bidirectional = true,
        });
        ScanCellInitializers.Initialize(model, new Random(2));
        var random = new Random(3);
        float[] inputs = Values(random, 7 * 3 * 2);
        model.Forward(inputs, 7, 3);
        string path = Path.Combine(Path.GetTempPath(), $"unroll-scan-{architecture}-{Guid.NewGuid():N}.safetensors");
        try
        {
            ModelFile.Save(path, model);
            var loaded = Assert.IsType<SequenceModel<float>>(ModelFile.Load(path).Model);
            Assert.Equal(model.Config.Architecture, loaded.Config.Architecture);
            loaded.Forward(inputs, 7, 3);
            Assert.Equal(model.Predictions.ToArray(), loaded.Predictions.ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void TruncatedBpttCarriesTheStateOfOneForwardPass(string architecture)
    {
        const int Length = 11, Sequences = 2, Window = 4, Width = 4;
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architectures.Parse(architecture), InputSize = 2, HiddenSize = Width, OutputSize = 1, Layers = 2 });
        ScanCellInitializers.Initialize(model, new Random(4), 0.5, 0.95, Math.PI);
        var reference = new SequenceModel<double>(model.Config);
        model.Parameters.Values.CopyTo(reference.Parameters.Values, 0);
        var random = new Random(5);
        var inputs = Enumerable.Range(0, Length * Sequences * 2).Select(_ => random.NextDouble() - 0.5).ToArray();
        var targets = Enumerable.Range(0, Length * Sequences).Select(_ => random.NextDouble()).ToArray();
        var tbptt = new TruncatedBptt<double>(model, Window);
        tbptt.Reset(Sequences);
        for (int start = 0; start < Length; start += Window)
        {
            int steps = Math.Min(Window, Length - start);
            tbptt.ComputeWindowGradients(inputs.AsSpan(start * Sequences * 2, steps * Sequences * 2), targets.AsSpan(start * Sequences, steps * Sequences), steps, Sequences);
            reference.Forward(inputs.AsSpan(0, (start + steps) * Sequences * 2), start + steps, Sequences);
            Assert.Equal(2 * Sequences * Width, tbptt.State.Length);
            for (int i = 0; i < tbptt.State.Length; i++)
            {
                Assert.Equal(reference.FinalState[i], tbptt.State[i], 12);
            }
        }
    }

    [Fact]
    public void ConfigsThatMakeNoSenseAreRefusedWithTheExpectedValue()
    {
        var odd = Assert.Throws<UnrollException>(() => new ModelConfig { Architecture = Architecture.Lru, InputSize = 1, HiddenSize = 5, OutputSize = 1 }.Validate());
        Assert.Contains("expected an even number, got 5", odd.Message, StringComparison.Ordinal);
        var activation = Assert.Throws<UnrollException>(() => new ModelConfig
        {
            Architecture = Architecture.MinGru, InputSize = 1, HiddenSize = 4, OutputSize = 1, Activation = Activation.Relu,
        }.Validate());
        Assert.Contains("expected tanh (the default), got relu", activation.Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<UnrollException>(() => ModelConfig.FromJson("""{"architecture": "s4", "inputSize": 1, "hiddenSize": 4, "outputSize": 1}"""));
        Assert.Contains("lru, mingru or minlstm, got 's4'", unknown.Message, StringComparison.Ordinal);
        var huge = Assert.Throws<UnrollException>(() => new ModelConfig { Architecture = Architecture.Lru, InputSize = 1, HiddenSize = 1 << 20, OutputSize = 1 }.Validate());
        Assert.Contains("expected at most", huge.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InitialisationIsRefusedForOtherModelsAndBadRings()
    {
        var gru = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 1, HiddenSize = 4, OutputSize = 1 });
        Assert.Contains("expected an lru, mingru or minlstm model, got gru",
            Assert.Throws<UnrollException>(() => ScanCellInitializers.Initialize(gru, new Random(1))).Message, StringComparison.Ordinal);
        var lru = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Lru, InputSize = 1, HiddenSize = 4, OutputSize = 1 });
        Assert.Contains("got r_min = 0.9, r_max = 1",
            Assert.Throws<UnrollException>(() => ScanCellInitializers.Initialize(lru, new Random(1), 0.9, 1.0)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LruEigenvaluesAreItsParametersAndStartUniformOnTheRing()
    {
        const double RingMin = 0.6, RingMax = 0.99, MaxPhase = 2.0;
        const int Width = 4000, Units = Width / 2;
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lru, InputSize = 1, HiddenSize = Width, OutputSize = 1, Bidirectional = true });
        ScanCellInitializers.Initialize(model, new Random(5), RingMin, RingMax, MaxPhase);
        var spectra = Spectra.Of(model);
        Assert.Equal(2, spectra.Count);
        Assert.Equal(("rnn.nu_log_l0", "lambda", false), (spectra[0].Parameter, spectra[0].Gate, spectra[0].Reverse));
        Assert.Equal(("rnn.nu_log_l0_reverse", true), (spectra[1].Parameter, spectra[1].Reverse));
        var nu = model.Parameters.Value("rnn.nu_log_l0").ToArray();
        var theta = model.Parameters.Value("rnn.theta_log_l0").ToArray();
        var gamma = model.Parameters.Value("rnn.gamma_log_l0").ToArray();
        var expected = Enumerable.Range(0, Units)
            .Select(n => Complex.Exp(new Complex(-Math.Exp(nu[n]), Math.Exp(theta[n]))))
            .OrderByDescending(e => e.Magnitude).ToArray();
        Assert.Equal(Units, spectra[0].Eigenvalues.Length);
        for (int n = 0; n < Units; n++)
        {
            Assert.True(Complex.Abs(expected[n] - spectra[0].Eigenvalues[n]) < 1e-14, $"lambda[{n}]: {expected[n]} vs {spectra[0].Eigenvalues[n]}");
            Assert.Equal(spectra[0].Eigenvalues[n].Magnitude, spectra[0].SingularValues[n]);
        }

        Assert.Equal(spectra[0].Eigenvalues[0].Magnitude, spectra[0].SpectralRadius);

        // On the ring, phases in [0, max], gamma = sqrt(1 - |lambda|^2), and |lambda|^2 uniform: its mean and
        // variance are those of U(r_min^2, r_max^2) to within four standard errors.
        double low = RingMin * RingMin, high = RingMax * RingMax;
        var squares = new double[Units];
        for (int n = 0; n < Units; n++)
        {
            double modulus = Math.Exp(-Math.Exp(nu[n])), phase = Math.Exp(theta[n]);
            Assert.InRange(modulus, RingMin, RingMax);
            Assert.InRange(phase, 0, MaxPhase);
            Assert.Equal(Math.Sqrt(1 - (modulus * modulus)), Math.Exp(gamma[n]), 12);
            squares[n] = modulus * modulus;
        }

        double mean = squares.Average(), variance = squares.Select(s => (s - mean) * (s - mean)).Average();
        double expectedVariance = (high - low) * (high - low) / 12;
        Assert.InRange(mean, ((low + high) / 2) - (4 * Math.Sqrt(expectedVariance / Units)), ((low + high) / 2) + (4 * Math.Sqrt(expectedVariance / Units)));
        Assert.InRange(variance, 0.85 * expectedVariance, 1.15 * expectedVariance);
    }

    [Fact]
    public void MinCellsHaveNoWeightSpectrum()
    {
        foreach (string architecture in new[] { "mingru", "minlstm" })
        {
            var model = new SequenceModel<float>(new ModelConfig { Architecture = Architectures.Parse(architecture), InputSize = 1, HiddenSize = 4, OutputSize = 1 });
            Assert.Empty(Spectra.Of(model));
        }
    }

    [Fact]
    public void LruGradientNormsDecayAsTheEigenvalueModulusToTheLag()
    {
        // One complex unit (H = 2) and a loss at the last step only: q_t = conj(lambda)^(T-1-t) q_{T-1}, so
        // ||dL/dv_t|| = |lambda|^(T-1-t) ||dL/dv_{T-1}||, the eigenvalue argument in its exact form.
        const int Length = 40;
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lru, InputSize = 1, HiddenSize = 2, OutputSize = 1 });
        ScanCellInitializers.Initialize(model, new Random(8), 0.8, 0.95, 1.0);
        double modulus = Spectra.Of(model)[0].SpectralRadius;
        var random = new Random(9);
        var inputs = Enumerable.Range(0, Length).Select(_ => random.NextDouble() - 0.5).ToArray();
        model.RecordGradientFlow = true;
        model.Forward(inputs, Length, 1);
        var dPredictions = new double[Length];
        dPredictions[^1] = 1;
        model.Backward(dPredictions);
        var norms = model.StateGradientNorms(0).ToArray();
        Assert.Equal(Length, norms.Length);
        Assert.True(norms[^1] > 0);
        for (int t = 0; t < Length; t++)
        {
            Assert.Equal(Math.Pow(modulus, Length - 1 - t), norms[t] / norms[^1], 12);
            var vector = model.StateGradients(0).Slice(t * 2, 2);
            Assert.Equal(norms[t], Math.Sqrt((vector[0] * vector[0]) + (vector[1] * vector[1])), 14);
        }
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void GradientFlowIsMeasuredForEveryLayerAndDirection(string architecture)
    {
        const int Length = 30, Sequences = 4;
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = 2, HiddenSize = 6, OutputSize = 1, Layers = 2, Bidirectional = true,
        });
        ScanCellInitializers.Initialize(model, new Random(6));
        var random = new Random(7);
        var inputs = Enumerable.Range(0, Length * Sequences * 2).Select(_ => random.NextDouble() - 0.5).ToArray();
        var targets = Enumerable.Range(0, Length * Sequences).Select(_ => random.NextDouble()).ToArray();
        var profiles = GradientFlow.Measure(model, inputs, targets, Length, Sequences);
        Assert.Equal(4, profiles.Count);
        foreach (var profile in profiles)
        {
            Assert.Equal(Length, profile.TotalLoss.Length);
            Assert.Equal(Length, profile.LastStepLoss.Length);
            Assert.Empty(profile.TotalLossCell);
            Assert.All(profile.TotalLoss, norm => Assert.True(norm > 0 && double.IsFinite(norm), $"norm {norm}"));
            Assert.Contains(profile.LastStepLoss, norm => norm > 0);
        }
    }

    private static Dictionary<string, float[]> Run(string architecture, int batch, int hidden, int threads, bool sequential, out long splitRuns)
    {
        int savedThreads = Parallelism.ThreadCount;
        long savedValues = LinearScan<float>.MinParallelValues;
        bool savedSequential = LinearScan<float>.Sequential;
        try
        {
            Parallelism.ThreadCount = threads;
            LinearScan<float>.MinParallelValues = 0;
            LinearScan<float>.Sequential = sequential;
            var model = new SequenceModel<float>(new ModelConfig
            {
                Architecture = Architectures.Parse(architecture), InputSize = InputSize, HiddenSize = hidden, OutputSize = Outputs,
                Layers = Layers, Bidirectional = true,
            });
            ScanCellInitializers.Initialize(model, new Random(11), 0.5, 0.99, Math.PI);
            model.ComputeInputGradients = true;
            model.RecordGradientFlow = true;
            var random = new Random(12);
            float[] inputs = Values(random, Steps * batch * InputSize);
            float[] targets = Values(random, Steps * batch * Outputs);
            float[] h0 = Values(random, Layers * 2 * batch * hidden);
            int[] lengths = [.. new[] { Steps, 3, 17, 1, 22, 9, Steps, 2 }.Take(batch)];

            long splitBefore = LinearScan<float>.SplitRuns;
            model.Parameters.ZeroGradients();
            model.Forward(inputs, Steps, batch, h0, lengths);
            float[] predictionGradients = new float[model.Predictions.Length];
            float loss = Losses.MaskedMeanSquaredError<float>(model.Predictions, targets, lengths, Steps, batch, predictionGradients);
            model.Backward(predictionGradients);
            splitRuns = LinearScan<float>.SplitRuns - splitBefore;
            return new Dictionary<string, float[]>
            {
                ["loss"] = [loss],
                ["predictions"] = model.Predictions.ToArray(),
                ["outputs"] = model.States.ToArray(),
                ["final state"] = model.FinalState.ToArray(),
                ["parameter gradients"] = model.Parameters.Gradients.ToArray(),
                ["h0 gradient"] = model.InitialStateGradient.ToArray(),
                ["input gradients"] = model.InputGradients.ToArray(),
                ["dL/dh_t, last layer, reverse"] = model.StateGradients(Layers - 1, 1).ToArray(),
                ["dL/dh_t, first layer"] = model.StateGradients(0).ToArray(),
            };
        }
        finally
        {
            Parallelism.ThreadCount = savedThreads;
            LinearScan<float>.MinParallelValues = savedValues;
            LinearScan<float>.Sequential = savedSequential;
        }
    }

    private static float[] Values(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
