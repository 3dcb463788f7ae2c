using System.Numerics;

namespace Unroll.Models;

/// <summary>Inference over plain arrays, one array per sequence, so a caller never lays out a time-major batch.</summary>
public sealed partial class SequenceModel<T>
{
    // Sequences run together in one forward pass: bounds the batch's memory, not the result (each sequence's outputs
    // do not depend on the others in its batch).
    private const int PredictBatch = 256;

    /// <summary>
    /// The head's outputs for one sequence of dense inputs, <paramref name="sequence"/>[t, i] (a row per step, a column per
    /// input feature, <see cref="ModelConfig.InputSize"/> columns). Returns [T, O] (a row per step) for a model that answers at
    /// every step, [1, O] for one that answers once per sequence (<see cref="Pooling.LastStep"/>). A regression head gives
    /// its values, a classifier its logits, a probabilistic head its distribution's raw parameters (see
    /// <see cref="ModelConfig.Distribution"/>). Dropout is off; the model's training mode is left as it was.
    /// </summary>
    /// <exception cref="UnrollException">The sequence has no steps, another number of features, or a value that is not finite; or the model reads token ids.</exception>
    public T[,] Predict(T[,] sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        return Predict([sequence])[0];
    }

    /// <summary>
    /// The head's outputs for each of <paramref name="sequences"/>, which may have different lengths (each as in
    /// <see cref="Predict(T[,])"/>). A sequence's outputs are what it would get alone.
    /// </summary>
    /// <exception cref="UnrollException">A sequence has no steps, another number of features, or a value that is not finite (the message names it); or the model reads token ids.</exception>
    public T[][,] Predict(IReadOnlyList<T[,]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        PredictInputs.CheckDense(Config, sequences);
        int features = Config.InputSize;
        return PredictInBatches(sequences.Count, s => sequences[s].GetLength(0), (first, count, steps, lengths) =>
        {
            var inputs = new T[steps * count * features];
            for (int b = 0; b < count; b++)
            {
                var sequence = sequences[first + b];
                for (int t = 0; t < lengths[b]; t++)
                {
                    for (int i = 0; i < features; i++)
                    {
                        inputs[(((t * count) + b) * features) + i] = sequence[t, i];
                    }
                }
            }

            Forward(inputs, steps, count, lengths: lengths);
        });
    }

    /// <summary>
    /// The head's outputs for one sequence of token ids (a model with a vocabulary, e.g. a character language model, whose
    /// outputs at step t are the logits of the token after t): [T, O], or [1, O] for <see cref="Pooling.LastStep"/>.
    /// </summary>
    /// <exception cref="UnrollException">The sequence is empty or holds an id outside the vocabulary; or the model reads dense inputs.</exception>
    public T[,] Predict(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return Predict([tokens])[0];
    }

    /// <summary>The head's outputs for each of <paramref name="sequences"/> of token ids, of any lengths (each as in <see cref="Predict(int[])"/>).</summary>
    /// <exception cref="UnrollException">A sequence is empty or holds an id outside the vocabulary (the message names it); or the model reads dense inputs.</exception>
    public T[][,] Predict(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        PredictInputs.CheckTokens(Config, sequences);
        return PredictInBatches(sequences.Count, s => sequences[s].Length, (first, count, steps, lengths) =>
        {
            var tokens = new int[steps * count];
            for (int b = 0; b < count; b++)
            {
                var sequence = sequences[first + b];
                for (int t = 0; t < lengths[b]; t++)
                {
                    tokens[(t * count) + b] = sequence[t];
                }
            }

            ForwardTokens(tokens, steps, count, lengths: lengths);
        });
    }

    // Runs the sequences PredictBatch at a time (forward fills the batch, [T, B, ...] time-major, and runs it) and cuts
    // each sequence's outputs out of the predictions: its own steps of [T, B, O], or its row of [B, O].
    private T[][,] PredictInBatches(int sequences, Func<int, int> lengthOf, Action<int, int, int, int[]> forward)
    {
        var results = new T[sequences][,];
        int outputs = Config.OutputSize;
        bool training = Training;
        Training = false;
        try
        {
            for (int first = 0; first < sequences; first += PredictBatch)
            {
                int count = Math.Min(PredictBatch, sequences - first);
                var lengths = new int[count];
                for (int b = 0; b < count; b++)
                {
                    lengths[b] = lengthOf(first + b);
                }

                int steps = lengths.Max();
                forward(first, count, steps, lengths);
                var predictions = Predictions;
                for (int b = 0; b < count; b++)
                {
                    bool perSequence = Config.Pooling == Pooling.LastStep;
                    int rows = perSequence ? 1 : lengths[b];
                    var result = new T[rows, outputs];
                    for (int t = 0; t < rows; t++)
                    {
                        var row = predictions.Slice(((perSequence ? b : (t * count) + b)) * outputs, outputs);
                        for (int o = 0; o < outputs; o++)
                        {
                            result[t, o] = row[o];
                        }
                    }

                    results[first + b] = result;
                }
            }
        }
        finally
        {
            Training = training;
        }

        return results;
    }
}

/// <summary>The checks of <c>Predict</c>'s inputs, shared by the model and the predictor: every message names the sequence.</summary>
internal static class PredictInputs
{
    /// <summary>Dense sequences, each [T, I] with T &gt;= 1 and finite values, for a model without a vocabulary.</summary>
    public static void CheckDense<T>(ModelConfig config, IReadOnlyList<T[,]> sequences)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (config.VocabularySize > 0)
        {
            throw new UnrollException($"Predict: this model reads token ids (a vocabulary of {config.VocabularySize}); expected int[] sequences of token ids.");
        }

        int features = config.InputSize;
        for (int s = 0; s < sequences.Count; s++)
        {
            var sequence = sequences[s] ?? throw new UnrollException($"Predict: sequence {s} is null; expected a [T, {features}] array.");
            if (sequence.GetLength(0) == 0 || sequence.GetLength(1) != features)
            {
                throw new UnrollException($"Predict: sequence {s} is [{sequence.GetLength(0)}, {sequence.GetLength(1)}]; expected [T, {features}] with T >= 1 (a row per step, a column per input feature).");
            }

            for (int t = 0; t < sequence.GetLength(0); t++)
            {
                for (int i = 0; i < features; i++)
                {
                    if (!T.IsFinite(sequence[t, i]))
                    {
                        throw new UnrollException($"Predict: sequence {s}, step {t}, feature {i} is {sequence[t, i]}; expected a finite number.");
                    }
                }
            }
        }

    }

    /// <summary>Token sequences, each non-empty with ids in [0, V), for a model with a vocabulary of V.</summary>
    public static void CheckTokens(ModelConfig config, IReadOnlyList<int[]> sequences)
    {
        int vocabulary = config.VocabularySize;
        if (vocabulary == 0)
        {
            throw new UnrollException($"Predict: this model reads dense inputs ({config.InputSize} features per step); expected [T, {config.InputSize}] arrays, not token ids.");
        }

        for (int s = 0; s < sequences.Count; s++)
        {
            var sequence = sequences[s] ?? throw new UnrollException($"Predict: sequence {s} is null; expected token ids.");
            if (sequence.Length == 0)
            {
                throw new UnrollException($"Predict: sequence {s} is empty; expected at least one token id.");
            }

            int bad = Array.FindIndex(sequence, token => (uint)token >= (uint)vocabulary);
            if (bad >= 0)
            {
                throw new UnrollException($"Predict: sequence {s}, step {bad} is token {sequence[bad]}; expected an id in [0, {vocabulary}).");
            }
        }

    }
}
