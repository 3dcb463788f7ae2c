using System.Numerics;
using System.Runtime.InteropServices;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The LSTM cell (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000),
/// one time step, exactly as torch.nn.LSTM; gate blocks in PyTorch's order i, f, g, o:
/// <code>
/// [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh   (W_ih: [4H, I], W_hh: [4H, H])
/// i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
/// c_t = f * c_{t-1} + i * g
/// h_t = o * tanh(c_t)
/// </code>
/// The layer computes the pre-activations a; the cell does the element-wise part and saves the
/// post-activation gates and tanh(c_t), from which backward takes every derivative.
/// </summary>
internal static class LstmCell
{
    /// <summary>
    /// forward of one step for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) of every row.
    /// <paramref name="gates"/> ([B, 4H]) holds the pre-activations on entry and i, f, g, o on exit (those units' columns).
    /// Writes h_t, c_t and tanh(c_t) for those units; inactive rows carry h and c.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Forward<T>(
        StepRows rows, int batch, int hidden, int firstUnit, int endUnit, Span<T> gates,
        ReadOnlySpan<T> previousState, ReadOnlySpan<T> previousCell,
        Span<T> state, Span<T> cell, Span<T> tanhCell)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int width = 4 * hidden, units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit;
            var h = state.Slice(at, units);
            var c = cell.Slice(at, units);
            var tc = tanhCell.Slice(at, units);
            var cPrevious = previousCell.Slice(at, units);
            if (!rows.IsActive(b))
            {
                previousState.Slice(at, units).CopyTo(h);
                cPrevious.CopyTo(c);
                tc.Clear();
                continue;
            }

            // i, f = sigmoid; g = tanh; o = sigmoid, each over this range of its gate block.
            int rowStart = (b * width) + firstUnit;
            var input = gates.Slice(rowStart, units);
            var forget = gates.Slice(rowStart + hidden, units);
            var candidate = gates.Slice(rowStart + (2 * hidden), units);
            var output = gates.Slice(rowStart + (3 * hidden), units);
            Activations.SigmoidInPlace(input);
            Activations.SigmoidInPlace(forget);
            Activations.TanhInPlace(candidate);
            Activations.SigmoidInPlace(output);

            // c_t = f * c_{t-1} + i * g (vectors, then the scalar tail: the same operations in the same order)
            ref T i0 = ref MemoryMarshal.GetReference(input);
            ref T f0 = ref MemoryMarshal.GetReference(forget);
            ref T g0 = ref MemoryMarshal.GetReference(candidate);
            ref T cPrev = ref MemoryMarshal.GetReference(cPrevious);
            ref T cOut = ref MemoryMarshal.GetReference(c);
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= units - Vector<T>.Count; j += Vector<T>.Count)
                {
                    var f = Vector.LoadUnsafe(ref f0, (nuint)j);
                    var i = Vector.LoadUnsafe(ref i0, (nuint)j);
                    var g = Vector.LoadUnsafe(ref g0, (nuint)j);
                    ((f * Vector.LoadUnsafe(ref cPrev, (nuint)j)) + (i * g)).StoreUnsafe(ref cOut, (nuint)j);
                }
            }

            for (; j < units; j++)
            {
                c[j] = (forget[j] * cPrevious[j]) + (input[j] * candidate[j]);
            }

            // h_t = o * tanh(c_t)
            c.CopyTo(tc);
            Activations.TanhInPlace(tc);
            ref T o0 = ref MemoryMarshal.GetReference(output);
            ref T tanhC = ref MemoryMarshal.GetReference(tc);
            ref T hOut = ref MemoryMarshal.GetReference(h);
            j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= units - Vector<T>.Count; j += Vector<T>.Count)
                {
                    (Vector.LoadUnsafe(ref o0, (nuint)j) * Vector.LoadUnsafe(ref tanhC, (nuint)j)).StoreUnsafe(ref hOut, (nuint)j);
                }
            }

            for (; j < units; j++)
            {
                h[j] = output[j] * tc[j];
            }
        }
    }

    /// <summary>
    /// backward of one step for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>).
    /// <paramref name="stateGradient"/> is the total dL/dh_t; <paramref name="cellGradient"/> holds dL/dc_t from later
    /// steps on entry and dL/dc_{t-1} on exit. Writes dL/da (the pre-activation gradients, [B, 4H], those units' columns)
    /// and the direct part of dL/dh_{t-1}.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Backward<T>(
        StepRows rows, int batch, int hidden, int firstUnit, int endUnit,
        ReadOnlySpan<T> gates, ReadOnlySpan<T> previousCell, ReadOnlySpan<T> tanhCell,
        ReadOnlySpan<T> stateGradient, Span<T> cellGradient, Span<T> gateGradient, Span<T> previousDirect)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int width = 4 * hidden, units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit, rowStart = (b * width) + firstUnit;
            var dh = stateGradient.Slice(at, units);
            var dc = cellGradient.Slice(at, units);
            var direct = previousDirect.Slice(at, units);
            var dInputGate = gateGradient.Slice(rowStart, units);
            var dForgetGate = gateGradient.Slice(rowStart + hidden, units);
            var dCandidateGate = gateGradient.Slice(rowStart + (2 * hidden), units);
            var dOutputGate = gateGradient.Slice(rowStart + (3 * hidden), units);
            if (!rows.IsActive(b))
            {
                // forward: h_t = h_{t-1}, c_t = c_{t-1}  =>  both gradients pass through unchanged
                dInputGate.Clear();
                dForgetGate.Clear();
                dCandidateGate.Clear();
                dOutputGate.Clear();
                dh.CopyTo(direct);
                continue;
            }

            direct.Clear();
            var gateValues = new LstmGates<T>(
                gates.Slice(rowStart, units), gates.Slice(rowStart + hidden, units),
                gates.Slice(rowStart + (2 * hidden), units), gates.Slice(rowStart + (3 * hidden), units));
            var cPrevious = previousCell.Slice(at, units);
            var tc = tanhCell.Slice(at, units);
            int j = Vector.IsHardwareAccelerated
                ? BackwardVectors(units, gateValues, cPrevious, tc, dh, dc, dInputGate, dForgetGate, dCandidateGate, dOutputGate)
                : 0;
            for (; j < units; j++)
            {
                T i = gateValues.Input[j], f = gateValues.Forget[j], g = gateValues.Candidate[j], o = gateValues.Output[j];
                T t = tc[j];
                // forward: h = o * tanh(c)  =>  do = dh * tanh(c);  dc += dh * o * (1 - tanh(c)^2)
                T dOut = dh[j] * t;
                T dCell = dc[j] + (dh[j] * o * (T.One - (t * t)));
                // forward: c = f * c_prev + i * g  =>  di = dc g, df = dc c_prev, dg = dc i, dc_prev = dc f
                T dInput = dCell * g;
                T dForget = dCell * cPrevious[j];
                T dCandidate = dCell * i;
                dc[j] = dCell * f;
                // through the activations: sigmoid' = s (1 - s), tanh' = 1 - g^2
                dInputGate[j] = dInput * i * (T.One - i);
                dForgetGate[j] = dForget * f * (T.One - f);
                dCandidateGate[j] = dCandidate * (T.One - (g * g));
                dOutputGate[j] = dOut * o * (T.One - o);
            }
        }
    }

    /// <summary>The loop body of <see cref="Backward{T}"/> on whole vectors, the same operations in the same order; returns where the scalar tail starts.</summary>
    private static int BackwardVectors<T>(
        int units, LstmGates<T> gates, ReadOnlySpan<T> cPrevious, ReadOnlySpan<T> tc, ReadOnlySpan<T> dh, Span<T> dc,
        Span<T> dInputGate, Span<T> dForgetGate, Span<T> dCandidateGate, Span<T> dOutputGate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T i0 = ref MemoryMarshal.GetReference(gates.Input);
        ref T f0 = ref MemoryMarshal.GetReference(gates.Forget);
        ref T g0 = ref MemoryMarshal.GetReference(gates.Candidate);
        ref T o0 = ref MemoryMarshal.GetReference(gates.Output);
        ref T cPrev = ref MemoryMarshal.GetReference(cPrevious);
        ref T tanhC = ref MemoryMarshal.GetReference(tc);
        ref T dState = ref MemoryMarshal.GetReference(dh);
        ref T dCellRef = ref MemoryMarshal.GetReference(dc);
        ref T dI = ref MemoryMarshal.GetReference(dInputGate);
        ref T dF = ref MemoryMarshal.GetReference(dForgetGate);
        ref T dG = ref MemoryMarshal.GetReference(dCandidateGate);
        ref T dO = ref MemoryMarshal.GetReference(dOutputGate);
        var one = Vector<T>.One;
        int j = 0;
        for (; j <= units - Vector<T>.Count; j += Vector<T>.Count)
        {
            var i = Vector.LoadUnsafe(ref i0, (nuint)j);
            var f = Vector.LoadUnsafe(ref f0, (nuint)j);
            var g = Vector.LoadUnsafe(ref g0, (nuint)j);
            var o = Vector.LoadUnsafe(ref o0, (nuint)j);
            var t = Vector.LoadUnsafe(ref tanhC, (nuint)j);
            var d = Vector.LoadUnsafe(ref dState, (nuint)j);
            var dOut = d * t;
            var dCell = Vector.LoadUnsafe(ref dCellRef, (nuint)j) + (d * o * (one - (t * t)));
            var dInput = dCell * g;
            var dForget = dCell * Vector.LoadUnsafe(ref cPrev, (nuint)j);
            var dCandidate = dCell * i;
            (dCell * f).StoreUnsafe(ref dCellRef, (nuint)j);
            (dInput * i * (one - i)).StoreUnsafe(ref dI, (nuint)j);
            (dForget * f * (one - f)).StoreUnsafe(ref dF, (nuint)j);
            (dCandidate * (one - (g * g))).StoreUnsafe(ref dG, (nuint)j);
            (dOut * o * (one - o)).StoreUnsafe(ref dO, (nuint)j);
        }

        return j;
    }

    /// <summary>The saved post-activation gates i, f, g, o of one row, over one unit range.</summary>
    private readonly ref struct LstmGates<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> forget, ReadOnlySpan<T> candidate, ReadOnlySpan<T> output)
    {
        public ReadOnlySpan<T> Input { get; } = input;

        public ReadOnlySpan<T> Forget { get; } = forget;

        public ReadOnlySpan<T> Candidate { get; } = candidate;

        public ReadOnlySpan<T> Output { get; } = output;
    }
}
