using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Unroll.Kernels;

/// <summary>
/// An element-wise linear recurrence over a run of steps, such as <c>h_s = a_s * h_{s-1} + b_s</c>: each of its
/// channels is independent of the others, and the state of a channel after a run of steps depends only on its
/// state before it. <see cref="LinearScan{T}"/> splits it over the worker threads.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal interface IScanRecurrence<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The steps, in processing order (the recurrence's own order, which may run backwards in time).</summary>
    int Steps { get; }

    /// <summary>How many independent units the channels split into (a unit may cover several values of the carry).</summary>
    int Units { get; }

    /// <summary>The length of the carry: every value of the state at one step.</summary>
    int CarryLength { get; }

    /// <summary>
    /// Runs processing steps [<paramref name="firstStep"/>, <paramref name="endStep"/>) for units
    /// [<paramref name="firstUnit"/>, <paramref name="endUnit"/>): <paramref name="carry"/> holds those units' state
    /// before the first step on entry and after the last on exit; each step's result is stored only when
    /// <paramref name="write"/> is set. Touches nothing outside those units' values.
    /// </summary>
    void Scan(int firstStep, int endStep, int firstUnit, int endUnit, Span<T> carry, bool write);

    /// <summary>Copies the values of units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) from one carry to another.</summary>
    void CopyUnits(ReadOnlySpan<T> source, Span<T> destination, int firstUnit, int endUnit);
}

