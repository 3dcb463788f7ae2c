using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Unroll.Data.Text;

/// <summary>What a text model reads and predicts: characters or words.</summary>
public enum TextLevel
{
    /// <summary>Every Unicode scalar value (code point) is a token; line ends are the character '\n'.</summary>
    Char,

    /// <summary>
    /// Whitespace-separated words; every line end becomes the token <c>&lt;eos&gt;</c>, as in
    /// PyTorch's word_language_model example.
    /// </summary>
    Word,
}

/// <summary>
/// The tokens of a text model, id 0 being <c>&lt;unk&gt;</c>: every character or word that is not
/// in the vocabulary is read as it (and counted). Built from the training part of a corpus and
/// stored in the model file's metadata (<see cref="MetadataKey"/>) so sampling and evaluation
/// read text exactly as training did.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>The metadata key of the vocabulary in a model file.</summary>
    public const string MetadataKey = "unroll.text";

    /// <summary>The token every out-of-vocabulary character or word is read as (id 0).</summary>
    public const string UnknownToken = "<unk>";

    /// <summary>The word-level token for a line end.</summary>
    public const string EndOfLineToken = "<eos>";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    }, IO.EnumNames.CamelCase, DataJsonContext.Default, DataJson.Enums);

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;

    /// <summary>A vocabulary of the given tokens; <paramref name="tokens"/>[0] must be <see cref="UnknownToken"/>.</summary>
    /// <exception cref="UnrollException">The first token is not &lt;unk&gt;, a token is empty, or a token appears twice.</exception>
    public Vocabulary(TextLevel level, IReadOnlyList<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (!Enum.IsDefined(level))
        {
            throw new UnrollException($"vocabulary: expected the level char or word, got {(int)level}.");
        }

        if (tokens.Count < 1 || tokens[0] != UnknownToken)
        {
            throw new UnrollException($"vocabulary: expected '{UnknownToken}' as token 0, got {(tokens.Count == 0 ? "no tokens" : $"'{tokens[0]}'")}.");
        }

        _tokens = [.. tokens];
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _tokens.Length; i++)
        {
            if (string.IsNullOrEmpty(_tokens[i]))
            {
                throw new UnrollException($"vocabulary: token {i} is empty; expected a character or a word.");
            }

            if (!_ids.TryAdd(_tokens[i], i))
            {
                throw new UnrollException($"vocabulary: token '{_tokens[i]}' appears twice (ids {_ids[_tokens[i]]} and {i}); expected distinct tokens.");
            }
        }

        Level = level;
    }

    /// <summary>Characters or words.</summary>
    public TextLevel Level { get; }

    /// <summary>The tokens by id; id 0 is &lt;unk&gt;.</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>V, the number of tokens including &lt;unk&gt;.</summary>
    public int Count => _tokens.Length;

    /// <summary>The id of &lt;unk&gt;.</summary>
    public static int UnknownId => 0;

    /// <summary>The id of <paramref name="token"/>, or false when it is not in the vocabulary.</summary>
    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    /// <summary>Splits text into tokens: Unicode scalar values, or whitespace-separated words with <c>&lt;eos&gt;</c> at every line end.</summary>
    public static List<string> Tokenize(string text, TextLevel level)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (level == TextLevel.Char)
        {
            return Utf8Text.Characters(text);
        }

        var words = new List<string>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            foreach (var word in lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            {
                if (!seen.TryGetValue(word, out var shared))
                {
                    shared = word;
                    seen[word] = word;
                }

                words.Add(shared);
            }

            // Every '\n' ends a line; text after the last '\n' is a last line without one.
            if (i < lines.Length - 1)
            {
                words.Add(EndOfLineToken);
            }
        }

        return words;
    }

    /// <summary>
    /// Builds the vocabulary of <paramref name="tokens"/>: &lt;unk&gt; first, then characters in
    /// code-point order, or words by decreasing count (ties in ordinal order), keeping at most
    /// <paramref name="maxSize"/> tokens (with &lt;unk&gt;) and only those seen at least
    /// <paramref name="minCount"/> times.
    /// </summary>
    public static Vocabulary Build(IEnumerable<string> tokens, TextLevel level, int? maxSize = null, int minCount = 1)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (maxSize is < 2)
        {
            throw new UnrollException($"max-vocab: expected at least 2 tokens (<unk> and one more), got {maxSize}.");
        }

        if (minCount < 1)
        {
            throw new UnrollException($"min-count: expected at least 1, got {minCount}.");
        }

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in tokens)
        {
            if (token != UnknownToken)
            {
                counts[token] = counts.GetValueOrDefault(token) + 1;
            }
        }

        var kept = counts.Where(pair => pair.Value >= minCount);
        var ordered = level == TextLevel.Char
            ? kept.OrderBy(pair => char.ConvertToUtf32(pair.Key, 0)).Select(pair => pair.Key)
            : kept.OrderByDescending(pair => pair.Value).ThenBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => pair.Key);
        var list = new List<string> { UnknownToken };
        list.AddRange(maxSize is { } max ? ordered.Take(max - 1) : ordered);
        return new Vocabulary(level, list);
    }

    /// <summary>Token ids of <paramref name="tokens"/>; tokens not in the vocabulary become &lt;unk&gt; and are counted.</summary>
    /// <param name="tokens">The tokens.</param>
    /// <param name="unknown">How many tokens were read as &lt;unk&gt; (a literal &lt;unk&gt; word included).</param>
    public int[] Encode(IReadOnlyList<string> tokens, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var ids = new int[tokens.Count];
        unknown = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            if (!_ids.TryGetValue(tokens[i], out ids[i]))
            {
                ids[i] = UnknownId;
            }

            if (ids[i] == UnknownId)
            {
                unknown++;
            }
        }

        return ids;
    }

    /// <summary>The text of token ids: characters concatenated, or words joined by spaces with &lt;eos&gt; as a line end.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        bool lineStart = true;
        foreach (int id in ids)
        {
            string token = _tokens[id];
            if (Level == TextLevel.Char)
            {
                text.Append(token);
            }
            else if (token == EndOfLineToken)
            {
                text.Append('\n');
                lineStart = true;
            }
            else
            {
                if (!lineStart)
                {
                    text.Append(' ');
                }

                text.Append(token);
                lineStart = false;
            }
        }

        return text.ToString();
    }

    /// <summary>The vocabulary as JSON: <c>{"level":"char","tokens":["&lt;unk&gt;","\n"," ",...]}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new StoredVocabulary(Level, _tokens), IO.Json.Info<StoredVocabulary>(JsonOptions));

    /// <summary>Reads a vocabulary written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or describes an invalid vocabulary.</exception>
    public static Vocabulary FromJson(string json)
    {
        try
        {
            var stored = JsonSerializer.Deserialize(json, IO.Json.Info<StoredVocabulary>(JsonOptions))
                ?? throw new UnrollException("vocabulary: expected a JSON object, got null.");
            return new Vocabulary(stored.Level, stored.Tokens ?? []);
        }
        catch (JsonException e)
        {
            throw new UnrollException($"vocabulary: expected the JSON of a vocabulary, got invalid JSON ({e.Message}).", e);
        }
    }

    internal sealed record StoredVocabulary(TextLevel Level, string[]? Tokens);
}
