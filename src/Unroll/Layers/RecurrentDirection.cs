using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// One direction of one recurrent layer: owns the time loop for its cell, in either time order,
/// with per-sequence lengths. This is where BPTT happens.
/// </summary>
/// <remarks>
/// Shapes (time-major, row-major): x [T, B, I]; gates [T, B, G*H] with G gate blocks; states are
/// kept in T+1 blocks of [B, H]: for the forward direction block 0 is h0 and block t+1 is h_t; for
/// the reverse direction block T is h0 and block t is h_t. Either way the previous states of all
/// steps, in time order, are one contiguous [T*B, H] slice, so dW_hh is a single GEMM.
/// <para>
/// Forward: the input part <c>x W_ih^T + b_ih (+ b_hh)</c> for all T*B rows is one GEMM before the
/// loop; per step, the product with W_hh and the cell's element-wise pass. Backward: per step
/// <c>dGates_{t+1} W_hh</c> completes dL/dh_t and the cell's element-wise backward gives dGates_t;
/// after the loop dW_hh, dW_ih and dx are single GEMMs with K = T*B and the bias gradients column sums.
/// </para>
/// <para>
/// Each time step is one <see cref="WorkerPool"/> dispatch split by hidden units: a part owns units [u0, u1)
/// (whole GEMM column panels), computes their columns of every gate block of the product, and runs the cell
/// on them; the cell of unit j reads and writes only columns g*H + j, so the parts need each other only at the
/// step boundary, and the results do not depend on the thread count.
/// </para>
/// </remarks>
internal sealed class RecurrentDirection<T> : IRecurrentLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ParameterSet<T> _parameters;
    private readonly int _gateCount;

    // W_hh packed once per sequence for the per-step products: as W_hh^T (forward: gates += h W_hh^T)
    // and as W_hh (backward: dh_{t-1} += dGates W_hh).
    private readonly PackedOperand<T> _packedForward = new();
    private readonly PackedOperand<T> _packedBackward = new();

    // Token input (the first layer of a model with an embedding): x_r = E[token_r], so
    // x_r W_ih^T = (E W_ih^T)[token_r], a row of a V x G*H table computed once per forward pass.
    private int[]? _tokens;
    private string? _embeddingName;
    private int _vocabulary;
    private T[] _tokenTable = [];
    private T[] _gates = [];
    private T[] _states = [];
    private T[] _cells = [];
    private T[] _tanhCells = [];
    private T[] _hiddenGates = [];
    private T[] _hiddenCandidates = [];
    private T[] _gateGradients = [];
    private T[] _inputGateGradients = [];
    private T[] _stateGradient = [];
    private T[] _carry = [];
    private T[] _cellCarry = [];
    private int _steps;
    private int _batch;
    private int[] _lengths = [];
    private double[] _stateGradientNorms = [];
    private double[] _cellGradientNorms = [];
    private T[] _stateGradients = [];
    private T[] _cellGradients = [];
    private bool _hasLengths;

    // The time step being dispatched (one WorkerPool job per step, split by hidden units), and what its parts read
    // besides the buffers above: the caller's output (forward) or output gradient (backward), pinned for the loop.
    private readonly StepJob _stepJob;
    private bool _stepBackward;
    private int _stepTime;
    private int _productTime;
    private unsafe T* _stepOutput;
    private int _stepOutputLength;
    private int _stepOutputColumn;
    private int _stepOutputWidth;

    public RecurrentDirection(ParameterSet<T> parameters, CellKind cell, Activation activation, int layer, bool reverse, int inputSize, int hidden)
    {
        _parameters = parameters;
        Cell = cell;
        Activation = activation;
        Reverse = reverse;
        InputSize = inputSize;
        Hidden = hidden;
        _gateCount = CellKinds.GateCount(cell);
        string suffix = $"_l{layer}" + (reverse ? "_reverse" : string.Empty);
        WeightIh = "rnn.weight_ih" + suffix;
        WeightHh = "rnn.weight_hh" + suffix;
        BiasIh = "rnn.bias_ih" + suffix;
        BiasHh = "rnn.bias_hh" + suffix;
        _stepJob = new StepJob(this);
    }

    /// <summary>
    /// Below this batch * G * H * H (the per-step product's multiply-adds) a time step runs on the calling thread:
    /// waking a worker would cost more than it saves. Settable so tests can force the split on small models.
    /// </summary>
    internal static long MinParallelStepWork { get; set; } = 64 * 64 * 64;

    public CellKind Cell { get; }

    public Activation Activation { get; }

    public bool Reverse { get; }

    public int InputSize { get; }

    public int Hidden { get; }

    public string WeightIh { get; }

    public string WeightHh { get; }

    public string BiasIh { get; }

    public string BiasHh { get; }

    /// <summary>When set, <see cref="Backward"/> records ||dL/dh_t|| (and ||dL/dc_t|| from later steps for the LSTM) for every t.</summary>
    public bool RecordStateGradientNorms { get; set; }

    /// <summary>||dL/dh_t||_2 over the batch for t = 0..T-1, from the last backward pass with recording on.</summary>
    public ReadOnlySpan<double> StateGradientNorms => _stateGradientNorms.AsSpan(0, RecordStateGradientNorms ? _steps : 0);

    /// <summary>
    /// For the LSTM, ||dL/dc_t||_2 as it arrives from later steps (through c_{t+1} = f c_t + ...), t = 0..T-1;
    /// zero at the last step.
    /// </summary>
    public ReadOnlySpan<double> CellGradientNorms => _cellGradientNorms.AsSpan(0, RecordStateGradientNorms && Cell == CellKind.Lstm ? _steps : 0);

    /// <summary>The vectors behind <see cref="StateGradientNorms"/>: dL/dh_t as [T, B, H] in time order.</summary>
    public ReadOnlySpan<T> StateGradients => _stateGradients.AsSpan(0, RecordStateGradientNorms ? _steps * _batch * Hidden : 0);

    /// <summary>The vectors behind <see cref="CellGradientNorms"/>: dL/dc_t from later steps as [T, B, H] (LSTM).</summary>
    public ReadOnlySpan<T> CellGradients => _cellGradients.AsSpan(0, RecordStateGradientNorms && Cell == CellKind.Lstm ? _steps * _batch * Hidden : 0);

    /// <summary>The (name, shape) pairs of this direction's parameters, in PyTorch's order.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(CellKind cell, int layer, bool reverse, int inputSize, int hidden)
    {
        int rows = CellKinds.GateCount(cell) * hidden;
        string suffix = $"_l{layer}" + (reverse ? "_reverse" : string.Empty);
        yield return ("rnn.weight_ih" + suffix, [rows, inputSize]);
        yield return ("rnn.weight_hh" + suffix, [rows, hidden]);
        yield return ("rnn.bias_ih" + suffix, [rows]);
        yield return ("rnn.bias_hh" + suffix, [rows]);
    }

    /// <summary>The last state of each sequence (after its own last step; for the reverse direction, after t = 0), [B, H].</summary>
    public ReadOnlySpan<T> FinalState => _states.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden);

    /// <summary>The last cell state (LSTM), [B, H].</summary>
    public ReadOnlySpan<T> FinalCell => _cells.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden);

    /// <summary>dL/dh0 after <see cref="Backward"/>, [B, H].</summary>
    public ReadOnlySpan<T> InitialStateGradient => _carry.AsSpan(0, _batch * Hidden);

    /// <summary>dL/dc0 after <see cref="Backward"/> (LSTM), [B, H].</summary>
    public ReadOnlySpan<T> InitialCellGradient => _cellCarry.AsSpan(0, _batch * Hidden);

    /// <summary>
    /// Makes this direction read token ids (<paramref name="tokens"/>, [T, B], kept by reference) looked up in the
    /// embedding parameter <paramref name="embeddingName"/> ([V, I]) instead of dense x: the input projection
    /// becomes a gather from E W_ih^T, and backward adds dL/dE itself (a scatter-add of the gate gradients by
    /// token, then two products with K = V and K = G*H instead of two with K = T*B). A null name switches back to dense x.
    /// </summary>
    public void SetTokenInput(int[]? tokens, string? embeddingName, int vocabulary)
    {
        _tokens = tokens;
        _embeddingName = embeddingName;
        _vocabulary = vocabulary;
    }

    /// <summary>
    /// Runs the direction over x ([T, B, I]) and writes h_t into columns
    /// [<paramref name="outputColumn"/>, +H) of <paramref name="output"/> ([T, B, outputWidth]),
    /// zero at padded steps.
    /// </summary>
    public void Forward(
        ReadOnlySpan<T> x, int steps, int batch, ReadOnlySpan<int> lengths,
        ReadOnlySpan<T> initialState, ReadOnlySpan<T> initialCell,
        Span<T> output, int outputColumn, int outputWidth)
    {
        Allocate(steps, batch, lengths);
        int hidden = Hidden, width = _gateCount * hidden, block = batch * hidden, rows = steps * batch;
        bool lstm = Cell == CellKind.Lstm, gru = Cell == CellKind.Gru;
        var weightHh = _parameters.Value(WeightHh);
        var biasIh = _parameters.Value(BiasIh);
        var biasHh = _parameters.Value(BiasHh);
        var gates = _gates.AsSpan(0, rows * width);

        // Before the loop, all T*B rows: gates = x W_ih^T + b_ih (+ b_hh, except for the GRU whose
        // b_hh sits inside r * (W_hn h + b_hn)).
        bool tokenInput = _embeddingName is not null;
        int projectedRows = tokenInput ? _vocabulary : rows;
        if (tokenInput)
        {
            Buffers.Grow(ref _tokenTable, _vocabulary * width);
        }

        var projected = tokenInput ? _tokenTable.AsSpan(0, _vocabulary * width) : gates;
        // The bias row is summed once and copied into every row, rather than re-added for each of the T*B rows.
        if (projectedRows > 0)
        {
            var firstRow = projected[..width];
            for (int j = 0; j < width; j++)
            {
                firstRow[j] = gru ? biasIh[j] : biasIh[j] + biasHh[j];
            }

            for (int r = 1; r < projectedRows; r++)
            {
                firstRow.CopyTo(projected.Slice(r * width, width));
            }
        }

        // The same product either way, row for row: for tokens over the V embedding rows, then gathered.
        ReadOnlySpan<T> projectionInput = tokenInput ? _parameters.Value(_embeddingName!) : x[..(rows * InputSize)];
        Gemm.Compute(Transpose.No, Transpose.Yes, projectedRows, width, InputSize,
            T.One, projectionInput, InputSize, _parameters.Value(WeightIh), InputSize, T.One, projected, width);
        if (tokenInput)
        {
            for (int r = 0; r < rows; r++)
            {
                projected.Slice(_tokens![r] * width, width).CopyTo(gates.Slice(r * width, width));
            }
        }

        var states = _states.AsSpan(0, (steps + 1) * block);
        var cells = lstm ? _cells.AsSpan(0, (steps + 1) * block) : Span<T>.Empty;
        int initialBlock = Reverse ? steps : 0;
        SetInitial(states.Slice(initialBlock * block, block), initialState);
        if (lstm)
        {
            SetInitial(cells.Slice(initialBlock * block, block), initialCell);
        }

        _packedForward.Pack(Transpose.Yes, hidden, width, weightHh, hidden);
        int parts = StepParts(batch);
        unsafe
        {
            fixed (T* outputPointer = output)
            {
                SetStepOutput(outputPointer, output.Length, outputColumn, outputWidth);
                _stepBackward = false;
                for (int s = 0; s < steps; s++)
                {
                    _stepTime = Reverse ? steps - 1 - s : s;
                    WorkerPool.Run(_stepJob, parts);
                }

                SetStepOutput(null, 0, 0, 0);
            }
        }
    }

    /// <summary>
    /// BPTT for the last <see cref="Forward"/>: reads dL/doutput from columns
    /// [<paramref name="outputColumn"/>, +H) of <paramref name="outputGradient"/>, adds every parameter
    /// gradient, and writes (or adds, when <paramref name="accumulateInputGradient"/>) dL/dx.
    /// </summary>
    public void Backward(
        ReadOnlySpan<T> x, ReadOnlySpan<T> outputGradient, int outputColumn, int outputWidth,
        Span<T> inputGradient, bool accumulateInputGradient)
    {
        int steps = _steps, batch = _batch, hidden = Hidden, width = _gateCount * hidden, block = batch * hidden, rows = steps * batch;
        bool lstm = Cell == CellKind.Lstm, gru = Cell == CellKind.Gru;
        var weightHh = _parameters.Value(WeightHh);
        var states = _states.AsSpan(0, (steps + 1) * block);
        var gateGradients = _gateGradients.AsSpan(0, rows * width);
        var inputGateGradients = gru ? _inputGateGradients.AsSpan(0, rows * width) : gateGradients;
        var carry = _carry.AsSpan(0, block);
        var cellCarry = _cellCarry.AsSpan(0, block);
        var stateGradient = _stateGradient.AsSpan(0, block);
        carry.Clear();
        cellCarry.Clear();
        if (RecordStateGradientNorms)
        {
            Buffers.Grow(ref _stateGradients, rows * hidden);
            Buffers.Grow(ref _cellGradients, lstm ? rows * hidden : 0);
        }

        _packedBackward.Pack(Transpose.No, width, hidden, weightHh, hidden);
        int parts = StepParts(batch);

        // The loop runs against the forward order: the forward direction from t = T-1 down to 0. Step t's parts
        // first finish dL/dh_t with the product dGates_{t+1} W_hh of the step before (complete after its dispatch).
        int productTime = -1;
        unsafe
        {
            fixed (T* gradientPointer = outputGradient)
            {
                SetStepOutput(gradientPointer, outputGradient.Length, outputColumn, outputWidth);
                _stepBackward = true;
                for (int s = steps - 1; s >= 0; s--)
                {
                    int t = Reverse ? steps - 1 - s : s;
                    if (RecordStateGradientNorms && lstm)
                    {
                        // dL/dc_t as it arrives from later steps, before this step's backward turns it into dL/dc_{t-1}.
                        _cellGradientNorms[t] = GradientNorm(cellCarry);
                        cellCarry.CopyTo(_cellGradients.AsSpan(t * block, block));
                    }

                    _stepTime = t;
                    _productTime = productTime;
                    WorkerPool.Run(_stepJob, parts);
                    productTime = t;
                    if (RecordStateGradientNorms)
                    {
                        // ||dL/dh_t||_2 over the whole batch: the quantity whose decay or growth with the lag
                        // is the vanishing or exploding gradient (the notes' dL/dh_t = dL/dh_T prod dh_j/dh_{j-1}).
                        _stateGradientNorms[t] = GradientNorm(stateGradient);
                        stateGradient.CopyTo(_stateGradients.AsSpan(t * block, block));
                    }
                }

                SetStepOutput(null, 0, 0, 0);
            }
        }

        // forward: gates_0 += h0 W_hh^T  =>  dL/dh0 = (direct part) + dGates_0 W_hh
        if (productTime >= 0)
        {
            Gemm.ComputePacked(Transpose.No, batch, T.One, gateGradients.Slice(productTime * batch * width, batch * width), width,
                _packedBackward, T.One, carry, hidden);
        }

        // After the loop, single GEMMs over all T*B rows.
        var previousStates = states.Slice((Reverse ? 1 : 0) * block, rows * hidden);
        Gemm.Compute(Transpose.Yes, Transpose.No, width, hidden, rows, T.One, gateGradients, width, previousStates, hidden, T.One, _parameters.Gradient(WeightHh), hidden);
        Linear.AddColumnSums<T>(gateGradients, rows, width, _parameters.Gradient(BiasHh));
        if (_embeddingName is null)
        {
            Linear.Backward<T>(x[..(rows * InputSize)], rows, InputSize, _parameters.Value(WeightIh), width, inputGateGradients,
                _parameters.Gradient(WeightIh), _parameters.Gradient(BiasIh), inputGradient, accumulateInputGradient);
            return;
        }

        // forward: gates_r += (E W_ih^T + b_ih)[token_r]  =>  S[v] = sum of dGates_r over rows with token v, then
        // dW_ih += S^T E, db_ih += column sums of S, dE += S W_ih: single products with K = V and K = G*H.
        var tokenGradients = _tokenTable.AsSpan(0, _vocabulary * width);
        tokenGradients.Clear();
        for (int r = 0; r < rows; r++)
        {
            AddRow(tokenGradients.Slice(_tokens![r] * width, width), inputGateGradients.Slice(r * width, width));
        }

        var embedding = _parameters.Value(_embeddingName);
        Gemm.Compute(Transpose.Yes, Transpose.No, width, InputSize, _vocabulary, T.One, tokenGradients, width, embedding, InputSize, T.One, _parameters.Gradient(WeightIh), InputSize);
        Linear.AddColumnSums<T>(tokenGradients, _vocabulary, width, _parameters.Gradient(BiasIh));
        Gemm.Compute(Transpose.No, Transpose.No, _vocabulary, InputSize, width, T.One, tokenGradients, width, _parameters.Value(WeightIh), InputSize, T.One, _parameters.Gradient(_embeddingName), InputSize);
    }

    /// <summary>
    /// How many parts a time step is split into: one per thread, each a whole number of the GEMM's column panels of
    /// hidden units (so the parts' products are exactly the columns the whole product would give), when the step is
    /// big enough to pay for waking the workers; otherwise one part with every unit.
    /// </summary>
    private int StepParts(int batch)
    {
        int panel = Gemm.PanelWidth<T>(), threads = Parallelism.ThreadCount;
        long work = (long)batch * _gateCount * Hidden * Hidden;
        return threads <= 1 || Hidden % panel != 0 || work < MinParallelStepWork ? 1 : Math.Min(threads, Hidden / panel);
    }

    private unsafe void SetStepOutput(T* pointer, int length, int column, int width)
    {
        _stepOutput = pointer;
        _stepOutputLength = length;
        _stepOutputColumn = column;
        _stepOutputWidth = width;
    }

    /// <summary>Part <paramref name="part"/> of the current time step: hidden units [u0, u1), whole panels of them.</summary>
    private void RunStepPart(int part, int parts)
    {
        int firstUnit = 0, endUnit = Hidden;
        if (parts > 1)
        {
            int panel = Gemm.PanelWidth<T>(), panels = Hidden / panel;
            firstUnit = part * panels / parts * panel;
            endUnit = (part + 1) * panels / parts * panel;
        }

        if (_stepBackward)
        {
            BackwardUnits(_stepTime, _productTime, firstUnit, endUnit);
        }
        else
        {
            ForwardUnits(_stepTime, firstUnit, endUnit);
        }
    }

    /// <summary>
    /// Forward step t for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>): their columns of
    /// every gate block of h_{t-1} W_hh^T, the cell, and their columns of the output.
    /// </summary>
    private unsafe void ForwardUnits(int t, int firstUnit, int endUnit)
    {
        int batch = _batch, hidden = Hidden, width = _gateCount * hidden, block = batch * hidden, units = endUnit - firstUnit;
        int previous = PreviousBlock(t), current = CurrentBlock(t);
        var hPrevious = _states.AsSpan(previous * block, block);
        var h = _states.AsSpan(current * block, block);
        var stepGates = _gates.AsSpan(t * batch * width, batch * width);
        var rowsAtStep = new StepRows(_hasLengths ? _lengths.AsSpan(0, batch) : ReadOnlySpan<int>.Empty, t);
        switch (Cell)
        {
            case CellKind.Rnn:
                AddRecurrentProduct(batch, hPrevious, hidden, _packedForward, stepGates, width, firstUnit, endUnit);
                ElmanCell.Forward(Activation, rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, hPrevious, h);
                break;
            case CellKind.Lstm:
                AddRecurrentProduct(batch, hPrevious, hidden, _packedForward, stepGates, width, firstUnit, endUnit);
                LstmCell.Forward(rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, hPrevious, _cells.AsSpan(previous * block, block),
                    h, _cells.AsSpan(current * block, block), _tanhCells.AsSpan(t * block, block));
                break;
            case CellKind.Gru:
                // gh = h_{t-1} W_hh^T + b_hh, kept apart from gi because r multiplies its n block.
                var hiddenGates = _hiddenGates.AsSpan(0, batch * width);
                var biasHh = _parameters.Value(BiasHh);
                for (int b = 0; b < batch; b++)
                {
                    for (int g = 0; g < _gateCount; g++)
                    {
                        int column = (g * hidden) + firstUnit;
                        biasHh.Slice(column, units).CopyTo(hiddenGates.Slice((b * width) + column, units));
                    }
                }

                AddRecurrentProduct(batch, hPrevious, hidden, _packedForward, hiddenGates, width, firstUnit, endUnit);
                GruCell.Forward(rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, hiddenGates, _hiddenCandidates.AsSpan(t * block, block), hPrevious, h);
                break;
            default:
                throw new InvalidOperationException($"Unknown cell {Cell}.");
        }

        var output = new Span<T>(_stepOutput, _stepOutputLength);
        for (int b = 0; b < batch; b++)
        {
            var destination = output.Slice((((t * batch) + b) * _stepOutputWidth) + _stepOutputColumn + firstUnit, units);
            if (rowsAtStep.IsActive(b))
            {
                h.Slice((b * hidden) + firstUnit, units).CopyTo(destination);
            }
            else
            {
                destination.Clear();
            }
        }
    }

    /// <summary>
    /// Backward step t for hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>): their columns of
    /// dL/dh_t = (direct part carried from step t+1) + dGates_{t+1} W_hh (<paramref name="productTime"/> = t+1 in
    /// processing order, or -1 at the first step) + dL/doutput_t, then the cell's backward for those units, which
    /// writes their gate-gradient columns and overwrites their carries with the direct part of dL/dh_{t-1}.
    /// </summary>
    private unsafe void BackwardUnits(int t, int productTime, int firstUnit, int endUnit)
    {
        int batch = _batch, hidden = Hidden, width = _gateCount * hidden, block = batch * hidden, units = endUnit - firstUnit;
        var carry = _carry.AsSpan(0, block);
        var stateGradient = _stateGradient.AsSpan(0, block);
        if (productTime >= 0)
        {
            // forward: gates_{t+1} += h_t W_hh^T  =>  dh_t += dGates_{t+1} W_hh
            AddRecurrentProduct(batch, _gateGradients.AsSpan(productTime * batch * width, batch * width), width, _packedBackward,
                carry, hidden, firstUnit, endUnit);
        }

        // dL/dh_t = what later steps passed back + what the layer above (or the head) sends at t.
        var rowsAtStep = new StepRows(_hasLengths ? _lengths.AsSpan(0, batch) : ReadOnlySpan<int>.Empty, t);
        var outputGradient = new ReadOnlySpan<T>(_stepOutput, _stepOutputLength);
        for (int b = 0; b < batch; b++)
        {
            int at = (b * hidden) + firstUnit;
            var total = stateGradient.Slice(at, units);
            carry.Slice(at, units).CopyTo(total);
            if (rowsAtStep.IsActive(b))
            {
                AddRow(total, outputGradient.Slice((((t * batch) + b) * _stepOutputWidth) + _stepOutputColumn + firstUnit, units));
            }
        }

        int previous = PreviousBlock(t);
        var stepGates = _gates.AsSpan(t * batch * width, batch * width);
        var stepGateGradients = _gateGradients.AsSpan(t * batch * width, batch * width);
        switch (Cell)
        {
            case CellKind.Rnn:
                ElmanCell.Backward(Activation, rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, stateGradient, stepGateGradients, carry);
                break;
            case CellKind.Lstm:
                LstmCell.Backward(rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, _cells.AsSpan(previous * block, block),
                    _tanhCells.AsSpan(t * block, block), stateGradient, _cellCarry.AsSpan(0, block), stepGateGradients, carry);
                break;
            case CellKind.Gru:
                GruCell.Backward(rowsAtStep, batch, hidden, firstUnit, endUnit, stepGates, _hiddenCandidates.AsSpan(t * block, block),
                    _states.AsSpan(previous * block, block), stateGradient,
                    _inputGateGradients.AsSpan(t * batch * width, batch * width), stepGateGradients, carry);
                break;
            default:
                throw new InvalidOperationException($"Unknown cell {Cell}.");
        }
    }

    /// <summary>
    /// C += A B for the columns of hidden units [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) in every
    /// H-wide block of C (the gate blocks forward, the one dL/dh block backward). With every unit it is one product,
    /// which the kernel may still split over the cores itself.
    /// </summary>
    private void AddRecurrentProduct(int m, ReadOnlySpan<T> a, int lda, PackedOperand<T> packed, Span<T> c, int ldc, int firstUnit, int endUnit)
    {
        if (firstUnit == 0 && endUnit == Hidden)
        {
            Gemm.ComputePacked(Transpose.No, m, T.One, a, lda, packed, T.One, c, ldc);
            return;
        }

        for (int column = 0; column < packed.Columns; column += Hidden)
        {
            Gemm.ComputePackedColumns(m, T.One, a, lda, packed, T.One, c, ldc, column + firstUnit, column + endUnit);
        }
    }

    /// <summary>sum += row, element-wise.</summary>
    private static void AddRow(Span<T> sum, ReadOnlySpan<T> row)
    {
        int j = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            ref T s = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(sum);
            ref T r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(row);
            for (; j <= sum.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                (Vector.LoadUnsafe(ref s, (nuint)j) + Vector.LoadUnsafe(ref r, (nuint)j)).StoreUnsafe(ref s, (nuint)j);
            }
        }

        for (; j < sum.Length; j++)
        {
            sum[j] += row[j];
        }
    }

    /// <summary>
    /// One step of inference for a batch, outside the saved-for-backward buffers:
    /// <paramref name="state"/> (and <paramref name="cell"/> for LSTM) hold h_{t-1} on entry and h_t on exit.
    /// </summary>
    public void Step(ReadOnlySpan<T> x, int batch, Span<T> state, Span<T> cell)
    {
        int hidden = Hidden, width = _gateCount * hidden;
        bool gru = Cell == CellKind.Gru;
        var biasIh = _parameters.Value(BiasIh);
        var biasHh = _parameters.Value(BiasHh);
        var gates = new T[batch * width];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < width; j++)
            {
                gates[(b * width) + j] = gru ? biasIh[j] : biasIh[j] + biasHh[j];
            }
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, batch, width, InputSize, T.One, x, InputSize, _parameters.Value(WeightIh), InputSize, T.One, gates, width);
        var previous = state.ToArray();
        var all = new StepRows(ReadOnlySpan<int>.Empty, 0);
        var weightHh = _parameters.Value(WeightHh);
        switch (Cell)
        {
            case CellKind.Rnn:
                Gemm.Compute(Transpose.No, Transpose.Yes, batch, width, hidden, T.One, previous, hidden, weightHh, hidden, T.One, gates, width);
                ElmanCell.Forward(Activation, all, batch, hidden, 0, hidden, gates, previous, state);
                break;
            case CellKind.Lstm:
                Gemm.Compute(Transpose.No, Transpose.Yes, batch, width, hidden, T.One, previous, hidden, weightHh, hidden, T.One, gates, width);
                var previousCell = cell.ToArray();
                LstmCell.Forward(all, batch, hidden, 0, hidden, gates, previous, previousCell, state, cell, new T[batch * hidden]);
                break;
            case CellKind.Gru:
                var hiddenGates = new T[batch * width];
                for (int b = 0; b < batch; b++)
                {
                    biasHh.CopyTo(hiddenGates.AsSpan(b * width, width));
                }

                Gemm.Compute(Transpose.No, Transpose.Yes, batch, width, hidden, T.One, previous, hidden, weightHh, hidden, T.One, hiddenGates, width);
                GruCell.Forward(all, batch, hidden, 0, hidden, gates, hiddenGates, new T[batch * hidden], previous, state);
                break;
            default:
                throw new InvalidOperationException($"Unknown cell {Cell}.");
        }
    }

    private static double GradientNorm(ReadOnlySpan<T> values)
    {
        double sum = 0;
        foreach (T value in values)
        {
            double v = double.CreateChecked(value);
            sum += v * v;
        }

        return Math.Sqrt(sum);
    }

    private int PreviousBlock(int t) => Reverse ? t + 1 : t;

    private int CurrentBlock(int t) => Reverse ? t : t + 1;

    private static void SetInitial(Span<T> destination, ReadOnlySpan<T> source)
    {
        if (source.IsEmpty)
        {
            destination.Clear();
        }
        else
        {
            source.CopyTo(destination);
        }
    }

    private void Allocate(int steps, int batch, ReadOnlySpan<int> lengths)
    {
        _steps = steps;
        _batch = batch;
        int hidden = Hidden, width = _gateCount * hidden, rows = steps * batch;
        Buffers.Grow(ref _gates, rows * width);
        Buffers.Grow(ref _gateGradients, rows * width);
        Buffers.Grow(ref _states, (rows + batch) * hidden);
        Buffers.Grow(ref _stateGradient, batch * hidden);
        Buffers.Grow(ref _carry, batch * hidden);
        Buffers.Grow(ref _cellCarry, batch * hidden);
        if (Cell == CellKind.Lstm)
        {
            Buffers.Grow(ref _cells, (rows + batch) * hidden);
            Buffers.Grow(ref _tanhCells, rows * hidden);
        }

        if (Cell == CellKind.Gru)
        {
            Buffers.Grow(ref _hiddenGates, batch * width);
            Buffers.Grow(ref _hiddenCandidates, rows * hidden);
            Buffers.Grow(ref _inputGateGradients, rows * width);
        }

        Buffers.Grow(ref _stateGradientNorms, steps);
        Buffers.Grow(ref _cellGradientNorms, steps);
        _hasLengths = !lengths.IsEmpty;
        if (_hasLengths)
        {
            Buffers.Grow(ref _lengths, batch);

            lengths.CopyTo(_lengths);
        }
    }

    /// <summary>One time step as a reusable job, so that dispatching a step allocates nothing.</summary>
    private sealed class StepJob(RecurrentDirection<T> direction) : IParallelJob
    {
        public void Run(int part, int parts) => direction.RunStepPart(part, parts);
    }
}
