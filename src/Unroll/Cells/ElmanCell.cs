using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The Elman (vanilla) recurrent cell, one time step, as torch.nn.RNN:
/// <code>
/// z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (W_ih: [H, I], W_hh: [H, H])
/// h_t = f(z_t)                                        f in {tanh, sigmoid, relu, identity}
/// </code>
/// The recurrent layer computes <c>z_t</c> (the input part for all steps before the time loop,
/// the recurrent product per step); the cell does the element-wise part for one step, and its
/// backward. Rows are the batch; a row that is not active at this step (a padded step of a
/// shorter sequence) keeps its state.
/// </summary>
internal static class ElmanCell
{
    /// <summary>
    /// forward: h_t = f(z_t) for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) of every row.
    /// <paramref name="gates"/> holds z_t ([B, H]) on entry and h_t on exit (active rows); h_t is also written to
    /// <paramref name="state"/>, and inactive rows copy <paramref name="previous"/>. Other units are not touched.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Forward<T>(
        Activation activation, StepRows rows, int batch, int hidden, int firstUnit, int endUnit,
        Span<T> gates, ReadOnlySpan<T> previous, Span<T> state)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit;
            if (rows.IsActive(b))
            {
                var z = gates.Slice(at, units);
                Activations.ApplyInPlace(activation, z);
                z.CopyTo(state.Slice(at, units));
            }
            else
            {
                previous.Slice(at, units).CopyTo(state.Slice(at, units));
            }
        }
    }

    /// <summary>
    /// backward of one step for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>).
    /// <paramref name="stateGradient"/> is the total dL/dh_t ([B, H]). Writes dL/dz_t to <paramref name="gateGradient"/>
    /// (zero for inactive rows) and the part of dL/dh_{t-1} that does not go through W_hh to
    /// <paramref name="previousDirect"/> (dh_t itself for inactive rows, whose state was carried; zero otherwise).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Backward<T>(
        Activation activation, StepRows rows, int batch, int hidden, int firstUnit, int endUnit,
        ReadOnlySpan<T> gates, ReadOnlySpan<T> stateGradient, Span<T> gateGradient, Span<T> previousDirect)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit;
            var dh = stateGradient.Slice(at, units);
            var dz = gateGradient.Slice(at, units);
            var direct = previousDirect.Slice(at, units);
            if (rows.IsActive(b))
            {
                // forward: h_t = f(z_t)  =>  dz_t = dh_t * f'(z_t), f' from the saved h_t
                dh.CopyTo(dz);
                Activations.BackwardInPlace(activation, gates.Slice(at, units), dz);
                direct.Clear();
            }
            else
            {
                // forward: h_t = h_{t-1} (padded step)  =>  dh_{t-1} += dh_t
                dz.Clear();
                dh.CopyTo(direct);
            }
        }
    }
}
