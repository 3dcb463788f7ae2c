using Unroll.Models;
using Unroll.Inference;

namespace Unroll.Data.Text;

/// <summary>
/// Generates text from a language model: the prime is read token by token to set the state, then
/// each next token is drawn from softmax(logits / temperature), fed back, and so on. With
/// temperature 0 the most likely token is taken every time (greedy; ties go to the lower id).
/// &lt;unk&gt; is never drawn: its probability is set to zero and the others renormalised. The model runs in a
/// <see cref="Predictor{T}"/> session, which draws with <see cref="Predictor{T}.Sample"/>.
/// </summary>
public static class TextSampler
{
    /// <summary>Generates <paramref name="length"/> tokens after <paramref name="prime"/>.</summary>
    /// <param name="model">A token model with a per-step classification head over <paramref name="vocabulary"/>.</param>
    /// <param name="vocabulary">The model's vocabulary.</param>
    /// <param name="prime">The text to start from; every character (or word) must be in the vocabulary.</param>
    /// <param name="length">Tokens to generate, at least 0.</param>
    /// <param name="temperature">&gt; 0 to sample (lower: more conservative), or 0 for greedy decoding.</param>
    /// <param name="seed">Seeds the draws (SplitMix64): the same seed gives the same text.</param>
    /// <returns>The prime followed by the generated text.</returns>
    /// <exception cref="UnrollException">The prime is empty or holds tokens outside the vocabulary (listed), or an argument is out of range.</exception>
    public static string Sample(SequenceModel<float> model, Vocabulary vocabulary, string prime, int length, double temperature, long seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(prime);
        var config = model.Config;
        if (config.VocabularySize != vocabulary.Count || config.OutputSize != vocabulary.Count || config.Head != HeadKind.Classification
            || config.Pooling != Pooling.EveryStep || config.Bidirectional)
        {
            throw new UnrollException(
                $"sample: expected a unidirectional text model over a vocabulary of {vocabulary.Count} tokens, got vocabulary {config.VocabularySize}, outputs {config.OutputSize}, head {config.Head}.");
        }

        if (length < 0)
        {
            throw new UnrollException($"--length: expected a number of tokens >= 0, got {length}.");
        }

        if (!(temperature >= 0) || double.IsInfinity(temperature))
        {
            throw new UnrollException($"--temperature: expected a temperature > 0 (or 0 for greedy decoding), got {temperature}.");
        }

        var primeTokens = Vocabulary.Tokenize(prime, vocabulary.Level);
        if (primeTokens.Count == 0)
        {
            throw new UnrollException("--prime: expected at least one character or word to start from, got none.");
        }

        var missing = primeTokens.Where(t => !vocabulary.TryGetId(t, out int id) || id == Vocabulary.UnknownId).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            string unit = vocabulary.Level == TextLevel.Char ? "characters" : "words";
            throw new UnrollException(
                $"--prime: the {unit} {string.Join(", ", missing.Select(Show))} are not in the model's vocabulary of {vocabulary.Count} tokens; expected a prime made of tokens seen in training.");
        }

        var ids = vocabulary.Encode(primeTokens, out _);
        int vocabularySize = vocabulary.Count;
        // A session of one stream carries the state; it reads the prime in one chunk, then one token per step.
        var session = new Predictor<float>(model).CreateSession(1, seed);
        var primeLogits = new float[ids.Length * vocabularySize];
        session.Run(ids, ids.Length, primeLogits);
        var logits = primeLogits.AsSpan((ids.Length - 1) * vocabularySize, vocabularySize).ToArray();
        var next = new int[1];
        var generated = new List<int>(length);
        for (int i = 0; i < length; i++)
        {
            session.Sample(logits, temperature, next, excludedToken: Vocabulary.UnknownId);
            generated.Add(next[0]);
            if (i < length - 1)
            {
                session.Step(next, logits);
            }
        }

        return prime + vocabulary.Decode(generated) switch
        {
            var text when vocabulary.Level == TextLevel.Word && text.Length > 0 && !prime.EndsWith('\n') && text[0] != '\n' => " " + text,
            var text => text,
        };
    }

    /// <summary>A token as shown in messages: quoted, with control characters escaped.</summary>
    public static string Show(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var text = new System.Text.StringBuilder("'");
        foreach (var rune in token.EnumerateRunes())
        {
            if (System.Text.Rune.IsControl(rune))
            {
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{rune.Value:X4}");
            }
            else
            {
                text.Append(rune.ToString());
            }
        }

        return text.Append('\'').ToString();
    }
}
