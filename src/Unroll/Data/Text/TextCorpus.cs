using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Training;

namespace Unroll.Data.Text;

/// <summary>How to read a text corpus.</summary>
public sealed record TextCorpusOptions
{
    /// <summary>The metadata key under which a model file records how its corpus was read.</summary>
    public const string MetadataKey = "unroll.corpus";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    }, IO.EnumNames.CamelCase, DataJsonContext.Default, DataJson.Enums);

    /// <summary>Characters or words.</summary>
    public TextLevel Level { get; init; } = TextLevel.Char;

    /// <summary>The last fraction of the tokens held out for validation, in (0, 1).</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>At most this many tokens in the vocabulary, &lt;unk&gt; included (the most frequent words kept); null for no limit.</summary>
    public int? MaxVocabulary { get; init; }

    /// <summary>Tokens seen fewer times than this in the training part are read as &lt;unk&gt;.</summary>
    public int MinCount { get; init; } = 1;

    /// <summary>Checks the options.</summary>
    /// <exception cref="UnrollException">An option is out of range.</exception>
    public void Validate()
    {
        if (!(ValidationFraction > 0 && ValidationFraction < 1))
        {
            throw new UnrollException($"validation-fraction: expected a fraction of the text in (0, 1), got {ValidationFraction}.");
        }

        if (MaxVocabulary is < 2)
        {
            throw new UnrollException($"max-vocab: expected at least 2 tokens (<unk> and one more), got {MaxVocabulary}.");
        }

        if (MinCount < 1)
        {
            throw new UnrollException($"min-count: expected at least 1, got {MinCount}.");
        }

        if (!Enum.IsDefined(Level))
        {
            throw new UnrollException($"level: expected char or word, got {(int)Level}.");
        }
    }

    /// <summary>The options as JSON, with the corpus file they were applied to.</summary>
    public string ToJson(string source) => JsonSerializer.Serialize(new Stored(source, this), IO.Json.Info<Stored>(JsonOptions));

    /// <summary>Reads what <see cref="ToJson"/> wrote: the corpus file and the options.</summary>
    /// <exception cref="UnrollException">The JSON is malformed.</exception>
    public static (string Source, TextCorpusOptions Options) FromJson(string json)
    {
        try
        {
            var stored = IO.Json.Deserialize(json, JsonOptions, new Stored(string.Empty, new TextCorpusOptions()));
            if (stored?.Options is null || stored.Source is null)
            {
                throw new UnrollException("corpus description: expected a JSON object with source and options.");
            }

            stored.Options.Validate();
            return (stored.Source, stored.Options);
        }
        catch (JsonException e)
        {
            throw new UnrollException($"corpus description: expected JSON, got invalid JSON ({e.Message}).", e);
        }
    }

    internal sealed record Stored(string Source, TextCorpusOptions Options);
}

/// <summary>
/// A text split into a training part (the first 1 - f of its tokens) and a validation part (the
/// last f), encoded with a vocabulary built from the training part alone. Tokens of either part
/// that the vocabulary lacks are read as &lt;unk&gt; and counted.
/// </summary>
public sealed class TextCorpus
{
    private TextCorpus(string source, Vocabulary vocabulary, int[] train, int[] validation, int trainUnknown, int validationUnknown)
    {
        Source = source;
        Vocabulary = vocabulary;
        Train = train;
        Validation = validation;
        TrainUnknown = trainUnknown;
        ValidationUnknown = validationUnknown;
    }

    /// <summary>The file (or name) the text came from.</summary>
    public string Source { get; }

    /// <summary>The vocabulary of the training part.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>Token ids of the training part.</summary>
    public int[] Train { get; }

    /// <summary>Token ids of the validation part.</summary>
    public int[] Validation { get; }

    /// <summary>Training tokens read as &lt;unk&gt; (only with --max-vocab or --min-count, or a literal &lt;unk&gt; word).</summary>
    public int TrainUnknown { get; }

    /// <summary>Validation tokens read as &lt;unk&gt;: characters or words the training part lacks.</summary>
    public int ValidationUnknown { get; }

    /// <summary>Reads a UTF-8 file and splits it.</summary>
    /// <exception cref="UnrollException">The file is unreadable, not UTF-8 (the byte offset is named), or too short to split.</exception>
    public static TextCorpus Load(string path, TextCorpusOptions options)
    {
        // The text as UTF-16, one token reference per character or word, the token ids and the training streams:
        // about 40 bytes per byte of the file.
        if (File.Exists(path))
        {
            MemoryBudget.Check(new FileInfo(path).Length * 40.0, $"{path}: a text of {new FileInfo(path).Length} bytes");
        }

        return FromText(Utf8Text.ReadFile(path), path, options);
    }

    /// <summary>Splits <paramref name="text"/>.</summary>
    /// <param name="text">The whole corpus.</param>
    /// <param name="source">Its name, for messages.</param>
    /// <param name="options">Level, validation fraction and vocabulary limits.</param>
    /// <exception cref="UnrollException">An option is out of range, or either part would hold fewer than two tokens.</exception>
    public static TextCorpus FromText(string text, string source, TextCorpusOptions options)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var tokens = Vocabulary.Tokenize(text, options.Level);
        int validationCount = (int)Math.Round(tokens.Count * options.ValidationFraction);
        int trainCount = tokens.Count - validationCount;
        // Each part is a stream of (token, next token) pairs, so it needs at least two tokens.
        if (trainCount < 2 || validationCount < 2)
        {
            string unit = options.Level == TextLevel.Char ? "characters" : "words";
            throw new UnrollException(
                $"{source}: holds {tokens.Count} {unit}; expected enough for at least 2 in the training part and 2 in the validation part (fraction {options.ValidationFraction}).");
        }

        var trainTokens = tokens.GetRange(0, trainCount);
        var vocabulary = Vocabulary.Build(trainTokens, options.Level, options.MaxVocabulary, options.MinCount);
        var train = vocabulary.Encode(trainTokens, out int trainUnknown);
        var validation = vocabulary.Encode(tokens.GetRange(trainCount, validationCount), out int validationUnknown);
        return new TextCorpus(source, vocabulary, train, validation, trainUnknown, validationUnknown);
    }

    /// <summary>Encodes a whole text with an existing vocabulary (evaluation on new text).</summary>
    /// <param name="text">The text.</param>
    /// <param name="vocabulary">The model's vocabulary.</param>
    /// <param name="unknown">Tokens read as &lt;unk&gt;.</param>
    public static int[] Encode(string text, Vocabulary vocabulary, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        return vocabulary.Encode(Vocabulary.Tokenize(text, vocabulary.Level), out unknown);
    }
}

/// <summary>Cross-entropy figures of a language model.</summary>
internal static class TextMetrics
{
    /// <summary>Bits per token (per character at the char level): nats / ln 2.</summary>
    public static double BitsPerToken(double nats) => nats / Math.Log(2);

    /// <summary>Perplexity: exp(nats), the effective number of equally likely next tokens.</summary>
    public static double Perplexity(double nats) => Math.Exp(nats);
}
