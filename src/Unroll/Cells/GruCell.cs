using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The GRU cell (Cho et al. 2014) in the linear-before-reset form of torch.nn.GRU (and cuDNN),
/// gate blocks in PyTorch's order r, z, n:
/// <code>
/// [gi_r, gi_z, gi_n] = W_ih x_t + b_ih          (computed for all steps before the loop)
/// [gh_r, gh_z, gh_n] = W_hh h_{t-1} + b_hh      (per step, kept apart: SeparateRecurrentGates)
/// r = sigmoid(gi_r + gh_r)    z = sigmoid(gi_z + gh_z)
/// n = tanh(gi_n + r * gh_n)
/// h_t = (1 - z) * n + z * h_{t-1}
/// </code>
/// The gate blocks keep r, z, n and the one saved block gh_n. Because r multiplies gh_n, the input and recurrent
/// gate gradients differ in the n block, so backward writes both.
/// </summary>
public readonly struct GruCell : IRecurrentCell<GruCell>
{
    /// <inheritdoc/>
    public static string Name => "gru";

    /// <inheritdoc/>
    public static int GateCount => 3;

    /// <inheritdoc/>
    public static bool HasMemory => false;

    /// <inheritdoc/>
    public static int SavedBlocks => 1;

    /// <inheritdoc/>
    public static bool FeedsBackOutput => false;

    /// <inheritdoc/>
    public static bool SeparateRecurrentGates => true;

    /// <inheritdoc/>
    public static GruCell Create(Activation activation) => default;

    /// <inheritdoc/>
    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> reset = row.Gate(0), update = row.Gate(1), candidate = row.Gate(2), hiddenCandidate = row.Saved(0), h = row.State;
        ReadOnlySpan<T> recurrentReset = row.RecurrentGate(0), recurrentUpdate = row.RecurrentGate(1), previousState = row.PreviousState;
        row.RecurrentGate(2).CopyTo(hiddenCandidate);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // the pre-activations of r and z: gi + gh
            lane.Store(lane.Load(reset) + lane.Load(recurrentReset), reset);
            lane.Store(lane.Load(update) + lane.Load(recurrentUpdate), update);
        }

        Activations.SigmoidInPlace(reset);
        Activations.SigmoidInPlace(update);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // n's pre-activation: gi_n + r * gh_n
            lane.Store(lane.Load(candidate) + (lane.Load(reset) * lane.Load(hiddenCandidate)), candidate);
        }

        Activations.TanhInPlace(candidate);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // h_t = (1 - z) n + z h_{t-1}
            var z = lane.Load(update);
            lane.Store(((Vector<T>.One - z) * lane.Load(candidate)) + (z * lane.Load(previousState)), h);
        }
    }

    /// <inheritdoc/>
    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<T> reset = row.Gate(0), update = row.Gate(1), candidate = row.Gate(2), hiddenCandidate = row.Saved(0);
        ReadOnlySpan<T> stateGradient = row.StateGradient, previousState = row.PreviousState;
        Span<T> dInputReset = row.GateGradient(0), dInputUpdate = row.GateGradient(1), dInputCandidate = row.GateGradient(2);
        Span<T> dHiddenReset = row.RecurrentGateGradient(0), dHiddenUpdate = row.RecurrentGateGradient(1), dHiddenCandidate = row.RecurrentGateGradient(2);
        Span<T> previousDirect = row.PreviousStateGradient;
        var one = Vector<T>.One;
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            Vector<T> r = lane.Load(reset), z = lane.Load(update), n = lane.Load(candidate), d = lane.Load(stateGradient);
            // forward: h = (1 - z) n + z h_prev  =>  dn = d (1 - z), dz = d (h_prev - n), dh_prev = d z
            var dn = d * (one - z);
            var dz = d * (lane.Load(previousState) - n);
            lane.Store(d * z, previousDirect);
            // forward: n = tanh(gi_n + r gh_n)  =>  da_n = dn (1 - n^2); dgi_n = da_n, dgh_n = da_n r, dr = da_n gh_n
            var dnPre = dn * (one - (n * n));
            var dr = dnPre * lane.Load(hiddenCandidate);
            // forward: r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
            var drPre = dr * r * (one - r);
            var dzPre = dz * z * (one - z);
            lane.Store(drPre, dInputReset);
            lane.Store(drPre, dHiddenReset);
            lane.Store(dzPre, dInputUpdate);
            lane.Store(dzPre, dHiddenUpdate);
            lane.Store(dnPre, dInputCandidate);
            lane.Store(dnPre * r, dHiddenCandidate);
        }
    }
}
