using System.Numerics;

namespace Unroll.Training;

/// <summary>
/// N sequences of equal length T with named input and target columns, stored sequence-major in
/// double: inputs at <c>[(n * T + t) * InputSize + c]</c>, targets at <c>[(n * T + t) * TargetSize + c]</c>.
/// Every value is finite (checked on construction). The trainer reads minibatches time-major with
/// <see cref="CopyBatchTimeMajor{T}"/>.
/// </summary>
public sealed class SequenceSet
{
    private readonly double[] _inputs;
    private readonly double[] _targets;
    private readonly string[] _inputNames;
    private readonly string[] _targetNames;

    /// <summary>Copies the given values into a new set and checks them.</summary>
    /// <param name="count">N, the number of sequences (may be 0).</param>
    /// <param name="length">T, the number of steps in every sequence (&gt;= 1).</param>
    /// <param name="inputNames">One name per input column; InputSize is their number.</param>
    /// <param name="targetNames">One name per target column; TargetSize is their number.</param>
    /// <param name="inputs">N * T * InputSize values, sequence-major.</param>
    /// <param name="targets">N * T * TargetSize values, sequence-major.</param>
    /// <exception cref="UnrollException">A size does not match, a name is empty, or a value is NaN or infinite
    /// (the message names the sequence index, the step and the column).</exception>
    public SequenceSet(
        int count, int length,
        IReadOnlyList<string> inputNames, IReadOnlyList<string> targetNames,
        ReadOnlySpan<double> inputs, ReadOnlySpan<double> targets)
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
        CheckFinite(inputs, length, _inputNames, "input");
        CheckFinite(targets, length, _targetNames, "target");

        Count = count;
        Length = length;
        _inputs = inputs.ToArray();
        _targets = targets.ToArray();
    }

    /// <summary>N, the number of sequences.</summary>
    public int Count { get; }

    /// <summary>T, the number of steps in each sequence.</summary>
    public int Length { get; }

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

            CopyTimeMajor(_inputs, n, b, batch, InputSize, inputs);
            CopyTimeMajor(_targets, n, b, batch, TargetSize, targets);
        }
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
            _targets.AsSpan(start * targetStride, count * targetStride));
    }

    private void CopyTimeMajor<T>(double[] source, int n, int b, int batch, int width, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int t = 0; t < Length; t++)
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

    private static void CheckFinite(ReadOnlySpan<double> values, int length, string[] names, string role)
    {
        int width = names.Length;
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                int column = i % width;
                int step = i / width % length;
                int sequence = i / width / length;
                throw new UnrollException(
                    $"Sequence set: sequence {sequence}, step {step}, {role} column '{names[column]}': expected a finite value, got {Checks.Format(values[i])}.");
            }
        }
    }
}
