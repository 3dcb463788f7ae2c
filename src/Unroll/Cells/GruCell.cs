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
internal static class GruCell
{
    /// <summary>
    /// forward of one step for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) of every row.
    /// <paramref name="inputGates"/> ([B, 3H]) holds gi on entry and r, z, n on exit (those units' columns);
    /// <paramref name="hiddenGates"/> ([B, 3H]) holds gh; gh_n is saved to <paramref name="hiddenCandidate"/> ([B, H])
    /// for backward. Inactive rows carry h.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Forward<T>(
        StepRows rows, int batch, int hidden, int firstUnit, int endUnit,
        Span<T> inputGates, ReadOnlySpan<T> hiddenGates, Span<T> hiddenCandidate,
        ReadOnlySpan<T> previousState, Span<T> state)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int width = 3 * hidden, units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit, rowStart = (b * width) + firstUnit;
            var h = state.Slice(at, units);
            var hPrevious = previousState.Slice(at, units);
            var ghn = hiddenCandidate.Slice(at, units);
            if (!rows.IsActive(b))
            {
                hPrevious.CopyTo(h);
                ghn.Clear();
                continue;
            }

            var reset = inputGates.Slice(rowStart, units);
            var update = inputGates.Slice(rowStart + hidden, units);
            var candidate = inputGates.Slice(rowStart + (2 * hidden), units);
            // r, z = sigmoid(gi + gh)
            AddInPlace(reset, hiddenGates.Slice(rowStart, units));
            AddInPlace(update, hiddenGates.Slice(rowStart + hidden, units));
            Activations.SigmoidInPlace(reset);
            Activations.SigmoidInPlace(update);
            // n = tanh(gi_n + r * gh_n)
            hiddenGates.Slice(rowStart + (2 * hidden), units).CopyTo(ghn);
            for (int j = 0; j < units; j++)
            {
                candidate[j] += reset[j] * ghn[j];
            }

            Activations.TanhInPlace(candidate);
            int start = 0;
            if (Vector.IsHardwareAccelerated)
            {
                ref T z0 = ref MemoryMarshal.GetReference(update);
                ref T n0 = ref MemoryMarshal.GetReference(candidate);
                ref T hPrev = ref MemoryMarshal.GetReference(hPrevious);
                ref T hOut = ref MemoryMarshal.GetReference(h);
                for (; start <= units - Vector<T>.Count; start += Vector<T>.Count)
                {
                    var z = Vector.LoadUnsafe(ref z0, (nuint)start);
                    var n = Vector.LoadUnsafe(ref n0, (nuint)start);
                    (((Vector<T>.One - z) * n) + (z * Vector.LoadUnsafe(ref hPrev, (nuint)start))).StoreUnsafe(ref hOut, (nuint)start);
                }
            }

            for (int j = start; j < units; j++)
            {
                // h_t = (1 - z) n + z h_{t-1}
                T z = update[j], n = candidate[j];
                h[j] = ((T.One - z) * n) + (z * hPrevious[j]);
            }
        }
    }

    /// <summary>
    /// backward of one step for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) from the total
    /// dL/dh_t: writes dL/dgi and dL/dgh ([B, 3H] each, those units' columns) and the direct part of dL/dh_{t-1}
    /// (z * dh_t for active rows, dh_t for inactive ones).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The unit range does not lie in [0, hidden].</exception>
    public static void Backward<T>(
        StepRows rows, int batch, int hidden, int firstUnit, int endUnit,
        ReadOnlySpan<T> gates, ReadOnlySpan<T> hiddenCandidate, ReadOnlySpan<T> previousState,
        ReadOnlySpan<T> stateGradient, Span<T> inputGateGradient, Span<T> hiddenGateGradient, Span<T> previousDirect)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        UnitRange.Check(hidden, firstUnit, endUnit);
        int width = 3 * hidden, units = endUnit - firstUnit;
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit, rowStart = (b * width) + firstUnit;
            var dh = stateGradient.Slice(at, units);
            var direct = previousDirect.Slice(at, units);
            var dgi = new GruGradients<T>(
                inputGateGradient.Slice(rowStart, units), inputGateGradient.Slice(rowStart + hidden, units), inputGateGradient.Slice(rowStart + (2 * hidden), units));
            var dgh = new GruGradients<T>(
                hiddenGateGradient.Slice(rowStart, units), hiddenGateGradient.Slice(rowStart + hidden, units), hiddenGateGradient.Slice(rowStart + (2 * hidden), units));
            if (!rows.IsActive(b))
            {
                dgi.Clear();
                dgh.Clear();
                dh.CopyTo(direct);
                continue;
            }

            var reset = gates.Slice(rowStart, units);
            var update = gates.Slice(rowStart + hidden, units);
            var candidate = gates.Slice(rowStart + (2 * hidden), units);
            var ghn = hiddenCandidate.Slice(at, units);
            var hPrevious = previousState.Slice(at, units);
            int start = Vector.IsHardwareAccelerated ? BackwardVectors(units, reset, update, candidate, ghn, hPrevious, dh, dgi, dgh, direct) : 0;
            for (int j = start; j < units; j++)
            {
                T r = reset[j], z = update[j], n = candidate[j];
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
                dgi.Reset[j] = drPre;
                dgh.Reset[j] = drPre;
                dgi.Update[j] = dzPre;
                dgh.Update[j] = dzPre;
                dgi.Candidate[j] = dnPre;
                dgh.Candidate[j] = dnPre * r;
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
        int units, ReadOnlySpan<T> reset, ReadOnlySpan<T> update, ReadOnlySpan<T> candidate, ReadOnlySpan<T> ghn,
        ReadOnlySpan<T> hPrevious, ReadOnlySpan<T> dh, GruGradients<T> dgi, GruGradients<T> dgh, Span<T> direct)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T r0 = ref MemoryMarshal.GetReference(reset);
        ref T z0 = ref MemoryMarshal.GetReference(update);
        ref T n0 = ref MemoryMarshal.GetReference(candidate);
        ref T hiddenN = ref MemoryMarshal.GetReference(ghn);
        ref T hPrev = ref MemoryMarshal.GetReference(hPrevious);
        ref T dState = ref MemoryMarshal.GetReference(dh);
        ref T dInputR = ref MemoryMarshal.GetReference(dgi.Reset);
        ref T dInputZ = ref MemoryMarshal.GetReference(dgi.Update);
        ref T dInputN = ref MemoryMarshal.GetReference(dgi.Candidate);
        ref T dHiddenR = ref MemoryMarshal.GetReference(dgh.Reset);
        ref T dHiddenZ = ref MemoryMarshal.GetReference(dgh.Update);
        ref T dHiddenN = ref MemoryMarshal.GetReference(dgh.Candidate);
        ref T dDirect = ref MemoryMarshal.GetReference(direct);
        var one = Vector<T>.One;
        int j = 0;
        for (; j <= units - Vector<T>.Count; j += Vector<T>.Count)
        {
            var r = Vector.LoadUnsafe(ref r0, (nuint)j);
            var z = Vector.LoadUnsafe(ref z0, (nuint)j);
            var n = Vector.LoadUnsafe(ref n0, (nuint)j);
            var d = Vector.LoadUnsafe(ref dState, (nuint)j);
            var dn = d * (one - z);
            var dz = d * (Vector.LoadUnsafe(ref hPrev, (nuint)j) - n);
            (d * z).StoreUnsafe(ref dDirect, (nuint)j);
            var dnPre = dn * (one - (n * n));
            var dr = dnPre * Vector.LoadUnsafe(ref hiddenN, (nuint)j);
            var drPre = dr * r * (one - r);
            var dzPre = dz * z * (one - z);
            drPre.StoreUnsafe(ref dInputR, (nuint)j);
            drPre.StoreUnsafe(ref dHiddenR, (nuint)j);
            dzPre.StoreUnsafe(ref dInputZ, (nuint)j);
            dzPre.StoreUnsafe(ref dHiddenZ, (nuint)j);
            dnPre.StoreUnsafe(ref dInputN, (nuint)j);
            (dnPre * r).StoreUnsafe(ref dHiddenN, (nuint)j);
        }

        return j;
    }

    /// <summary>The gradients of one row's r, z, n blocks over one unit range.</summary>
    private readonly ref struct GruGradients<T>(Span<T> reset, Span<T> update, Span<T> candidate)
    {
        public Span<T> Reset { get; } = reset;

        public Span<T> Update { get; } = update;

        public Span<T> Candidate { get; } = candidate;

        public void Clear()
        {
            Reset.Clear();
            Update.Clear();
            Candidate.Clear();
        }
    }
}
