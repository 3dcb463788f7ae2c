using System.Text;
using Unroll.Data.Text;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Tests;

public class TextCorpusTests
{
    /// <summary>Sentences "SUBJECT VERB OBJECT\n", each part drawn uniformly from three: 3 log2(3) bits per sentence.</summary>
    internal static string Grammar(int sentences, int seed, out double bitsPerCharacter)
    {
        string[] subjects = ["the cat", "a dog", "the bird"], verbs = ["sees", "likes", "chases"], objects = ["the fish.", "a mouse.", "the ball."];
        var random = new SplitMix64(seed);
        var text = new StringBuilder();
        for (int i = 0; i < sentences; i++)
        {
            text.Append(subjects[random.Next(3)]).Append(' ').Append(verbs[random.Next(3)]).Append(' ').Append(objects[random.Next(3)]).Append('\n');
        }

        bitsPerCharacter = 3 * Math.Log2(3) * sentences / text.Length;
        return text.ToString();
    }

    [Fact]
    public void InvalidUtf8IsRefusedWithItsByteOffset()
    {
        var error = Assert.Throws<UnrollException>(() => Utf8Text.Decode([(byte)'a', (byte)'b', 0xFF, (byte)'c'], "x.txt"));
        Assert.Contains("x.txt: byte offset 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("0xFF", error.Message, StringComparison.Ordinal);

        // The offset counts the byte-order mark and the valid multi-byte characters before the bad byte.
        byte[] withBom = [0xEF, 0xBB, 0xBF, .. "é"u8, 0xC3];
        Assert.Contains("byte offset 5", Assert.Throws<UnrollException>(() => Utf8Text.Decode(withBom, "y.txt")).Message, StringComparison.Ordinal);
        Assert.Equal("é€", Utf8Text.Decode([0xEF, 0xBB, 0xBF, .. "é€"u8], "z.txt"));
    }

    [Fact]
    public void CharacterVocabularyPutsUnknownFirstAndCountsUnseenValidationCharacters()
    {
        // 20 characters: the last 2 (validation, fraction 0.1) are "zb"; 'z' never appears in training.
        var corpus = TextCorpus.FromText("abababababababababzb", "t", new TextCorpusOptions { ValidationFraction = 0.1 });
        Assert.Equal(["<unk>", "a", "b"], corpus.Vocabulary.Tokens);
        Assert.Equal(18, corpus.Train.Length);
        Assert.Equal([Vocabulary.UnknownId, 2], corpus.Validation);
        Assert.Equal(1, corpus.ValidationUnknown);
        Assert.Equal(0, corpus.TrainUnknown);
    }

    [Fact]
    public void CharactersAreUnicodeScalarsNotUtf16Units()
    {
        var tokens = Vocabulary.Tokenize("a😀b", TextLevel.Char);
        Assert.Equal(["a", "😀", "b"], tokens);
    }

    [Fact]
    public void WordsSplitOnWhitespaceWithEndOfLineTokens()
    {
        Assert.Equal(["the", "cat", "<eos>", "a", "dog", "<eos>", "end"], Vocabulary.Tokenize("the  cat\r\n a dog\nend", TextLevel.Word));
        var vocabulary = Vocabulary.Build(["b", "a", "b", "c", "b", "a"], TextLevel.Word, maxSize: 3);
        Assert.Equal(["<unk>", "b", "a"], vocabulary.Tokens); // by count, "c" dropped
        Assert.Equal([1, 2, 0], vocabulary.Encode(["b", "a", "c"], out int unknown));
        Assert.Equal(1, unknown);
        Assert.Equal("b a\nb", new Vocabulary(TextLevel.Word, ["<unk>", "a", "b", "<eos>"]).Decode([2, 1, 3, 2]));
    }

    [Fact]
    public void VocabularyRoundTripsThroughJson()
    {
        var vocabulary = Vocabulary.Build(Vocabulary.Tokenize("hé\n\"x\"\t", TextLevel.Char), TextLevel.Char);
        var back = Vocabulary.FromJson(vocabulary.ToJson());
        Assert.Equal(vocabulary.Tokens, back.Tokens);
        Assert.Equal(TextLevel.Char, back.Level);
        Assert.Throws<UnrollException>(() => Vocabulary.FromJson("{\"level\":\"char\",\"tokens\":[\"a\",\"<unk>\"]}"));
        Assert.Throws<UnrollException>(() => Vocabulary.FromJson("{\"level\":\"char\",\"tokens\":[\"<unk>\",\"a\",\"a\"]}"));
    }

    [Fact]
    public void TooShortTextsAndBadOptionsAreRefused()
    {
        Assert.Contains("holds 3 characters", Assert.Throws<UnrollException>(() => TextCorpus.FromText("abc", "t", new TextCorpusOptions())).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => TextCorpus.FromText("abcdefgh", "t", new TextCorpusOptions { ValidationFraction = 1 }));
        Assert.Throws<UnrollException>(() => TextCorpus.FromText("abcdefgh", "t", new TextCorpusOptions { MinCount = 0 }));
    }

    [Fact]
    public void StreamPairsEachTokenWithTheNext()
    {
        var stream = StreamBatches.OfTokens([5, 6, 7, 8, 9], batch: 2, window: 2);
        Assert.Equal(2, stream.PartLength);
        var inputs = new double[4];
        var targets = new double[4];
        stream.CopyWindow<double>(0, inputs, targets);
        Assert.Equal([5.0, 7, 6, 8], inputs);   // [t, b]: parts start at tokens 0 and 2
        Assert.Equal([6.0, 8, 7, 9], targets);
    }

    [Fact]
    public void MetricsAreDefinedFromNats()
    {
        Assert.Equal(1.0, TextMetrics.BitsPerToken(Math.Log(2)), 12);
        Assert.Equal(4.0, TextMetrics.Perplexity(Math.Log(4)), 12);
    }

    [Fact]
    public void ModelWithZeroWeightsScoresLogV()
    {
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = 3, HiddenSize = 4, VocabularySize = 7, OutputSize = 7, Head = HeadKind.Classification,
        }, initialize: false);
        int[] tokens = [1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4];
        var result = StreamValidation.ForTokens(tokens, streams: 2).Measure(model);
        Assert.Equal(Math.Log(7), result.Loss, 6);
        Assert.Equal(10, result.Rows);
    }

    [Fact]
    public void EvaluationCarriesTheStateAcrossWindowsLikeOneForwardPass()
    {
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 4, HiddenSize = 6, VocabularySize = 5, OutputSize = 5, Head = HeadKind.Classification, Layers = 2,
        }, initialize: false);
        Initializers.PyTorchDefault(model, new Random(3));
        var random = new SplitMix64(4);
        var tokens = Enumerable.Range(0, 300).Select(_ => random.Next(5)).ToArray();
        var result = StreamValidation.ForTokens(tokens, streams: 1).Measure(model); // windows of 128 with the state carried
        Assert.Equal(299, result.Rows);

        model.ForwardTokens(tokens.AsSpan(0, 299), 299, 1);
        double whole = Losses.SoftmaxCrossEntropy<float>(model.Predictions, tokens.AsSpan(1), 5, Span<float>.Empty);
        Assert.Equal(whole, result.Loss, 5);
    }

    [Fact]
    public void TrainingWindowsCarryTheStateAcrossTheWholePass()
    {
        // With lr = 0 the weights never change, so the windows' losses, weighted by their rows, must add
        // up to the cross-entropy of one forward pass over each stream part from a zero state; this holds
        // only if every window starts from the state the previous one reached (and the pass restarts at zero).
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 3, HiddenSize = 5, VocabularySize = 6, OutputSize = 6, Head = HeadKind.Classification,
        }, initialize: false);
        Initializers.PyTorchDefault(model, new Random(5));
        var random = new SplitMix64(6);
        var tokens = Enumerable.Range(0, 200).Select(_ => random.Next(6)).ToArray();
        int batch = 2, window = 7, part = 199 / batch, windows = (part + window - 1) / window; // 99 steps: 14 windows of 7 and one of 1
        var trainer = new Trainer(model, new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0 },
            Schedule = new ScheduleSettings(), Steps = 2 * windows, BatchSize = batch, Bptt = [window, window], ValidateEvery = 1000,
        });
        var history = trainer.Run(new StreamBatchSource(StreamBatches.OfTokens(tokens, batch, window)), null, []);
        double Pass(int first) => Enumerable.Range(first, windows).Sum(i => history[i].TrainLoss * Math.Min(window, part - ((i - first) * window))) / part;

        var inputs = new int[part * batch];
        var targets = new int[part * batch];
        for (int t = 0; t < part; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                inputs[(t * batch) + b] = tokens[(b * part) + t];
                targets[(t * batch) + b] = tokens[(b * part) + t + 1];
            }
        }

        model.ForwardTokens(inputs, part, batch);
        double whole = Losses.SoftmaxCrossEntropy<float>(model.Predictions, targets, 6, Span<float>.Empty);
        Assert.Equal(whole, Pass(0), 5);
        Assert.Equal(whole, Pass(windows), 5); // the second pass starts again from zero
    }

    [Fact]
    public void LstmLearnsTheGrammarDownToNearItsEntropy()
    {
        string text = Grammar(1500, seed: 1, out double entropy);
        var corpus = TextCorpus.FromText(text, "grammar", new TextCorpusOptions());
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 16, HiddenSize = 48, VocabularySize = corpus.Vocabulary.Count, OutputSize = corpus.Vocabulary.Count,
            Head = HeadKind.Classification,
        }, initialize: false);
        Initializers.PyTorchDefault(model, new Random(1));
        var trainer = new Trainer(model, new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 },
            Steps = 250, BatchSize = 16, Bptt = [32, 32], ClipNorm = 1, ValidateEvery = 1000,
        });
        var history = trainer.Run(new StreamBatchSource(StreamBatches.OfTokens(corpus.Train, 16, 32)), StreamValidation.ForTokens(corpus.Validation), []);
        double bpc = TextMetrics.BitsPerToken(history[^1].ValidationLoss);

        // Uniform guessing costs log2(V) ~ 4.4 bits; the grammar's own entropy is ~0.21 bits per character.
        Assert.True(bpc < entropy + 0.25, $"validation {bpc:F3} bits per character; the grammar's entropy is {entropy:F3}");
        // Below the entropy by a wide margin would mean the model sees the character it predicts.
        Assert.True(bpc > entropy * 0.7, $"validation {bpc:F3} bits per character is below the grammar's entropy {entropy:F3}");

        string first = TextSampler.Sample(model, corpus.Vocabulary, "the ", 200, 0.8, seed: 5);
        Assert.Equal(first, TextSampler.Sample(model, corpus.Vocabulary, "the ", 200, 0.8, seed: 5));
        Assert.NotEqual(first, TextSampler.Sample(model, corpus.Vocabulary, "the ", 200, 0.8, seed: 6));
        Assert.StartsWith("the ", first, StringComparison.Ordinal);
        Assert.Equal(204, first.Length);
        // A learnt model writes grammatical sentences: at a low temperature nearly every complete line is in the grammar
        // (a model that had learnt only character frequencies would almost never write one).
        var lines = TextSampler.Sample(model, corpus.Vocabulary, "the ", 600, 0.5, seed: 7).Split('\n')[1..^1];
        Assert.True(lines.Length >= 15, $"{lines.Length} complete lines in 600 characters");
        int grammatical = lines.Count(line => System.Text.RegularExpressions.Regex.IsMatch(line, "^(the cat|a dog|the bird) (sees|likes|chases) (the fish|a mouse|the ball)\\.$"));
        Assert.True(grammatical >= 0.9 * lines.Length, $"{grammatical} of {lines.Length} lines are grammatical: {string.Join(" | ", lines)}");

        string greedy = TextSampler.Sample(model, corpus.Vocabulary, "a dog ", 50, 0, seed: 1);
        Assert.Equal(greedy, TextSampler.Sample(model, corpus.Vocabulary, "a dog ", 50, 0, seed: 99));
    }

    [Fact]
    public void SamplingRefusesPrimesOutsideTheVocabularyAndBadTemperatures()
    {
        var vocabulary = Vocabulary.Build(["a", "b", "\n"], TextLevel.Char);
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Rnn, InputSize = 2, HiddenSize = 3, VocabularySize = vocabulary.Count, OutputSize = vocabulary.Count, Head = HeadKind.Classification,
        }, initialize: false);
        var error = Assert.Throws<UnrollException>(() => TextSampler.Sample(model, vocabulary, "abXYX", 5, 1, 1));
        Assert.Contains("'X', 'Y'", error.Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => TextSampler.Sample(model, vocabulary, "ab", 5, -1, 1));
        Assert.Throws<UnrollException>(() => TextSampler.Sample(model, vocabulary, "ab", 5, double.NaN, 1));
        Assert.Throws<UnrollException>(() => TextSampler.Sample(model, vocabulary, "", 5, 1, 1));
        // Zero weights: every token equally likely, and <unk> is never drawn.
        string text = TextSampler.Sample(model, vocabulary, "a", 300, 1, 2);
        Assert.DoesNotContain("<unk>", text, StringComparison.Ordinal);
        Assert.Equal(301, text.Length);
    }
}
