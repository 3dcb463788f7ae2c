using Unroll.Data;
using Unroll.Tensors;

namespace Unroll.Training;

/// <summary>
/// One minibatch, time-major, in buffers the training loop owns and reuses: inputs [T, B, I] (a token
/// model's single input column holds token ids as numbers) and targets [T, B, W] (a classification
/// head's single target column holds class ids, negative to ignore), as <see cref="HeadLoss"/> reads them.
/// </summary>
internal sealed class Batch
{
    /// <summary>Creates buffers for batches of up to <paramref name="maxSteps"/> steps of <paramref name="size"/> sequences.</summary>
    public Batch(int maxSteps, int size, int inputWidth, int targetWidth)
    {
        MaxSteps = maxSteps;
        Size = size;
        InputWidth = inputWidth;
        TargetWidth = targetWidth;
        Inputs = new float[checked(maxSteps * size * inputWidth)];
        Targets = new float[checked(maxSteps * size * targetWidth)];
        Lengths = new int[size];
    }

    /// <summary>The most steps a batch of these buffers holds.</summary>
    public int MaxSteps { get; }

    /// <summary>B, the sequences (or parallel streams) per batch.</summary>
    public int Size { get; }

    /// <summary>Input columns per step.</summary>
    public int InputWidth { get; }

    /// <summary>Target columns per step.</summary>
    public int TargetWidth { get; }

    /// <summary>The input buffer; the current batch fills its first <see cref="Steps"/> x B x I values.</summary>
    public float[] Inputs { get; }

    /// <summary>The target buffer; the current batch fills its first <see cref="Steps"/> x B x W values.</summary>
    public float[] Targets { get; }

    /// <summary>T, the steps of the current batch.</summary>
    public int Steps { get; set; }

    /// <summary>Each sequence's length in the current batch when <see cref="HasLengths"/>.</summary>
    public int[] Lengths { get; }

    /// <summary>Whether the current batch's sequences have their own lengths (<see cref="Lengths"/>); else all have <see cref="Steps"/>.</summary>
    public bool HasLengths { get; set; }

    /// <summary>The current batch's lengths, or empty when every sequence has <see cref="Steps"/> steps.</summary>
    public ReadOnlySpan<int> CurrentLengths => HasLengths ? Lengths : default;

    /// <summary>
    /// True when every stream of this batch continues where the previous batch ended, so the model
    /// starts from the state it reached there (a contiguous stream read window by window); false when
    /// the batch starts from a zero state.
    /// </summary>
    public bool ContinuesState { get; set; }

    /// <summary>The current batch's inputs.</summary>
    public Span<float> CurrentInputs => Inputs.AsSpan(0, Steps * Size * InputWidth);

    /// <summary>The current batch's targets.</summary>
    public Span<float> CurrentTargets => Targets.AsSpan(0, Steps * Size * TargetWidth);
}

/// <summary>Where a batch source is: enough to continue it exactly after a checkpoint.</summary>
/// <param name="Order">The epoch's order of the sequences (empty for a stream).</param>
/// <param name="Position">How many sequences of <paramref name="Order"/> were used, or a stream's next window.</param>
/// <param name="ShuffleState">The state of the generator that shuffles the order (0 for a stream).</param>
internal sealed record BatchPosition(int[] Order, int Position, ulong ShuffleState);

/// <summary>What feeds the training loop: one minibatch after another, forever, in a seeded order.</summary>
internal interface IBatchSource
{
    /// <summary>B, the sequences or streams per batch.</summary>
    int BatchSize { get; }

    /// <summary>The most steps a batch has.</summary>
    int MaxSteps { get; }

    /// <summary>Input columns per step.</summary>
    int InputWidth { get; }

    /// <summary>Target columns per step.</summary>
    int TargetWidth { get; }

    /// <summary>Batches in one pass over the training data (for --epochs).</summary>
    int BatchesPerEpoch { get; }

    /// <summary>Whether batches continue each other's state (streams read window by window).</summary>
    bool CarriesState { get; }

