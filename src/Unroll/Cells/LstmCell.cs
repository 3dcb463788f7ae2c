using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Unroll.Kernels;

namespace Unroll.Cells;

/// <summary>
/// The LSTM cell (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000), exactly as
/// torch.nn.LSTM; gate blocks in PyTorch's order i, f, g, o:
/// <code>
/// [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh   (W_ih: [4H, I], W_hh: [4H, H])
/// i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
/// c_t = f * c_{t-1} + i * g
/// h_t = o * tanh(c_t)
/// </code>
/// The gate blocks keep the post-activation gates and the one saved block tanh(c_t), from which backward takes
/// every derivative.
/// </summary>
internal readonly struct LstmCell : IRecurrentCell<LstmCell>
{
    /// <inheritdoc/>
    public static string Name => "lstm";

    /// <inheritdoc/>
    public static int GateCount => 4;

    /// <inheritdoc/>
    public static bool HasMemory => true;

    /// <inheritdoc/>
    public static int SavedBlocks => 1;

    /// <inheritdoc/>
    public static bool FeedsBackOutput => false;

    /// <inheritdoc/>
    public static bool SeparateRecurrentGates => false;

    /// <inheritdoc/>
    public static LstmCell Create(Activation activation) => default;

    /// <inheritdoc/>
    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && FastMath.UseVector512 && row.Units % Vector512<float>.Count == 0)
        {
            ForwardFused(row.Units, MemoryMarshal.Cast<T, float>(row.Gate(0)), MemoryMarshal.Cast<T, float>(row.Gate(1)),
                MemoryMarshal.Cast<T, float>(row.Gate(2)), MemoryMarshal.Cast<T, float>(row.Gate(3)),
                MemoryMarshal.Cast<T, float>(row.PreviousMemory), MemoryMarshal.Cast<T, float>(row.Memory),
                MemoryMarshal.Cast<T, float>(row.Saved(0)), MemoryMarshal.Cast<T, float>(row.State));
            return;
        }

        Span<T> input = row.Gate(0), forget = row.Gate(1), candidate = row.Gate(2), output = row.Gate(3);
        Activations.SigmoidInPlace(input);
        Activations.SigmoidInPlace(forget);
        Activations.TanhInPlace(candidate);
        Activations.SigmoidInPlace(output);
        Span<T> c = row.Memory, tanhCell = row.Saved(0);
        // The row's spans hold exactly Units elements: the loops read them through their first elements, unchecked.
        ref T i0 = ref MemoryMarshal.GetReference(input), f0 = ref MemoryMarshal.GetReference(forget);
        ref T g0 = ref MemoryMarshal.GetReference(candidate), o0 = ref MemoryMarshal.GetReference(output);
        ref T cPrevious0 = ref MemoryMarshal.GetReference(row.PreviousMemory), c0 = ref MemoryMarshal.GetReference(c);
        ref T t0 = ref MemoryMarshal.GetReference(tanhCell), h0 = ref MemoryMarshal.GetReference(row.State);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // c_t = f * c_{t-1} + i * g
            lane.Store((lane.Load(ref f0) * lane.Load(ref cPrevious0)) + (lane.Load(ref i0) * lane.Load(ref g0)), ref c0);
        }

        c.CopyTo(tanhCell);
        Activations.TanhInPlace(tanhCell);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // h_t = o * tanh(c_t)
            lane.Store(lane.Load(ref o0) * lane.Load(ref t0), ref h0);
        }
    }

    /// <summary>
    /// <see cref="Forward{T}"/> in one pass over 16 units at a time, every value in registers from the gate sums to h:
    /// the same operations as the pass-per-stage loops (the same activation bits, c = f c_prev + i g as a product, a
    /// product and a sum), so the results are identical; only the number of trips through memory differs.
    /// </summary>
    private static void ForwardFused(
        int units, Span<float> input, Span<float> forget, Span<float> candidate, Span<float> output,
        ReadOnlySpan<float> previousMemory, Span<float> memory, Span<float> tanhCell, Span<float> state)
    {
        // Checked once here; the loop below reads and writes through the first elements, unchecked.
        if (input.Length < units || forget.Length < units || candidate.Length < units || output.Length < units
            || previousMemory.Length < units || memory.Length < units || tanhCell.Length < units || state.Length < units)
        {
            throw new ArgumentException($"LSTM row: expected {units} values in every span.");
        }

        ref float i0 = ref MemoryMarshal.GetReference(input), f0 = ref MemoryMarshal.GetReference(forget);
        ref float g0 = ref MemoryMarshal.GetReference(candidate), o0 = ref MemoryMarshal.GetReference(output);
        ref float cPrevious0 = ref MemoryMarshal.GetReference(previousMemory), c0 = ref MemoryMarshal.GetReference(memory);
        ref float t0 = ref MemoryMarshal.GetReference(tanhCell), h0 = ref MemoryMarshal.GetReference(state);
        for (nuint j = 0; j < (nuint)units; j += (nuint)Vector512<float>.Count)
        {
            var i = Vector512.LoadUnsafe(ref i0, j);
            var f = Vector512.LoadUnsafe(ref f0, j);
            var g = Vector512.LoadUnsafe(ref g0, j);
            var o = Vector512.LoadUnsafe(ref o0, j);
            FastMath.LstmGates(ref i, ref f, ref g, ref o);
            i.StoreUnsafe(ref i0, j);
            f.StoreUnsafe(ref f0, j);
            g.StoreUnsafe(ref g0, j);
            o.StoreUnsafe(ref o0, j);

            // c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
            var c = (f * Vector512.LoadUnsafe(ref cPrevious0, j)) + (i * g);
            var t = FastMath.TanhVector(c);
            c.StoreUnsafe(ref c0, j);
            t.StoreUnsafe(ref t0, j);
            (o * t).StoreUnsafe(ref h0, j);
        }
    }

    /// <summary>
    /// The inference update of one row in one 512-bit pass: <paramref name="gates"/> holds the four gate sums (4H, read
    /// only), <paramref name="memory"/> c_{t-1} on entry and c_t on exit, <paramref name="state"/> receives h_t. The
    /// operations of <see cref="ForwardFused"/>, so the bits of training's forward; needs AVX-512 and 16 | H.
    /// </summary>
    internal static void Update(int hidden, ReadOnlySpan<float> gates, Span<float> memory, Span<float> state)
    {
        if (gates.Length < 4 * hidden || memory.Length < hidden || state.Length < hidden || hidden % Vector512<float>.Count != 0)
        {
            throw new ArgumentException($"LSTM row: expected {4 * hidden} gate sums and {hidden} values of c and h, H a multiple of 16.");
        }

        ref float a0 = ref MemoryMarshal.GetReference(gates);
        ref float c0 = ref MemoryMarshal.GetReference(memory), h0 = ref MemoryMarshal.GetReference(state);
        nuint h = (nuint)hidden;
        for (nuint j = 0; j < h; j += (nuint)Vector512<float>.Count)
        {
            var i = Vector512.LoadUnsafe(ref a0, j);
            var f = Vector512.LoadUnsafe(ref a0, h + j);
            var g = Vector512.LoadUnsafe(ref a0, (2 * h) + j);
            var o = Vector512.LoadUnsafe(ref a0, (3 * h) + j);
            FastMath.LstmGates(ref i, ref f, ref g, ref o);
            var c = (f * Vector512.LoadUnsafe(ref c0, j)) + (i * g);
            c.StoreUnsafe(ref c0, j);
            (o * FastMath.TanhVector(c)).StoreUnsafe(ref h0, j);
        }
    }

    /// <inheritdoc/>
    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ReadOnlySpan<T> input = row.Gate(0), forget = row.Gate(1), candidate = row.Gate(2), output = row.Gate(3), tanhCell = row.Saved(0);
        ReadOnlySpan<T> stateGradient = row.StateGradient, previousMemory = row.PreviousMemory;
        Span<T> dc = row.MemoryGradient, dInputGate = row.GateGradient(0), dForgetGate = row.GateGradient(1);
        Span<T> dCandidateGate = row.GateGradient(2), dOutputGate = row.GateGradient(3);
        if (typeof(T) == typeof(float) && FastMath.UseVector512 && row.Units % Vector512<float>.Count == 0)
        {
            // The same loop in 512-bit vectors: element-wise products and sums give the same bits at any width.
            BackwardFloat512(
                row.Units, MemoryMarshal.Cast<T, float>(input), MemoryMarshal.Cast<T, float>(forget), MemoryMarshal.Cast<T, float>(candidate),
                MemoryMarshal.Cast<T, float>(output), MemoryMarshal.Cast<T, float>(tanhCell), MemoryMarshal.Cast<T, float>(stateGradient),
                MemoryMarshal.Cast<T, float>(previousMemory), MemoryMarshal.Cast<T, float>(dc), MemoryMarshal.Cast<T, float>(dInputGate),
                MemoryMarshal.Cast<T, float>(dForgetGate), MemoryMarshal.Cast<T, float>(dCandidateGate), MemoryMarshal.Cast<T, float>(dOutputGate));
            return;
        }

        // The row's spans hold exactly Units elements: the loop reads them through their first elements, unchecked.
        ref T i0 = ref MemoryMarshal.GetReference(input), f0 = ref MemoryMarshal.GetReference(forget);
        ref T g0 = ref MemoryMarshal.GetReference(candidate), o0 = ref MemoryMarshal.GetReference(output);
        ref T t0 = ref MemoryMarshal.GetReference(tanhCell), dh0 = ref MemoryMarshal.GetReference(stateGradient);
        ref T cPrevious0 = ref MemoryMarshal.GetReference(previousMemory), dc0 = ref MemoryMarshal.GetReference(dc);
        ref T di0 = ref MemoryMarshal.GetReference(dInputGate), df0 = ref MemoryMarshal.GetReference(dForgetGate);
        ref T dg0 = ref MemoryMarshal.GetReference(dCandidateGate), do0 = ref MemoryMarshal.GetReference(dOutputGate);
        var one = Vector<T>.One;
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            Vector<T> i = lane.Load(ref i0), f = lane.Load(ref f0), g = lane.Load(ref g0), o = lane.Load(ref o0);
            Vector<T> t = lane.Load(ref t0), dh = lane.Load(ref dh0);
            // forward: h = o * tanh(c)  =>  do = dh * tanh(c);  dc += dh * o * (1 - tanh(c)^2)
            var dOutput = dh * t;
            var dCell = lane.Load(ref dc0) + (dh * o * (one - (t * t)));
            // forward: c = f * c_prev + i * g  =>  di = dc g, df = dc c_prev, dg = dc i, dc_prev = dc f
            var dInput = dCell * g;
            var dForget = dCell * lane.Load(ref cPrevious0);
            var dCandidate = dCell * i;
            lane.Store(dCell * f, ref dc0);
            // through the activations: sigmoid' = s (1 - s), tanh' = 1 - g^2
            lane.Store(dInput * i * (one - i), ref di0);
            lane.Store(dForget * f * (one - f), ref df0);
            lane.Store(dCandidate * (one - (g * g)), ref dg0);
            lane.Store(dOutput * o * (one - o), ref do0);
        }
    }

    private static void BackwardFloat512(
        int units, ReadOnlySpan<float> input, ReadOnlySpan<float> forget, ReadOnlySpan<float> candidate, ReadOnlySpan<float> output,
        ReadOnlySpan<float> tanhCell, ReadOnlySpan<float> stateGradient, ReadOnlySpan<float> previousMemory, Span<float> dc,
        Span<float> dInputGate, Span<float> dForgetGate, Span<float> dCandidateGate, Span<float> dOutputGate)
    {
        // Checked once here; the loop below reads and writes through the first elements, unchecked.
        if (input.Length < units || forget.Length < units || candidate.Length < units || output.Length < units || tanhCell.Length < units
            || stateGradient.Length < units || previousMemory.Length < units || dc.Length < units || dInputGate.Length < units
            || dForgetGate.Length < units || dCandidateGate.Length < units || dOutputGate.Length < units)
        {
            throw new ArgumentException($"LSTM row: expected {units} values in every span.");
        }

        ref float i0 = ref MemoryMarshal.GetReference(input), f0 = ref MemoryMarshal.GetReference(forget);
        ref float g0 = ref MemoryMarshal.GetReference(candidate), o0 = ref MemoryMarshal.GetReference(output);
        ref float t0 = ref MemoryMarshal.GetReference(tanhCell), dh0 = ref MemoryMarshal.GetReference(stateGradient);
        ref float cPrevious0 = ref MemoryMarshal.GetReference(previousMemory), dc0 = ref MemoryMarshal.GetReference(dc);
        ref float di0 = ref MemoryMarshal.GetReference(dInputGate), df0 = ref MemoryMarshal.GetReference(dForgetGate);
        ref float dg0 = ref MemoryMarshal.GetReference(dCandidateGate), do0 = ref MemoryMarshal.GetReference(dOutputGate);
        var one = Vector512<float>.One;
        for (nuint j = 0; j < (nuint)units; j += (nuint)Vector512<float>.Count)
        {
            var i = Vector512.LoadUnsafe(ref i0, j);
            var f = Vector512.LoadUnsafe(ref f0, j);
            var g = Vector512.LoadUnsafe(ref g0, j);
            var o = Vector512.LoadUnsafe(ref o0, j);
            var t = Vector512.LoadUnsafe(ref t0, j);
            var dh = Vector512.LoadUnsafe(ref dh0, j);
            var dOutput = dh * t;
            var dCell = Vector512.LoadUnsafe(ref dc0, j) + (dh * o * (one - (t * t)));
            var dInput = dCell * g;
            var dForget = dCell * Vector512.LoadUnsafe(ref cPrevious0, j);
            var dCandidate = dCell * i;
            (dCell * f).StoreUnsafe(ref dc0, j);
            (dInput * i * (one - i)).StoreUnsafe(ref di0, j);
            (dForget * f * (one - f)).StoreUnsafe(ref df0, j);
            (dCandidate * (one - (g * g))).StoreUnsafe(ref dg0, j);
            (dOutput * o * (one - o)).StoreUnsafe(ref do0, j);
        }
    }
}
