using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The output recurrence of the Jordan network (Jordan 1986): the Elman cell's maths, fed the network's previous output
/// rather than its previous hidden state.
/// <code>
/// a_t = W_ih x_t + b_ih + W_yh y_{t-1} + b_hh       (W_ih: [H, I], W_yh: [H, O])
/// h_t = f(a_t)
/// y_t = W h_t + b                                     (the head: head.weight, head.bias)
/// </code>
/// y_{t-1} is the head's own previous output when the network runs free, the true previous target under teacher
/// forcing, and y0 at the first step.
/// </summary>
/// <param name="activation">f.</param>
internal readonly struct JordanCell(Activation activation) : IRecurrentCell<JordanCell>
{
    /// <inheritdoc/>
    public static string Name => "jordan";

    /// <inheritdoc/>
    public static int GateCount => ElmanCell.GateCount;

    /// <inheritdoc/>
    public static bool HasMemory => ElmanCell.HasMemory;

    /// <inheritdoc/>
    public static int SavedBlocks => ElmanCell.SavedBlocks;

    /// <inheritdoc/>
    public static bool SeparateRecurrentGates => ElmanCell.SeparateRecurrentGates;

    /// <inheritdoc/>
    public static bool FeedsBackOutput => true;

    /// <summary>f.</summary>
    public Activation Activation { get; } = activation;

    /// <inheritdoc/>
    public static JordanCell Create(Activation activation) => new(activation);

    /// <inheritdoc/>
    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T> => new ElmanCell(Activation).Forward(row);

    /// <inheritdoc/>
    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T> => new ElmanCell(Activation).Backward(row);
}
