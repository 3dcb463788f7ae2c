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
public static class LstmCell
{
    /// <summary>
    /// forward of one step. <paramref name="gates"/> ([B, 4H]) holds the pre-activations on entry and
    /// i, f, g, o on exit. Writes h_t, c_t and tanh(c_t); inactive rows carry h and c.
    /// </summary>
    public static void Forward<T>(
        StepRows rows, int batch, int hidden, Span<T> gates,
        ReadOnlySpan<T> previousState, ReadOnlySpan<T> previousCell,
        Span<T> state, Span<T> cell, Span<T> tanhCell)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 4 * hidden;
        for (int b = 0; b < batch; b++)
        {
            var h = state.Slice(b * hidden, hidden);
            var c = cell.Slice(b * hidden, hidden);
            var tc = tanhCell.Slice(b * hidden, hidden);
            var cPrevious = previousCell.Slice(b * hidden, hidden);
            if (!rows.IsActive(b))
            {
                previousState.Slice(b * hidden, hidden).CopyTo(h);
                cPrevious.CopyTo(c);
                tc.Clear();
                continue;
            }

            // i, f = sigmoid; g = tanh; o = sigmoid, each over a contiguous block of the row.
            var row = gates.Slice(b * width, width);
            Activations.SigmoidInPlace(row[..(2 * hidden)]);
            Activations.TanhInPlace(row.Slice(2 * hidden, hidden));
            Activations.SigmoidInPlace(row.Slice(3 * hidden, hidden));
            // c_t = f * c_{t-1} + i * g (vectors, then the scalar tail: the same operations in the same order)
            ref T gate = ref MemoryMarshal.GetReference(row);
            ref T cPrev = ref MemoryMarshal.GetReference(cPrevious);
            ref T cOut = ref MemoryMarshal.GetReference(c);
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
                {
                    var input = Vector.LoadUnsafe(ref gate, (nuint)j);
                    var forget = Vector.LoadUnsafe(ref gate, (nuint)(hidden + j));
                    var candidate = Vector.LoadUnsafe(ref gate, (nuint)((2 * hidden) + j));
                    ((forget * Vector.LoadUnsafe(ref cPrev, (nuint)j)) + (input * candidate)).StoreUnsafe(ref cOut, (nuint)j);
                }
            }

            for (; j < hidden; j++)
            {
                c[j] = (row[hidden + j] * cPrevious[j]) + (row[j] * row[(2 * hidden) + j]);
            }

            // h_t = o * tanh(c_t)
            c.CopyTo(tc);
            Activations.TanhInPlace(tc);
            ref T tanhC = ref MemoryMarshal.GetReference(tc);
            ref T hOut = ref MemoryMarshal.GetReference(h);
            j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
                {
                    (Vector.LoadUnsafe(ref gate, (nuint)((3 * hidden) + j)) * Vector.LoadUnsafe(ref tanhC, (nuint)j)).StoreUnsafe(ref hOut, (nuint)j);
                }
            }

            for (; j < hidden; j++)
            {
                h[j] = row[(3 * hidden) + j] * tc[j];
            }
        }
    }

    /// <summary>
    /// backward of one step. <paramref name="stateGradient"/> is the total dL/dh_t;
    /// <paramref name="cellGradient"/> holds dL/dc_t from later steps on entry and dL/dc_{t-1} on exit.
    /// Writes dL/da (the pre-activation gradients, [B, 4H]) and the direct part of dL/dh_{t-1}.
    /// </summary>
    public static void Backward<T>(
        StepRows rows, int batch, int hidden,
        ReadOnlySpan<T> gates, ReadOnlySpan<T> previousCell, ReadOnlySpan<T> tanhCell,
        ReadOnlySpan<T> stateGradient, Span<T> cellGradient, Span<T> gateGradient, Span<T> previousDirect)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 4 * hidden;
        for (int b = 0; b < batch; b++)
        {
            var dh = stateGradient.Slice(b * hidden, hidden);
            var dc = cellGradient.Slice(b * hidden, hidden);
            var da = gateGradient.Slice(b * width, width);
            var direct = previousDirect.Slice(b * hidden, hidden);
            if (!rows.IsActive(b))
            {
                // forward: h_t = h_{t-1}, c_t = c_{t-1}  =>  both gradients pass through unchanged
                da.Clear();
                dh.CopyTo(direct);
                continue;
            }

            direct.Clear();
            var row = gates.Slice(b * width, width);
            var cPrevious = previousCell.Slice(b * hidden, hidden);
            var tc = tanhCell.Slice(b * hidden, hidden);
            int j = Vector.IsHardwareAccelerated ? BackwardVectors(hidden, row, cPrevious, tc, dh, dc, da) : 0;
            for (; j < hidden; j++)
            {
                T i = row[j], f = row[hidden + j], g = row[(2 * hidden) + j], o = row[(3 * hidden) + j];
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
                da[j] = dInput * i * (T.One - i);
                da[hidden + j] = dForget * f * (T.One - f);
                da[(2 * hidden) + j] = dCandidate * (T.One - (g * g));
                da[(3 * hidden) + j] = dOut * o * (T.One - o);
            }
        }
    }

    /// <summary>The loop body of <see cref="Backward{T}"/> on whole vectors, the same operations in the same order; returns where the scalar tail starts.</summary>
    private static int BackwardVectors<T>(
        int hidden, ReadOnlySpan<T> row, ReadOnlySpan<T> cPrevious, ReadOnlySpan<T> tc, ReadOnlySpan<T> dh, Span<T> dc, Span<T> da)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T gate = ref MemoryMarshal.GetReference(row);
        ref T cPrev = ref MemoryMarshal.GetReference(cPrevious);
        ref T tanhC = ref MemoryMarshal.GetReference(tc);
        ref T dState = ref MemoryMarshal.GetReference(dh);
        ref T dCellRef = ref MemoryMarshal.GetReference(dc);
        ref T dGate = ref MemoryMarshal.GetReference(da);
        var one = Vector<T>.One;
        int j = 0;
        for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
        {
            var i = Vector.LoadUnsafe(ref gate, (nuint)j);
            var f = Vector.LoadUnsafe(ref gate, (nuint)(hidden + j));
            var g = Vector.LoadUnsafe(ref gate, (nuint)((2 * hidden) + j));
            var o = Vector.LoadUnsafe(ref gate, (nuint)((3 * hidden) + j));
            var t = Vector.LoadUnsafe(ref tanhC, (nuint)j);
            var d = Vector.LoadUnsafe(ref dState, (nuint)j);
            var dOut = d * t;
            var dCell = Vector.LoadUnsafe(ref dCellRef, (nuint)j) + (d * o * (one - (t * t)));
            var dInput = dCell * g;
            var dForget = dCell * Vector.LoadUnsafe(ref cPrev, (nuint)j);
            var dCandidate = dCell * i;
            (dCell * f).StoreUnsafe(ref dCellRef, (nuint)j);
            (dInput * i * (one - i)).StoreUnsafe(ref dGate, (nuint)j);
            (dForget * f * (one - f)).StoreUnsafe(ref dGate, (nuint)(hidden + j));
            (dCandidate * (one - (g * g))).StoreUnsafe(ref dGate, (nuint)((2 * hidden) + j));
            (dOut * o * (one - o)).StoreUnsafe(ref dGate, (nuint)((3 * hidden) + j));
        }

        return j;
    }
}
