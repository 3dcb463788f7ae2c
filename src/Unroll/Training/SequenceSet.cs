using System.Numerics;

namespace Unroll.Training;

/// <summary>
/// N sequences of up to T steps with named input and target columns, stored sequence-major in
/// double: inputs at <c>[(n * T + t) * InputSize + c]</c>, targets at <c>[(n * T + t) * TargetSize + c]</c>.
/// Sequences may have different lengths (<see cref="LengthOf"/>): the steps past a sequence's length
/// are zero and are never read as data, as PyTorch's packed sequences. Every value of a step inside
/// a sequence is finite (checked on construction). The trainer reads minibatches time-major.
/// </summary>
public sealed class SequenceSet
{
    private readonly double[] _inputs;
    private readonly double[] _targets;
    private readonly string[] _inputNames;
    private readonly string[] _targetNames;
    private readonly int[]? _lengths;

    /// <summary>Copies the given values into a new set and checks them.</summary>
    /// <param name="count">N, the number of sequences (may be 0).</param>
    /// <param name="length">T, the number of steps in every sequence (&gt;= 1).</param>
    /// <param name="inputNames">One name per input column; InputSize is their number.</param>
    /// <param name="targetNames">One name per target column; TargetSize is their number.</param>
    /// <param name="inputs">N * T * InputSize values, sequence-major.</param>
    /// <param name="targets">N * T * TargetSize values, sequence-major.</param>
    /// <param name="lengths">Each sequence's length in [1, T], or empty when every sequence has T steps. The values
    /// past a sequence's length are ignored (stored as zeros).</param>
    /// <exception cref="UnrollException">A size does not match, a name is empty, a length is outside [1, T], or a
    /// value inside a sequence is NaN or infinite (the message names the sequence index, the step and the column).</exception>
    public SequenceSet(
        int count, int length,
        IReadOnlyList<string> inputNames, IReadOnlyList<string> targetNames,
        ReadOnlySpan<double> inputs, ReadOnlySpan<double> targets, ReadOnlySpan<int> lengths = default)
    {
        ArgumentNullException.ThrowIfNull(inputNames);
        ArgumentNullException.ThrowIfNull(targetNames);
        if (count < 0)
        {
            throw new UnrollException($"Sequence set: expected a number of sequences >= 0, got {count}.");
        }

        if (length < 1)
        {
            throw new UnrollException($"Sequence set: expected a sequence length >= 1, got {length}.");
        }

        _inputNames = CheckNames(inputNames, "input");
        _targetNames = CheckNames(targetNames, "target");
        CheckSize(inputs.Length, count, length, _inputNames.Length, "input");
        CheckSize(targets.Length, count, length, _targetNames.Length, "target");
        _lengths = CheckLengths(lengths, count, length);
        CheckFinite(inputs, length, _inputNames, "input", _lengths);
        CheckFinite(targets, length, _targetNames, "target", _lengths);

        Count = count;
        Length = length;
        _inputs = inputs.ToArray();
        _targets = targets.ToArray();
        if (_lengths is not null)
        {
            for (int n = 0; n < count; n++)
            {
                _inputs.AsSpan(((n * length) + _lengths[n]) * InputSize, (length - _lengths[n]) * InputSize).Clear();
                _targets.AsSpan(((n * length) + _lengths[n]) * TargetSize, (length - _lengths[n]) * TargetSize).Clear();
            }
        }
    }

    /// <summary>
    /// A set of sequences of any lengths from arrays: <paramref name="inputs"/>[n] is sequence n as [steps, input
    /// columns] and <paramref name="targets"/>[n] its targets as [steps, target columns] (the same steps). Columns are
    /// named <c>x0, x1, ...</c> and <c>y0, y1, ...</c> unless names are given.
    /// </summary>
    /// <exception cref="UnrollException">The lists differ in length or are empty, a sequence has no step, the column
    /// counts differ between sequences, the steps of a sequence's inputs and targets differ, or a value is not finite.</exception>
    public static SequenceSet FromArrays(
        IReadOnlyList<double[,]> inputs, IReadOnlyList<double[,]> targets,
        IReadOnlyList<string>? inputNames = null, IReadOnlyList<string>? targetNames = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.Count == 0 || inputs.Count != targets.Count)
        {
            throw new UnrollException($"Sequence set: expected as many target sequences as input sequences (at least one), got {inputs.Count} and {targets.Count}.");
        }

