using Unroll.Tensors;
using Unroll.Data;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>A model's loss over a held-out set, and its accuracy for a classification head (NaN otherwise).</summary>
/// <param name="Loss">The mean head loss over every scored row (MSE, or cross-entropy in nats).</param>
/// <param name="Accuracy">The fraction of scored rows whose largest logit is the target class; NaN for regression.</param>
/// <param name="Rows">The rows scored (steps x sequences for per-step heads, sequences for last-step heads).</param>
internal readonly record struct ValidationResult(double Loss, double Accuracy, long Rows);

/// <summary>Scores a model on held-out data, in evaluation mode (no dropout), leaving its training flag as it was.</summary>
internal interface IValidation
{
    /// <summary>The loss (and accuracy) of <paramref name="model"/> on the held-out data.</summary>
    ValidationResult Measure(IRecurrentModel<float> model);
}

/// <summary>Whole sequences in batches, each from a zero state.</summary>
internal sealed class SequenceValidation : IValidation
{
    private readonly ISequenceData _data;
    private readonly int _batch;
    private float[] _inputs = [];
    private float[] _targets = [];
    private int[] _indices = [];
    private int[] _lengths = [];

    /// <summary>Scores <paramref name="data"/> in batches of <paramref name="batchSize"/> sequences.</summary>
    public SequenceValidation(ISequenceData data, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        _batch = Math.Max(1, Math.Min(batchSize, data.Count));
    }

    /// <inheritdoc/>
    public ValidationResult Measure(IRecurrentModel<float> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        int steps = _data.Steps;
        Buffers.Grow(ref _inputs, steps * _batch * _data.InputWidth);
        Buffers.Grow(ref _targets, steps * _batch * _data.TargetWidth);
        if (_indices.Length < _batch)
        {
            _indices = new int[_batch];
            _lengths = new int[_batch];
        }

        bool wasTraining = model.Training;
        model.Training = false;
        bool classification = config.Head == HeadKind.Classification;
        double weightedSum = 0;
        long rows = 0, correct = 0;
        try
        {
            for (int start = 0; start < _data.Count; start += _batch)
            {
                int count = Math.Min(_batch, _data.Count - start);
                for (int i = 0; i < count; i++)
                {
                    _indices[i] = start + i;
                }

                int batchSteps = steps;
                var lengths = ReadOnlySpan<int>.Empty;
                if (_data.HasVaryingLengths)
                {
                    batchSteps = _data.CopyBatch(_indices.AsSpan(0, count), _inputs, _targets, _lengths);
                    lengths = _lengths.AsSpan(0, count);
                }
                else
                {
                    _data.CopyBatch(_indices.AsSpan(0, count), _inputs.AsSpan(0, steps * count * _data.InputWidth), _targets.AsSpan(0, steps * count * _data.TargetWidth));
                }

                var inputs = _inputs.AsSpan(0, batchSteps * count * _data.InputWidth);
                var targets = _targets.AsSpan(0, batchSteps * count * _data.TargetWidth);
                model.Run(inputs, targets, batchSteps, count, lengths);
                var result = HeadLoss.Compute<float>(config, model.Predictions, targets, batchSteps, count, Span<float>.Empty, lengths);
                // Each batch's loss is a mean over its scored rows: weight it by them, so the result is the mean over the set.
                weightedSum += result.Loss * result.Rows;
                rows += result.Rows;
                correct += result.Correct;
            }
        }
        finally
        {
            model.Training = wasTraining;
        }

        return new ValidationResult(rows > 0 ? weightedSum / rows : 0, classification && rows > 0 ? (double)correct / rows : double.NaN, rows);
    }
}

/// <summary>
/// A long stream read as <see cref="StreamCount"/> parallel parts in windows of <see cref="WindowSize"/>
/// steps, each part from a zero state with the state carried through it (as the stream was trained):
/// the mean head loss over every predicted step. Steps past the last whole part (fewer than the number of
/// parts) are not scored.
/// </summary>
internal sealed class StreamValidation : IValidation
{
    /// <summary>Parallel parts a stream is scored in, whatever the training batch.</summary>
    public const int StreamCount = 16;

    /// <summary>Steps per window.</summary>
    public const int WindowSize = 128;

    private readonly StreamBatches _streams;
    private float[] _state = [];
    private float[] _cell = [];

    /// <summary>Scores the stream <paramref name="streams"/> describes.</summary>
    public StreamValidation(StreamBatches streams)
    {
        ArgumentNullException.ThrowIfNull(streams);
        _streams = streams;
        Inputs = new float[streams.WindowSize * streams.Batch * streams.InputSize];
        Targets = new float[streams.WindowSize * streams.Batch * streams.TargetSize];
    }

    private float[] Inputs { get; }

    private float[] Targets { get; }

    /// <summary>A token stream, scored predicting each token from the ones before it.</summary>
    /// <exception cref="UnrollException">The stream has fewer than two tokens.</exception>
    public static StreamValidation ForTokens(ReadOnlySpan<int> tokens, int streams = StreamCount)
    {
        if (tokens.Length < 2)
        {
            throw new UnrollException($"validation text: expected at least 2 tokens to score, got {tokens.Length}.");
        }

        streams = Math.Max(1, Math.Min(streams, tokens.Length - 1));
        return new StreamValidation(StreamBatches.OfTokens(tokens, streams, WindowSize));
    }

    /// <inheritdoc/>
    public ValidationResult Measure(IRecurrentModel<float> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var sequenceModel = model as SequenceModel<float>
            ?? throw new UnrollException($"validation: a stream is scored with the state carried across windows; expected a hidden-state network, got {model.Config.Architecture.Name()}.");
        var config = model.Config;
        int batch = _streams.Batch, stateLength = config.Layers * config.Directions * batch * config.HiddenSize;
        Buffers.Grow(ref _state, stateLength);
        bool hasCell = !sequenceModel.FinalCell.IsEmpty || Cells.CellKinds.HasCellState(config.Cell);
        Buffers.Grow(ref _cell, hasCell ? stateLength : 0);
        var state = _state.AsSpan(0, stateLength);
        var cell = hasCell ? _cell.AsSpan(0, stateLength) : Span<float>.Empty;
        state.Clear();
        cell.Clear();
        bool wasTraining = model.Training;
        model.Training = false;
        bool classification = config.Head == HeadKind.Classification;
        double weightedSum = 0;
        long rows = 0, correct = 0;
        try
        {
            for (int w = 0; w < _streams.WindowCount; w++)
            {
                int steps = _streams.WindowLength(w);
                var inputs = Inputs.AsSpan(0, steps * batch * _streams.InputSize);
                var targets = Targets.AsSpan(0, steps * batch * _streams.TargetSize);
                _streams.CopyWindow<float>(w, inputs, targets);
                sequenceModel.ForwardColumns(inputs, steps, batch, state, cell);
                var result = HeadLoss.Compute<float>(config, model.Predictions, targets, steps, batch, Span<float>.Empty);
                weightedSum += result.Loss * result.Rows;
                rows += result.Rows;
                correct += result.Correct;
                sequenceModel.FinalState.CopyTo(state);
                sequenceModel.FinalCell.CopyTo(cell);
            }
        }
        finally
        {
            model.Training = wasTraining;
        }

        return new ValidationResult(rows > 0 ? weightedSum / rows : 0, classification && rows > 0 ? (double)correct / rows : double.NaN, rows);
    }
}
