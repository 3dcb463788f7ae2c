using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The contract between a recurrent cell and the time loop that runs it: how many gate blocks it stacks in
/// <c>W_ih</c> and <c>W_hh</c>, whether it carries a memory c beside h, what it saves per step for backward, and its
/// element-wise forward and backward for one row of a batch over a range of hidden units.
/// </summary>
/// <remarks>
/// <para>
/// The time loop owns everything that is not element-wise: the input projection <c>x W_ih^T + b_ih</c> for every step
/// before the loop, the per-step product <c>h_{t-1} W_hh^T (+ b_hh)</c>, padded steps of shorter sequences (their state
/// is carried and the cell is not called), the weight gradients and splitting a step over the cores by hidden units.
/// Gate g of unit j of a row lies at column <c>g H + j</c> of that row's <c>G H</c> gate columns, in the order the
/// cell declares (PyTorch's for the built-in cells). A cell reads and writes only the columns of its own units, so
/// its forward and backward may run for disjoint unit ranges at the same time.
/// </para>
/// <para>
/// Cells are structs: the loop is generic over the cell type, so the JIT compiles one loop per cell with the
/// cell's code inlined and no virtual call. Write the element-wise maths once with <see cref="Lanes{T}"/>, which
/// serves whole vectors and the last partial one alike.
/// </para>
/// </remarks>
/// <typeparam name="TSelf">The cell type itself.</typeparam>
public interface IRecurrentCell<TSelf>
    where TSelf : struct, IRecurrentCell<TSelf>
{
    /// <summary>The architecture name the cell is known by, recorded in model files (<c>rnn</c>, <c>lstm</c>, <c>gru</c>, ...).</summary>
    static abstract string Name { get; }

    /// <summary>G, the gate blocks stacked in <c>W_ih</c> [G H, I], <c>W_hh</c> [G H, H] and the biases [G H].</summary>
    static abstract int GateCount { get; }

    /// <summary>Whether the cell carries a memory c beside h (the LSTM's cell state), with its own h_n-like final value.</summary>
    static abstract bool HasMemory { get; }

    /// <summary>How many [B, H] blocks per step the cell saves for backward beside its gates and states (<see cref="CellForwardRow{T}.Saved"/>).</summary>
    static abstract int SavedBlocks { get; }

    /// <summary>
    /// Whether the recurrent part <c>h_{t-1} W_hh^T + b_hh</c> reaches the cell apart from the input part
    /// (as the GRU needs, whose reset gate multiplies the recurrent part of its candidate); otherwise the loop adds
    /// both biases and both products into one pre-activation per gate.
    /// </summary>
    static abstract bool SeparateRecurrentGates { get; }

    /// <summary>
    /// Whether the recurrent weight multiplies the network's previous output <c>y_{t-1} = W h_{t-1} + b</c> (the head's,
    /// or the true previous target under teacher forcing) instead of h_{t-1}: the output recurrence of the Jordan network,
    /// whose weight is <c>rnn.weight_yh_l{k}</c> [G H, O]. Such a cell sees no <see cref="CellForwardRow{T}.PreviousState"/>.
    /// False for every cell a sequence model of stacked hidden states runs.
    /// </summary>
    static abstract bool FeedsBackOutput { get; }

    /// <summary>The cell for a model configured with <paramref name="activation"/> (used by cells that have a configurable non-linearity).</summary>
    static abstract TSelf Create(Activation activation);

    /// <summary>
    /// One active row's forward step for the units of <paramref name="row"/>: from the pre-activations in
    /// <see cref="CellForwardRow{T}.Gate"/> (and <see cref="CellForwardRow{T}.RecurrentGate"/>) and the previous state,
    /// write the new state (and memory), and leave in the gates and saved blocks whatever backward needs.
    /// </summary>
    void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// One active row's backward step: from dL/dh_t (<see cref="CellBackwardRow{T}.StateGradient"/>) and, for a cell with
    /// a memory, dL/dc_t (<see cref="CellBackwardRow{T}.MemoryGradient"/>, to be replaced by dL/dc_{t-1}), write the
    /// gradient of every gate pre-activation and add the part of dL/dh_{t-1} that does not go through <c>W_hh</c>.
    /// </summary>
    void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>;
}