        int inputWidth = inputs[0]?.GetLength(1) ?? 0, targetWidth = targets[0]?.GetLength(1) ?? 0;
        int longest = 0;
        bool varying = false;
        for (int n = 0; n < inputs.Count; n++)
        {
            var x = inputs[n] ?? throw new UnrollException($"Sequence set: sequence {n}: expected an input array, got null.");
            var y = targets[n] ?? throw new UnrollException($"Sequence set: sequence {n}: expected a target array, got null.");
            if (x.GetLength(0) < 1 || x.GetLength(0) != y.GetLength(0))
            {
                throw new UnrollException($"Sequence set: sequence {n}: expected inputs and targets of the same number of steps (at least 1), got {x.GetLength(0)} and {y.GetLength(0)}.");
            }

            if (x.GetLength(1) != inputWidth || y.GetLength(1) != targetWidth)
            {
                throw new UnrollException($"Sequence set: sequence {n}: expected {inputWidth} input and {targetWidth} target columns as sequence 0 has, got {x.GetLength(1)} and {y.GetLength(1)}.");
            }

            varying |= n > 0 && x.GetLength(0) != longest;
            longest = Math.Max(longest, x.GetLength(0));
        }

        var inputValues = new double[checked(inputs.Count * longest * inputWidth)];
        var targetValues = new double[checked(inputs.Count * longest * targetWidth)];
        var lengths = new int[inputs.Count];
        for (int n = 0; n < inputs.Count; n++)
        {
            lengths[n] = inputs[n].GetLength(0);
            Copy(inputs[n], inputValues.AsSpan(n * longest * inputWidth, lengths[n] * inputWidth));
            Copy(targets[n], targetValues.AsSpan(n * longest * targetWidth, lengths[n] * targetWidth));
        }

        return new SequenceSet(
            inputs.Count, longest,
            inputNames ?? ColumnNames("x", inputWidth), targetNames ?? ColumnNames("y", targetWidth),
            inputValues, targetValues, varying ? lengths : default);

        static void Copy(double[,] from, Span<double> to)
        {
            int columns = from.GetLength(1), i = 0;
            for (int t = 0; t < from.GetLength(0); t++)
            {
                for (int c = 0; c < columns; c++)
                {
                    to[i++] = from[t, c];
                }
            }
        }

        static string[] ColumnNames(string prefix, int count)
            => Enumerable.Range(0, count).Select(c => prefix + c.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>N, the number of sequences.</summary>
    public int Count { get; }

    /// <summary>T, the number of steps of the longest sequence (of every sequence when they have one length).</summary>
    public int Length { get; }

    /// <summary>Whether the sequences have different lengths (see <see cref="LengthOf"/>).</summary>
    public bool HasVaryingLengths => _lengths is not null;

    /// <summary>The number of steps of sequence <paramref name="sequence"/>, in [1, <see cref="Length"/>].</summary>
    public int LengthOf(int sequence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sequence, Count);
        return _lengths?[sequence] ?? Length;
    }

    /// <summary>The number of input columns per step.</summary>
    public int InputSize => _inputNames.Length;

    /// <summary>The number of target columns per step.</summary>
    public int TargetSize => _targetNames.Length;

    /// <summary>The names of the input columns, in storage order.</summary>
    public IReadOnlyList<string> InputNames => _inputNames;

    /// <summary>The names of the target columns, in storage order.</summary>
    public IReadOnlyList<string> TargetNames => _targetNames;

