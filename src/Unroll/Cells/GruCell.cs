using System.Numerics;
using System.Runtime.InteropServices;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The GRU cell (Cho et al. 2014) in the linear-before-reset form of torch.nn.GRU (and cuDNN),
/// gate blocks in PyTorch's order r, z, n:
/// <code>
/// [gi_r, gi_z, gi_n] = W_ih x_t + b_ih          (computed for all steps before the loop)
/// [gh_r, gh_z, gh_n] = W_hh h_{t-1} + b_hh      (per step)
/// r = sigmoid(gi_r + gh_r)    z = sigmoid(gi_z + gh_z)
/// n = tanh(gi_n + r * gh_n)
/// h_t = (1 - z) * n + z * h_{t-1}
/// </code>
/// Because r multiplies gh_n, the input and hidden gate gradients differ in the n block, so
/// backward writes both.
/// </summary>
public static class GruCell
{
    /// <summary>
    /// forward of one step. <paramref name="inputGates"/> ([B, 3H]) holds gi on entry and r, z, n on
    /// exit; <paramref name="hiddenGates"/> ([B, 3H]) holds gh; gh_n is saved to
    /// <paramref name="hiddenCandidate"/> ([B, H]) for backward. Inactive rows carry h.
    /// </summary>
    public static void Forward<T>(
        StepRows rows, int batch, int hidden,
        Span<T> inputGates, ReadOnlySpan<T> hiddenGates, Span<T> hiddenCandidate,
        ReadOnlySpan<T> previousState, Span<T> state)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 3 * hidden;
        for (int b = 0; b < batch; b++)
        {
            var h = state.Slice(b * hidden, hidden);
            var hPrevious = previousState.Slice(b * hidden, hidden);
            var ghn = hiddenCandidate.Slice(b * hidden, hidden);
            if (!rows.IsActive(b))
            {
                hPrevious.CopyTo(h);
                ghn.Clear();
                continue;
            }

            var gi = inputGates.Slice(b * width, width);
            var gh = hiddenGates.Slice(b * width, width);
            // r, z = sigmoid(gi + gh) over the first two blocks.
            AddInPlace(gi[..(2 * hidden)], gh[..(2 * hidden)]);

            Activations.SigmoidInPlace(gi[..(2 * hidden)]);
            // n = tanh(gi_n + r * gh_n)
            for (int j = 0; j < hidden; j++)
            {
                T hn = gh[(2 * hidden) + j];
                ghn[j] = hn;
                gi[(2 * hidden) + j] += gi[j] * hn;
            }

            Activations.TanhInPlace(gi.Slice(2 * hidden, hidden));
            int start = 0;
            if (Vector.IsHardwareAccelerated)
            {
                ref T gate = ref MemoryMarshal.GetReference(gi);
                ref T hPrev = ref MemoryMarshal.GetReference(hPrevious);
                ref T hOut = ref MemoryMarshal.GetReference(h);
                for (; start <= hidden - Vector<T>.Count; start += Vector<T>.Count)
                {
                    var z = Vector.LoadUnsafe(ref gate, (nuint)(hidden + start));
                    var n = Vector.LoadUnsafe(ref gate, (nuint)((2 * hidden) + start));
                    (((Vector<T>.One - z) * n) + (z * Vector.LoadUnsafe(ref hPrev, (nuint)start))).StoreUnsafe(ref hOut, (nuint)start);
                }
            }

            for (int j = start; j < hidden; j++)
            {
                // h_t = (1 - z) n + z h_{t-1}
                T z = gi[hidden + j], n = gi[(2 * hidden) + j];
                h[j] = ((T.One - z) * n) + (z * hPrevious[j]);
            }
        }
    }

    /// <summary>
    /// backward of one step from the total dL/dh_t: writes dL/dgi and dL/dgh ([B, 3H] each) and the
    /// direct part of dL/dh_{t-1} (z * dh_t for active rows, dh_t for inactive ones).
    /// </summary>
    public static void Backward<T>(
        StepRows rows, int batch, int hidden,
        ReadOnlySpan<T> gates, ReadOnlySpan<T> hiddenCandidate, ReadOnlySpan<T> previousState,
        ReadOnlySpan<T> stateGradient, Span<T> inputGateGradient, Span<T> hiddenGateGradient, Span<T> previousDirect)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 3 * hidden;
        for (int b = 0; b < batch; b++)
        {
            var dh = stateGradient.Slice(b * hidden, hidden);
            var dgi = inputGateGradient.Slice(b * width, width);
            var dgh = hiddenGateGradient.Slice(b * width, width);
            var direct = previousDirect.Slice(b * hidden, hidden);
            if (!rows.IsActive(b))
            {
                dgi.Clear();
                dgh.Clear();
                dh.CopyTo(direct);
                continue;
            }

            var row = gates.Slice(b * width, width);
            var ghn = hiddenCandidate.Slice(b * hidden, hidden);
            var hPrevious = previousState.Slice(b * hidden, hidden);
            int start = Vector.IsHardwareAccelerated ? BackwardVectors(hidden, row, ghn, hPrevious, dh, dgi, dgh, direct) : 0;
            for (int j = start; j < hidden; j++)
            {
                T r = row[j], z = row[hidden + j], n = row[(2 * hidden) + j];
                T d = dh[j];
                // forward: h = (1 - z) n + z h_prev  =>  dn = d (1 - z), dz = d (h_prev - n), dh_prev = d z
                T dn = d * (T.One - z);
                T dz = d * (hPrevious[j] - n);
                direct[j] = d * z;
                // forward: n = tanh(gi_n + r gh_n)  =>  da_n = dn (1 - n^2); dgi_n = da_n, dgh_n = da_n r, dr = da_n gh_n
                T dnPre = dn * (T.One - (n * n));
                T dr = dnPre * ghn[j];
                // forward: r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
                T drPre = dr * r * (T.One - r);
                T dzPre = dz * z * (T.One - z);
                dgi[j] = drPre;
                dgh[j] = drPre;
                dgi[hidden + j] = dzPre;
                dgh[hidden + j] = dzPre;
                dgi[(2 * hidden) + j] = dnPre;
                dgh[(2 * hidden) + j] = dnPre * r;
            }
        }
    }

    /// <summary>x += y, element-wise.</summary>
    private static void AddInPlace<T>(Span<T> x, ReadOnlySpan<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T ys = ref MemoryMarshal.GetReference(y);
            for (; j <= x.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                (Vector.LoadUnsafe(ref xs, (nuint)j) + Vector.LoadUnsafe(ref ys, (nuint)j)).StoreUnsafe(ref xs, (nuint)j);
            }
        }

        for (; j < x.Length; j++)
        {
            x[j] += y[j];
        }
    }

    /// <summary>The loop body of <see cref="Backward{T}"/> on whole vectors, the same operations in the same order; returns where the scalar tail starts.</summary>
    private static int BackwardVectors<T>(
        int hidden, ReadOnlySpan<T> row, ReadOnlySpan<T> ghn, ReadOnlySpan<T> hPrevious, ReadOnlySpan<T> dh,
        Span<T> dgi, Span<T> dgh, Span<T> direct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T gate = ref MemoryMarshal.GetReference(row);
        ref T candidate = ref MemoryMarshal.GetReference(ghn);
        ref T hPrev = ref MemoryMarshal.GetReference(hPrevious);
        ref T dState = ref MemoryMarshal.GetReference(dh);
        ref T dInput = ref MemoryMarshal.GetReference(dgi);
        ref T dHidden = ref MemoryMarshal.GetReference(dgh);
        ref T dDirect = ref MemoryMarshal.GetReference(direct);
        var one = Vector<T>.One;
        int j = 0;
        for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
        {
            var r = Vector.LoadUnsafe(ref gate, (nuint)j);
            var z = Vector.LoadUnsafe(ref gate, (nuint)(hidden + j));
            var n = Vector.LoadUnsafe(ref gate, (nuint)((2 * hidden) + j));
            var d = Vector.LoadUnsafe(ref dState, (nuint)j);
            var dn = d * (one - z);
            var dz = d * (Vector.LoadUnsafe(ref hPrev, (nuint)j) - n);
            (d * z).StoreUnsafe(ref dDirect, (nuint)j);
            var dnPre = dn * (one - (n * n));
            var dr = dnPre * Vector.LoadUnsafe(ref candidate, (nuint)j);
            var drPre = dr * r * (one - r);
            var dzPre = dz * z * (one - z);
            drPre.StoreUnsafe(ref dInput, (nuint)j);
            drPre.StoreUnsafe(ref dHidden, (nuint)j);
            dzPre.StoreUnsafe(ref dInput, (nuint)(hidden + j));
            dzPre.StoreUnsafe(ref dHidden, (nuint)(hidden + j));
            dnPre.StoreUnsafe(ref dInput, (nuint)((2 * hidden) + j));
            (dnPre * r).StoreUnsafe(ref dHidden, (nuint)((2 * hidden) + j));
        }

        return j;
    }
}
