namespace Unroll.Cells;

/// <summary>The recurrent cells, with PyTorch's gate layouts.</summary>
internal enum CellKind
{
    /// <summary>Elman: one block, <c>h = f(W_ih x + b_ih + W_hh h + b_hh)</c> (torch.nn.RNN).</summary>
    Rnn,

    /// <summary>LSTM: four blocks in PyTorch's order i, f, g, o (torch.nn.LSTM).</summary>
    Lstm,

    /// <summary>GRU: three blocks in PyTorch's order r, z, n, linear-before-reset (torch.nn.GRU).</summary>
    Gru,

    /// <summary>Linear Recurrent Unit (Orvieto et al. 2023): a diagonal complex recurrence, N = H/2 states, with a GELU and GLU output.</summary>
    Lru,

    /// <summary>minGRU (Feng et al. 2024): two blocks z, h~ computed from x_t alone; h_t = (1 - z) h_{t-1} + z h~.</summary>
    MinGru,

    /// <summary>minLSTM (Feng et al. 2024): three blocks f, i, h~ computed from x_t alone; h_t = f' h_{t-1} + i' h~.</summary>
    MinLstm,
}

/// <summary>Facts about each cell kind.</summary>
internal static class CellKinds
{
    /// <summary>Gate blocks stacked in W_ih, W_hh and the biases: 1, 4 or 3 (2 and 3 in the min-cells' W_ih; the LRU has none).</summary>
    public static int GateCount(CellKind kind) => kind switch
    {
        CellKind.Rnn => 1,
        CellKind.Lstm => 4,
        CellKind.Gru => 3,
        CellKind.MinGru => 2,
        CellKind.MinLstm => 3,
        CellKind.Lru => throw new ArgumentOutOfRangeException(nameof(kind), kind, "The LRU has no stacked gate blocks."),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown cell."),
    };

    /// <summary>Whether the cell carries a memory c beside h.</summary>
    public static bool HasCellState(CellKind kind) => kind == CellKind.Lstm;
}
