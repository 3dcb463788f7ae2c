using System.Numerics;
using System.Runtime.InteropServices;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201, section 3.1): a GRU whose gates read
/// only x_t, so that training over a whole sequence is a scan (see <see cref="GatedScanLayer{T}"/>).
/// Gate blocks of <c>rnn.weight_ih_l{k}</c> [2H, I] and <c>rnn.bias_ih_l{k}</c> [2H] in the order z, h~:
/// <code>
/// [g_z, h~_t] = W_ih x_t + b_ih
/// z_t = sigmoid(g_z)
/// h_t = (1 - z_t) * h_{t-1} + z_t * h~_t      i.e. a_t = 1 - z_t, b_t = z_t * h~_t
/// </code>
/// h~_t is the linear candidate of the paper's minGRU (no tanh). The paper's g() = x + 0.5 / sigmoid(x) that keeps
/// h~ positive serves its log-space scan only; the linear-space scan used here needs no such trick.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class MinGruLayer<T>(ParameterSet<T> parameters, int layer, bool reverse, int inputSize, int hidden)
    : GatedScanLayer<T>(parameters, gateBlocks: 2, layer, reverse, inputSize, hidden)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Writes z over g_z (h~ stays), a = 1 - z and b = z h~.</summary>
    protected override void ForwardRow(Span<T> gates, Span<T> coefficient, Span<T> input)
    {
        int hidden = Hidden;
        var update = gates[..hidden];
        var candidate = gates.Slice(hidden, hidden);
        // z = sigmoid(g_z)
        Activations.SigmoidInPlace(update);
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref T z0 = ref MemoryMarshal.GetReference(update);
            ref T n0 = ref MemoryMarshal.GetReference(candidate);
            ref T a0 = ref MemoryMarshal.GetReference(coefficient);
            ref T b0 = ref MemoryMarshal.GetReference(input);
            for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
            {
                var z = Vector.LoadUnsafe(ref z0, (nuint)j);
                (Vector<T>.One - z).StoreUnsafe(ref a0, (nuint)j);
                (z * Vector.LoadUnsafe(ref n0, (nuint)j)).StoreUnsafe(ref b0, (nuint)j);
            }
        }

        for (; j < hidden; j++)
        {
            // a = 1 - z;  b = z h~
            coefficient[j] = T.One - update[j];
            input[j] = update[j] * candidate[j];
        }
    }

    /// <summary>dL/dg_z and dL/dh~ from the total dL/dh_t.</summary>
    protected override void BackwardRow(
        ReadOnlySpan<T> gates, ReadOnlySpan<T> coefficient, ReadOnlySpan<T> previousState, ReadOnlySpan<T> stateGradient, Span<T> gateGradients)
    {
        int hidden = Hidden;
        var update = gates[..hidden];
        var candidate = gates.Slice(hidden, hidden);
        var dUpdate = gateGradients[..hidden];
        var dCandidate = gateGradients.Slice(hidden, hidden);
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref T z0 = ref MemoryMarshal.GetReference(update);
            ref T n0 = ref MemoryMarshal.GetReference(candidate);
            ref T p0 = ref MemoryMarshal.GetReference(previousState);
            ref T q0 = ref MemoryMarshal.GetReference(stateGradient);
            ref T dz0 = ref MemoryMarshal.GetReference(dUpdate);
            ref T dn0 = ref MemoryMarshal.GetReference(dCandidate);
            for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
            {
                var z = Vector.LoadUnsafe(ref z0, (nuint)j);
                var q = Vector.LoadUnsafe(ref q0, (nuint)j);
                (q * z).StoreUnsafe(ref dn0, (nuint)j);
                (q * (Vector.LoadUnsafe(ref n0, (nuint)j) - Vector.LoadUnsafe(ref p0, (nuint)j)) * z * (Vector<T>.One - z)).StoreUnsafe(ref dz0, (nuint)j);
            }
        }

        for (; j < hidden; j++)
        {
            T z = update[j], q = stateGradient[j];
            // forward: h = (1 - z) h_{t-1} + z h~  =>  dh~ = q z
            dCandidate[j] = q * z;
            // forward: h = (1 - z) h_{t-1} + z h~  =>  dz = q (h~ - h_{t-1});  z = sigmoid(g_z)  =>  dg_z = dz z (1 - z)
            dUpdate[j] = q * (candidate[j] - previousState[j]) * z * (T.One - z);
        }
    }
}
