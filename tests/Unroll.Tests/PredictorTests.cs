using System.Numerics;
using Unroll.Inference;
using Unroll.Models;

namespace Unroll.Tests;

/// <summary>
/// The predictor computes what the model's forward pass computes, for every cell and head, stateless and streamed;
/// shared across threads it gives the same bits; a step allocates nothing; what it cannot run it refuses clearly.
/// </summary>
public sealed class PredictorTests
{
    private static ModelConfig Config(string architecture, int layers = 1, bool bidirectional = false, int vocabulary = 0,
        Pooling pooling = Pooling.EveryStep, HeadKind head = HeadKind.Regression, string activation = "tanh") => new()
    {
        Architecture = Architectures.Parse(architecture), InputSize = vocabulary > 0 ? 5 : 3, HiddenSize = 20, OutputSize = vocabulary > 0 ? vocabulary : 2,
        Layers = layers, Bidirectional = bidirectional, VocabularySize = vocabulary, Pooling = pooling,
        Head = vocabulary > 0 ? HeadKind.Classification : head,
        Activation = activation == "relu" ? Kernels.Activation.Relu : Kernels.Activation.Tanh,
    };

    // Biases are drawn too (a new model's are not zero, but a fixed draw makes the check independent of the initialiser).
    private static SequenceModel<T> Model<T>(ModelConfig config, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new SequenceModel<T>(config, seed);
        var random = new Random(seed + 100);
        var values = model.Parameters.Values;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = T.CreateChecked(((random.NextDouble() * 2) - 1) * 0.5);
        }