    /// <summary>Whether the sequences have different lengths (batches then carry <see cref="Batch.Lengths"/>).</summary>
    bool HasVaryingLengths { get; }

    /// <summary>Fills <paramref name="batch"/> with the next batch.</summary>
    void Next(Batch batch);

    /// <summary>Where the source is; setting it continues from a captured position.</summary>
    /// <exception cref="UnrollException">A position set does not fit this source.</exception>
    BatchPosition Position { get; set; }
}

/// <summary>
/// Labelled sequences of one length that a batch can be copied from: a <see cref="SequenceSet"/>, or
/// images read as sequences. Copies are time-major with targets as <see cref="HeadLoss"/> reads them.
/// </summary>
internal interface ISequenceData
{
    /// <summary>N, the number of sequences.</summary>
    int Count { get; }

    /// <summary>T, the steps of the longest sequence.</summary>
    int Steps { get; }

    /// <summary>Whether the sequences have different lengths.</summary>
    bool HasVaryingLengths => false;

    /// <summary>Input columns per step.</summary>
    int InputWidth { get; }

    /// <summary>Target columns per step.</summary>
    int TargetWidth { get; }

    /// <summary>Copies the sequences <paramref name="indices"/> into <paramref name="inputs"/> [T, B, I] and <paramref name="targets"/> [T, B, W].</summary>
    void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets);

    /// <summary>
    /// Copies the sequences <paramref name="indices"/> over as many steps as the longest of them has (the start of
    /// <paramref name="inputs"/> and <paramref name="targets"/> holds [T_batch, B, W]) and their lengths.
    /// </summary>
    /// <returns>T_batch.</returns>
    int CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets, Span<int> lengths)
    {
        int width = InputWidth, targetWidth = TargetWidth, batch = indices.Length;
        CopyBatch(indices, inputs[..(Steps * batch * width)], targets[..(Steps * batch * targetWidth)]);
        lengths[..batch].Fill(Steps);
        return Steps;
    }
}

/// <summary>A <see cref="SequenceSet"/> as <see cref="ISequenceData"/>.</summary>
internal sealed class SequenceSetData(SequenceSet set) : ISequenceData
{
    /// <summary>The set.</summary>
    public SequenceSet Set { get; } = set;

    /// <inheritdoc/>
    public int Count => Set.Count;

    /// <inheritdoc/>
    public int Steps => Set.Length;

    /// <inheritdoc/>
    public int InputWidth => Set.InputSize;

    /// <inheritdoc/>
    public int TargetWidth => Set.TargetSize;

    /// <inheritdoc/>
    public bool HasVaryingLengths => Set.HasVaryingLengths;

    /// <inheritdoc/>
    public void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets) => Set.CopyBatchTimeMajor(indices, inputs, targets);

    /// <inheritdoc/>
    public int CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets, Span<int> lengths)
        => Set.CopyBatch(indices, inputs, targets, lengths);
}

/// <summary>
/// Whole sequences in a seeded random order, reshuffled every epoch: each batch takes the next B
/// sequences of the order (the last incomplete batch of an epoch is skipped, as before every epoch's
/// shuffle), every batch starts from a zero state.
/// </summary>
internal sealed class ShuffledBatches : IBatchSource
{
    private readonly ISequenceData _data;
    private readonly SplitMix64 _shuffle;
    private int[] _order;
    private int _position;

    /// <summary>Batches of <paramref name="batchSize"/> (at most the number of sequences) from <paramref name="data"/>.</summary>
    /// <exception cref="UnrollException">The data holds no sequence.</exception>
    public ShuffledBatches(ISequenceData data, int batchSize, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count < 1 || data.Steps < 1)
        {
            throw new UnrollException($"training data: expected at least one sequence of at least one step, got {data.Count} sequences of {data.Steps} steps.");
        }

