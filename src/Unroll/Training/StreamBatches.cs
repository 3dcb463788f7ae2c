using System.Numerics;

namespace Unroll.Training;

/// <summary>
/// Long streams cut into B parallel parts and read window by window, for stateful training with
/// truncated backpropagation through time (char-rnn and Keras <c>stateful=True</c> layout).
/// </summary>
/// <remarks>
/// <para>
/// Every source sequence of N steps is cut into <c>p = B / S</c> contiguous parts of
/// <c>P = floor(N / p)</c> steps each (S sequences in the source; one for a single stream, so
/// <c>p = B</c>); the last <c>N - p P</c> steps of every sequence are not used
/// (<see cref="UnusedSteps"/>). Batch column <c>b</c> holds part <c>b mod p</c> of sequence
/// <c>b / p</c>, i.e. the steps <c>(b mod p) P .. (b mod p) P + P - 1</c> of that sequence.
/// </para>
/// <para>
/// Window <c>w</c> (of <see cref="WindowCount"/> = ceil(P / K)) covers the part-local steps
/// <c>[w K, min((w + 1) K, P))</c> of every column, so only the last window may be shorter than K
/// (<see cref="WindowLength"/>). Visiting the windows in order 0, 1, ... makes column b of window
/// w + 1 continue column b of window w: the hidden state the model reaches at the end of window w
/// is exactly the initial state window w + 1 needs.
/// </para>
/// </remarks>
internal sealed class StreamBatches
{
    private readonly double[] _inputs;
    private readonly double[] _targets;
    private readonly int _sequenceLength;
    private readonly int _partsPerSequence;

