using System.Numerics;

namespace Unroll.Cells;

/// <summary>
/// What a cell's forward step sees of one row of the batch, over its hidden units [u0, u1): every span has
/// <see cref="Units"/> elements, element k belonging to unit u0 + k.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public readonly ref struct CellForwardRow<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Span<T> _gates;
    private readonly ReadOnlySpan<T> _recurrentGates;
    private readonly Span<T> _saved;
    private readonly int _hidden;
    private readonly int _block;

    internal CellForwardRow(
        int units, int hidden, int block, Span<T> gates, ReadOnlySpan<T> recurrentGates, Span<T> saved,
        ReadOnlySpan<T> previousState, ReadOnlySpan<T> previousMemory, Span<T> state, Span<T> memory)
    {
        Units = units;
        _hidden = hidden;
        _block = block;
        _gates = gates;
        _recurrentGates = recurrentGates;
        _saved = saved;
        PreviousState = previousState;
        PreviousMemory = previousMemory;
        State = state;
        Memory = memory;
    }

    /// <summary>How many hidden units this call covers.</summary>
    public int Units { get; }

    /// <summary>h_{t-1}; empty for a cell that feeds back the output (<see cref="IRecurrentCell{TSelf}.FeedsBackOutput"/>).</summary>
    public ReadOnlySpan<T> PreviousState { get; }

    /// <summary>c_{t-1} for a cell with a memory; empty otherwise.</summary>
    public ReadOnlySpan<T> PreviousMemory { get; }

    /// <summary>h_t, for the cell to write.</summary>
    public Span<T> State { get; }

    /// <summary>c_t, for a cell with a memory to write; empty otherwise.</summary>
    public Span<T> Memory { get; }

    /// <summary>
    /// Gate block <paramref name="gate"/>: its pre-activation on entry (<c>W_ih x + b_ih</c>, plus <c>W_hh h + b_hh</c> unless the
    /// cell keeps the recurrent part apart); what the cell leaves here is handed back to its backward.
    /// </summary>
    public Span<T> Gate(int gate) => _gates.Slice(gate * _hidden, Units);

    /// <summary>For a cell with <see cref="IRecurrentCell{TSelf}.SeparateRecurrentGates"/>, block <paramref name="gate"/> of <c>W_hh h_{t-1} + b_hh</c>; empty otherwise.</summary>
    public ReadOnlySpan<T> RecurrentGate(int gate) => _recurrentGates.IsEmpty ? [] : _recurrentGates.Slice(gate * _hidden, Units);

    /// <summary>Saved block <paramref name="index"/> of this step (of <see cref="IRecurrentCell{TSelf}.SavedBlocks"/>), for the cell to fill.</summary>
    public Span<T> Saved(int index) => _saved.Slice(index * _block, Units);
}

/// <summary>What a cell's backward step sees of one row, over the same units as its forward step.</summary>
/// <typeparam name="T">float or double.</typeparam>
public readonly ref struct CellBackwardRow<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ReadOnlySpan<T> _gates;
    private readonly ReadOnlySpan<T> _saved;
    private readonly Span<T> _gateGradients;
    private readonly Span<T> _recurrentGateGradients;
    private readonly int _hidden;
    private readonly int _block;

    internal CellBackwardRow(
        int units, int hidden, int block, ReadOnlySpan<T> gates, ReadOnlySpan<T> saved,
        ReadOnlySpan<T> previousState, ReadOnlySpan<T> previousMemory, ReadOnlySpan<T> stateGradient, Span<T> memoryGradient,
        Span<T> gateGradients, Span<T> recurrentGateGradients, Span<T> previousStateGradient)
    {
        Units = units;
        _hidden = hidden;
        _block = block;
        _gates = gates;
        _saved = saved;
        PreviousState = previousState;
        PreviousMemory = previousMemory;
        StateGradient = stateGradient;
        MemoryGradient = memoryGradient;
        _gateGradients = gateGradients;
        _recurrentGateGradients = recurrentGateGradients;
        PreviousStateGradient = previousStateGradient;
    }

    /// <summary>How many hidden units this call covers.</summary>
    public int Units { get; }

    /// <summary>h_{t-1}; empty for a cell that feeds back the output (<see cref="IRecurrentCell{TSelf}.FeedsBackOutput"/>).</summary>
    public ReadOnlySpan<T> PreviousState { get; }

    /// <summary>c_{t-1} for a cell with a memory; empty otherwise.</summary>
    public ReadOnlySpan<T> PreviousMemory { get; }

    /// <summary>The total dL/dh_t: from the layer above (or the head) at this step, from later steps, and from h_n.</summary>
    public ReadOnlySpan<T> StateGradient { get; }

    /// <summary>For a cell with a memory, dL/dc_t on entry (from later steps and from c_n); the cell replaces it with dL/dc_{t-1}.</summary>
    public Span<T> MemoryGradient { get; }

    /// <summary>Zero on entry; the cell adds the part of dL/dh_{t-1} that does not pass through <c>W_hh</c> (the GRU's z dh_t).</summary>
    public Span<T> PreviousStateGradient { get; }

    /// <summary>What the forward step left in gate block <paramref name="gate"/>.</summary>
    public ReadOnlySpan<T> Gate(int gate) => _gates.Slice(gate * _hidden, Units);

    /// <summary>What the forward step left in saved block <paramref name="index"/>.</summary>
    public ReadOnlySpan<T> Saved(int index) => _saved.Slice(index * _block, Units);

    /// <summary>
    /// dL/d(pre-activation) of gate block <paramref name="gate"/>, for the cell to write: of the whole pre-activation, or, for a
    /// cell with <see cref="IRecurrentCell{TSelf}.SeparateRecurrentGates"/>, of its input part <c>W_ih x + b_ih</c>.
    /// </summary>
    public Span<T> GateGradient(int gate) => _gateGradients.Slice(gate * _hidden, Units);

    /// <summary>For a cell with <see cref="IRecurrentCell{TSelf}.SeparateRecurrentGates"/>, dL/d(<c>W_hh h_{t-1} + b_hh</c>) of block <paramref name="gate"/>, for the cell to write; empty otherwise.</summary>
    public Span<T> RecurrentGateGradient(int gate) => _recurrentGateGradients.IsEmpty ? [] : _recurrentGateGradients.Slice(gate * _hidden, Units);
}