    /// <summary>All inputs, sequence-major <c>[n, t, inputSize]</c>.</summary>
    public ReadOnlySpan<double> Inputs => _inputs;

    /// <summary>All targets, sequence-major <c>[n, t, targetSize]</c>.</summary>
    public ReadOnlySpan<double> Targets => _targets;

    /// <summary>The input value of column <paramref name="column"/> at step <paramref name="step"/> of sequence <paramref name="sequence"/>.</summary>
    public double Input(int sequence, int step, int column)
    {
        CheckIndex(sequence, step, column, InputSize);
        return _inputs[((sequence * Length) + step) * InputSize + column];
    }

    /// <summary>The target value of column <paramref name="column"/> at step <paramref name="step"/> of sequence <paramref name="sequence"/>.</summary>
    public double Target(int sequence, int step, int column)
    {
        CheckIndex(sequence, step, column, TargetSize);
        return _targets[((sequence * Length) + step) * TargetSize + column];
    }

    /// <summary>The index of the input column called <paramref name="name"/>.</summary>
    /// <exception cref="UnrollException">No input column has that name.</exception>
    public int InputColumn(string name) => FindColumn(_inputNames, name, "input");

    /// <summary>The index of the target column called <paramref name="name"/>.</summary>
    /// <exception cref="UnrollException">No target column has that name.</exception>
    public int TargetColumn(string name) => FindColumn(_targetNames, name, "target");

    /// <summary>
    /// Copies the sequences <paramref name="sequenceIndices"/> time-major into the caller's buffers,
    /// converting from double: <c>inputs[(t * B + b) * InputSize + c]</c> and
    /// <c>targets[(t * B + b) * TargetSize + c]</c>, where b is the position in <paramref name="sequenceIndices"/>
    /// and B its length.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside <c>0..Count-1</c>.</exception>
    /// <exception cref="ArgumentException">A buffer is not exactly <c>T * B * size</c> long.</exception>
    public void CopyBatchTimeMajor<T>(ReadOnlySpan<int> sequenceIndices, Span<T> inputs, Span<T> targets)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = sequenceIndices.Length;
        long inputNeeded = (long)Length * batch * InputSize;
        long targetNeeded = (long)Length * batch * TargetSize;
        if (inputs.Length != inputNeeded)
        {
            throw new ArgumentException($"Expected an input buffer of {inputNeeded} values (T {Length} x B {batch} x {InputSize}), got {inputs.Length}.", nameof(inputs));
        }

        if (targets.Length != targetNeeded)
        {
            throw new ArgumentException($"Expected a target buffer of {targetNeeded} values (T {Length} x B {batch} x {TargetSize}), got {targets.Length}.", nameof(targets));
        }

        for (int b = 0; b < batch; b++)
        {
            int n = sequenceIndices[b];
            if ((uint)n >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(sequenceIndices), n, $"Expected sequence indices in 0..{Count - 1}, got {n} at position {b}.");
            }