    /// <summary>Cuts the sequences of <paramref name="set"/> (one long stream per sequence) into <paramref name="batch"/> parallel parts.</summary>
    /// <param name="set">S sequences of N steps each.</param>
    /// <param name="batch">B, the number of parallel streams: a positive multiple of S; every sequence gives B / S parts.</param>
    /// <param name="window">K, the steps per window (the truncation length), at least 1.</param>
    /// <exception cref="UnrollException">K or B is out of range, B is not a multiple of S, or a sequence is too short for B / S parts of at least one step.</exception>
    public StreamBatches(SequenceSet set, int batch, int window)
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Count < 1)
        {
            throw new UnrollException("stream batches: expected at least one sequence to cut into streams, got none.");
        }

        CheckSizes(batch, window);
        if (batch % set.Count != 0)
        {
            throw new UnrollException(
                $"stream batches: expected a batch size that is a multiple of the {set.Count} sequences (each cut into the same number of parts), got {batch}.");
        }

        _inputs = set.Inputs.ToArray();
        _targets = set.Targets.ToArray();
        InputSize = set.InputSize;
        TargetSize = set.TargetSize;
        _sequenceLength = set.Length;
        _partsPerSequence = batch / set.Count;
        Batch = batch;
        WindowSize = window;
        PartLength = CheckPartLength(set.Length, _partsPerSequence);
    }

    /// <summary>Cuts one stream, inputs [N, I] and targets [N, O] step-major, into <paramref name="batch"/> parallel parts.</summary>
    /// <param name="inputs">N * I values: step t's inputs at <c>[t * I .. t * I + I)</c>.</param>
    /// <param name="targets">N * O values: step t's targets at <c>[t * O .. t * O + O)</c>.</param>
    /// <param name="inputSize">I, at least 1.</param>
    /// <param name="targetSize">O, at least 1.</param>
    /// <param name="batch">B, the number of parallel streams, at least 1.</param>
    /// <param name="window">K, the steps per window (the truncation length), at least 1.</param>
    /// <exception cref="UnrollException">A size is out of range, the buffers disagree on N, a value is not finite, or N &lt; B.</exception>
    public StreamBatches(ReadOnlySpan<double> inputs, ReadOnlySpan<double> targets, int inputSize, int targetSize, int batch, int window)
    {
        if (inputSize < 1 || targetSize < 1)
        {
            throw new UnrollException($"stream batches: expected at least one input and one target column, got {inputSize} and {targetSize}.");
        }

        CheckSizes(batch, window);
        if (inputs.Length % inputSize != 0 || targets.Length % targetSize != 0 || inputs.Length / inputSize != targets.Length / targetSize)
        {
            throw new UnrollException(
                $"stream batches: expected inputs of N x {inputSize} and targets of N x {targetSize} values for the same N, got {inputs.Length} and {targets.Length} values.");
        }

        CheckFinite(inputs, inputSize, "input");
        CheckFinite(targets, targetSize, "target");
        int length = inputs.Length / inputSize;
        _inputs = inputs.ToArray();
        _targets = targets.ToArray();
        InputSize = inputSize;
        TargetSize = targetSize;
        _sequenceLength = length;
        _partsPerSequence = batch;
        Batch = batch;
        WindowSize = window;
        PartLength = CheckPartLength(length, batch);
    }

    /// <summary>B, the number of parallel streams (batch columns).</summary>
    public int Batch { get; }

    /// <summary>K, the steps of every window but possibly the last.</summary>
    public int WindowSize { get; }

    /// <summary>I, inputs per step.</summary>
    public int InputSize { get; }

    /// <summary>O, targets per step.</summary>
    public int TargetSize { get; }

    /// <summary>P, the steps in every part (every batch column): floor(N / parts per sequence).</summary>
    public int PartLength { get; }

    /// <summary>Steps at the end of every source sequence that no part holds: N - parts * P.</summary>
    public int UnusedSteps => _sequenceLength - (_partsPerSequence * PartLength);

    /// <summary>The number of windows, ceil(P / K).</summary>
    public int WindowCount => (PartLength + WindowSize - 1) / WindowSize;

    /// <summary>The steps in window <paramref name="window"/>: K, or fewer for the last one.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is outside 0 .. WindowCount - 1.</exception>
    public int WindowLength(int window)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(window, WindowCount);
        return Math.Min(WindowSize, PartLength - (window * WindowSize));
    }

    /// <summary>The part-local step at which window <paramref name="window"/> starts: w K.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is outside 0 .. WindowCount - 1.</exception>
    public int WindowStart(int window)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(window);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(window, WindowCount);
        return window * WindowSize;
    }

    /// <summary>
    /// Copies window <paramref name="window"/> time-major, converting from double:
    /// <c>inputs[(t * B + b) * I + c]</c> and <c>targets[(t * B + b) * O + c]</c> for
    /// t in 0 .. <see cref="WindowLength"/> - 1.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is outside 0 .. WindowCount - 1.</exception>
    /// <exception cref="ArgumentException">A buffer is not exactly WindowLength * B * size long.</exception>
    public void CopyWindow<T>(int window, Span<T> inputs, Span<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int steps = WindowLength(window);
        if (inputs.Length != steps * Batch * InputSize)
        {
            throw new ArgumentException($"Expected an input buffer of {steps * Batch * InputSize} values (K {steps} x B {Batch} x {InputSize}), got {inputs.Length}.", nameof(inputs));
        }

        if (targets.Length != steps * Batch * TargetSize)
        {
            throw new ArgumentException($"Expected a target buffer of {steps * Batch * TargetSize} values (K {steps} x B {Batch} x {TargetSize}), got {targets.Length}.", nameof(targets));
        }

        int start = window * WindowSize;
        for (int b = 0; b < Batch; b++)
        {
            int sequence = b / _partsPerSequence;
            int first = (sequence * _sequenceLength) + ((b % _partsPerSequence) * PartLength) + start;
            for (int t = 0; t < steps; t++)
            {
                Convert(_inputs.AsSpan((first + t) * InputSize, InputSize), inputs.Slice(((t * Batch) + b) * InputSize, InputSize));
                Convert(_targets.AsSpan((first + t) * TargetSize, TargetSize), targets.Slice(((t * Batch) + b) * TargetSize, TargetSize));
            }
        }
    }

    private static void Convert<T>(ReadOnlySpan<double> from, Span<T> to)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int c = 0; c < from.Length; c++)
        {
            to[c] = T.CreateTruncating(from[c]);
        }
    }

    private static void CheckSizes(int batch, int window)
    {
        if (window < 1)
        {
            throw new UnrollException($"bptt: expected a truncation window K of at least 1 step, got {window}.");
        }

        if (batch < 1)
        {
            throw new UnrollException($"batch-size: expected at least 1 parallel stream, got {batch}.");
        }
    }

    private static int CheckPartLength(int length, int parts)
    {
        if (length < parts)
        {
            throw new UnrollException(
                $"stream batches: expected a stream of at least {parts} steps so each of its {parts} parts has one step, got {length} steps.");
        }

        return length / parts;
    }

    private static void CheckFinite(ReadOnlySpan<double> values, int width, string role)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                throw new UnrollException(
                    $"stream batches: step {i / width}, {role} column {i % width}: expected a finite value, got {values[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
            }
        }
    }

    /// <summary>
    /// The training pairs of a token stream: input token_t, target token_{t+1}, t = 0 .. N-2, as one
    /// input and one target column.
    /// </summary>
    /// <param name="tokens">The stream, at least 2 tokens.</param>
    /// <param name="batch">B parallel parts.</param>
    /// <param name="window">K steps per window.</param>
    public static StreamBatches OfTokens(ReadOnlySpan<int> tokens, int batch, int window)
    {
        if (tokens.Length < 2)
        {
            throw new UnrollException($"text stream: expected at least 2 tokens (one input and its next token), got {tokens.Length}.");
        }

        var inputs = new double[tokens.Length - 1];
        var targets = new double[tokens.Length - 1];
        for (int t = 0; t < inputs.Length; t++)
        {
            inputs[t] = tokens[t];
            targets[t] = tokens[t + 1];
        }

        if (inputs.Length < batch)
        {
            throw new UnrollException(
                $"batch-size: a stream of {inputs.Length} (token, next token) pairs cannot be cut into {batch} parallel parts; expected a batch size of at most {inputs.Length}.");
        }

        return new StreamBatches(inputs, targets, 1, 1, batch, window);
    }
}
