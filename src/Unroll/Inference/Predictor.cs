using System.Numerics;
using Unroll.Cells;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Inference;

/// <summary>
/// Inference for a trained Elman, LSTM or GRU <see cref="SequenceModel{T}"/>, apart from the model: stateless batch
/// prediction (<see cref="Predict(T[,])"/> and its overloads, any number of sequences of any lengths, dense or token
/// ids), and streaming sessions (<see cref="CreateSession"/>) that carry each stream's state (h, and c for the LSTM)
/// from one call to the next, a step or a chunk of steps at a time.
/// </summary>
/// <remarks>
/// <para>
/// The predictor copies the model's weights when it is made (later changes to the model are not seen) and never
/// touches the model's training buffers. The weights are read-only afterwards, so one predictor may be shared by any
/// number of threads: <c>Predict</c> is thread-safe on every instance. A session is a predictor that owns the state
/// and buffers of its streams; its <c>Step</c>, <c>Run</c> and <c>Sample</c> calls must come from one thread at a time
/// (make one session per thread), and after the first call of a given size they allocate nothing.
/// </para>
/// <para>
/// At batch 1 (a step of one stream) the products are matrix-vector products over weights packed for them, the
/// gate math is one pass per gate block, and a token's input projection is one row of a table computed once
/// (E W_ih^T + b); larger batches run the library's GEMM. Outputs agree with <see cref="SequenceModel{T}.Forward"/>
/// up to the order of summation (about 1e-6 in float).
/// </para>
/// </remarks>
/// <typeparam name="T">float, or double.</typeparam>
public sealed class Predictor<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // Sequences of one stateless call run together at most this many at a time, and at most this many pre-activation
    // values per batch (steps * sequences * G H: 64 MB in float), so a long input never asks for one huge buffer.
    private const int MaxBatch = 256;
    private const long MaxBatchValues = 1L << 24;

    private readonly InferenceWeights<T> _weights;
    private readonly InferenceWorkspace<T>? _workspace;
    private readonly T[] _state = [];
    private readonly T[] _cell = [];
    private readonly double[] _probabilities = [];
    private readonly SplitMix64? _random;

    /// <summary>Makes a predictor from <paramref name="model"/>'s current weights.</summary>
    /// <exception cref="UnrollException">The model's cell is not rnn, lstm or gru (the scan cells LRU, minGRU and minLSTM run through <see cref="SequenceModel{T}.Predict(T[,])"/>).</exception>
    public Predictor(SequenceModel<T> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _weights = new InferenceWeights<T>(model.Config, model.Parameters);
    }

    private Predictor(InferenceWeights<T> weights, int streams, long seed)
    {
        _weights = weights;
        Streams = streams;
        _workspace = new InferenceWorkspace<T>();
        _workspace.Ensure(weights, 1, streams);
        int length = weights.Config.Layers * streams * weights.Hidden;
        _state = new T[length];
        _cell = new T[weights.Cell == CellKind.Lstm ? length : 0];
        _probabilities = new double[weights.Config.OutputSize];
        _random = new SplitMix64(seed);
    }

    /// <summary>The model's architecture and sizes.</summary>
    public ModelConfig Config => _weights.Config;

    /// <summary>The streams of a session; 0 for a predictor made from a model (which predicts, but does not stream).</summary>
    public int Streams { get; }

    /// <summary>A session's hidden states, [L, S, H] (layer-major, then stream): read them, or write them to start from a given state.</summary>
    public Span<T> Hidden => _state;

    /// <summary>A session's LSTM cell states, [L, S, H]; empty for other cells.</summary>
    public Span<T> Cell => _cell;

    /// <summary>Reads a model file (<see cref="ModelFile.Save{T}"/>) and makes its predictor.</summary>
    /// <exception cref="UnrollException">The file cannot be read, or holds a model the predictor does not run.</exception>
    public static Predictor<T> Load(string path)
    {
        var loaded = ModelFile.Load<T>(path);
        return loaded.Model is SequenceModel<T> model
            ? new Predictor<T>(model)
            : throw new UnrollException($"{path}: the predictor expected an rnn, lstm or gru model, got {loaded.Model.Config.CustomCell ?? loaded.Model.Config.Architecture.Name()} (run it with its own Step).");
    }

    /// <summary>
    /// Starts a session of <paramref name="streams"/> independent streams (all states zero), sharing this predictor's
    /// weights; <paramref name="seed"/> seeds its <see cref="Sample"/> draws.
    /// </summary>
    /// <exception cref="UnrollException">streams is below 1, or the model is bidirectional (its backward direction needs the whole sequence).</exception>
    public Predictor<T> CreateSession(int streams = 1, long seed = 0)
    {
        if (streams < 1)
        {
            throw new UnrollException($"session: expected at least 1 stream, got {streams}.");
        }

        if (Config.Bidirectional)
        {
            throw new UnrollException("session: expected a unidirectional model, got a bidirectional one (its backward direction reads the whole sequence; use Predict).");
        }

        // The states, and a step's pre-activations, layer outputs and outputs.
        double values = (2.0 * Config.Layers * streams * Config.HiddenSize) + ((double)streams * ((3.0 * _weights.Gates) + (3.0 * _weights.Width) + Config.OutputSize));
        MemoryBudget.Check(values * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), $"session: {streams} streams");
        return new Predictor<T>(_weights, streams, seed);
    }

    /// <summary>Sets every stream's state back to zero.</summary>
    /// <exception cref="UnrollException">This is not a session.</exception>
    public void Reset()
    {
        RequireSession();
        Array.Clear(_state);
        Array.Clear(_cell);
    }

    /// <summary>Sets one stream's state back to zero (a new sequence starts on it).</summary>
    /// <exception cref="UnrollException">The stream is not one of the session's.</exception>
    public void Reset(int stream)
    {
        RequireSession();
        if ((uint)stream >= (uint)Streams)
        {
            throw new UnrollException($"session: expected a stream in [0, {Streams}), got {stream}.");
        }

        int hidden = Config.HiddenSize;
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            int at = ((layer * Streams) + stream) * hidden;
            _state.AsSpan(at, hidden).Clear();
            if (_cell.Length > 0)
            {
                _cell.AsSpan(at, hidden).Clear();
            }
        }
    }

    /// <summary>
    /// One step of every stream: <paramref name="inputs"/> [S, I] (a row per stream) in, the head's outputs [S, O] out
    /// (for a model trained with <see cref="Pooling.LastStep"/>, what it would answer if the sequence ended here).
    /// </summary>
    /// <exception cref="UnrollException">This is not a session, a length does not fit, or the model reads token ids.</exception>
    public void Step(ReadOnlySpan<T> inputs, Span<T> outputs) => Run(inputs, 1, outputs);

    /// <summary>One step of every stream for a token model: <paramref name="tokens"/> [S] in, outputs (logits of the next token) [S, O] out.</summary>
    /// <exception cref="UnrollException">This is not a session, a length does not fit, an id is outside the vocabulary, or the model reads dense inputs.</exception>
    public void Step(ReadOnlySpan<int> tokens, Span<T> outputs) => Run(tokens, 1, outputs);

    /// <summary>
    /// <paramref name="steps"/> steps of every stream: <paramref name="inputs"/> [T, S, I] time-major in, outputs [T, S, O] out;
    /// the states carry on to the next call.
    /// </summary>
    /// <exception cref="UnrollException">This is not a session, a length does not fit, a value is not finite, or the model reads token ids.</exception>
    public void Run(ReadOnlySpan<T> inputs, int steps, Span<T> outputs)
    {
        RequireSession();
        if (Config.VocabularySize > 0)
        {
            throw new UnrollException($"session: this model reads token ids (a vocabulary of {Config.VocabularySize}); expected token ids, not dense inputs.");
        }

        CheckChunk(steps, inputs.Length, Config.InputSize, "inputs", "I", outputs.Length);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!T.IsFinite(inputs[i]))
            {
                throw new UnrollException($"session: input {i} is {inputs[i]}; expected a finite number.");
            }
        }

        RunSession(inputs, default, steps, outputs);
    }

    /// <summary><paramref name="steps"/> steps of every stream of a token model: <paramref name="tokens"/> [T, S] in, outputs [T, S, O] out.</summary>
    /// <exception cref="UnrollException">This is not a session, a length does not fit, an id is outside the vocabulary, or the model reads dense inputs.</exception>
    public void Run(ReadOnlySpan<int> tokens, int steps, Span<T> outputs)
    {
        RequireSession();
        if (Config.VocabularySize == 0)
        {
            throw new UnrollException($"session: this model reads dense inputs ({Config.InputSize} per step); expected values, not token ids.");
        }

        CheckChunk(steps, tokens.Length, 1, "token ids", "1", outputs.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)Config.VocabularySize)
            {
                throw new UnrollException($"session: token {i} is {tokens[i]}; expected an id in [0, {Config.VocabularySize}).");
            }
        }

        RunSession(default, tokens, steps, outputs);
    }

    /// <summary>
    /// Draws one token per stream from softmax(<paramref name="logits"/> / temperature) ([S, V] in, [S] out) with the
    /// session's seeded generator (SplitMix64, inverse CDF in double): the same seed and logits give the same tokens.
    /// Temperature 0 takes the most likely token (ties to the lower id). <paramref name="excludedToken"/> (e.g. an
    /// unknown-token id) is never drawn; -1 excludes none.
    /// </summary>
    /// <exception cref="UnrollException">This is not a session, a length does not fit, or the temperature is negative or not finite.</exception>
    public void Sample(ReadOnlySpan<T> logits, double temperature, Span<int> tokens, int excludedToken = -1)
    {
        RequireSession();
        int classes = Config.OutputSize;
        if (logits.Length != Streams * classes || tokens.Length != Streams)
        {
            throw new UnrollException($"sample: expected logits [S={Streams}, O={classes}] and {Streams} tokens, got {logits.Length} logits and {tokens.Length} tokens.");
        }

        if (!(temperature >= 0) || double.IsInfinity(temperature))
        {
            throw new UnrollException($"sample: expected a temperature > 0 (or 0 for greedy decoding), got {temperature}.");
        }

        for (int s = 0; s < Streams; s++)
        {
            var row = logits.Slice(s * classes, classes);
            tokens[s] = temperature == 0 ? Greedy(row, excludedToken) : Draw(row, temperature, excludedToken);
        }
    }

    /// <summary>
    /// The head's outputs for one sequence of dense inputs, <paramref name="sequence"/>[t, i]: [T, O] (a row per step),
    /// or [1, O] for a model that answers once per sequence (<see cref="Pooling.LastStep"/>); as
    /// <see cref="SequenceModel{T}.Predict(T[,])"/> gives them.
    /// </summary>
    /// <exception cref="UnrollException">The sequence has no steps, another number of features, or a value that is not finite; or the model reads token ids.</exception>
    public T[,] Predict(T[,] sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        return Predict([sequence])[0];
    }

    /// <summary>The head's outputs for each of <paramref name="sequences"/>, of any lengths (each as <see cref="Predict(T[,])"/>, and what it would get alone).</summary>
    /// <exception cref="UnrollException">A sequence has no steps, another number of features, or a value that is not finite (the message names it); or the model reads token ids.</exception>
    public T[][,] Predict(IReadOnlyList<T[,]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        PredictInputs.CheckDense(Config, sequences);
        int features = Config.InputSize;
        return PredictInBatches(sequences.Count, s => sequences[s].GetLength(0), (order, steps, batch, lengths, workspace, state, cell) =>
        {
            var inputs = new T[steps * batch * features];
            for (int b = 0; b < batch; b++)
            {
                var sequence = sequences[order[b]];
                for (int t = 0; t < lengths[b]; t++)
                {
                    for (int i = 0; i < features; i++)
                    {
                        inputs[(((t * batch) + b) * features) + i] = sequence[t, i];
                    }
                }
            }

            InferenceEngine.RunLayers(_weights, workspace, inputs, default, steps, batch, lengths, state, cell);
        });
    }

    /// <summary>The head's outputs for one sequence of token ids: [T, O] (logits of the next token at every step), or [1, O] for <see cref="Pooling.LastStep"/>.</summary>
    /// <exception cref="UnrollException">The sequence is empty or holds an id outside the vocabulary; or the model reads dense inputs.</exception>
    public T[,] Predict(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return Predict([tokens])[0];
    }

    /// <summary>The head's outputs for each of <paramref name="sequences"/> of token ids, of any lengths (each as <see cref="Predict(int[])"/>).</summary>
    /// <exception cref="UnrollException">A sequence is empty or holds an id outside the vocabulary (the message names it); or the model reads dense inputs.</exception>
    public T[][,] Predict(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        PredictInputs.CheckTokens(Config, sequences);
        return PredictInBatches(sequences.Count, s => sequences[s].Length, (order, steps, batch, lengths, workspace, state, cell) =>
        {
            var tokens = new int[steps * batch];
            for (int b = 0; b < batch; b++)
            {
                var sequence = sequences[order[b]];
                for (int t = 0; t < lengths[b]; t++)
                {
                    tokens[(t * batch) + b] = sequence[t];
                }
            }

            InferenceEngine.RunLayers(_weights, workspace, default, tokens, steps, batch, lengths, state, cell);
        });
    }

    private delegate void BatchRunner(int[] order, int steps, int batch, int[] lengths, InferenceWorkspace<T> workspace, T[] state, T[] cell);

    // Sorts the sequences longest first (the engine's active rows are then a prefix at every step), runs them in batches
    // of similar lengths with a workspace of this call's own, and cuts each sequence's outputs out of the batch.
    private T[][,] PredictInBatches(int count, Func<int, int> lengthOf, BatchRunner run)
    {
        var results = new T[count][,];
        var order = Enumerable.Range(0, count).OrderByDescending(lengthOf).ToArray();
        var workspace = new InferenceWorkspace<T>();
        int outputs = Config.OutputSize, width = _weights.Width, hidden = Config.HiddenSize;
        bool perSequence = Config.Pooling == Pooling.LastStep;
        for (int first = 0; first < count;)
        {
            int steps = lengthOf(order[first]);
            int batch = (int)Math.Clamp(MaxBatchValues / ((long)steps * _weights.Gates), 1, Math.Min(MaxBatch, count - first));
            var batchOrder = order.AsSpan(first, batch).ToArray();
            var lengths = batchOrder.Select(lengthOf).ToArray();
            MemoryBudget.Check(3.0 * steps * batch * Math.Max(_weights.Gates, width) * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), $"predict: {batch} sequences of up to {steps} steps");
            workspace.Ensure(_weights, steps, batch);
            int stateLength = Config.Layers * _weights.Directions * batch * hidden;
            var state = new T[stateLength];
            var cell = new T[_weights.Cell == CellKind.Lstm ? stateLength : 0];
            run(batchOrder, steps, batch, lengths, workspace, state, cell);
            var layerOutput = workspace.LayerOutput.AsSpan(0, steps * batch * width);
            var predictions = workspace.Outputs.AsSpan(0, (perSequence ? batch : steps * batch) * outputs);
            if (perSequence)
            {
                // Many-to-one: the forward half from each sequence's own last step, the backward half from t = 0.
                var pooled = workspace.Pooled.AsSpan(0, batch * width);
                for (int b = 0; b < batch; b++)
                {
                    layerOutput.Slice((((lengths[b] - 1) * batch) + b) * width, hidden).CopyTo(pooled.Slice(b * width, hidden));
                    if (_weights.Directions > 1)
                    {
                        layerOutput.Slice((b * width) + hidden, hidden).CopyTo(pooled.Slice((b * width) + hidden, hidden));
                    }
                }

                InferenceEngine.Head(_weights, workspace, pooled, batch, predictions);
            }
            else
            {
                InferenceEngine.Head(_weights, workspace, layerOutput, steps * batch, predictions);
            }

            for (int b = 0; b < batch; b++)
            {
                int rows = perSequence ? 1 : lengths[b];
                var result = new T[rows, outputs];
                for (int t = 0; t < rows; t++)
                {
                    var row = predictions.Slice((perSequence ? b : (t * batch) + b) * outputs, outputs);
                    for (int o = 0; o < outputs; o++)
                    {
                        result[t, o] = row[o];
                    }
                }

                results[batchOrder[b]] = result;
            }

            first += batch;
        }

        return results;
    }

    private void RunSession(ReadOnlySpan<T> dense, ReadOnlySpan<int> tokens, int steps, Span<T> outputs)
    {
        var workspace = _workspace!;
        int streams = Streams, rows = steps * streams;
        workspace.Ensure(_weights, steps, streams);
        InferenceEngine.RunLayers(_weights, workspace, dense, tokens, steps, streams, default, _state, _cell);
        InferenceEngine.Head(_weights, workspace, workspace.LayerOutput.AsSpan(0, rows * _weights.Width), rows, outputs);
    }

    private void CheckChunk(int steps, int inputLength, int perStep, string what, string perStepName, int outputLength)
    {
        if (steps < 1 || inputLength != steps * Streams * perStep || outputLength != steps * Streams * Config.OutputSize)
        {
            throw new UnrollException(
                $"session: expected {what} [T={steps}, S={Streams}, {perStepName}] and outputs [T, S, O={Config.OutputSize}] with T >= 1, got {inputLength} inputs and {outputLength} outputs.");
        }
    }

    private void RequireSession()
    {
        if (_workspace is null)
        {
            throw new UnrollException("predictor: expected a session for streaming (CreateSession), got the shared predictor, which keeps no state.");
        }
    }

    private static int Greedy(ReadOnlySpan<T> logits, int excluded)
    {
        int best = -1;
        for (int j = 0; j < logits.Length; j++)
        {
            if (j != excluded && (best < 0 || logits[j] > logits[best]))
            {
                best = j;
            }
        }

        return best;
    }

    // Inverse-CDF draw from softmax(z / temperature) without the excluded token, in double, max subtracted.
    private int Draw(ReadOnlySpan<T> logits, double temperature, int excluded)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < logits.Length; j++)
        {
            if (j != excluded)
            {
                max = Math.Max(max, double.CreateChecked(logits[j]) / temperature);
            }
        }

        double total = 0;
        for (int j = 0; j < logits.Length; j++)
        {
            _probabilities[j] = j == excluded ? 0 : Math.Exp((double.CreateChecked(logits[j]) / temperature) - max);
            total += _probabilities[j];
        }

        double u = _random!.NextDouble() * total;
        int last = -1;
        for (int j = 0; j < logits.Length; j++)
        {
            if (_probabilities[j] == 0)
            {
                continue;
            }

            last = j;
            u -= _probabilities[j];
            if (u < 0)
            {
                return j;
            }
        }

        return last;
    }
}
