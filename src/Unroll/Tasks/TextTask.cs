using System.Globalization;
using Unroll.Data;
using Unroll.Data.Text;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// Language modelling on a UTF-8 text file at character or word level (docs/data.md): the training part
/// is read as B contiguous streams window by window with the state carried (stateful truncated BPTT), the
/// last fraction is the validation part, scored in nats, bits and perplexity per token beside a unigram model.
/// </summary>
internal sealed class TextTask : TrainingTask
{
    /// <summary>K when no --bptt is given: 50 steps, char-rnn's seq_length.</summary>
    public const int DefaultWindow = Trainer.DefaultTokenWindow;

    /// <summary>The default embedding width.</summary>
    public const int DefaultEmbedding = 64;

    private TextCorpus? _corpus;

    /// <summary>A task over <paramref name="source"/> read with <paramref name="options"/>; the vocabulary is built from the file when null.</summary>
    public TextTask(string source, TextCorpusOptions options, Vocabulary? vocabulary = null, string? fingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Source = source;
        Options = options;
        Fingerprint = fingerprint;
        if (vocabulary is null)
        {
            // A new run: read the file now, so its errors come before anything is written.
            _corpus = TextCorpus.Load(source, options);
            vocabulary = _corpus.Vocabulary;
            Fingerprint = DataFingerprint.Of(source);
        }

        Vocabulary = vocabulary;
    }

    /// <summary>The text file's full path.</summary>
    public string Source { get; }

    /// <summary>How the file is tokenised and split.</summary>
    public TextCorpusOptions Options { get; }

    /// <summary>The model's vocabulary.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>The SHA-256 of the file the model was trained on (null for models from before it was recorded).</summary>
    public string? Fingerprint { get; }

    /// <inheritdoc/>
    public override string Name => "text";

    /// <summary>"character" or "word".</summary>
    public string Unit => Vocabulary.Level == TextLevel.Char ? "character" : "word";

    /// <summary>The corpus, read (and checked against the model's vocabulary) on first use.</summary>
    public TextCorpus Corpus
    {
        get
        {
            if (_corpus is null)
            {
                if (!File.Exists(Source))
                {
                    throw new UnrollException($"the training text '{Source}' no longer exists; pass --input FILE to score another text file.");
                }

                var corpus = TextCorpus.Load(Source, Options);
                if (!corpus.Vocabulary.Tokens.SequenceEqual(Vocabulary.Tokens))
                {
                    throw new UnrollException($"{Source}: its training part no longer gives the model's vocabulary (the file changed since training); pass --input FILE to score a text file.");
                }

                _corpus = corpus;
            }

            return _corpus;
        }
    }

