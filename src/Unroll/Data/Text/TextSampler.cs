using Unroll.Inference;
using Unroll.Models;
using Unroll.Tensors;

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
        if (config.CustomCell is not null || config.Cell is not (Cells.CellKind.Rnn or Cells.CellKind.Lstm or Cells.CellKind.Gru))
        {
            // The predictor runs the Elman, LSTM and GRU cells; the scan cells and cells of your own run the model itself.
            return prime + Joined(vocabulary, prime, SampleWithModel(model, ids, length, temperature, seed));
        }

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

        return prime + Joined(vocabulary, prime, generated);
    }

    // The generated tokens as text to append to the prime: words after a word prime are separated by a space.
    private static string Joined(Vocabulary vocabulary, string prime, List<int> generated) => vocabulary.Decode(generated) switch
    {
        var text when vocabulary.Level == TextLevel.Word && text.Length > 0 && !prime.EndsWith('\n') && text[0] != '\n' => " " + text,
        var text => text,
    };

    // Runs the model step by step from its own final states (the path for cells the predictor does not run).
    private static List<int> SampleWithModel(SequenceModel<float> model, int[] ids, int length, double temperature, long seed)
    {
        var config = model.Config;
        int vocabularySize = config.VocabularySize;
        var state = new float[config.Layers * config.HiddenSize];
        var cell = new float[Cells.CellKinds.HasCellState(config.Cell) ? state.Length : 0];
        var random = new SplitMix64(seed);
        var probabilities = new double[vocabularySize];
        var generated = new List<int>(length);
        model.Training = false;
        model.ForwardTokens(ids, ids.Length, 1, state, default, cell);
        for (int i = 0; i < length; i++)
        {
            var logits = model.Predictions.Slice(model.Predictions.Length - vocabularySize, vocabularySize);
            int next = temperature == 0 ? Greedy(logits) : Draw(logits, temperature, probabilities, random);
            generated.Add(next);
            model.FinalState.CopyTo(state);
            model.FinalCell.CopyTo(cell);
            model.ForwardTokens([next], 1, 1, state, default, cell);
        }

        return generated;
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

    private static int Greedy(ReadOnlySpan<float> logits)
    {
        int best = -1;
        for (int j = 0; j < logits.Length; j++)
        {
            if (j != Vocabulary.UnknownId && (best < 0 || logits[j] > logits[best]))
            {
                best = j;
            }
        }

        return best;
    }

    // Inverse-CDF draw from softmax(z / temperature) without <unk>, in double, max subtracted.
    private static int Draw(ReadOnlySpan<float> logits, double temperature, double[] probabilities, SplitMix64 random)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < logits.Length; j++)
        {
            if (j != Vocabulary.UnknownId)
            {
                max = Math.Max(max, logits[j] / temperature);
            }
        }

        double total = 0;
        for (int j = 0; j < logits.Length; j++)
        {
            probabilities[j] = j == Vocabulary.UnknownId ? 0 : Math.Exp((logits[j] / temperature) - max);
            total += probabilities[j];
        }

        double u = random.NextDouble() * total;
        int last = -1;
        for (int j = 0; j < logits.Length; j++)
        {
            if (probabilities[j] == 0)
            {
                continue;
            }

            last = j;
            u -= probabilities[j];
            if (u < 0)
            {
                return j;
            }
        }

        return last;
    }
}