        return model;
    }

    private static List<T[,]> DenseSequences<T>(int count, int features, int seed, int maxLength = 9)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        var sequences = new List<T[,]>();
        for (int s = 0; s < count; s++)
        {
            var sequence = new T[1 + random.Next(maxLength), features];
            for (int t = 0; t < sequence.GetLength(0); t++)
            {
                for (int i = 0; i < features; i++)
                {
                    sequence[t, i] = T.CreateChecked((random.NextDouble() * 2) - 1);
                }
            }

            sequences.Add(sequence);
        }

        return sequences;
    }

    private static List<int[]> TokenSequences(int count, int vocabulary, int seed, int maxLength = 9)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 1 + random.Next(maxLength)).Select(_ => random.Next(vocabulary)).ToArray())];
    }

    private static void AssertClose<T>(T[,] expected, T[,] actual, double tolerance, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.GetLength(0), actual.GetLength(0));
        Assert.Equal(expected.GetLength(1), actual.GetLength(1));
        for (int t = 0; t < expected.GetLength(0); t++)
        {
            for (int o = 0; o < expected.GetLength(1); o++)
            {
                double e = double.CreateChecked(expected[t, o]), a = double.CreateChecked(actual[t, o]);
                Assert.True(Math.Abs(e - a) <= tolerance * (1 + Math.Abs(e)), $"{what} [{t}, {o}]: model {e}, predictor {a}");
            }
        }
    }

    public static TheoryData<string, int, bool, string, Pooling> Kinds() => new()
    {
        { "rnn", 1, false, "tanh", Pooling.EveryStep },
        { "rnn", 2, false, "relu", Pooling.EveryStep },
        { "lstm", 1, false, "tanh", Pooling.EveryStep },
        { "lstm", 2, false, "tanh", Pooling.LastStep },
        { "lstm", 2, true, "tanh", Pooling.EveryStep },
        { "gru", 1, false, "tanh", Pooling.LastStep },
        { "gru", 3, false, "tanh", Pooling.EveryStep },
        { "gru", 2, true, "tanh", Pooling.LastStep },
        { "rnn", 1, true, "tanh", Pooling.EveryStep },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DenseSequencesOfVaryingLengthsMatchTheModelInFloat(string architecture, int layers, bool bidirectional, string activation, Pooling pooling)
    {
        var config = Config(architecture, layers, bidirectional, pooling: pooling, activation: activation);
        var model = Model<float>(config, 11);
        // 11 sequences: more than GemvRows, so the GEMM path runs while the longest ones are active, then the GEMV path.
        var sequences = DenseSequences<float>(11, config.InputSize, 5);
        var expected = model.Predict(sequences);
        var actual = new Predictor<float>(model).Predict(sequences);
        for (int s = 0; s < sequences.Count; s++)
        {
            AssertClose(expected[s], actual[s], 1e-6, $"{architecture} sequence {s}");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DenseSequencesMatchTheModelInDouble(string architecture, int layers, bool bidirectional, string activation, Pooling pooling)
    {
        var config = Config(architecture, layers, bidirectional, pooling: pooling, activation: activation);
        var model = Model<double>(config, 12);
        var sequences = DenseSequences<double>(7, config.InputSize, 6);
        var expected = model.Predict(sequences);
        var predictor = new Predictor<double>(model);
        var actual = predictor.Predict(sequences);
        for (int s = 0; s < sequences.Count; s++)
        {
            AssertClose(expected[s], actual[s], 1e-13, $"{architecture} sequence {s}");

            // Alone, a sequence gets what it gets in a batch (to the summation order of a GEMV against a GEMM row).
            AssertClose(actual[s], predictor.Predict(sequences[s]), 1e-13, $"{architecture} sequence {s} alone");
        }
    }

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void TokenModelsMatchTheModel(string architecture)
    {
        var config = Config(architecture, layers: 2, vocabulary: 13);
        var model = Model<float>(config, 13);
        var sequences = TokenSequences(9, 13, 7);
        var expected = model.Predict(sequences);
        var actual = new Predictor<float>(model).Predict(sequences);
        for (int s = 0; s < sequences.Count; s++)
        {
            AssertClose(expected[s], actual[s], 1e-6, $"{architecture} token sequence {s}");
        }
    }

    [Fact]
    public void AVocabularyTooLargeForTheTableReadsTheEmbeddingRowAndAgrees()
    {
        // V * 3H above the table's limit: the first layer multiplies W_ih by the token's embedding row instead.
        var config = Config("gru", vocabulary: 1 + (int)(Inference.InferenceWeights<float>.MaxTableValues / 60)) with { HiddenSize = 20, OutputSize = 3, InputSize = 2 };
        var model = Model<float>(config, 14);
        Assert.Empty(new Inference.InferenceWeights<float>(model.Config, model.Parameters).Layers[0].TokenTable);
        var sequences = TokenSequences(3, config.VocabularySize, 8);
        var expected = model.Predict(sequences);
        var actual = new Predictor<float>(model).Predict(sequences);
        for (int s = 0; s < sequences.Count; s++)
        {
            AssertClose(expected[s], actual[s], 1e-6, $"sequence {s}");
        }
    }

    [Theory]
    [InlineData("rnn", 1)]
    [InlineData("lstm", 1)]
    [InlineData("lstm", 6)]
    [InlineData("gru", 3)]
    public void ASessionStreamsInChunksWhatPredictGivesForTheWholeSequences(string architecture, int streams)
    {
        var config = Config(architecture, layers: 2);
        var model = Model<double>(config, 15);
        var random = new Random(9);
        const int Steps = 12;
        var sequences = Enumerable.Range(0, streams).Select(_ => new double[Steps, config.InputSize]).ToList();
        foreach (var sequence in sequences)
        {
            for (int t = 0; t < Steps; t++)
            {
                for (int i = 0; i < config.InputSize; i++)
                {
                    sequence[t, i] = (random.NextDouble() * 2) - 1;
                }
            }
        }

        var predictor = new Predictor<double>(model);
        var whole = predictor.Predict(sequences);
        var session = predictor.CreateSession(streams);
        int outputs = config.OutputSize, at = 0;
        // Chunks of 1, 4, 2 and 5 steps: the state carries across calls.
        foreach (int chunk in new[] { 1, 4, 2, 5 })
        {
            var inputs = new double[chunk * streams * config.InputSize];
            for (int t = 0; t < chunk; t++)
            {
                for (int s = 0; s < streams; s++)
                {
                    for (int i = 0; i < config.InputSize; i++)
                    {
                        inputs[(((t * streams) + s) * config.InputSize) + i] = sequences[s][at + t, i];
                    }
                }
            }

            var streamed = new double[chunk * streams * outputs];
            if (chunk == 1)
            {
                session.Step(inputs, streamed);
            }
            else
            {
                session.Run(inputs, chunk, streamed);
            }

            for (int t = 0; t < chunk; t++)
            {
                for (int s = 0; s < streams; s++)
                {
                    for (int o = 0; o < outputs; o++)
                    {
                        double expected = whole[s][at + t, o], actual = streamed[(((t * streams) + s) * outputs) + o];
                        Assert.True(Math.Abs(expected - actual) <= 1e-13 * (1 + Math.Abs(expected)), $"stream {s}, step {at + t}: {expected} vs {actual}");
                    }
                }
            }

            at += chunk;
        }

        // The session's states are the model's final states, [L, S, H].
        model.Forward(ToTimeMajor(sequences, config.InputSize), Steps, streams);
        for (int i = 0; i < session.Hidden.Length; i++)
        {
            Assert.True(Math.Abs(model.FinalState[i] - session.Hidden[i]) <= 1e-13, $"h[{i}]");
        }

        Assert.Equal(model.FinalCell.Length, session.Cell.Length);
        for (int i = 0; i < session.Cell.Length; i++)
        {
            Assert.True(Math.Abs(model.FinalCell[i] - session.Cell[i]) <= 1e-13, $"c[{i}]");
        }
    }

    private static double[] ToTimeMajor(List<double[,]> sequences, int features)
    {
        int steps = sequences[0].GetLength(0), batch = sequences.Count;
        var inputs = new double[steps * batch * features];
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < features; i++)
                {
                    inputs[(((t * batch) + b) * features) + i] = sequences[b][t, i];
                }
            }
        }

        return inputs;
    }

    [Fact]
    public void ResettingAStreamStartsItAfreshAndLeavesTheOthers()
    {
        var config = Config("lstm");
        var predictor = new Predictor<double>(Model<double>(config, 16));
        var session = predictor.CreateSession(2);
        double[] input = [0.3, -0.2, 0.5, 0.1, 0.4, -0.6];
        var first = new double[4];
        session.Step(input, first);
        var second = new double[4];
        session.Step(input, second);
        session.Reset(1);
        var third = new double[4];
        session.Step(input, third);
        Assert.NotEqual(first[2], second[2]);
        // Stream 1 starts again: its output is its first step's; stream 0 runs on.
        Assert.Equal(first[2], third[2]);
        Assert.Equal(first[3], third[3]);
        Assert.NotEqual(second[0], third[0]);
        session.Reset();
        session.Step(input, third);
        Assert.Equal(first, third);
    }

    [Theory]
    [InlineData("lstm", 1, 0)]
    [InlineData("gru", 1, 0)]
    [InlineData("rnn", 1, 0)]
    [InlineData("lstm", 1, 11)]
    [InlineData("lstm", 8, 0)]
    [InlineData("gru", 8, 11)]
    public void AStepAllocatesNothingAfterWarmUp(string architecture, int streams, int vocabulary)
    {
        var config = Config(architecture, layers: 2, vocabulary: vocabulary) with { HiddenSize = 64 };
        var session = new Predictor<float>(Model<float>(config, 17)).CreateSession(streams, seed: 1);
        var inputs = new float[streams * config.InputSize];
        var tokens = new int[streams];
        var outputs = new float[streams * config.OutputSize];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = 0.1f * i;
        }

        void Step()
        {
            if (vocabulary > 0)
            {
                session.Step(tokens, outputs);
                session.Sample(outputs, 0.8, tokens, excludedToken: 0);
            }
            else
            {
                session.Step(inputs, outputs);
            }
        }

        for (int i = 0; i < 20; i++)
        {
            Step();
        }

        // 200 steps in a row allocate nothing, within 2000 (see SteadyAllocation).
        SteadyAllocation.AssertSettles(Step, maxSteps: 2000, quietSteps: 200);
        Assert.All(outputs, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void OnePredictorSharedByEightThreadsGivesTheBitsOfSequentialCalls()
    {
        var model = Model<float>(Config("lstm", layers: 2) with { HiddenSize = 48 }, 18);
        var predictor = new Predictor<float>(model);
        var inputs = Enumerable.Range(0, 8).Select(c => DenseSequences<float>(6, 3, 100 + c, maxLength: 30)).ToList();

        // Each caller predicts a batch and streams its first sequence step by step in a session of its own.
        (float[][,] Batch, float[] Streamed) Call(int caller)
        {
            var batch = predictor.Predict(inputs[caller]);
            var session = predictor.CreateSession();
            var sequence = inputs[caller][0];
            var streamed = new float[sequence.GetLength(0) * 2];
            var output = new float[2];
            for (int t = 0; t < sequence.GetLength(0); t++)
            {
                session.Step([sequence[t, 0], sequence[t, 1], sequence[t, 2]], output);
                output.CopyTo(streamed, t * 2);
            }

            return (batch, streamed);
        }

        var sequential = Enumerable.Range(0, 8).Select(Call).ToList();
        for (int round = 0; round < 3; round++)
        {
            var concurrent = new (float[][,], float[])[8];
            using var start = new Barrier(8);
            var threads = Enumerable.Range(0, 8).Select(c => new Thread(() =>
            {
                start.SignalAndWait();
                concurrent[c] = Call(c);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            for (int c = 0; c < 8; c++)
            {
                Assert.Equal(sequential[c].Streamed, concurrent[c].Item2);
                for (int s = 0; s < sequential[c].Batch.Length; s++)
                {
                    Assert.Equal(sequential[c].Batch[s], concurrent[c].Item1[s]);
                }
            }
        }
    }

    [Fact]
    public void SamplingIsSeededGreedyAtZeroAndFollowsTheSoftmax()
    {
        var session = new Predictor<double>(Model<double>(Config("gru", vocabulary: 3), 19)).CreateSession(1, seed: 42);
        double[] logits = [0, Math.Log(3), -30];
        var token = new int[1];
        var counts = new int[3];
        for (int i = 0; i < 4000; i++)
        {
            session.Sample(logits, 1, token);
            counts[token[0]]++;
        }

        // softmax: 0.25, 0.75 and ~0; 4000 draws put the share within 0.75 +- 0.03 (over 4 standard deviations).
        Assert.InRange(counts[1] / 4000.0, 0.72, 0.78);
        Assert.Equal(4000, counts[0] + counts[1]);

        var again = new Predictor<double>(Model<double>(Config("gru", vocabulary: 3), 19)).CreateSession(1, seed: 42);
        var replay = new int[3];
        for (int i = 0; i < 4000; i++)
        {
            again.Sample(logits, 1, token);
            replay[token[0]]++;
        }

        Assert.Equal(counts, replay);
        session.Sample(logits, 0, token);
        Assert.Equal(1, token[0]);
        session.Sample(logits, 0, token, excludedToken: 1);
        Assert.Equal(0, token[0]);
        for (int i = 0; i < 200; i++)
        {
            session.Sample(logits, 5, token, excludedToken: 1);
            Assert.NotEqual(1, token[0]);
        }
    }

    [Fact]
    public void GreedyTextFromTheSamplerIsWhatTheModelsForwardPassPicks()
    {
        // TextSampler runs in a predictor session; greedy decoding must pick, step by step, the tokens the model's own
        // forward pass ranks first (never <unk>, id 0).
        var vocabulary = Data.Text.Vocabulary.Build(Data.Text.Vocabulary.Tokenize("the quick brown fox jumps over a lazy dog\n", Data.Text.TextLevel.Char), Data.Text.TextLevel.Char);
        int size = vocabulary.Count;
        var model = Model<float>(new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = 6, HiddenSize = 24, OutputSize = size, VocabularySize = size, Head = HeadKind.Classification, Layers = 2,
        }, 29);
        string text = Data.Text.TextSampler.Sample(model, vocabulary, "the ", 30, 0, seed: 1);

        var ids = new List<int>(vocabulary.Encode(Data.Text.Vocabulary.Tokenize("the ", Data.Text.TextLevel.Char), out _));
        var expected = new List<int>();
        for (int i = 0; i < 30; i++)
        {
            model.ForwardTokens(ids.ToArray(), ids.Count, 1);
            var logits = model.Predictions.Slice((ids.Count - 1) * size, size);
            int best = 1;
            for (int j = 2; j < size; j++)
            {
                best = logits[j] > logits[best] ? j : best;
            }

            expected.Add(best);
            ids.Add(best);
        }

        Assert.Equal("the " + vocabulary.Decode(expected), text);
    }

    [Fact]
    public void APredictorLoadedFromAFileGivesTheModelsPredictions()
    {
        var model = Model<float>(Config("gru", layers: 2), 20);
        string path = Path.Combine(Path.GetTempPath(), $"unroll-predictor-{Guid.NewGuid():N}.safetensors");
        try
        {
            ModelFile.Save(path, model);
            var sequences = DenseSequences<float>(3, 3, 21);
            var expected = model.Predict(sequences);
            var actual = Predictor<float>.Load(path).Predict(sequences);
            for (int s = 0; s < 3; s++)
            {
                AssertClose(expected[s], actual[s], 1e-6, $"sequence {s}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ThePredictorKeepsTheWeightsItWasMadeWith()
    {
        var model = Model<double>(Config("rnn"), 22);
        var predictor = new Predictor<double>(model);
        var sequence = DenseSequences<double>(1, 3, 23)[0];
        var before = predictor.Predict(sequence);
        model.Parameters.Values.AsSpan().Fill(0.25);
        Assert.Equal(before, predictor.Predict(sequence));
    }

    [Fact]
    public void PredictingLeavesTheModelsForwardPassAsItWas()
    {
        // The model's last forward pass (its predictions, states and the buffers backward reads) is untouched by the
        // predictor, which has buffers of its own.
        var config = Config("lstm", layers: 2);
        var model = Model<double>(config, 27);
        var inputs = Enumerable.Range(0, 5 * 2 * config.InputSize).Select(i => Math.Sin(i)).ToArray();
        model.Forward(inputs, 5, 2);
        var predictions = model.Predictions.ToArray();
        var states = model.States.ToArray();
        var finalState = model.FinalState.ToArray();
        var predictor = new Predictor<double>(model);
        predictor.Predict(DenseSequences<double>(6, config.InputSize, 28));
        var session = predictor.CreateSession(3);
        session.Run(new double[4 * 3 * config.InputSize], 4, new double[4 * 3 * config.OutputSize]);
        Assert.Equal(predictions, model.Predictions.ToArray());
        Assert.Equal(states, model.States.ToArray());
        Assert.Equal(finalState, model.FinalState.ToArray());
        Assert.Equal(5, model.Steps);
        Assert.Equal(2, model.Batch);

        // The forward pass can still be differentiated.
        model.Parameters.ZeroGradients();
        model.Backward(Enumerable.Repeat(1.0, predictions.Length).ToArray());
        Assert.Contains(model.Parameters.Gradients, g => g != 0);
    }

    [Fact]
    public void WhatThePredictorCannotRunIsRefusedInOneLine()
    {
        var lru = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Lru, InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        var error = Assert.Throws<UnrollException>(() => new Predictor<float>(lru));
        Assert.Contains("expected an rnn, lstm or gru model, got lru", error.Message, StringComparison.Ordinal);

        string path = Path.Combine(Path.GetTempPath(), $"unroll-predictor-{Guid.NewGuid():N}.safetensors");
        try
        {
            ModelFile.Save(path, new JordanModel<float>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = 2, HiddenSize = 4, OutputSize = 1 }));
            error = Assert.Throws<UnrollException>(() => Predictor<float>.Load(path));
            Assert.Contains("expected an rnn, lstm or gru model, got jordan", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }

        var bidirectional = new Predictor<float>(Model<float>(Config("gru", bidirectional: true), 24));
        error = Assert.Throws<UnrollException>(() => bidirectional.CreateSession());
        Assert.Contains("expected a unidirectional model", error.Message, StringComparison.Ordinal);

        var predictor = new Predictor<float>(Model<float>(Config("lstm"), 25));
        error = Assert.Throws<UnrollException>(() => predictor.Step(new float[3], new float[2]));
        Assert.Contains("expected a session", error.Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(predictor.Reset);
        Assert.Throws<UnrollException>(() => predictor.CreateSession(0));
        var session = predictor.CreateSession(2);
        error = Assert.Throws<UnrollException>(() => session.Step(new float[3], new float[4]));
        Assert.Contains("expected inputs [T=1, S=2, I]", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => session.Step(new[] { 0f, 0, float.NaN, 0, 0, 0 }, new float[4]));
        Assert.Contains("expected a finite number", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => session.Step(new int[2], new float[4]));
        Assert.Contains("reads dense inputs", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => session.Reset(2));
        Assert.Contains("expected a stream in [0, 2), got 2", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => predictor.Predict(new float[0, 3]));
        Assert.Contains("expected [T, 3] with T >= 1", error.Message, StringComparison.Ordinal);

        var tokens = new Predictor<float>(Model<float>(Config("gru", vocabulary: 4), 26)).CreateSession();
        error = Assert.Throws<UnrollException>(() => tokens.Step(new[] { 4 }, new float[4]));
        Assert.Contains("expected an id in [0, 4)", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => tokens.Sample(new float[4], -1, new int[1]));
        Assert.Contains("expected a temperature > 0", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>A large batch-1 GEMV split over two kernel threads gives the bits of one thread, and still allocates nothing.</summary>
[Collection("Gemm")]
public sealed class PredictorThreadsTests
{
    [Fact]
    public void TwoThreadsGiveTheBitsOfOneAndAStepStillAllocatesNothing()
    {
        // W_hh is [4H, H] = 1024 x 256: large enough to be split.
        var config = new ModelConfig { Architecture = Architecture.Lstm, InputSize = 4, HiddenSize = 256, OutputSize = 3 };
        Assert.True(4L * config.HiddenSize * config.HiddenSize >= Inference.GemvJob<float>.SplitValues);
        var predictor = new Predictor<float>(new SequenceModel<float>(config, seed: 30));
        static void Fill(float[] input, int t) => input[t % 4] = 0.1f * t;
        var (one, splitsOne) = Stream(predictor, threads: 1, streams: 1, steps: 100, Fill);
        var (two, splitsTwo) = Stream(predictor, threads: 2, streams: 1, steps: 100, Fill);
        Assert.Equal(one, two);
        Assert.Equal(0, splitsOne);
        // 100 steps, each W_hh product in two parts (unless the pool was busy with another caller, which runs them inline).
        Assert.True(splitsTwo > 0, "no GEMV was split over two threads");
    }

    [Theory]
    [InlineData(Architecture.Lstm)]
    [InlineData(Architecture.Gru)]
    [InlineData(Architecture.Rnn)]
    public void ABatchStepsGateMathSplitByRowsGivesTheBitsOfOneThreadAndAllocatesNothing(Architecture architecture)
    {
        // 24 streams of H = 256: 6,144 units a step, above the split threshold, so the cell update runs in parts (3 threads:
        // more than this machine's cores, uneven rows per part).
        const int streams = 24;
        var config = new ModelConfig { Architecture = architecture, InputSize = 5, HiddenSize = 256, OutputSize = 2, Layers = 2 };
        Assert.True(streams * config.HiddenSize >= Inference.BatchStepJob<float>.SplitUnits);
        var predictor = new Predictor<float>(new SequenceModel<float>(config, seed: 31));
        static void Fill(float[] input, int t)
        {
            for (int i = 0; i < input.Length; i++)
            {
                input[i] = MathF.Sin((0.37f * i) + (0.11f * t));
            }
        }

        var (one, splitsOne) = Stream(predictor, threads: 1, streams, steps: 40, Fill);
        var (three, splitsThree) = Stream(predictor, threads: 3, streams, steps: 40, Fill);
        // The step's products could be split without the gate math; that the gate math splits is the test below.
        Assert.Equal(one, three);
        Assert.Equal(0, splitsOne);
        Assert.True(splitsThree > 0, "no product or cell update was split over the threads");
    }

    /// <summary>
    /// <paramref name="steps"/> steps of a session of <paramref name="streams"/> at <paramref name="threads"/> kernel threads,
    /// the inputs of step t set by <paramref name="fill"/>: every step's outputs, and the parts handed to the workers. Then
    /// checks that the step settles into allocating nothing, on the caller and the workers (step by step, so that a
    /// collection set off by another test's thread is not counted: see SteadyAllocation).
    /// </summary>
    private static (float[] Outputs, long Splits) Stream(Predictor<float> predictor, int threads, int streams, int steps, Action<float[], int> fill)
    {
        int saved = Kernels.Parallelism.ThreadCount;
        try
        {
            Kernels.Parallelism.ThreadCount = threads;
            var session = predictor.CreateSession(streams);
            var input = new float[streams * predictor.Config.InputSize];
            var output = new float[streams * predictor.Config.OutputSize];
            var all = new float[steps * output.Length];
            long splitBefore = Kernels.WorkerPool.SplitParts;
            for (int t = 0; t < steps; t++)
            {
                fill(input, t);
                session.Step(input, output);
                output.CopyTo(all, t * output.Length);
            }

            long splits = Kernels.WorkerPool.SplitParts - splitBefore;
            SteadyAllocation.AssertSettles(() => session.Step(input, output));
            return (all, splits);
        }
        finally
        {
            Kernels.Parallelism.ThreadCount = saved;
        }
    }

    [Theory]
    [InlineData(Architecture.Lstm)]
    [InlineData(Architecture.Gru)]
    [InlineData(Architecture.Rnn)]
    public void ABatchOfSequencesStepSplitByRowsGivesTheBitsOfOneThread(Architecture architecture)
    {
        // 23 sequences of 9 to 31 steps at H = 200, two layers: every step's input projection, recurrent product and
        // gate math run row by row in parts (23 rows down to 1 as sequences end, so some steps end in a partial row
        // tile, and some are too small to split), at 3 threads, more than this machine's cores.
        const int count = 23, inputSize = 5;
        var config = new ModelConfig { Architecture = architecture, InputSize = inputSize, HiddenSize = 200, OutputSize = 2, Layers = 2 };
        Assert.True(count * config.HiddenSize >= Inference.BatchStepJob<float>.SplitUnits);
        var predictor = new Predictor<float>(new SequenceModel<float>(config, seed: 32));
        var random = new Random(33);
        var sequences = Enumerable.Range(0, count).Select(b =>
        {
            var sequence = new float[9 + b, inputSize];
            for (int t = 0; t < sequence.GetLength(0); t++)
            {
                for (int i = 0; i < inputSize; i++)
                {
                    sequence[t, i] = (float)((random.NextDouble() * 4) - 2);
                }
            }

            return sequence;
        }).ToArray();

        int saved = Kernels.Parallelism.ThreadCount;
        try
        {
            Kernels.Parallelism.ThreadCount = 1;
            var one = predictor.Predict(sequences);
            Kernels.Parallelism.ThreadCount = 3;
            long splits = 0;
            for (int attempt = 0; attempt < 20 && splits < count; attempt++)
            {
                long before = Kernels.WorkerPool.SplitParts;
                var three = predictor.Predict(sequences);
                splits = Kernels.WorkerPool.SplitParts - before;
                for (int b = 0; b < count; b++)
                {
                    Assert.Equal(one[b], three[b]);
                }
            }

            // Steps with at least 9 rows split into 2 or 3 parts (a dispatch runs inline only while another caller
            // holds the pool, hence the attempts).
            Assert.True(splits >= count, $"only {splits} parts were handed to the workers");
        }
        finally
        {
            Kernels.Parallelism.ThreadCount = saved;
        }
    }

    [Theory]
    [InlineData(Architecture.Lstm, false)]
    [InlineData(Architecture.Gru, false)]
    [InlineData(Architecture.Rnn, false)]
    [InlineData(Architecture.Lstm, true)]
    [InlineData(Architecture.Gru, true)]
    public void SequencesOfOneLengthRunByRowsThroughEveryStepGiveTheBitsOfOneThread(Architecture architecture, bool tokens)
    {
        // 23 sequences of 13 steps, two bidirectional layers: the forward direction takes each part's rows through all
        // 13 steps in one dispatch (dense input projected per step; tokens read from the hoisted projection), the
        // reverse direction one step at a time; at 3 threads, more than this machine's cores.
        const int count = 23, steps = 13, inputSize = 5, vocabulary = 11;
        var config = new ModelConfig
        {
            Architecture = architecture, InputSize = tokens ? 6 : inputSize, HiddenSize = 200, OutputSize = tokens ? vocabulary : 2,
            Layers = 2, Bidirectional = true, VocabularySize = tokens ? vocabulary : 0, Head = tokens ? HeadKind.Classification : HeadKind.Regression,
        };
        var predictor = new Predictor<float>(new SequenceModel<float>(config, seed: 34));
        var random = new Random(35);
        var dense = Enumerable.Range(0, count).Select(_ =>
        {
            var sequence = new float[steps, inputSize];
            for (int t = 0; t < steps; t++)
            {
                for (int i = 0; i < inputSize; i++)
                {
                    sequence[t, i] = (float)((random.NextDouble() * 4) - 2);
                }
            }

            return sequence;
        }).ToArray();
        var ids = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, steps).Select(_ => random.Next(vocabulary)).ToArray()).ToArray();
        float[][,] Run() => tokens ? predictor.Predict(ids) : predictor.Predict(dense);

        int saved = Kernels.Parallelism.ThreadCount;
        try
        {
            Kernels.Parallelism.ThreadCount = 1;
            var one = Run();
            Kernels.Parallelism.ThreadCount = 3;
            long splits = 0;
            for (int attempt = 0; attempt < 20 && splits < 2 * steps; attempt++)
            {
                long before = Kernels.WorkerPool.SplitParts;
                var three = Run();
                splits = Kernels.WorkerPool.SplitParts - before;
                for (int b = 0; b < count; b++)
                {
                    Assert.Equal(one[b], three[b]);
                }
            }

            Assert.True(splits >= 2 * steps, $"only {splits} parts were handed to the workers");
        }
        finally
        {
            Kernels.Parallelism.ThreadCount = saved;
        }
    }
}
