using System.Numerics;

namespace Unroll.Layers;

/// <summary>
/// One direction of one recurrent layer as <see cref="Models.SequenceModel{T}"/> drives it: a forward pass over a
/// batch of time-major sequences with per-sequence lengths, its exact backward pass, and one step of inference.
/// </summary>
/// <remarks>
/// Shapes: x [T, B, I]; the layer writes its output, H values per row, into columns [column, column + H) of a
/// [T, B, width] buffer (zero at padded steps); its state is [B, H] (and, for a cell with a memory beside h,
/// another [B, H]). For the Elman, LSTM and GRU cells the output is the state; the LRU's output is its GLU's, and
/// its state is its N = H/2 complex values as H reals.
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
internal interface IRecurrentLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>When set, <see cref="Backward"/> records ||dL/dh_t|| (and its vectors) for every t.</summary>
    bool RecordStateGradientNorms { get; set; }

    /// <summary>
    /// When set, a <see cref="Backward"/> asked for no input gradient stops once it has dL/dh_t for every t (and the
    /// initial-state gradients): it adds nothing to the weight gradients. For measurements that read only the state
    /// gradients, where dW_hh and dW_ih would be half the backward pass's work. Layers without such a use throw on
    /// setting it.
    /// </summary>
    bool StateGradientsOnly { get; set; }

    /// <summary>||dL/dh_t||_2 over the batch for t = 0..T-1, from the last backward pass with recording on.</summary>
    ReadOnlySpan<double> StateGradientNorms { get; }

    /// <summary>||dL/dc_t||_2 from later steps for a cell with a memory beside h; empty otherwise.</summary>
    ReadOnlySpan<double> CellGradientNorms { get; }

    /// <summary>The vectors behind <see cref="StateGradientNorms"/>: dL/dh_t as [T, B, H] in time order.</summary>
    ReadOnlySpan<T> StateGradients { get; }

    /// <summary>The vectors behind <see cref="CellGradientNorms"/>, [T, B, H]; empty without a memory.</summary>
    ReadOnlySpan<T> CellGradients { get; }

    /// <summary>The last state of each sequence (after its own last step; for the reverse direction, after t = 0), [B, H].</summary>
    ReadOnlySpan<T> FinalState { get; }

    /// <summary>The last memory state (LSTM), [B, H].</summary>
    ReadOnlySpan<T> FinalCell { get; }

    /// <summary>dL/dh0 after <see cref="Backward"/>, [B, H].</summary>
    ReadOnlySpan<T> InitialStateGradient { get; }

    /// <summary>dL/dc0 after <see cref="Backward"/> (LSTM), [B, H].</summary>
    ReadOnlySpan<T> InitialCellGradient { get; }

    /// <summary>
    /// Makes the layer read token ids (<paramref name="tokens"/>, [T, B]) looked up in the embedding parameter
    /// <paramref name="embeddingName"/>, so that <see cref="Backward"/> adds dL/dE itself; a null name switches back to dense x.
    /// </summary>
    void SetTokenInput(int[]? tokens, string? embeddingName, int vocabulary);

    /// <summary>
    /// Runs the layer over x ([T, B, I]) and writes its output into columns [<paramref name="outputColumn"/>, +H) of
    /// <paramref name="output"/> ([T, B, outputWidth]), zero at padded steps.
    /// </summary>
    void Forward(
        ReadOnlySpan<T> x, int steps, int batch, ReadOnlySpan<int> lengths,
        ReadOnlySpan<T> initialState, ReadOnlySpan<T> initialCell,
        Span<T> output, int outputColumn, int outputWidth);

    /// <summary>
    /// Backpropagation for the last <see cref="Forward"/>: reads dL/doutput from columns [<paramref name="outputColumn"/>, +H)
    /// of <paramref name="outputGradient"/> and dL/d<see cref="FinalState"/> (dL/d<see cref="FinalCell"/>) from
    /// <paramref name="finalStateGradient"/> (<paramref name="finalCellGradient"/>), [B, H] each or empty for none; adds every
    /// parameter gradient, and writes (or adds, when <paramref name="accumulateInputGradient"/>) dL/dx into
    /// <paramref name="inputGradient"/> unless it is empty.
    /// </summary>
    /// <exception cref="UnrollException">The layer cannot take a gradient on its final state and one is given.</exception>
    void Backward(
        ReadOnlySpan<T> x, ReadOnlySpan<T> outputGradient, int outputColumn, int outputWidth,
        Span<T> inputGradient, bool accumulateInputGradient,
        ReadOnlySpan<T> finalStateGradient, ReadOnlySpan<T> finalCellGradient);

    /// <summary>
    /// One step of inference for a batch: <paramref name="state"/> (and <paramref name="cell"/> for the LSTM) hold the
    /// state before the step on entry and after it on exit; the output is then <see cref="StepOutput"/>.
    /// </summary>
    void Step(ReadOnlySpan<T> x, int batch, Span<T> state, Span<T> cell);

    /// <summary>
    /// The layer's output, [B, H], after <see cref="Step"/> left <paramref name="state"/> behind: the state itself
    /// for the cells whose output is their state.
    /// </summary>
    ReadOnlySpan<T> StepOutput(ReadOnlySpan<T> state) => state;
}