/// <summary>
/// Runs an <see cref="IScanRecurrence{T}"/> over all its steps, sequentially or split over the worker threads,
/// with results identical bit for bit either way.
/// </summary>
/// <remarks>
/// <para>
/// Split by units: when there are at least <see cref="MinUnitsPerPart"/> units per part (a training batch has B*H
/// independent recurrences; the LRU B*N), part p runs its slice of the units over every step. No part needs another's
/// results, nothing is read twice, and each unit goes through the sequential loop's operations in the same order.
/// </para>
/// <para>
/// Chunked by steps, when the units are too few to share out: the steps are cut into P blocks. First the carries:
/// each part takes a slice of the units and runs them, without storing anything, from the initial state through
/// blocks 0 .. P-2, keeping the state at every block boundary. Then the blocks: part p runs block p from the state at
/// its start, storing every step. Again each unit goes through exactly the sequential loop's operations in the same
/// order (the carries are not combined from partial products, which would change the rounding), so the result does
/// not depend on P. It reads the first (P-1)/P of the coefficients and inputs twice, so its critical path is
/// (P-1)/P^2 + 1/P of the loop's memory traffic (3/4 for P = 2); the textbook chunked scan (blocks from zero, carries
/// combined as <c>A_p h + W_p</c>, then a correction pass) streams more and rounds differently for each P.
/// </para>
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class LinearScan<T> : IParallelJob
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private IScanRecurrence<T>? _recurrence;
    private T[] _carries = [];
    private int _carryLength;
    private Phase _phase;

    private enum Phase
    {
        Units,
        Carries,
        Blocks,
    }

    private static long splitRuns;

    /// <summary>Scans run in more than one part so far (any type argument), so that tests can check the split path ran.</summary>
    internal static long SplitRuns => Interlocked.Read(ref splitRuns);

    /// <summary>The fewest units each part must get for the scan to be split by units rather than chunked by steps.</summary>
    internal const int MinUnitsPerPart = 64;

    /// <summary>
    /// Below this many values (steps times carry length) a scan runs on the calling thread: waking a worker would cost
    /// more than it saves. Settable so tests can force the parallel paths on small sequences.
    /// </summary>
    internal static long MinParallelValues { get; set; } = 1 << 16;

    /// <summary>
    /// Above this many values a scan chunked by steps runs on the calling thread instead. The scan does one
    /// multiply-add per 12 bytes it streams, so beyond the last-level cache it is bound by DRAM bandwidth; on the
    /// machine this was measured on (2 cores of an AMD EPYC, 32 MB L3) one core already takes all of it (a 256 MB copy
    /// runs as fast on one thread as on two), and chunking by steps, which streams a quarter more, loses. 2^21 values
    /// are 8 MB per float array: a scan's coefficients, inputs and states below it fit in that L3 together.
    /// </summary>
    internal static long MaxChunkedValues { get; set; } = 1 << 21;

    /// <summary>
    /// When set, every scan runs as the plain sequential loop whatever the thread count (the reference the split
    /// paths are compared with, and the baseline of the scan benchmark).
    /// </summary>
    internal static bool Sequential { get; set; }

    /// <summary>
    /// How the parts of each phase are run: <see cref="WorkerPool.Run"/>, or in tests any order on one thread (the
    /// parts of a phase never read what another part of the same phase writes, so any order gives the same result).
    /// </summary>
    internal Action<IParallelJob, int> Dispatch { get; init; } = WorkerPool.Run;

    /// <summary>The number of parts a scan of <paramref name="recurrence"/> is split into: 1 for the sequential loop.</summary>
    public static int PartsFor(IScanRecurrence<T> recurrence)
    {
        ArgumentNullException.ThrowIfNull(recurrence);
        int threads = Parallelism.ThreadCount;
        long values = (long)recurrence.Steps * recurrence.CarryLength;
        if (Sequential || threads <= 1 || values < MinParallelValues)
        {
            return 1;
        }

        int byUnits = recurrence.Units / MinUnitsPerPart;
        return byUnits >= 2 ? Math.Min(threads, byUnits)
            : values > MaxChunkedValues ? 1
            : Math.Min(threads, recurrence.Steps);
    }

    /// <summary>
    /// Runs every step of <paramref name="recurrence"/> from the state in <paramref name="carry"/>, which holds the
    /// state after the last step on return, in <paramref name="parts"/> parts (1: the sequential loop): split by units
    /// when each part gets at least <see cref="MinUnitsPerPart"/> of them, otherwise chunked by steps.
    /// </summary>
    public void Run(IScanRecurrence<T> recurrence, Span<T> carry, int parts)
    {
        ArgumentNullException.ThrowIfNull(recurrence);
        int steps = recurrence.Steps, length = recurrence.CarryLength;
        if (carry.Length != length)
        {
            throw new ArgumentException($"Expected a carry of {length} values, got {carry.Length}.", nameof(carry));
        }

        bool byUnits = recurrence.Units >= parts * MinUnitsPerPart;
        parts = Math.Min(parts, steps);
        if (parts <= 1)
        {
            recurrence.Scan(0, steps, 0, recurrence.Units, carry, write: true);
            return;
        }

        // By steps, _carries row p holds the state before block p (row 0 the initial state), then after block p.
        Interlocked.Increment(ref splitRuns);
        _recurrence = recurrence;
        _carryLength = length;
        Tensors.Buffers.Grow(ref _carries, (byUnits ? 1 : parts) * length);
        carry.CopyTo(_carries);
        try
        {
            if (byUnits)
            {
                _phase = Phase.Units;
                Dispatch(this, parts);
            }
            else
            {
                _phase = Phase.Carries;
                Dispatch(this, parts);
                _phase = Phase.Blocks;
                Dispatch(this, parts);
            }
        }
        finally
        {
            _recurrence = null;
        }

        _carries.AsSpan((byUnits ? 0 : parts - 1) * length, length).CopyTo(carry);
    }

    /// <inheritdoc/>
    public void Run(int part, int parts)
    {
        var recurrence = _recurrence!;
        int steps = recurrence.Steps, length = _carryLength;
        var (firstUnit, endUnit) = ParallelReductions.Split(recurrence.Units, part, parts);
        switch (_phase)
        {
            case Phase.Units:
                recurrence.Scan(0, steps, firstUnit, endUnit, _carries.AsSpan(0, length), write: true);
                return;
            case Phase.Blocks:
                var (firstStep, endStep) = ParallelReductions.Split(steps, part, parts);
                recurrence.Scan(firstStep, endStep, 0, recurrence.Units, _carries.AsSpan(part * length, length), write: true);
                return;
            default:
                // This part's units through blocks 0 .. P-2, leaving the state before block p in row p.
                if (firstUnit == endUnit)
                {
                    return;
                }

                for (int block = 1; block < parts; block++)
                {
                    var previous = _carries.AsSpan((block - 1) * length, length);
                    var next = _carries.AsSpan(block * length, length);
                    recurrence.CopyUnits(previous, next, firstUnit, endUnit);
                    var (first, end) = ParallelReductions.Split(steps, block - 1, parts);
                    recurrence.Scan(first, end, firstUnit, endUnit, next, write: false);
                }

                return;
        }
    }
}

