using System.Numerics;
using Unroll.Cells;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>
/// Truncated backpropagation through time, TBPTT(k1, k2) after Williams and Peng (1990) in
/// Sutskever's (2013) formulation: the model reads B long streams k1 steps at a time (one window
/// per call, e.g. from <see cref="Data.StreamBatches"/>), carrying its hidden state (and the LSTM's
/// cell) from window to window; every window gives one gradient, of the mean squared error over
/// that window's steps only, back-propagated through at most k2 steps.
/// </summary>
/// <remarks>
/// <para>
/// Precisely: let window n cover the stream steps <c>[a, a + s)</c> (s &lt;= k1; s &lt; k1 only for
/// the last, shorter window) and let <c>m = min(k2 - k1, a)</c>. The call re-runs the model over
/// the <c>m + s</c> steps <c>[a - m, a + s)</c> from the state it had reached at step <c>a - m</c>,
/// treated as a constant, and returns
/// <c>L_n = 1/(s B O) sum_{t=a..a+s-1} sum_{b,o} (y_tbo - target_tbo)^2</c> and its gradient
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
/// The model must be unidirectional (a backward direction would need the future of the stream),
/// read dense inputs, and have a per-step regression head. With dropout, every re-run draws fresh
/// masks. The caller owns the update: after <see cref="ComputeWindowGradients"/> it clips the
/// gradient and steps the optimiser, before the next window.
/// </para>
/// </remarks>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public sealed class TruncatedBptt<T>
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

        if (config.VocabularySize > 0 || config.Head != HeadKind.Regression || config.Pooling != Pooling.EveryStep)
        {
            throw new UnrollException(
                $"bptt: expected a model with dense inputs and a per-step regression head (trained with the mean squared error), got vocabulary {config.VocabularySize}, head {config.Head}, pooling {config.Pooling}.");
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
        Batch = batch;
        _state = new T[stateLength];
        _cell = new T[_hasCell ? stateLength : 0];
        _historyStartState = new T[stateLength];
        _historyStartCell = new T[_hasCell ? stateLength : 0];
        _nextStartState = new T[stateLength];
        _nextStartCell = new T[_hasCell ? stateLength : 0];
        _history = new T[_historyCapacity * batch * config.InputSize];
        _inputs = new T[maxSteps * batch * config.InputSize];
        _predictionGradients = new T[maxSteps * batch * config.OutputSize];
        _historySteps = 0;
        StepsSeen = 0;
        LastBackpropagatedSteps = 0;
    }

    /// <summary>
    /// Zeroes the parameter gradients, runs the model over the window from the carried state (with
    /// up to k2 - k1 earlier steps re-run first), and sets the gradients to dL_n/dtheta of the
    /// window's mean squared error, back-propagated no further than described in the remarks. The
    /// state at the end of the window becomes the carried state. The model's
    /// <see cref="SequenceModel{T}.Predictions"/> afterwards cover the re-run steps then the window.
    /// </summary>
    /// <param name="inputs">The window's inputs, [s, B, I] time-major.</param>
    /// <param name="targets">The window's targets, [s, B, O] time-major.</param>
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
        int inputWidth = batch * config.InputSize, outputWidth = batch * config.OutputSize;
        if (inputs.Length != steps * inputWidth || targets.Length != steps * outputWidth)
        {
            throw new ArgumentException(
                $"Expected inputs [s={steps}, B={batch}, I={config.InputSize}] and targets [s, B, O={config.OutputSize}] ({steps * inputWidth} and {steps * outputWidth} values), got {inputs.Length} and {targets.Length}.");
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
            _model.Forward(runInputs[..(dropped * inputWidth)], dropped, batch, _historyStartState, default, CellOrEmpty(_historyStartCell));
            _model.FinalState.CopyTo(_nextStartState);
            _model.FinalCell.CopyTo(_nextStartCell);
        }

        _model.Parameters.ZeroGradients();
        _model.Forward(runInputs, total, batch, _historyStartState, default, CellOrEmpty(_historyStartCell));
        var gradients = _predictionGradients.AsSpan(0, total * outputWidth);
        gradients[..(history * outputWidth)].Clear();
        T loss = Losses.MeanSquaredError<T>(_model.Predictions[(history * outputWidth)..], targets, gradients[(history * outputWidth)..]);
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
        return double.CreateChecked(loss);
    }

    private ReadOnlySpan<T> CellOrEmpty(T[] cell) => _hasCell ? cell : default;
}
