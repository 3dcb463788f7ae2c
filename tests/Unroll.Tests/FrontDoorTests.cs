using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>The front door: a new model is initialised, and <c>Predict</c> over plain arrays gives what a time-major forward pass gives.</summary>
public class FrontDoorTests
{
    private static double[,] RandomSequence(Random random, int steps, int features)
    {
        var x = new double[steps, features];
        for (int t = 0; t < steps; t++)
        {
            for (int i = 0; i < features; i++)
            {
                x[t, i] = (random.NextDouble() * 2) - 1;
            }
        }

        return x;
    }

    // The forward pass of one sequence alone, [T, 1, I], read back as [rows, O]: the reference Predict must equal.
    private static double[,] ForwardAlone(SequenceModel<double> model, double[,] x)
    {
        int steps = x.GetLength(0), features = x.GetLength(1), outputs = model.Config.OutputSize;
        var inputs = new double[steps * features];
        for (int t = 0; t < steps; t++)
        {
            for (int i = 0; i < features; i++)
            {
                inputs[(t * features) + i] = x[t, i];
            }
        }

        model.Forward(inputs, steps, 1);
        var predictions = model.Predictions;
        int rows = predictions.Length / outputs;
        var result = new double[rows, outputs];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outputs; o++)
            {
                result[r, o] = predictions[(r * outputs) + o];
            }
        }

        return result;
    }

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void ANewModelIsInitialisedAsPyTorchFromItsSeed(string architecture)
    {
        var config = new ModelConfig { Architecture = Architectures.Parse(architecture), InputSize = 3, HiddenSize = 16, OutputSize = 2 };
        var model = new SequenceModel<float>(config, seed: 7);
        var again = new SequenceModel<float>(config, seed: 7);
        var other = new SequenceModel<float>(config, seed: 8);
        var values = model.Parameters.Values;

        // U(-1/sqrt(H), 1/sqrt(H)) everywhere (the head's fan-in is H too here): inside the bound, and spread over it.
        double bound = 1 / Math.Sqrt(16);
        Assert.All(values, v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.True(values.Max() > 0.9 * bound && values.Min() < -0.9 * bound);
        Assert.True(values.Count(v => v == 0) < 3);
        Assert.Equal(values, again.Parameters.Values);
        Assert.NotEqual(values, other.Parameters.Values);

        var zero = new SequenceModel<float>(config, initialize: false);
        Assert.All(zero.Parameters.Values, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ANewLruStartsWithItsEigenvaluesOnTheRing()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lru, InputSize = 2, HiddenSize = 32, OutputSize = 1 });
        var nuLog = model.Parameters.Value("rnn.nu_log_l0").ToArray();
        Assert.Equal(16, nuLog.Length);

        // |lambda| = exp(-exp(nu_log)), drawn in [0.9, 0.999].
        Assert.All(nuLog, nu => Assert.InRange(Math.Exp(-Math.Exp(nu)), 0.9, 0.999));
    }

    [Theory]
    [InlineData("rnn", false)]
    [InlineData("lstm", true)]
    [InlineData("gru", false)]
    [InlineData("mingru", false)]
    public void EachSequenceGetsWhatItGetsAloneWhateverItsLength(string architecture, bool bidirectional)
    {
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture),
            InputSize = 2,
            HiddenSize = 8,
            OutputSize = 3,
            Layers = 2,
            Bidirectional = bidirectional,
        }, seed: 3);
        var random = new Random(5);
        var sequences = new[] { 4, 9, 1, 6 }.Select(steps => RandomSequence(random, steps, 2)).ToArray();

        var predicted = model.Predict(sequences);

        Assert.Equal(sequences.Length, predicted.Length);
        for (int s = 0; s < sequences.Length; s++)
        {
            var alone = ForwardAlone(model, sequences[s]);
            Assert.Equal(sequences[s].GetLength(0), predicted[s].GetLength(0));
            Assert.Equal(3, predicted[s].GetLength(1));
            for (int t = 0; t < alone.GetLength(0); t++)
            {
                for (int o = 0; o < 3; o++)
                {
                    Assert.Equal(alone[t, o], predicted[s][t, o], 12);
                }
            }
        }

        var single = model.Predict(sequences[1]);
        Assert.Equal(predicted[1], single);
    }

    [Fact]
    public void AClassifierAnswersOncePerSequenceAndMoreThanOneBatchOfSequencesKeepsTheirOrder()
    {
        var model = new SequenceModel<double>(new ModelConfig
        {
            Architecture = Architecture.Gru,
            InputSize = 1,
            HiddenSize = 6,
            OutputSize = 4,
            Head = HeadKind.Classification,
            Pooling = Pooling.LastStep,
        }, seed: 11);
        var random = new Random(2);

        // 300 sequences: two batches of the forward pass.
        var sequences = Enumerable.Range(0, 300).Select(s => RandomSequence(random, 1 + (s % 7), 1)).ToArray();
        var predicted = model.Predict(sequences);
        foreach (int s in new[] { 0, 1, 255, 256, 299 })
        {
            var alone = ForwardAlone(model, sequences[s]);
            Assert.Equal(1, predicted[s].GetLength(0));
            for (int o = 0; o < 4; o++)
            {
                Assert.Equal(alone[0, o], predicted[s][0, o], 12);
            }
        }
    }

    [Fact]
    public void ATokenModelPredictsTheNextTokensLogitsAtEveryStep()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lstm, VocabularySize = 5, InputSize = 3, HiddenSize = 4, OutputSize = 5 }, seed: 1);
        int[] tokens = [0, 4, 2, 2, 1];
        var predicted = model.Predict(tokens);
        model.ForwardTokens(tokens, tokens.Length, 1);
        Assert.Equal(tokens.Length, predicted.GetLength(0));
        for (int t = 0; t < tokens.Length; t++)
        {
            for (int o = 0; o < 5; o++)
            {
                Assert.Equal(model.Predictions[(t * 5) + o], predicted[t, o], 12);
            }
        }
    }

    [Fact]
    public void PredictLeavesTrainingModeAndTurnsDropoutOff()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Rnn, InputSize = 1, HiddenSize = 8, OutputSize = 1, Layers = 2, Dropout = 0.5 }, seed: 4);
        var x = RandomSequence(new Random(1), 5, 1);
        var evaluation = model.Predict(x);
        model.Training = true;
        var duringTraining = model.Predict(x);
        Assert.True(model.Training);
        Assert.Equal(evaluation, duringTraining);
    }

    [Fact]
    public void BadInputsAreOneClearMessage()
    {
        var dense = new SequenceModel<float>(new ModelConfig { InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        Assert.Equal("Predict: sequence 1 is [3, 1]; expected [T, 2] with T >= 1 (a row per step, a column per input feature).",
            Assert.Throws<UnrollException>(() => dense.Predict([new float[2, 2], new float[3, 1]])).Message);
        Assert.Equal("Predict: sequence 0 is [0, 2]; expected [T, 2] with T >= 1 (a row per step, a column per input feature).",
            Assert.Throws<UnrollException>(() => dense.Predict(new float[0, 2])).Message);
        var nan = new float[3, 2];
        nan[2, 1] = float.NaN;
        Assert.Equal("Predict: sequence 0, step 2, feature 1 is NaN; expected a finite number.",
            Assert.Throws<UnrollException>(() => dense.Predict(nan)).Message);
        Assert.StartsWith("Predict: this model reads dense inputs (2 features per step)",
            Assert.Throws<UnrollException>(() => dense.Predict([1, 2])).Message);

        var tokens = new SequenceModel<float>(new ModelConfig { VocabularySize = 4, InputSize = 2, HiddenSize = 4, OutputSize = 4 });
        Assert.Equal("Predict: sequence 0, step 1 is token 4; expected an id in [0, 4).",
            Assert.Throws<UnrollException>(() => tokens.Predict([0, 4])).Message);
        Assert.Equal("Predict: sequence 1 is empty; expected at least one token id.",
            Assert.Throws<UnrollException>(() => tokens.Predict([[1], []])).Message);
        Assert.StartsWith("Predict: this model reads token ids (a vocabulary of 4)",
            Assert.Throws<UnrollException>(() => tokens.Predict(new float[2, 2])).Message);
    }

    [Fact]
    public void ALanguageModelLearnsAPeriodicStreamThroughThePublicTrainer()
    {
        // "abcd" repeated: after training, every next token is certain, so the validation loss falls far below log V.
        int[] stream = Enumerable.Range(0, 4000).Select(i => i % 4).ToArray();
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, VocabularySize = 4, InputSize = 4, HiddenSize = 16, OutputSize = 4, Head = HeadKind.Classification }, seed: 1);
        var history = new Trainer(model, new TrainingOptions
        {
            Steps = 150,
            BatchSize = 8,
            Bptt = [20],
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 },
        }).RunOnTokens(stream[..3600], stream[3600..]);

        Assert.Equal(150, history.Count);
        Assert.True(history[^1].ValidationLoss < 0.05 * Math.Log(4), $"validation loss {history[^1].ValidationLoss}");
        var logits = model.Predict([0, 1, 2]);
        Assert.Equal(3, Enumerable.Range(0, 4).MaxBy(o => logits[2, o]));
    }

    [Fact]
    public void TokenTrainingRefusesADenseModelAndAnIdOutsideTheVocabulary()
    {
        var options = new TrainingOptions { Steps = 1, BatchSize = 2 };
        var dense = new SequenceModel<float>(new ModelConfig { InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        Assert.StartsWith("tokens: this model reads dense inputs",
            Assert.Throws<UnrollException>(() => new Trainer(dense, options).RunOnTokens([0, 1, 0, 1], null)).Message);
        var tokens = new SequenceModel<float>(new ModelConfig { VocabularySize = 3, InputSize = 2, HiddenSize = 4, OutputSize = 3, Head = HeadKind.Classification });
        Assert.Equal("tokens: the validation stream's token 1 is 7; expected an id in [0, 3).",
            Assert.Throws<UnrollException>(() => new Trainer(tokens, options).RunOnTokens([0, 1, 2, 0, 1], [0, 7])).Message);
    }
}