    /// <summary>Rebuilds the task from a model file's metadata.</summary>
    /// <exception cref="UnrollException">The vocabulary or the corpus description is malformed.</exception>
    public static TextTask FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var vocabulary = Vocabulary.FromJson(metadata[Vocabulary.MetadataKey]);
        var (source, options) = metadata.TryGetValue(TextCorpusOptions.MetadataKey, out var corpus)
            ? TextCorpusOptions.FromJson(corpus)
            : (string.Empty, new TextCorpusOptions { Level = vocabulary.Level });
        return new TextTask(source, options, vocabulary, metadata.GetValueOrDefault(DataFingerprint.MetadataKey));
    }

    /// <inheritdoc/>
    public override string Describe()
    {
        if (_corpus is not { } corpus)
        {
            return $"{Unit}-level text from {Source} with a vocabulary of {Vocabulary.Count} tokens";
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"{Source}: {corpus.Train.Length + corpus.Validation.Length} {Unit}s, vocabulary of {Vocabulary.Count} tokens (with {Vocabulary.UnknownToken}); training {corpus.Train.Length}, validation {corpus.Validation.Length} {Unit}s ({corpus.TrainUnknown} and {corpus.ValidationUnknown} read as {Vocabulary.UnknownToken})");
    }

    /// <inheritdoc/>
    protected override ModelConfig Shape => new()
    {
        InputSize = DefaultEmbedding,
        VocabularySize = Vocabulary.Count,
        OutputSize = Vocabulary.Count,
        Head = HeadKind.Classification,
    };

    /// <inheritdoc/>
    public override bool AllowsBidirectional => false;

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [Vocabulary.MetadataKey] = Vocabulary.ToJson(),
                [TextCorpusOptions.MetadataKey] = Options.ToJson(Source),
            };
            if (Fingerprint is not null)
            {
                metadata[DataFingerprint.MetadataKey] = Fingerprint;
            }

            return metadata;
        }
    }

    /// <inheritdoc/>
    public override void CheckUnchanged() => DataFingerprint.Check(Source, Fingerprint, Source);

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var train = Corpus.Train;
        if (train.Length - 1 < options.BatchSize)
        {
            throw new UnrollException($"--batch-size: the training part has {train.Length} {Unit}s; expected a batch size of at most {train.Length - 1} parallel streams.");
        }

        return new StreamBatchSource(StreamBatches.OfTokens(train, options.BatchSize, options.Bptt?[0] ?? DefaultWindow));
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options) => Corpus.Validation.Length < 2 ? null : StreamValidation.ForTokens(Corpus.Validation);

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, input: false);
        var (tokens, unknown, what) = Scored(options);
        var result = StreamValidation.ForTokens(tokens).Measure(model);
        double unigram = UnigramNats(tokens);
        return new Evaluation
        {
            Task = Name,
            Split = string.IsNullOrEmpty(options.Input) ? "validation" : "input",
            Data = string.Create(CultureInfo.InvariantCulture, $"{what}: {result.Rows} predicted {Unit}s ({unknown} read as {Vocabulary.UnknownToken})"),
            Summary = new EvaluationTable($"Cross-entropy per {Unit}", ["nats", "bits", "perplexity"],
            [
                new("model", [result.Loss, TextMetrics.BitsPerToken(result.Loss), TextMetrics.Perplexity(result.Loss)]),
                new("unigram (training frequencies)", [unigram, TextMetrics.BitsPerToken(unigram), TextMetrics.Perplexity(unigram)]),
            ]),
            Figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["nats"] = result.Loss,
                ["bits_per_token"] = TextMetrics.BitsPerToken(result.Loss),
                ["perplexity"] = TextMetrics.Perplexity(result.Loss),
                ["tokens"] = result.Rows,
                ["unknown"] = unknown,
                ["unigram_nats"] = unigram,
            },
        };
    }

    /// <inheritdoc/>
    public override DiagnosisSample Sample(int sequences, EvaluationOptions options)
    {
        if (sequences < 1)
        {
            throw new UnrollException($"--sequences: expected at least 1, got {sequences}.");
        }

        Refuse(options, input: false);
        var (tokens, _, what) = Scored(options);
        int streams = Math.Max(1, Math.Min(sequences, tokens.Length - 1));
        var stream = StreamBatches.OfTokens(tokens, streams, Math.Min(100, (tokens.Length - 1) / streams));
        int steps = stream.WindowLength(0);
        var inputs = new float[steps * streams];
        var targets = new float[steps * streams];
        stream.CopyWindow<float>(0, inputs, targets);
        return new DiagnosisSample(inputs, targets, steps, streams, string.Create(CultureInfo.InvariantCulture, $"{streams} windows of {steps} {Unit}s from {what}"));
    }

    private (int[] Tokens, int Unknown, string What) Scored(EvaluationOptions options)
    {
        int[] tokens;
        int unknown;
        string what;
        if (!string.IsNullOrEmpty(options.Input))
        {
            tokens = TextCorpus.Encode(Utf8Text.ReadFile(options.Input), Vocabulary, out unknown);
            what = options.Input;
        }
        else
        {
            tokens = Corpus.Validation;
            unknown = Corpus.ValidationUnknown;
            what = $"the validation part of {Source}";
        }

        return tokens.Length >= 2 ? (tokens, unknown, what) : throw new UnrollException($"{what}: expected at least 2 {Unit}s to score, got {tokens.Length}.");
    }

    // The cross-entropy of predicting every token from the training part's token frequencies alone
    // (add-one smoothed, so a token unseen in training still has a probability): the memoryless baseline.
    private double UnigramNats(int[] scored)
    {
        var counts = new double[Vocabulary.Count];
        int[] train = _corpus?.Train ?? (File.Exists(Source) ? Corpus.Train : []);
        foreach (int token in train)
        {
            counts[token]++;
        }

        double total = train.Length + counts.Length, sum = 0;
        for (int t = 1; t < scored.Length; t++)
        {
            sum -= Math.Log((counts[scored[t]] + 1) / total);
        }

        return sum / (scored.Length - 1);
    }
}
