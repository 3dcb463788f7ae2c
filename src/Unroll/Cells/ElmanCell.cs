using System.Numerics;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;

namespace Unroll.Cells;

/// <summary>
/// The Elman (vanilla) recurrent cell, one time step, as torch.nn.RNN:
/// <code>
/// z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (W_ih: [H, I], W_hh: [H, H])
/// h_t = f(z_t)                                        f in {tanh, sigmoid, relu, identity}
/// </code>
/// The input part <c>W_ih x_t + b_ih + b_hh</c> is computed for all steps at once before the
/// time loop (one GEMM over T*B rows), so a step adds only the recurrent product and applies f.
/// Rows are the batch: h is [B, H] row-major, so <c>W_hh h</c> per row is <c>h W_hh^T</c>.
/// </summary>
public static class ElmanCell
{
    /// <summary>
    /// One forward step. On entry <paramref name="preactivationThenState"/> holds the input part
    /// <c>W_ih x_t + b_ih + b_hh</c> ([B, H]); on exit it holds <c>h_t</c>.
    /// </summary>
    public static void Step<T>(
        Activation activation, ReadOnlySpan<T> weightHh, int hidden, int batch,
        ReadOnlySpan<T> previousState, Span<T> preactivationThenState)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // z_t += h_{t-1} W_hh^T   ([B, H] x [H, H]^T)
        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, hidden,
            T.One, previousState, hidden, weightHh, hidden, T.One, preactivationThenState, hidden);

        // h_t = f(z_t)
        Activations.ApplyInPlace(activation, preactivationThenState);
    }

    /// <summary>
    /// One backward step. On entry <paramref name="stateGradientThenPreactivationGradient"/> holds
    /// the total dL/dh_t ([B, H]); on exit it holds dL/dz_t. dL/dh_{t-1} through this step,
    /// <c>dz_t W_hh</c>, is added to <paramref name="previousStateGradient"/>.
    /// </summary>
    public static void StepBackward<T>(
        Activation activation, ReadOnlySpan<T> weightHh, int hidden, int batch,
        ReadOnlySpan<T> state, Span<T> stateGradientThenPreactivationGradient, Span<T> previousStateGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // forward: h_t = f(z_t)  =>  dz_t = dh_t * f'(z_t), f' taken from the saved h_t
        Activations.BackwardInPlace(activation, state, stateGradientThenPreactivationGradient);

        // forward: z_t = ... + h_{t-1} W_hh^T  =>  dh_{t-1} += dz_t W_hh
        Gemm.Compute(Transpose.No, Transpose.No, batch, hidden, hidden,
            T.One, stateGradientThenPreactivationGradient, hidden, weightHh, hidden, T.One, previousStateGradient, hidden);
    }
}