        _data = data;
        BatchSize = Math.Min(batchSize, data.Count);
        _shuffle = new SplitMix64(seed);
        _order = Enumerable.Range(0, data.Count).ToArray();
        _position = _order.Length; // forces a shuffle before the first batch
    }

    /// <inheritdoc/>
    public int BatchSize { get; }

    /// <inheritdoc/>
    public int MaxSteps => _data.Steps;

    /// <inheritdoc/>
    public int InputWidth => _data.InputWidth;

    /// <inheritdoc/>
    public int TargetWidth => _data.TargetWidth;

    /// <inheritdoc/>
    public int BatchesPerEpoch => (_data.Count + BatchSize - 1) / BatchSize;

    /// <inheritdoc/>
    public bool CarriesState => false;

    /// <inheritdoc/>
    public bool HasVaryingLengths => _data.HasVaryingLengths;

    /// <inheritdoc/>
    public BatchPosition Position
    {
        get => new((int[])_order.Clone(), _position, _shuffle.State);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Order.Length != _data.Count || !IsPermutation(value.Order) || value.Position < 0 || value.Position > value.Order.Length)
            {
                throw new UnrollException(
                    $"checkpoint: its batch order is not a permutation of the {_data.Count} training sequences with a position in [0, {_data.Count}] (got {value.Order.Length} entries, position {value.Position}).");
            }

            _order = (int[])value.Order.Clone();
            _position = value.Position;
            _shuffle.State = value.ShuffleState;
        }
    }

    /// <inheritdoc/>
    public void Next(Batch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (_position + BatchSize > _order.Length)
        {
            _shuffle.Shuffle(_order.AsSpan());
            _position = 0;
        }

        batch.ContinuesState = false;
        if (_data.HasVaryingLengths)
        {
            batch.Steps = _data.CopyBatch(_order.AsSpan(_position, BatchSize), batch.Inputs, batch.Targets, batch.Lengths);
            batch.HasLengths = true;
        }
        else
        {
            batch.Steps = _data.Steps;
            batch.HasLengths = false;
            _data.CopyBatch(_order.AsSpan(_position, BatchSize), batch.CurrentInputs, batch.CurrentTargets);
        }

        _position += BatchSize;
    }

    private static bool IsPermutation(int[] order)
    {
        var seen = new bool[order.Length];
        foreach (int index in order)
        {
            if ((uint)index >= (uint)order.Length || seen[index])
            {
                return false;
            }

            seen[index] = true;
        }

        return true;
    }
}

/// <summary>
/// Long streams read window by window (<see cref="StreamBatches"/>): each batch is the next window of
/// every stream and continues the state the previous one reached; after the last window the streams
/// start again from a zero state. This is stateful truncated BPTT's data order (char-rnn, Keras stateful=True).
/// </summary>
internal sealed class StreamBatchSource(StreamBatches streams) : IBatchSource
{
    private int _window;

    /// <inheritdoc/>
    public int BatchSize => streams.Batch;

    /// <inheritdoc/>
    public int MaxSteps => streams.WindowSize;

    /// <inheritdoc/>
    public int InputWidth => streams.InputSize;

    /// <inheritdoc/>
    public int TargetWidth => streams.TargetSize;

    /// <inheritdoc/>
    public int BatchesPerEpoch => streams.WindowCount;

    /// <inheritdoc/>
    public bool CarriesState => true;

    /// <inheritdoc/>
    public bool HasVaryingLengths => false;

    /// <inheritdoc/>
    public BatchPosition Position
    {
        get => new([], _window, 0);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Order.Length != 0 || value.Position < 0 || value.Position >= streams.WindowCount)
            {
                throw new UnrollException($"checkpoint: expected the next window of the stream in [0, {streams.WindowCount}), got {value.Position}{(value.Order.Length != 0 ? " with a batch order, which streams do not have" : string.Empty)}.");
            }

            _window = value.Position;
        }
    }

    /// <inheritdoc/>
    public void Next(Batch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Steps = streams.WindowLength(_window);
        batch.ContinuesState = _window != 0;
        streams.CopyWindow<float>(_window, batch.CurrentInputs, batch.CurrentTargets);
        _window = (_window + 1) % streams.WindowCount;
    }
}
