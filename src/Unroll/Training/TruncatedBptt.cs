using System.Numerics;
using Unroll.Cells;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>
/// Truncated backpropagation through time, TBPTT(k1, k2) after Williams and Peng (1990) in
/// Sutskever's (2013) formulation: the model reads B long streams k1 steps at a time (one window
/// per call, e.g. from <see cref="StreamBatches"/>), carrying its hidden state (and the LSTM's
/// cell) from window to window; every window gives one gradient, of the loss the model's per-step
/// head implies (<see cref="HeadLoss"/>: the mean squared error, or softmax cross-entropy for a
/// classification head) over that window's steps only, back-propagated through at most k2 steps.
/// </summary>
/// <remarks>
/// <para>
/// Precisely: let window n cover the stream steps <c>[a, a + s)</c> (s &lt;= k1; s &lt; k1 only for
/// the last, shorter window) and let <c>m = min(k2 - k1, a)</c>. The call re-runs the model over
/// the <c>m + s</c> steps <c>[a - m, a + s)</c> from the state it had reached at step <c>a - m</c>,
/// treated as a constant, and returns
/// <c>L_n</c>, the head's loss over the window's steps <c>[a, a + s)</c> alone (for regression
/// <c>1/(s B O) sum_{t=a..a+s-1} sum_{b,o} (y_tbo - target_tbo)^2</c>), and its gradient
/// <c>dL_n/dtheta</c> through those <c>m + s</c> steps. So with full windows each update
/// back-propagates exactly k2 steps once the stream has that many; at the start of the stream
/// (<c>a &lt; k2 - k1</c>) it back-propagates through every step there is.
/// </para>
/// <para>
/// With <c>k2 = k1 = K</c> (<c>m = 0</c>) this is stateful TBPTT(K): each window runs once from the
/// carried state and the gradient <see cref="SequenceModel{T}.InitialStateGradient"/> into that
/// state is dropped. <c>k2 &lt; k1</c> would leave the first <c>k1 - k2</c> steps of a window
/// with a loss but no gradient path; it is refused.
/// </para>
/// <para>
/// The model must be unidirectional (a backward direction would need the future of the stream) and
/// have a per-step head; a token model reads its window's token ids as numbers in its single input
/// column. With dropout, every re-run draws fresh
/// masks. The caller owns the update: after <see cref="ComputeWindowGradients"/> it clips the
/// gradient and steps the optimiser, before the next window.
/// </para>
/// </remarks>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
internal sealed class TruncatedBptt<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly SequenceModel<T> _model;
    private readonly bool _hasCell;
    private readonly int _historyCapacity;
    private T[] _historyStartState = [];
    private T[] _historyStartCell = [];
    private T[] _nextStartState = [];
    private T[] _nextStartCell = [];
    private T[] _state = [];
    private T[] _cell = [];
    private T[] _history = [];
    private T[] _inputs = [];
    private T[] _predictionGradients = [];
    private int _historySteps;

    /// <summary>Stateful TBPTT(K): every window of K steps back-propagates through itself only.</summary>
    /// <exception cref="UnrollException">K &lt; 1, or the model cannot carry its state forward (see remarks).</exception>
    public TruncatedBptt(SequenceModel<T> model, int window)
        : this(model, window, window)
    {
    }

    /// <summary>TBPTT(k1, k2): an update every k1 steps, each back-propagating through k2 &gt;= k1 steps.</summary>
    /// <param name="model">The model to train.</param>
    /// <param name="updateInterval">k1, the steps per window (the steps each update's loss covers), at least 1.</param>
    /// <param name="backpropagationSteps">k2, the steps each update back-propagates through, at least k1.</param>
    /// <exception cref="UnrollException">k1 &lt; 1, k2 &lt; k1, or the model cannot carry its state forward (see remarks).</exception>
    public TruncatedBptt(SequenceModel<T> model, int updateInterval, int backpropagationSteps)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (updateInterval < 1)
        {
            throw new UnrollException($"bptt: expected k1 (steps between updates) of at least 1, got {updateInterval}.");
        }

        if (backpropagationSteps < updateInterval)
        {
            throw new UnrollException(
                $"bptt: expected k2 (steps back-propagated) >= k1 (steps between updates) = {updateInterval}, got k2 = {backpropagationSteps}; " +
                "with k2 < k1 the first k1 - k2 steps of each window would count in the loss with no gradient path.");
        }

        var config = model.Config;
        if (config.Bidirectional)
        {
            throw new UnrollException("bptt: truncated BPTT carries the state forward through the stream; expected a unidirectional model, got a bidirectional one.");
        }

        if (config.Pooling != Pooling.EveryStep)
        {
            throw new UnrollException(
                "bptt: truncated BPTT scores every window's steps; expected a model with a per-step head, got one that answers only at the last step (full BPTT trains it).");
        }

        _model = model;
        _hasCell = CellKinds.HasCellState(config.Cell);
        UpdateInterval = updateInterval;
        BackpropagationSteps = backpropagationSteps;
        _historyCapacity = backpropagationSteps - updateInterval;
    }

    /// <summary>k1: the most steps a window may have; each update's loss covers one window.</summary>
    public int UpdateInterval { get; }

    /// <summary>k2: the steps each full update back-propagates through.</summary>
    public int BackpropagationSteps { get; }

    /// <summary>B, the streams set by the last <see cref="Reset"/> (0 before the first).</summary>
    public int Batch { get; private set; }

    /// <summary>Steps of the streams read since the last <see cref="Reset"/>.</summary>
    public int StepsSeen { get; private set; }

    /// <summary>The steps the last update back-propagated through: m + s (see remarks).</summary>
    public int LastBackpropagatedSteps { get; private set; }

    /// <summary>The carried hidden state: every layer's h at the end of the last window, [L, B, H].</summary>
    public ReadOnlySpan<T> State => _state;

    /// <summary>The carried LSTM cell state at the end of the last window, [L, B, H]; empty for other cells.</summary>
    public ReadOnlySpan<T> Cell => _hasCell ? _cell : [];

    /// <summary>Starts new streams: zero state, no history. Call before the first window of every pass over the data.</summary>
    /// <param name="batch">B, the number of parallel streams, at least 1.</param>
    public void Reset(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var config = _model.Config;
        int stateLength = config.Layers * batch * config.HiddenSize;
        int maxSteps = _historyCapacity + UpdateInterval;
        int inputWidth = HeadLoss.InputWidth(config), cellLength = _hasCell ? stateLength : 0;
        if (batch != Batch || _state.Length != stateLength)
        {
            // A new batch size needs new buffers; the same one reuses them, so a training loop that resets every batch allocates nothing.
            _state = new T[stateLength];
            _cell = new T[cellLength];
            _historyStartState = new T[stateLength];
            _historyStartCell = new T[cellLength];
            _nextStartState = new T[stateLength];
            _nextStartCell = new T[cellLength];
            _history = new T[_historyCapacity * batch * inputWidth];
            _inputs = new T[maxSteps * batch * inputWidth];
            _predictionGradients = new T[maxSteps * batch * config.OutputSize];
        }

        Batch = batch;
        Array.Clear(_state);
        Array.Clear(_cell);
        Array.Clear(_historyStartState);
        Array.Clear(_historyStartCell);
        _historySteps = 0;
        StepsSeen = 0;
        LastBackpropagatedSteps = 0;
    }

    /// <summary>
    /// Zeroes the parameter gradients, runs the model over the window from the carried state (with
    /// up to k2 - k1 earlier steps re-run first), and sets the gradients to dL_n/dtheta of the
    /// window's head loss, back-propagated no further than described in the remarks. The
    /// state at the end of the window becomes the carried state. The model's
    /// <see cref="SequenceModel{T}.Predictions"/> afterwards cover the re-run steps then the window.
    /// </summary>
    /// <param name="inputs">The window's inputs, [s, B, I] time-major.</param>
    /// <param name="targets">The window's targets, [s, B, W] time-major (W = O for regression, 1 class id for classification).</param>
    /// <param name="steps">s, in 1 .. k1.</param>
    /// <param name="batch">B, as given to <see cref="Reset"/>.</param>
    /// <returns>The window's loss L_n.</returns>
    /// <exception cref="InvalidOperationException"><see cref="Reset"/> was not called for this batch size.</exception>
    /// <exception cref="ArgumentException">s is outside 1 .. k1 or a buffer has the wrong length.</exception>
    public double ComputeWindowGradients(ReadOnlySpan<T> inputs, ReadOnlySpan<T> targets, int steps, int batch)
    {
        if (batch != Batch)
        {
            throw new InvalidOperationException($"Expected windows of B={Batch} streams (call Reset(batch) before the first window), got B={batch}.");
        }

        if (steps < 1 || steps > UpdateInterval)
        {
            throw new ArgumentException($"Expected a window of 1 to k1={UpdateInterval} steps, got {steps}.", nameof(steps));
        }

        var config = _model.Config;
        int inputWidth = batch * HeadLoss.InputWidth(config), outputWidth = batch * config.OutputSize, targetWidth = batch * HeadLoss.TargetWidth(config);
        if (inputs.Length != steps * inputWidth || targets.Length != steps * targetWidth)
        {
            throw new ArgumentException(
                $"Expected inputs [s={steps}, B={batch}, {HeadLoss.InputWidth(config)}] and targets [s, B, {HeadLoss.TargetWidth(config)}] ({steps * inputWidth} and {steps * targetWidth} values), got {inputs.Length} and {targets.Length}.");
        }

        // The re-run steps [a - m, a) followed by the window [a, a + s).
        int history = _historySteps, total = history + steps;
        var runInputs = _inputs.AsSpan(0, total * inputWidth);
        _history.AsSpan(0, history * inputWidth).CopyTo(runInputs);
        inputs.CopyTo(runInputs[(history * inputWidth)..]);

        // The history kept for the next window is the last min(k2 - k1, m + s) steps. When steps
        // drop out of it, the state at its new start is reached by a forward over the dropped
        // steps, run before the main forward so that the latter's buffers stay intact for backward.
        int nextHistory = Math.Min(_historyCapacity, total), dropped = total - nextHistory;
        if (nextHistory > 0 && dropped > 0)
        {
            _model.ForwardColumns(runInputs[..(dropped * inputWidth)], dropped, batch, _historyStartState, CellOrEmpty(_historyStartCell));
            _model.FinalState.CopyTo(_nextStartState);
            _model.FinalCell.CopyTo(_nextStartCell);
        }

        Kernels.ParallelReductions.Clear<T>(_model.Parameters.Gradients);
        _model.ForwardColumns(runInputs, total, batch, _historyStartState, CellOrEmpty(_historyStartCell));
        var gradients = _predictionGradients.AsSpan(0, total * outputWidth);
        gradients[..(history * outputWidth)].Clear();
        double loss = HeadLoss.Compute(config, _model.Predictions[(history * outputWidth)..], targets, steps, batch, gradients[(history * outputWidth)..]).Loss;
        _model.Backward(gradients);

        _model.FinalState.CopyTo(_state);
        _model.FinalCell.CopyTo(_cell);
        if (nextHistory == 0)
        {
            // Stateful TBPTT(K): the next window starts where this one ended.
            _state.CopyTo(_historyStartState.AsSpan());
            _cell.CopyTo(_historyStartCell.AsSpan());
        }
        else if (dropped > 0)
        {
            (_historyStartState, _nextStartState) = (_nextStartState, _historyStartState);
            (_historyStartCell, _nextStartCell) = (_nextStartCell, _historyStartCell);
        }

        runInputs[(dropped * inputWidth)..].CopyTo(_history);
        _historySteps = nextHistory;
        StepsSeen += steps;
        LastBackpropagatedSteps = total;
        return loss;
    }

    /// <summary>
    /// What the engine carries from one window to the next (the state at the end of the last window,
    /// the re-run history and the state at its start), by name, for a checkpoint that resumes a stream
    /// exactly; empty before the first window after a <see cref="Reset"/>.
    /// </summary>
    public IReadOnlyList<(string Name, T[] Values)> CaptureCarry() => StepsSeen == 0 ? [] :
    [
        ("state", (T[])_state.Clone()),
        ("cell", (T[])_cell.Clone()),
        ("history_start_state", (T[])_historyStartState.Clone()),
        ("history_start_cell", (T[])_historyStartCell.Clone()),
        ("history", _history.AsSpan(0, _historySteps * Batch * HeadLoss.InputWidth(_model.Config)).ToArray()),
        ("steps_seen", [T.CreateChecked(StepsSeen)]),
    ];

    /// <summary>Continues from <see cref="CaptureCarry"/> of an engine with the same model shape and batch.</summary>
    /// <exception cref="UnrollException">The carried buffers do not fit this model and batch.</exception>
    public void RestoreCarry(int batch, IReadOnlyList<(string Name, T[] Values)> carry)
    {
        ArgumentNullException.ThrowIfNull(carry);
        Reset(batch);
        if (carry.Count == 0)
        {
            return;
        }

        var byName = carry.ToDictionary(c => c.Name, c => c.Values, StringComparer.Ordinal);
        T[] Get(string name, int length) => byName.TryGetValue(name, out var values) && values.Length == length
            ? values
            : throw new UnrollException($"checkpoint: the carried stream state '{name}' should hold {length} values for this model and batch of {batch}, got {(byName.TryGetValue(name, out var v) ? v.Length : 0)}.");
        int inputRow = batch * HeadLoss.InputWidth(_model.Config);
        Get("state", _state.Length).CopyTo(_state, 0);
        Get("cell", _cell.Length).CopyTo(_cell, 0);
        Get("history_start_state", _historyStartState.Length).CopyTo(_historyStartState, 0);
        Get("history_start_cell", _historyStartCell.Length).CopyTo(_historyStartCell, 0);
        var history = byName.TryGetValue("history", out var h) ? h : [];
        if (history.Length % inputRow != 0 || history.Length / inputRow > _historyCapacity)
        {
            throw new UnrollException($"checkpoint: the carried history holds {history.Length} values; expected whole steps of {inputRow} values, at most {_historyCapacity} of them.");
        }

        history.CopyTo(_history, 0);
        _historySteps = history.Length / inputRow;
        double seen = double.CreateChecked(Get("steps_seen", 1)[0]);
        StepsSeen = seen >= 1 && seen <= int.MaxValue && seen == Math.Floor(seen)
            ? (int)seen
            : throw new UnrollException($"checkpoint: expected a positive whole number of stream steps seen, got {seen}.");
    }

    private ReadOnlySpan<T> CellOrEmpty(T[] cell) => _hasCell ? cell : default;
}
