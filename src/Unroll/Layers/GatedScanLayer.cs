using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// The time loop shared by the min-cells (Feng et al. 2024, "Were RNNs All We Needed?", arXiv:2410.01201): gates
/// computed from x_t alone, so the only recurrence left is the element-wise linear one
/// <code>
/// G   = x W_ih^T + b_ih                 [T*B, K H], one GEMM for all steps (K gate blocks)
/// a_t, b_t = cell(G_t)                  [T*B, H] each, element-wise, rows split over the threads
/// h_t = a_t * h_{t-1} + b_t             the scan (<see cref="LinearScan{T}"/>), split over the threads
/// </code>
/// and the layer's output is h_t. Backward is the same three stages reversed: the adjoint scan
/// <c>q_t = e_t + a_{t+1} * q_{t+1}</c> gives the total dL/dh_t from the output gradients e_t, the cell turns
/// (q_t, h_{t-1}) into dL/dG_t row by row, and dW_ih, db_ih and dx are one GEMM (or column sum) each over all T*B rows.
/// </summary>
/// <remarks>
/// <para>
/// Shapes are time-major: x [T, B, I]; the states are T+1 blocks of [B, H] (forward direction: block 0 is h0 and
/// block t+1 is h_t; reverse direction: block T is h0 and block t is h_t), so the previous states of all steps are one
/// contiguous [T*B, H] slice. A padded step (t &gt;= length_b) becomes a = 1, b = 0: the state is kept, the output is
/// zero, and no gradient flows into the gates there.
/// </para>
/// <para>
/// The scan runs in linear space, not in the log space of the paper's parallel form: every unit runs the sequential
/// recurrence (whole, or block by block from exact carries), which with a_t in [0, 1] is as stable as the loop it
/// replaces, so no g() positivity trick or log-sum-exp is needed (the candidate h~ may be any real).
/// </para>
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
internal abstract class GatedScanLayer<T> : IRecurrentLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ParameterSet<T> _parameters;
    private readonly RowJob _job;
    private readonly LinearScan<T> _scan = new();
    private readonly GatedRecurrence<T> _recurrence = new();

    private int[]? _tokens;
    private string? _embeddingName;
    private T[] _gates = [];
    private T[] _coefficients = [];
    private T[] _scanInputs = [];
    private T[] _states = [];
    private T[] _gateGradients = [];
    private T[] _inputGradientScratch = [];
    private T[] _carry = [];
    private T[] _stateGradients = [];
    private double[] _stateGradientNorms = [];
    private int[] _lengths = [];
    private bool _hasLengths;
    private int _steps;
    private int _batch;

    // What the row passes do, and the caller's output (forward) or output gradient (backward), pinned for the pass.
    private Pass _pass;
    private unsafe T* _outside;
    private int _outsideColumn;
    private int _outsideWidth;

    // The input projection fused into the row passes for a narrow input (see NarrowInputLimit): W_ih^T [I, K H], the
    // pinned x and dx, and per fixed chunk of rows the partial sums of dW_ih^T and db_ih, [chunks, (I + 1) K H].
    private T[] _weightColumns = [];
    private T[] _chunkSums = [];
    private T[][] _partRows = [];
    private unsafe T* _input;
    private unsafe T* _inputGradient;
    private bool _accumulateInputGradient;

    // Step-by-step inference.
    private T[] _stepGates = [];
    private T[] _stepCoefficients = [];
    private T[] _stepInputs = [];

    /// <summary>Binds the layer to its parameters <c>rnn.weight_ih_l{layer}</c> and <c>rnn.bias_ih_l{layer}</c> (with <c>_reverse</c>).</summary>
    protected GatedScanLayer(ParameterSet<T> parameters, int gateBlocks, int layer, bool reverse, int inputSize, int hidden)
    {
        _parameters = parameters;
        GateBlocks = gateBlocks;
        Reverse = reverse;
        InputSize = inputSize;
        Hidden = hidden;
                WeightIh = ParameterNames.Recurrent("weight_ih", layer, reverse);
        BiasIh = ParameterNames.Recurrent("bias_ih", layer, reverse);
        _job = new RowJob(this);
    }

    private enum Pass
    {
        ForwardGates,
        ForwardOutput,
        BackwardOutput,
        BackwardGates,
        BackwardGatesNarrow,
    }

    /// <summary>
    /// At most this many inputs, the input projection is fused into the row passes instead of being a GEMM: with K = I
    /// that small, a GEMM over all T*B rows is bound by writing and re-reading G, and its gradient products by reading
    /// dG three times; the fused passes compute G_t and use dG_t while the row is in cache. dW_ih and db_ih are then
    /// summed over fixed chunks of <see cref="ChunkRows"/> rows and the chunks added in order, so the result does not
    /// depend on the thread count.
    /// </summary>
    internal const int NarrowInputLimit = 8;

    /// <summary>Rows per partial sum of the fused input-projection gradient.</summary>
    internal const int ChunkRows = 256;

    /// <summary>K, the gate blocks stacked in W_ih.</summary>
    public int GateBlocks { get; }

    /// <summary>Whether the layer runs backwards in time.</summary>
    public bool Reverse { get; }

    /// <summary>I.</summary>
    public int InputSize { get; }

    /// <summary>H.</summary>
    public int Hidden { get; }

    /// <summary>The name of W_ih, [K H, I].</summary>
    public string WeightIh { get; }

    /// <summary>The name of b_ih, [K H].</summary>
    public string BiasIh { get; }

    /// <inheritdoc/>
    public bool RecordStateGradientNorms { get; set; }

    /// <inheritdoc/>
    /// <remarks>The minGRU and minLSTM layers' state Jacobians are diagonal and known in closed form: nothing measures them by BPTT.</remarks>
    public bool StateGradientsOnly
    {
        get => false;
        set => throw new NotSupportedException("The minGRU and minLSTM layers have no state-gradients-only backward pass.");
    }

    /// <inheritdoc/>
    public ReadOnlySpan<double> StateGradientNorms => _stateGradientNorms.AsSpan(0, RecordStateGradientNorms ? _steps : 0);

    /// <inheritdoc/>
    public ReadOnlySpan<double> CellGradientNorms => [];

    /// <inheritdoc/>
    public ReadOnlySpan<T> StateGradients => _stateGradients.AsSpan(0, RecordStateGradientNorms ? _steps * _batch * Hidden : 0);

    /// <inheritdoc/>
    public ReadOnlySpan<T> CellGradients => [];

    /// <inheritdoc/>
    public ReadOnlySpan<T> FinalState => _states.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden);

    /// <inheritdoc/>
    public ReadOnlySpan<T> FinalCell => [];

    /// <inheritdoc/>
    public ReadOnlySpan<T> InitialStateGradient => _carry.AsSpan(0, _batch * Hidden);

    /// <inheritdoc/>
    public ReadOnlySpan<T> InitialCellGradient => [];

    /// <summary>The (name, shape) pairs of one direction: <c>rnn.weight_ih</c> [K H, I] and <c>rnn.bias_ih</c> [K H].</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(int gateBlocks, int layer, bool reverse, int inputSize, int hidden)
    {
                yield return (ParameterNames.Recurrent("weight_ih", layer, reverse), [gateBlocks * hidden, inputSize]);
        yield return (ParameterNames.Recurrent("bias_ih", layer, reverse), [gateBlocks * hidden]);
    }

    /// <inheritdoc/>
    public void SetTokenInput(int[]? tokens, string? embeddingName, int vocabulary)
    {
        _tokens = tokens;
        _embeddingName = embeddingName;
    }

    /// <summary>
    /// The cell's forward for one active row: <paramref name="gates"/> ([K H]) holds the pre-activations G_t on entry
    /// and whatever <see cref="BackwardRow"/> needs on exit; writes the scan's coefficient a_t and input b_t ([H] each).
    /// </summary>
    protected abstract void ForwardRow(Span<T> gates, Span<T> coefficient, Span<T> input);

    /// <summary>
    /// The cell's backward for one active row: from what <see cref="ForwardRow"/> left in <paramref name="gates"/> and
    /// <paramref name="coefficient"/>, the previous state h_{t-1} and the total dL/dh_t, writes dL/dG_t ([K H]).
    /// </summary>
    protected abstract void BackwardRow(
        ReadOnlySpan<T> gates, ReadOnlySpan<T> coefficient, ReadOnlySpan<T> previousState, ReadOnlySpan<T> stateGradient, Span<T> gateGradients);

    /// <inheritdoc/>
    public void Forward(
        ReadOnlySpan<T> x, int steps, int batch, ReadOnlySpan<int> lengths,
        ReadOnlySpan<T> initialState, ReadOnlySpan<T> initialCell,
        Span<T> output, int outputColumn, int outputWidth)
    {
        Allocate(steps, batch, lengths);
        int hidden = Hidden, width = GateBlocks * hidden, block = batch * hidden, rows = steps * batch;

        // forward: G = x W_ih^T + b_ih, all T*B rows at once (for a narrow input, row by row inside the next pass),
        // then a_t, b_t = cell(G_t) (a = 1, b = 0 at padded steps).
        if (InputSize > NarrowInputLimit)
        {
            Linear.Forward<T>(x[..(rows * InputSize)], rows, InputSize, _parameters.Value(WeightIh), _parameters.Value(BiasIh), width, _gates.AsSpan(0, rows * width));
            RunRows(Pass.ForwardGates);
        }
        else
        {
            TransposeWeights();
            unsafe
            {
                fixed (T* input = x)
                {
                    _input = input;
                    RunRows(Pass.ForwardGates);
                    _input = null;
                }
            }
        }

        // forward: h_t = a_t h_{t-1} + b_t from h0.
        var carry = _carry.AsSpan(0, block);
        if (initialState.IsEmpty)
        {
            carry.Clear();
        }
        else
        {
            initialState.CopyTo(carry);
        }

        carry.CopyTo(_states.AsSpan((Reverse ? steps : 0) * block, block));
        _recurrence.SetForward(steps, block, _coefficients, _scanInputs, _states, outputShift: Reverse ? 0 : 1, backwardsInTime: Reverse);
        _scan.Run(_recurrence, carry, LinearScan<T>.PartsFor(_recurrence));

        unsafe
        {
            fixed (T* pointer = output)
            {
                SetOutside(pointer, outputColumn, outputWidth);
                RunRows(Pass.ForwardOutput);
                SetOutside(null, 0, 0);
            }
        }
    }

    /// <inheritdoc/>
    public void Backward(
        ReadOnlySpan<T> x, ReadOnlySpan<T> outputGradient, int outputColumn, int outputWidth,
        Span<T> inputGradient, bool accumulateInputGradient,
        ReadOnlySpan<T> finalStateGradient, ReadOnlySpan<T> finalCellGradient)
    {
        RecurrentLayers.RejectFinalStateGradient("minGRU and minLSTM", finalStateGradient, finalCellGradient);
        int steps = _steps, batch = _batch, hidden = Hidden, width = GateBlocks * hidden, block = batch * hidden, rows = steps * batch;

        // e_t = dL/doutput_t at active steps, 0 at padded ones (the scan inputs are no longer needed: e takes their place).
        unsafe
        {
            fixed (T* pointer = outputGradient)
            {
                SetOutside(pointer, outputColumn, outputWidth);
                RunRows(Pass.BackwardOutput);
                SetOutside(null, 0, 0);
            }
        }

        // forward: h_t = a_t h_{t-1} + b_t  =>  q_t = e_t + a_{t+1} q_{t+1} (the total dL/dh_t), run against the
        // forward order; the carry left at the end is a_first q_first = dL/dh0.
        var carry = _carry.AsSpan(0, block);
        carry.Clear();
        _recurrence.SetAdjoint(steps, block, _coefficients, _scanInputs, backwardsInTime: !Reverse);
        _scan.Run(_recurrence, carry, LinearScan<T>.PartsFor(_recurrence));
        if (RecordStateGradientNorms)
        {
            Buffers.Grow(ref _stateGradients, rows * hidden);
            _scanInputs.AsSpan(0, rows * hidden).CopyTo(_stateGradients);
            for (int t = 0; t < steps; t++)
            {
                _stateGradientNorms[t] = RecurrentLayers.Norm<T>(_stateGradients.AsSpan(t * block, block));
            }
        }

        bool tokenInput = _embeddingName is not null;
        Span<T> dx = inputGradient;
        if (tokenInput)
        {
            Buffers.Grow(ref _inputGradientScratch, rows * InputSize);
            dx = _inputGradientScratch.AsSpan(0, rows * InputSize);
        }

        if (InputSize > NarrowInputLimit)
        {
            // dL/dG_t = cell backward (q_t, h_{t-1}), zero at padded steps.
            RunRows(Pass.BackwardGates);

            // forward: G = x W_ih^T + b_ih  =>  dW_ih += dG^T x, db_ih += column sums of dG, dx = dG W_ih.
            Linear.Backward<T>(x[..(rows * InputSize)], rows, InputSize, _parameters.Value(WeightIh), width, _gateGradients.AsSpan(0, rows * width),
                _parameters.Gradient(WeightIh), _parameters.Gradient(BiasIh), dx, accumulateInputGradient && !tokenInput);
        }
        else
        {
            // The same, row by row: dG_t stays in cache while it gives dx_t and its share of dW_ih and db_ih.
            unsafe
            {
                fixed (T* input = x)
                fixed (T* gradient = dx)
                {
                    _input = input;
                    _inputGradient = dx.IsEmpty ? null : gradient;
                    _accumulateInputGradient = accumulateInputGradient && !tokenInput;
                    RunNarrowBackward();
                    _input = null;
                    _inputGradient = null;
                }
            }
        }

        if (tokenInput)
        {
            // forward: x_r = E[token_r]  =>  dE[token_r] += dx_r
            RecurrentLayers.AddToEmbedding<T>(dx, _tokens.AsSpan(0, rows), InputSize, _parameters.Gradient(_embeddingName!));
        }
    }

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<T> x, int batch, Span<T> state, Span<T> cell)
    {
        int hidden = Hidden, width = GateBlocks * hidden;
        Buffers.Grow(ref _stepGates, batch * width);
        Buffers.Grow(ref _stepCoefficients, hidden);
        Buffers.Grow(ref _stepInputs, hidden);
        var gates = _stepGates.AsSpan(0, batch * width);
        Linear.Forward<T>(x, batch, InputSize, _parameters.Value(WeightIh), _parameters.Value(BiasIh), width, gates);
        var a = _stepCoefficients.AsSpan(0, hidden);
        var b = _stepInputs.AsSpan(0, hidden);
        for (int row = 0; row < batch; row++)
        {
            ForwardRow(gates.Slice(row * width, width), a, b);
            var h = state.Slice(row * hidden, hidden);
            for (int j = 0; j < hidden; j++)
            {
                h[j] = (a[j] * h[j]) + b[j];
            }
        }
    }

    private unsafe void SetOutside(T* pointer, int column, int width)
    {
        _outside = pointer;
        _outsideColumn = column;
        _outsideWidth = width;
    }

    // W_ih^T [I, K H] from W_ih [K H, I], so that a row's projection is I scaled copies of contiguous rows.
    private void TransposeWeights()
    {
        int inputs = InputSize, width = GateBlocks * Hidden;
        Buffers.Grow(ref _weightColumns, inputs * width);
        var weights = _parameters.Value(WeightIh);
        for (int j = 0; j < width; j++)
        {
            for (int k = 0; k < inputs; k++)
            {
                _weightColumns[(k * width) + j] = weights[(j * inputs) + k];
            }
        }
    }

    private void RunNarrowBackward()
    {
        int inputs = InputSize, width = GateBlocks * Hidden, rows = _steps * _batch, chunks = (rows + ChunkRows - 1) / ChunkRows;
        int sumWidth = (inputs + 1) * width;
        TransposeWeights();
        Buffers.Grow(ref _chunkSums, chunks * sumWidth);
        int parts = Math.Min(chunks, ParallelReductions.PartsFor((long)rows * width));
        if (_partRows.Length < parts)
        {
            var grown = new T[parts][];
            Array.Copy(_partRows, grown, _partRows.Length);
            for (int p = _partRows.Length; p < parts; p++)
            {
                grown[p] = new T[width];
            }

            _partRows = grown;
        }

        for (int p = 0; p < parts; p++)
        {
            Buffers.Grow(ref _partRows[p], width);
        }

        _pass = Pass.BackwardGatesNarrow;
        WorkerPool.Run(_job, parts);

        // dW_ih[j, k] += sum over chunks, in chunk order, of x_k dG_j; db_ih[j] likewise of dG_j.
        var weightGradient = _parameters.Gradient(WeightIh);
        var biasGradient = _parameters.Gradient(BiasIh);
        for (int k = 0; k <= inputs; k++)
        {
            for (int j = 0; j < width; j++)
            {
                T sum = T.Zero;
                for (int c = 0; c < chunks; c++)
                {
                    sum += _chunkSums[(c * sumWidth) + (k * width) + j];
                }

                if (k < inputs)
                {
                    weightGradient[(j * inputs) + k] += sum;
                }
                else
                {
                    biasGradient[j] += sum;
                }
            }
        }
    }

    // Chunks [first, end) of rows: dG_t by the cell, dx_t = dG_t W_ih, and the chunk's sums of x_t dG_t and dG_t.
    private unsafe void NarrowBackwardChunks(int part, int parts)
    {
        int inputs = InputSize, batch = _batch, hidden = Hidden, width = GateBlocks * hidden, block = batch * hidden;
        int rows = _steps * batch, chunks = (rows + ChunkRows - 1) / ChunkRows, sumWidth = (inputs + 1) * width;
        var gateGradients = _partRows[part].AsSpan(0, width);
        var (firstChunk, endChunk) = ParallelReductions.Split(chunks, part, parts);
        for (int c = firstChunk; c < endChunk; c++)
        {
            var sums = _chunkSums.AsSpan(c * sumWidth, sumWidth);
            sums.Clear();
            int end = Math.Min(rows, (c + 1) * ChunkRows);
            for (int r = c * ChunkRows; r < end; r++)
            {
                int t = r / batch, b = r - (t * batch);
                if (!_hasLengths || t < _lengths[b])
                {
                    BackwardRow(_gates.AsSpan(r * width, width), _coefficients.AsSpan(r * hidden, hidden),
                        _states.AsSpan((PreviousBlock(t) * block) + (b * hidden), hidden), _scanInputs.AsSpan(r * hidden, hidden), gateGradients);
                    for (int k = 0; k < inputs; k++)
                    {
                        // forward: G = b_ih + sum_k x_k W_ih[:, k]  =>  dx_k = dG . W_ih[:, k],  dW_ih[:, k] += x_k dG,  db_ih += dG
                        var column = _weightColumns.AsSpan(k * width, width);
                        if (_inputGradient != null)
                        {
                            T dot = Dot(gateGradients, column);
                            T* target = _inputGradient + (r * inputs) + k;
                            *target = _accumulateInputGradient ? *target + dot : dot;
                        }

                        AddScaled(sums.Slice(k * width, width), _input[(r * inputs) + k], gateGradients);
                    }

                    AddScaled(sums.Slice(inputs * width, width), T.One, gateGradients);
                }
                else if (_inputGradient != null && !_accumulateInputGradient)
                {
                    new Span<T>(_inputGradient + (r * inputs), inputs).Clear();
                }
            }
        }
    }

    /// <summary>sum += scale * row, element-wise.</summary>
    private static void AddScaled(Span<T> sum, T scale, ReadOnlySpan<T> row)
    {
        int j = 0, length = sum.Length;
        ref T s0 = ref MemoryMarshal.GetReference(sum);
        ref T r0 = ref MemoryMarshal.GetReference(row);
        if (Vector.IsHardwareAccelerated)
        {
            var factor = new Vector<T>(scale);
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                (Vector.LoadUnsafe(ref s0, (nuint)j) + (factor * Vector.LoadUnsafe(ref r0, (nuint)j))).StoreUnsafe(ref s0, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            Unsafe.Add(ref s0, j) += scale * Unsafe.Add(ref r0, j);
        }
    }

    /// <summary>a . b, the vector lanes summed in a fixed order.</summary>
    private static T Dot(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
    {
        int j = 0, length = a.Length;
        ref T a0 = ref MemoryMarshal.GetReference(a);
        ref T b0 = ref MemoryMarshal.GetReference(b);
        T sum = T.Zero;
        if (Vector.IsHardwareAccelerated)
        {
            var accumulator = Vector<T>.Zero;
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                accumulator += Vector.LoadUnsafe(ref a0, (nuint)j) * Vector.LoadUnsafe(ref b0, (nuint)j);
            }

            sum = Vector.Sum(accumulator);
        }

        for (; j < length; j++)
        {
            sum += Unsafe.Add(ref a0, j) * Unsafe.Add(ref b0, j);
        }

        return sum;
    }

    private void RunRows(Pass pass)
    {
        _pass = pass;
        int rows = _steps * _batch;
        WorkerPool.Run(_job, ParallelReductions.PartsFor((long)rows * GateBlocks * Hidden));
    }

    /// <summary>Rows [first, end) of the current pass; every row is written by exactly one part.</summary>
    private unsafe void RunRowRange(int part, int parts)
    {
        if (_pass == Pass.BackwardGatesNarrow)
        {
            NarrowBackwardChunks(part, parts);
            return;
        }

        int batch = _batch, hidden = Hidden, width = GateBlocks * hidden, block = batch * hidden;
        var (first, end) = ParallelReductions.Split(_steps * batch, part, parts);
        ReadOnlySpan<T> bias = _input != null ? _parameters.Value(BiasIh) : default;
        for (int r = first; r < end; r++)
        {
            int t = r / batch, b = r - (t * batch);
            bool active = !_hasLengths || t < _lengths[b];
            var coefficient = _coefficients.AsSpan(r * hidden, hidden);
            var scanRow = _scanInputs.AsSpan(r * hidden, hidden);
            switch (_pass)
            {
                case Pass.ForwardGates:
                    if (active)
                    {
                        var gates = _gates.AsSpan(r * width, width);
                        if (_input != null)
                        {
                            // forward: G_t = b_ih + sum_k x_k W_ih[:, k]
                            bias.CopyTo(gates);
                            for (int k = 0; k < InputSize; k++)
                            {
                                AddScaled(gates, _input[(r * InputSize) + k], _weightColumns.AsSpan(k * width, width));
                            }
                        }

                        ForwardRow(gates, coefficient, scanRow);
                    }
                    else
                    {
                        coefficient.Fill(T.One);
                        scanRow.Clear();
                    }

                    break;
                case Pass.ForwardOutput:
                    var destination = new Span<T>(_outside + (r * _outsideWidth) + _outsideColumn, hidden);
                    if (active)
                    {
                        _states.AsSpan((CurrentBlock(t) * block) + (b * hidden), hidden).CopyTo(destination);
                    }
                    else
                    {
                        destination.Clear();
                    }

                    break;
                case Pass.BackwardOutput:
                    if (active)
                    {
                        new ReadOnlySpan<T>(_outside + (r * _outsideWidth) + _outsideColumn, hidden).CopyTo(scanRow);
                    }
                    else
                    {
                        scanRow.Clear();
                    }

                    break;
                default:
                    var gateGradients = _gateGradients.AsSpan(r * width, width);
                    if (active)
                    {
                        BackwardRow(_gates.AsSpan(r * width, width), coefficient,
                            _states.AsSpan((PreviousBlock(t) * block) + (b * hidden), hidden), scanRow, gateGradients);
                    }
                    else
                    {
                        gateGradients.Clear();
                    }

                    break;
            }
        }
    }

    private int PreviousBlock(int t) => Reverse ? t + 1 : t;

    private int CurrentBlock(int t) => Reverse ? t : t + 1;

    private void Allocate(int steps, int batch, ReadOnlySpan<int> lengths)
    {
        _steps = steps;
        _batch = batch;
        int hidden = Hidden, rows = steps * batch, width = GateBlocks * hidden;
        Buffers.Grow(ref _gates, rows * width);
        Buffers.Grow(ref _gateGradients, rows * width);
        Buffers.Grow(ref _coefficients, rows * hidden);
        Buffers.Grow(ref _scanInputs, rows * hidden);
        Buffers.Grow(ref _states, (rows + batch) * hidden);
        Buffers.Grow(ref _carry, batch * hidden);
        Buffers.Grow(ref _stateGradientNorms, steps);
        _hasLengths = !lengths.IsEmpty;
        if (_hasLengths)
        {
            Buffers.Grow(ref _lengths, batch);
            lengths.CopyTo(_lengths);
        }
    }

    /// <summary>A row pass as a reusable job, so that running one allocates nothing.</summary>
    private sealed class RowJob(GatedScanLayer<T> layer) : IParallelJob
    {
        public void Run(int part, int parts) => layer.RunRowRange(part, parts);
    }
}
