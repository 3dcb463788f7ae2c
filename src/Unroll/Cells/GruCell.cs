using System.Numerics;
using System.Runtime.InteropServices;
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
internal readonly struct GruCell : IRecurrentCell<GruCell>
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
        Span<T> reset = row.Gate(0), update = row.Gate(1), candidate = row.Gate(2), hiddenCandidate = row.Saved(0);
        row.RecurrentGate(2).CopyTo(hiddenCandidate);
        // The row's spans hold exactly Units elements: the loops read them through their first elements, unchecked.
        ref T r0 = ref MemoryMarshal.GetReference(reset), z0 = ref MemoryMarshal.GetReference(update);
        ref T n0 = ref MemoryMarshal.GetReference(candidate), ghn0 = ref MemoryMarshal.GetReference(hiddenCandidate);
        ref T ghr0 = ref MemoryMarshal.GetReference(row.RecurrentGate(0)), ghz0 = ref MemoryMarshal.GetReference(row.RecurrentGate(1));
        ref T hPrevious0 = ref MemoryMarshal.GetReference(row.PreviousState), h0 = ref MemoryMarshal.GetReference(row.State);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // the pre-activations of r and z: gi + gh
            lane.Store(lane.Load(ref r0) + lane.Load(ref ghr0), ref r0);
            lane.Store(lane.Load(ref z0) + lane.Load(ref ghz0), ref z0);
        }

        Activations.SigmoidInPlace(reset);
        Activations.SigmoidInPlace(update);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // n's pre-activation: gi_n + r * gh_n
            lane.Store(lane.Load(ref n0) + (lane.Load(ref r0) * lane.Load(ref ghn0)), ref n0);
        }

        Activations.TanhInPlace(candidate);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // h_t = (1 - z) n + z h_{t-1}
            var z = lane.Load(ref z0);
            lane.Store(((Vector<T>.One - z) * lane.Load(ref n0)) + (z * lane.Load(ref hPrevious0)), ref h0);
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
        // The row's spans hold exactly Units elements: the loop reads them through their first elements, unchecked.
        ref T r0 = ref MemoryMarshal.GetReference(reset), z0 = ref MemoryMarshal.GetReference(update);
        ref T n0 = ref MemoryMarshal.GetReference(candidate), ghn0 = ref MemoryMarshal.GetReference(hiddenCandidate);
        ref T d0 = ref MemoryMarshal.GetReference(stateGradient), hPrevious0 = ref MemoryMarshal.GetReference(previousState);
        ref T dir0 = ref MemoryMarshal.GetReference(dInputReset), diz0 = ref MemoryMarshal.GetReference(dInputUpdate);
        ref T din0 = ref MemoryMarshal.GetReference(dInputCandidate), dhr0 = ref MemoryMarshal.GetReference(dHiddenReset);
        ref T dhz0 = ref MemoryMarshal.GetReference(dHiddenUpdate), dhn0 = ref MemoryMarshal.GetReference(dHiddenCandidate);
        ref T direct0 = ref MemoryMarshal.GetReference(previousDirect);
        var one = Vector<T>.One;
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            Vector<T> r = lane.Load(ref r0), z = lane.Load(ref z0), n = lane.Load(ref n0), d = lane.Load(ref d0);
            // forward: h = (1 - z) n + z h_prev  =>  dn = d (1 - z), dz = d (h_prev - n), dh_prev = d z
            var dn = d * (one - z);
            var dz = d * (lane.Load(ref hPrevious0) - n);
            lane.Store(d * z, ref direct0);
            // forward: n = tanh(gi_n + r gh_n)  =>  da_n = dn (1 - n^2); dgi_n = da_n, dgh_n = da_n r, dr = da_n gh_n
            var dnPre = dn * (one - (n * n));
            var dr = dnPre * lane.Load(ref ghn0);
            // forward: r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
            var drPre = dr * r * (one - r);
            var dzPre = dz * z * (one - z);
            lane.Store(drPre, ref dir0);
            lane.Store(drPre, ref dhr0);
            lane.Store(dzPre, ref diz0);
            lane.Store(dzPre, ref dhz0);
            lane.Store(dnPre, ref din0);
            lane.Store(dnPre * r, ref dhn0);
        }
    }
}