            CopyTimeMajor(_inputs, n, b, batch, InputSize, Length, inputs);
            CopyTimeMajor(_targets, n, b, batch, TargetSize, Length, targets);
        }
    }

    /// <summary>
    /// Copies the sequences <paramref name="sequenceIndices"/> time-major as <see cref="CopyBatchTimeMajor{T}"/>, over
    /// as many steps as the longest of them has, and writes each one's length into <paramref name="lengths"/>.
    /// </summary>
    /// <returns>The steps of the batch, the longest of the chosen sequences.</returns>
    internal int CopyBatch<T>(ReadOnlySpan<int> sequenceIndices, Span<T> inputs, Span<T> targets, Span<int> lengths)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = sequenceIndices.Length, steps = 0;
        for (int b = 0; b < batch; b++)
        {
            lengths[b] = LengthOf(sequenceIndices[b]);
            steps = Math.Max(steps, lengths[b]);
        }

        var batchInputs = inputs[..(steps * batch * InputSize)];
        var batchTargets = targets[..(steps * batch * TargetSize)];
        for (int b = 0; b < batch; b++)
        {
            CopyTimeMajor(_inputs, sequenceIndices[b], b, batch, InputSize, steps, batchInputs);
            CopyTimeMajor(_targets, sequenceIndices[b], b, batch, TargetSize, steps, batchTargets);
        }

        return steps;
    }

    /// <summary>A new set holding the sequences <c>start .. start + count - 1</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside <c>0..Count</c>.</exception>
    public SequenceSet Slice(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, Count - count);
        int inputStride = Length * InputSize;
        int targetStride = Length * TargetSize;
        return new SequenceSet(
            count, Length, _inputNames, _targetNames,
            _inputs.AsSpan(start * inputStride, count * inputStride),
            _targets.AsSpan(start * targetStride, count * targetStride),
            _lengths is null ? default : _lengths.AsSpan(start, count));
    }

    // Sequence n's first `steps` steps into column b of a [steps, batch, width] buffer (zeros past its length).
    private void CopyTimeMajor<T>(double[] source, int n, int b, int batch, int width, int steps, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int t = 0; t < steps; t++)
        {
            ReadOnlySpan<double> from = source.AsSpan(((n * Length) + t) * width, width);
            Span<T> to = destination.Slice(((t * batch) + b) * width, width);
            for (int c = 0; c < width; c++)
            {
                to[c] = T.CreateTruncating(from[c]);
            }
        }
    }

    private void CheckIndex(int sequence, int step, int column, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sequence, Count);
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(step, Length);
        ArgumentOutOfRangeException.ThrowIfNegative(column);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, width);
    }

    private static int FindColumn(string[] names, string name, string role)
    {
        int index = Array.IndexOf(names, name);
        if (index < 0)
        {
            throw new UnrollException($"Sequence set: expected {Checks.Article(role)} {role} column named '{name}', got columns {string.Join(", ", names.Select(n => $"'{n}'"))}.");
        }

        return index;
    }

    private static string[] CheckNames(IReadOnlyList<string> names, string role)
    {
        if (names.Count == 0)
        {
            throw new UnrollException($"Sequence set: expected at least one {role} column, got none.");
        }

        var copy = new string[names.Count];
        for (int i = 0; i < copy.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(names[i]))
            {
                throw new UnrollException($"Sequence set: expected a name for {role} column {i}, got an empty one.");
            }

            copy[i] = names[i];
        }

        return copy;
    }

    private static void CheckSize(int actual, int count, int length, int width, string role)
    {
        long expected = (long)count * length * width;
        if (actual != expected)
        {
            throw new UnrollException(
                $"Sequence set: expected {expected} {role} values ({count} sequences x {length} steps x {width} columns), got {actual}.");
        }
    }

    private static int[]? CheckLengths(ReadOnlySpan<int> lengths, int count, int length)
    {
        if (lengths.IsEmpty)
        {
            return null;
        }

        if (lengths.Length != count)
        {
            throw new UnrollException($"Sequence set: expected {count} sequence lengths (one per sequence), got {lengths.Length}.");
        }

        for (int n = 0; n < count; n++)
        {
            if (lengths[n] < 1 || lengths[n] > length)
            {
                throw new UnrollException($"Sequence set: sequence {n}: expected a length in [1, {length}], got {lengths[n]}.");
            }
        }

        return lengths.ToArray();
    }

    private static void CheckFinite(ReadOnlySpan<double> values, int length, string[] names, string role, int[]? lengths)
    {
        int width = names.Length;
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                int column = i % width;
                int step = i / width % length;
                int sequence = i / width / length;
                if (lengths is not null && step >= lengths[sequence])
                {
                    continue; // past the sequence's end: ignored, and cleared after the copy
                }

                throw new UnrollException(
                    $"Sequence set: sequence {sequence}, step {step}, {role} column '{names[column]}': expected a finite value, got {Checks.Format(values[i])}.");
            }
        }
    }
}