/// <summary>
/// The real recurrence of the min-cells, one coefficient and one input per value:
/// forward <c>h_t = a_t * h_{t-1} + b_t</c> (the states stored in time order, one block of
/// <see cref="IScanRecurrence{T}.CarryLength"/> values per step), or its adjoint
/// <c>q_t = e_t + c,  c = a_t * q_t</c> run against the forward order (q overwrites e; the final carry is
/// dL/dh before the first forward step). Padded steps are expressed by the caller as a = 1, b = 0 (and e = 0).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class GatedRecurrence<T> : IScanRecurrence<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _coefficients = [];
    private T[] _inputs = [];
    private T[] _outputs = [];
    private int _outputShift;
    private bool _backwardsInTime;
    private bool _adjoint;

    /// <inheritdoc/>
    public int Steps { get; private set; }

    /// <inheritdoc/>
    public int Units => CarryLength;

    /// <inheritdoc/>
    public int CarryLength { get; private set; }

    /// <summary>
    /// Sets up <c>h_t = a_t * h_{t-1} + b_t</c> over <paramref name="steps"/> steps of <paramref name="width"/> values:
    /// a and b are [T, width] in time order; step t's state goes to block t + <paramref name="outputShift"/> of
    /// <paramref name="states"/>; <paramref name="backwardsInTime"/> processes t = T-1 down to 0.
    /// </summary>
    public void SetForward(int steps, int width, T[] coefficients, T[] inputs, T[] states, int outputShift, bool backwardsInTime)
    {
        Set(steps, width, coefficients, backwardsInTime, adjoint: false);
        _inputs = inputs;
        _outputs = states;
        _outputShift = outputShift;
    }

    /// <summary>
    /// Sets up the adjoint of <see cref="SetForward"/>: <paramref name="gradients"/> ([T, width]) holds dL/dh_t from
    /// outside the recurrence on entry and the total dL/dh_t after the scan; <paramref name="backwardsInTime"/> is the
    /// adjoint's own order (the opposite of the forward one).
    /// </summary>
    public void SetAdjoint(int steps, int width, T[] coefficients, T[] gradients, bool backwardsInTime)
    {
        Set(steps, width, coefficients, backwardsInTime, adjoint: true);
        _inputs = gradients;
        _outputs = gradients;
        _outputShift = 0;
    }

    /// <inheritdoc/>
    public void CopyUnits(ReadOnlySpan<T> source, Span<T> destination, int firstUnit, int endUnit) =>
        source[firstUnit..endUnit].CopyTo(destination[firstUnit..]);

    private void Set(int steps, int width, T[] coefficients, bool backwardsInTime, bool adjoint)
    {
        Steps = steps;
        CarryLength = width;
        _coefficients = coefficients;
        _backwardsInTime = backwardsInTime;
        _adjoint = adjoint;
    }

    /// <inheritdoc/>
    public void Scan(int firstStep, int endStep, int firstUnit, int endUnit, Span<T> carry, bool write)
    {
        int width = CarryLength;
        ref T h = ref MemoryMarshal.GetReference(carry);
        for (int s = firstStep; s < endStep; s++)
        {
            int t = _backwardsInTime ? Steps - 1 - s : s;
            ref T a = ref _coefficients[t * width];
            ref T b = ref _inputs[t * width];
            ref T o = ref _outputs[(t + _outputShift) * width];
            int j = firstUnit;
            if (_adjoint)
            {
                if (Vector.IsHardwareAccelerated)
                {
                    for (; j <= endUnit - Vector<T>.Count; j += Vector<T>.Count)
                    {
                        // q_t = e_t + c;  c = a_t q_t
                        var q = Vector.LoadUnsafe(ref b, (nuint)j) + Vector.LoadUnsafe(ref h, (nuint)j);
                        if (write)
                        {
                            q.StoreUnsafe(ref o, (nuint)j);
                        }

                        (Vector.LoadUnsafe(ref a, (nuint)j) * q).StoreUnsafe(ref h, (nuint)j);
                    }
                }

                for (; j < endUnit; j++)
                {
                    T q = At(ref b, j) + At(ref h, j);
                    if (write)
                    {
                        At(ref o, j) = q;
                    }

                    At(ref h, j) = At(ref a, j) * q;
                }
            }
            else
            {
                if (Vector.IsHardwareAccelerated)
                {
                    for (; j <= endUnit - Vector<T>.Count; j += Vector<T>.Count)
                    {
                        // h_t = a_t h_{t-1} + b_t
                        var state = (Vector.LoadUnsafe(ref a, (nuint)j) * Vector.LoadUnsafe(ref h, (nuint)j)) + Vector.LoadUnsafe(ref b, (nuint)j);
                        state.StoreUnsafe(ref h, (nuint)j);
                        if (write)
                        {
                            state.StoreUnsafe(ref o, (nuint)j);
                        }
                    }
                }

                for (; j < endUnit; j++)
                {
                    T state = (At(ref a, j) * At(ref h, j)) + At(ref b, j);
                    At(ref h, j) = state;
                    if (write)
                    {
                        At(ref o, j) = state;
                    }
                }
            }
        }
    }

    private static ref T At(ref T origin, int offset) => ref Unsafe.Add(ref origin, offset);
}

