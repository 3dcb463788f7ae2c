using System.Numerics;
using System.Runtime.InteropServices;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201, section 3.2): an LSTM whose gates read
/// only x_t, with the forget and input gates normalised so that the state stays in the candidates' range, trained
/// by a scan (see <see cref="GatedScanLayer{T}"/>). Gate blocks of <c>rnn.weight_ih_l{k}</c> [3H, I] and
/// <c>rnn.bias_ih_l{k}</c> [3H] in the order f, i, h~:
/// <code>
/// [g_f, g_i, h~_t] = W_ih x_t + b_ih
/// f = sigmoid(g_f)    i = sigmoid(g_i)
/// f' = f / (f + i)    i' = i / (f + i) = 1 - f'
/// h_t = f' * h_{t-1} + i' * h~_t               i.e. a_t = f', b_t = (1 - f') * h~_t
/// </code>
/// When both sigmoids round to zero (float, both pre-activations below about -18), f / (f + i) is 0 / 0; its limit,
/// sigmoid(g_f - g_i), is used instead. As for <see cref="MinGruLayer{T}"/>, h~ is linear and the scan runs in linear space.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class MinLstmLayer<T>(ParameterSet<T> parameters, int layer, bool reverse, int inputSize, int hidden)
    : GatedScanLayer<T>(parameters, gateBlocks: 3, layer, reverse, inputSize, hidden)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Writes f and i over g_f and g_i (h~ stays), a = f' and b = (1 - f') h~.</summary>
    protected override void ForwardRow(Span<T> gates, Span<T> coefficient, Span<T> input)
    {
        int hidden = Hidden;
        var forget = gates[..hidden];
        var inputGate = gates.Slice(hidden, hidden);
        var candidate = gates.Slice(2 * hidden, hidden);
        // The limit's argument g_f - g_i, kept in a until the sigmoids are known.
        for (int k = 0; k < hidden; k++)
        {
            coefficient[k] = forget[k] - inputGate[k];
        }

        // f = sigmoid(g_f), i = sigmoid(g_i)
        Activations.SigmoidInPlace(forget);
        Activations.SigmoidInPlace(inputGate);
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref T f0 = ref MemoryMarshal.GetReference(forget);
            ref T i0 = ref MemoryMarshal.GetReference(inputGate);
            ref T n0 = ref MemoryMarshal.GetReference(candidate);
            ref T a0 = ref MemoryMarshal.GetReference(coefficient);
            ref T b0 = ref MemoryMarshal.GetReference(input);
            for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
            {
                var f = Vector.LoadUnsafe(ref f0, (nuint)j);
                var sum = f + Vector.LoadUnsafe(ref i0, (nuint)j);
                if (Vector.EqualsAny(sum, Vector<T>.Zero))
                {
                    break;
                }

                var normalised = f / sum;
                normalised.StoreUnsafe(ref a0, (nuint)j);
                ((Vector<T>.One - normalised) * Vector.LoadUnsafe(ref n0, (nuint)j)).StoreUnsafe(ref b0, (nuint)j);
            }
        }

        for (; j < hidden; j++)
        {
            // f' = f / (f + i), or its limit sigmoid(g_f - g_i) when both underflow;  b = (1 - f') h~
            T sum = forget[j] + inputGate[j];
            T normalised = sum > T.Zero ? forget[j] / sum : Activations.Sigmoid(coefficient[j]);
            coefficient[j] = normalised;
            input[j] = (T.One - normalised) * candidate[j];
        }
    }

    /// <summary>dL/dg_f, dL/dg_i and dL/dh~ from the total dL/dh_t.</summary>
    protected override void BackwardRow(
        ReadOnlySpan<T> gates, ReadOnlySpan<T> coefficient, ReadOnlySpan<T> previousState, ReadOnlySpan<T> stateGradient, Span<T> gateGradients)
    {
        int hidden = Hidden;
        var forget = gates[..hidden];
        var inputGate = gates.Slice(hidden, hidden);
        var candidate = gates.Slice(2 * hidden, hidden);
        var dForget = gateGradients[..hidden];
        var dInput = gateGradients.Slice(hidden, hidden);
        var dCandidate = gateGradients.Slice(2 * hidden, hidden);
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref T f0 = ref MemoryMarshal.GetReference(forget);
            ref T i0 = ref MemoryMarshal.GetReference(inputGate);
            ref T n0 = ref MemoryMarshal.GetReference(candidate);
            ref T a0 = ref MemoryMarshal.GetReference(coefficient);
            ref T p0 = ref MemoryMarshal.GetReference(previousState);
            ref T q0 = ref MemoryMarshal.GetReference(stateGradient);
            ref T df0 = ref MemoryMarshal.GetReference(dForget);
            ref T di0 = ref MemoryMarshal.GetReference(dInput);
            ref T dn0 = ref MemoryMarshal.GetReference(dCandidate);
            for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
            {
                var normalised = Vector.LoadUnsafe(ref a0, (nuint)j);
                var q = Vector.LoadUnsafe(ref q0, (nuint)j);
                (q * (Vector<T>.One - normalised)).StoreUnsafe(ref dn0, (nuint)j);
                var common = q * (Vector.LoadUnsafe(ref p0, (nuint)j) - Vector.LoadUnsafe(ref n0, (nuint)j)) * normalised * (Vector<T>.One - normalised);
                (common * (Vector<T>.One - Vector.LoadUnsafe(ref f0, (nuint)j))).StoreUnsafe(ref df0, (nuint)j);
                (-common * (Vector<T>.One - Vector.LoadUnsafe(ref i0, (nuint)j))).StoreUnsafe(ref di0, (nuint)j);
            }
        }

        for (; j < hidden; j++)
        {
            T normalised = coefficient[j], q = stateGradient[j];
            // forward: h = f' h_{t-1} + (1 - f') h~  =>  dh~ = q (1 - f'),  df' = q (h_{t-1} - h~)
            dCandidate[j] = q * (T.One - normalised);
            // forward: f' = f / (f + i), f = sigmoid(g_f), i = sigmoid(g_i)
            //   =>  dg_f = df' f' i' (1 - f),  dg_i = -df' f' i' (1 - i)   (i' = 1 - f')
            T common = q * (previousState[j] - candidate[j]) * normalised * (T.One - normalised);
            dForget[j] = common * (T.One - forget[j]);
            dInput[j] = -common * (T.One - inputGate[j]);
        }
    }
}
