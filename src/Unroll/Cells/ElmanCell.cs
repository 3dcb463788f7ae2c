using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The Elman (vanilla) recurrent cell, as torch.nn.RNN:
/// <code>
/// z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (W_ih: [H, I], W_hh: [H, H])
/// h_t = f(z_t)                                        f in {tanh, sigmoid, relu, identity}
/// </code>
/// The gate block keeps h_t, from which backward takes f'(z_t).
/// </summary>
/// <param name="activation">f.</param>
internal readonly struct ElmanCell(Activation activation) : IRecurrentCell<ElmanCell>
{
    /// <inheritdoc/>
    public static string Name => "rnn";

    /// <inheritdoc/>
    public static int GateCount => 1;

    /// <inheritdoc/>
    public static bool HasMemory => false;

    /// <inheritdoc/>
    public static int SavedBlocks => 0;

    /// <inheritdoc/>
    public static bool FeedsBackOutput => false;

    /// <inheritdoc/>
    public static bool SeparateRecurrentGates => false;

    /// <summary>f.</summary>
    public Activation Activation { get; } = activation;

    /// <inheritdoc/>
    public static ElmanCell Create(Activation activation) => new(activation);

    /// <inheritdoc/>
    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var z = row.Gate(0);
        Activations.ApplyInPlace(Activation, z);
        z.CopyTo(row.State);
    }

    /// <inheritdoc/>
    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // forward: h_t = f(z_t)  =>  dz_t = dh_t f'(z_t), f' from the saved h_t
        var dz = row.GateGradient(0);
        row.StateGradient.CopyTo(dz);
        Activations.BackwardInPlace(Activation, row.Gate(0), dz);
    }
}