/// <summary>
/// The LRU's diagonal complex recurrence with a constant coefficient per unit and per-sequence lengths. Each row of
/// the state ([B, 2N] per step) holds N real parts, then N imaginary parts. Forward:
/// <c>v_t = lambda * v_{t-1} + gamma * p_t</c> for an active step (p_t read from a [T, B, *] source at a column
/// offset, real parts then imaginary parts), <c>v_t = v_{t-1}</c> for a padded one, the states stored in time order.
/// Adjoint, against the forward order: <c>q_t = e_t + c</c>, then <c>c = conj(lambda) * q_t</c> for an active step
/// and <c>c = q_t</c> for a padded one; q overwrites e ([T, B, 2N]) and the final carry is dL/dv before the
/// first forward step. For a real loss, "the gradient" of a complex v is dL/dRe v + i dL/dIm v, and
/// <c>v' = lambda v</c> sends back <c>conj(lambda) dL/dv'</c>.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class DiagonalComplexRecurrence<T> : IScanRecurrence<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _lambdaReal = [];
    private T[] _lambdaImaginary = [];
    private T[] _scale = [];
    private T[] _inputs = [];
    private int _inputStride;
    private T[] _outputs = [];
    private int _outputShift;
    private int[] _lengths = [];
    private bool _hasLengths;
    private int _batch;
    private int _units;
    private bool _backwardsInTime;
    private bool _adjoint;

    /// <inheritdoc/>
    public int Steps { get; private set; }

    /// <inheritdoc/>
    /// <remarks>Unit u is complex value n = u mod N of row b = u / N.</remarks>
    public int Units => _batch * _units;

    /// <inheritdoc/>
    public int CarryLength => 2 * _batch * _units;

    /// <summary>
    /// Sets up the forward recurrence over <paramref name="steps"/> steps of <paramref name="batch"/> rows of N =
    /// <paramref name="units"/> complex values; p_t of row b starts at <c>(t B + b) * inputStride</c> in
    /// <paramref name="inputs"/>; step t's state goes to block t + <paramref name="outputShift"/> of
    /// <paramref name="states"/> ([*, B, 2N]); row b is active while t &lt; lengths[b] (always when
    /// <paramref name="hasLengths"/> is false).
    /// </summary>
    public void SetForward(
        int steps, int batch, int units, T[] lambdaReal, T[] lambdaImaginary, T[] scale,
        T[] inputs, int inputStride, T[] states, int outputShift, int[] lengths, bool hasLengths, bool backwardsInTime)
    {
        Set(steps, batch, units, lambdaReal, lambdaImaginary, lengths, hasLengths, backwardsInTime, adjoint: false);
        _scale = scale;
        _inputs = inputs;
        _inputStride = inputStride;
        _outputs = states;
        _outputShift = outputShift;
    }

    /// <summary>
    /// Sets up the adjoint of <see cref="SetForward"/> over <paramref name="gradients"/> ([T, B, 2N], dL/dv_t from outside
    /// the recurrence on entry, the total dL/dv_t on exit); <paramref name="backwardsInTime"/> is the adjoint's own order.
    /// </summary>
    public void SetAdjoint(
        int steps, int batch, int units, T[] lambdaReal, T[] lambdaImaginary, T[] gradients, int[] lengths, bool hasLengths, bool backwardsInTime)
    {
        Set(steps, batch, units, lambdaReal, lambdaImaginary, lengths, hasLengths, backwardsInTime, adjoint: true);
        _inputs = gradients;
        _inputStride = 2 * units;
        _outputs = gradients;
        _outputShift = 0;
    }

    /// <inheritdoc/>
    public void CopyUnits(ReadOnlySpan<T> source, Span<T> destination, int firstUnit, int endUnit)
    {
        int units = _units;
        for (int b = firstUnit / units; b < _batch && b * units < endUnit; b++)
        {
            int first = Math.Max(firstUnit - (b * units), 0), count = Math.Min(endUnit - (b * units), units) - first;
            int real = (b * 2 * units) + first, imaginary = real + units;
            source.Slice(real, count).CopyTo(destination[real..]);
            source.Slice(imaginary, count).CopyTo(destination[imaginary..]);
        }
    }

    private void Set(int steps, int batch, int units, T[] lambdaReal, T[] lambdaImaginary, int[] lengths, bool hasLengths, bool backwardsInTime, bool adjoint)
    {
        Steps = steps;
        _batch = batch;
        _units = units;
        _lambdaReal = lambdaReal;
        _lambdaImaginary = lambdaImaginary;
        _lengths = lengths;
        _hasLengths = hasLengths;
        _backwardsInTime = backwardsInTime;
        _adjoint = adjoint;
    }

    /// <inheritdoc/>
    public void Scan(int firstStep, int endStep, int firstUnit, int endUnit, Span<T> carry, bool write)
    {
        // Offsets, not spans, inside the loops: a row of a few units is a handful of vector operations, and slicing
        // spans for each (step, row) would cost as much.
        int units = _units, width = 2 * units, batch = _batch;
        if (endUnit <= firstUnit)
        {
            return;
        }

        if (carry.Length < batch * width || _inputs.Length < Steps * batch * _inputStride || (write && _outputs.Length < (Steps + _outputShift) * batch * width))
        {
            throw new InvalidOperationException("The recurrence's buffers are smaller than its sizes.");
        }

        // Units [firstUnit, endUnit) cover rows firstRow .. lastRow: all of each row's N values but at the two ends.
        int firstRow = firstUnit / units, lastRow = (endUnit - 1) / units;
        ref T lambdaReal = ref MemoryMarshal.GetArrayDataReference(_lambdaReal);
        ref T lambdaImaginary = ref MemoryMarshal.GetArrayDataReference(_lambdaImaginary);
        ref T scale = ref _adjoint ? ref lambdaReal : ref MemoryMarshal.GetArrayDataReference(_scale);
        ref T carry0 = ref MemoryMarshal.GetReference(carry);
        ref T inputs0 = ref MemoryMarshal.GetArrayDataReference(_inputs);
        ref T outputs0 = ref MemoryMarshal.GetArrayDataReference(_outputs);
        for (int s = firstStep; s < endStep; s++)
        {
            int t = _backwardsInTime ? Steps - 1 - s : s;
            for (int b = firstRow; b <= lastRow; b++)
            {
                int first = b == firstRow ? firstUnit - (b * units) : 0;
                int count = (b == lastRow ? endUnit - (b * units) : units) - first;
                bool active = !_hasLengths || t < _lengths[b];
                ref T state = ref Unsafe.Add(ref carry0, (b * width) + first);
                ref T source = ref Unsafe.Add(ref inputs0, (((t * batch) + b) * _inputStride) + first);
                ref T output = ref Unsafe.Add(ref outputs0, ((((t + _outputShift) * batch) + b) * width) + first);
                ref T lr = ref Unsafe.Add(ref lambdaReal, first);
                ref T li = ref Unsafe.Add(ref lambdaImaginary, first);
                if (_adjoint)
                {
                    AdjointUnits(ref state, ref source, ref output, ref lr, ref li, count, units, active, write);
                }
                else if (active)
                {
                    ForwardUnits(ref state, ref source, ref output, ref lr, ref li, ref Unsafe.Add(ref scale, first), count, units, write);
                }
                else if (write)
                {
                    // A padded step keeps the state.
                    MemoryMarshal.CreateReadOnlySpan(ref state, count).CopyTo(MemoryMarshal.CreateSpan(ref output, count));
                    MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref state, units), count).CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref output, units), count));
                }
            }
        }
    }

    // v = lambda v + gamma p over count units, in real arithmetic: (lr vr - li vi) + g pr,  (li vr + lr vi) + g pi.
    // Real parts at offset 0, imaginary parts at offset `units`, of the state, the source and the output alike.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardUnits(ref T vr, ref T pr, ref T or, ref T lr, ref T li, ref T g, int count, int units, bool write)
    {
        ref T vi = ref Unsafe.Add(ref vr, units);
        ref T pi = ref Unsafe.Add(ref pr, units);
        ref T oi = ref Unsafe.Add(ref or, units);
        int n = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; n <= count - Vector<T>.Count; n += Vector<T>.Count)
            {
                var a = Vector.LoadUnsafe(ref lr, (nuint)n);
                var c = Vector.LoadUnsafe(ref li, (nuint)n);
                var gain = Vector.LoadUnsafe(ref g, (nuint)n);
                var re = Vector.LoadUnsafe(ref vr, (nuint)n);
                var im = Vector.LoadUnsafe(ref vi, (nuint)n);
                var nextRe = ((a * re) - (c * im)) + (gain * Vector.LoadUnsafe(ref pr, (nuint)n));
                var nextIm = ((c * re) + (a * im)) + (gain * Vector.LoadUnsafe(ref pi, (nuint)n));
                nextRe.StoreUnsafe(ref vr, (nuint)n);
                nextIm.StoreUnsafe(ref vi, (nuint)n);
                if (write)
                {
                    nextRe.StoreUnsafe(ref or, (nuint)n);
                    nextIm.StoreUnsafe(ref oi, (nuint)n);
                }
            }
        }

        for (; n < count; n++)
        {
            T a = Unsafe.Add(ref lr, n), c = Unsafe.Add(ref li, n), gain = Unsafe.Add(ref g, n);
            T re = Unsafe.Add(ref vr, n), im = Unsafe.Add(ref vi, n);
            T nextRe = ((a * re) - (c * im)) + (gain * Unsafe.Add(ref pr, n));
            T nextIm = ((c * re) + (a * im)) + (gain * Unsafe.Add(ref pi, n));
            Unsafe.Add(ref vr, n) = nextRe;
            Unsafe.Add(ref vi, n) = nextIm;
            if (write)
            {
                Unsafe.Add(ref or, n) = nextRe;
                Unsafe.Add(ref oi, n) = nextIm;
            }
        }
    }

    // q = e + c; c = conj(lambda) q = (lr qr + li qi) + i (lr qi - li qr) for an active step, q for a padded one.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AdjointUnits(ref T cr, ref T er, ref T qrOut, ref T lr, ref T li, int count, int units, bool active, bool write)
    {
        ref T ci = ref Unsafe.Add(ref cr, units);
        ref T ei = ref Unsafe.Add(ref er, units);
        ref T qiOut = ref Unsafe.Add(ref qrOut, units);
        int n = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; n <= count - Vector<T>.Count; n += Vector<T>.Count)
            {
                var qr = Vector.LoadUnsafe(ref er, (nuint)n) + Vector.LoadUnsafe(ref cr, (nuint)n);
                var qi = Vector.LoadUnsafe(ref ei, (nuint)n) + Vector.LoadUnsafe(ref ci, (nuint)n);
                if (write)
                {
                    qr.StoreUnsafe(ref qrOut, (nuint)n);
                    qi.StoreUnsafe(ref qiOut, (nuint)n);
                }

                if (active)
                {
                    var a = Vector.LoadUnsafe(ref lr, (nuint)n);
                    var c = Vector.LoadUnsafe(ref li, (nuint)n);
                    ((a * qr) + (c * qi)).StoreUnsafe(ref cr, (nuint)n);
                    ((a * qi) - (c * qr)).StoreUnsafe(ref ci, (nuint)n);
                }
                else
                {
                    qr.StoreUnsafe(ref cr, (nuint)n);
                    qi.StoreUnsafe(ref ci, (nuint)n);
                }
            }
        }

        for (; n < count; n++)
        {
            T qr = Unsafe.Add(ref er, n) + Unsafe.Add(ref cr, n);
            T qi = Unsafe.Add(ref ei, n) + Unsafe.Add(ref ci, n);
            if (write)
            {
                Unsafe.Add(ref qrOut, n) = qr;
                Unsafe.Add(ref qiOut, n) = qi;
            }

            if (active)
            {
                T a = Unsafe.Add(ref lr, n), c = Unsafe.Add(ref li, n);
                Unsafe.Add(ref cr, n) = (a * qr) + (c * qi);
                Unsafe.Add(ref ci, n) = (a * qi) - (c * qr);
            }
            else
            {
                Unsafe.Add(ref cr, n) = qr;
                Unsafe.Add(ref ci, n) = qi;
            }
        }
    }
}
