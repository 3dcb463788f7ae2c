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
internal sealed class RecurrentDirection<T, TCell> : IRecurrentLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TCell : struct, IRecurrentCell<TCell>
{
    private readonly ParameterSet<T> _parameters;
    private readonly TCell _cell;

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
    private bool _gatherTokens;

    // Per step t: the gates [B, G*H] as the cell left them, the cell's saved blocks [S, B, H], and the states
    // (and memories) in T+1 blocks of [B, H]; the recurrent part [B, G*H] of the step being run for a cell that keeps
    // it apart; the gate gradients [T, B, G*H] that multiply W_hh (and, for such a cell, those of the input part).
    private T[] _gates = [];
    private T[] _saved = [];
    private T[] _states = [];
    private T[] _memories = [];
    private T[] _recurrentGates = [];
    private T[] _gateGradients = [];
    private T[] _inputGateGradients = [];
    private T[] _stateGradient = [];
    private T[] _carry = [];
    private T[] _memoryCarry = [];
    private int _steps;
    private int _batch;
    private int[] _lengths = [];
    private double[] _stateGradientNorms = [];
    private double[] _cellGradientNorms = [];
    private T[] _stateGradients = [];
    private T[] _cellGradients = [];
    private bool _hasLengths;

    // For a cell that feeds back the output (TCell.FeedsBackOutput): what the recurrent weight multiplies at each step,
    // y_{t-1} [T, B, O] (y0, then the head's outputs or the teacher's targets), and its gradients; the teacher's targets
    // [T, B, O] (null to run free); the hidden state of the last inference step.
    private T[] _feedback = [];
    private T[] _feedbackGradients = [];
    private T[]? _teacher;
    private T[] _stepHidden = [];

    // The time step being dispatched (one WorkerPool job per step, split by hidden units), and what its parts read
    // besides the buffers above: the caller's output (forward) or output gradient (backward), pinned for the loop.
    private readonly StepJob _stepJob;
    private bool _stepBackward;
    private int _stepTime;
    private int _productTime;

    // Split by rows instead (RowParts): each part takes its rows through steps [_chunkStart, _chunkEnd) of the
    // processing order, with no meeting between the steps of a chunk.
    private readonly RowJob _rowJob;
    private readonly AccumulateJob _accumulateJob;
    private int _chunkStart;
    private int _chunkEnd;

    // Backward split by rows: the steps [_sumStart, _sumEnd) of the processing order whose column sums the parts add
    // (AccumulateStep), the chunk before the one being run, split by columns.
    private int _sumStart;
    private int _sumEnd;
    private unsafe T* _stepOutput;
    private int _stepOutputLength;
    private int _stepOutputColumn;
    private int _stepOutputWidth;

    public RecurrentDirection(ParameterSet<T> parameters, TCell cell, int layer, bool reverse, int inputSize, int hidden)
    {
        if (TCell.FeedsBackOutput && reverse)
        {
            throw new UnrollException($"model: the {TCell.Name} cell feeds back the network's previous output; expected one direction, got a reverse one.");
        }

        _parameters = parameters;
        _cell = cell;
        Reverse = reverse;
        InputSize = inputSize;
        Hidden = hidden;
        WeightIh = ParameterNames.WeightIh(layer, reverse);
        WeightHh = RecurrentWeightName(layer, reverse);
        RecurrentWidth = TCell.FeedsBackOutput ? parameters.View(ParameterNames.HeadWeight).Shape[0] : hidden;
        BiasIh = ParameterNames.BiasIh(layer, reverse);
        BiasHh = ParameterNames.BiasHh(layer, reverse);
        _stepJob = new StepJob(this);
        _rowJob = new RowJob(this);
        _accumulateJob = new AccumulateJob(this);
    }

    public bool Reverse { get; }

    public int InputSize { get; }

    public int Hidden { get; }

    public string WeightIh { get; }

    public string WeightHh { get; }

    public string BiasIh { get; }

    public string BiasHh { get; }

    /// <summary>What the recurrent weight multiplies: H (h_{t-1}), or O (y_{t-1}) for a cell that feeds back the output.</summary>
    public int RecurrentWidth { get; }

    private static int GateCount => TCell.GateCount;

    /// <summary>When set, <see cref="Backward"/> records ||dL/dh_t|| (and ||dL/dc_t|| from later steps for the LSTM) for every t.</summary>
    public bool RecordStateGradientNorms { get; set; }

    /// <inheritdoc/>
    public bool StateGradientsOnly { get; set; }

    /// <summary>||dL/dh_t||_2 over the batch for t = 0..T-1, from the last backward pass with recording on.</summary>
    public ReadOnlySpan<double> StateGradientNorms => _stateGradientNorms.AsSpan(0, RecordStateGradientNorms ? _steps : 0);

    /// <summary>
    /// For the LSTM, ||dL/dc_t||_2 as it arrives from later steps (through c_{t+1} = f c_t + ...), t = 0..T-1;
    /// zero at the last step.
    /// </summary>
    public ReadOnlySpan<double> CellGradientNorms => _cellGradientNorms.AsSpan(0, RecordStateGradientNorms && TCell.HasMemory ? _steps : 0);

    /// <summary>The vectors behind <see cref="StateGradientNorms"/>: dL/dh_t as [T, B, H] in time order.</summary>
    public ReadOnlySpan<T> StateGradients => _stateGradients.AsSpan(0, RecordStateGradientNorms ? _steps * _batch * Hidden : 0);

    /// <summary>The vectors behind <see cref="CellGradientNorms"/>: dL/dc_t from later steps as [T, B, H] (LSTM).</summary>
    public ReadOnlySpan<T> CellGradients => _cellGradients.AsSpan(0, RecordStateGradientNorms && TCell.HasMemory ? _steps * _batch * Hidden : 0);

    /// <summary>The (name, shape) pairs of this direction's parameters, in PyTorch's order.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(int layer, bool reverse, int inputSize, int hidden, int outputs)
    {
        int rows = TCell.GateCount * hidden;
        yield return (ParameterNames.WeightIh(layer, reverse), [rows, inputSize]);
        yield return (RecurrentWeightName(layer, reverse), [rows, TCell.FeedsBackOutput ? outputs : hidden]);
        yield return (ParameterNames.BiasIh(layer, reverse), [rows]);
        yield return (ParameterNames.BiasHh(layer, reverse), [rows]);
    }

    /// <summary>The last state of each sequence (after its own last step; for the reverse direction, after t = 0), [B, H].</summary>
    public ReadOnlySpan<T> FinalState => _states.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden);

    /// <summary>The last memory (for a cell with one), [B, H]; empty otherwise.</summary>
    public ReadOnlySpan<T> FinalCell => TCell.HasMemory ? _memories.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden) : [];

    /// <summary>dL/dh0 after <see cref="Backward"/>, [B, H]; for a cell that feeds back the output, dL/dy0, [B, O].</summary>
    public ReadOnlySpan<T> InitialStateGradient => TCell.FeedsBackOutput ? _feedbackGradients.AsSpan(0, _batch * RecurrentWidth) : _carry.AsSpan(0, _batch * Hidden);

    /// <summary>
    /// For a cell that feeds back the output: the true outputs [T, B, O] fed back as y_{t-1} from the second step on
    /// (teacher forcing; kept by reference), or null to feed back the head's own outputs.
    /// </summary>
    public void SetTeacher(T[]? teacher) => _teacher = teacher;

    /// <summary>The output of the last <see cref="Step"/>: h_t (the state itself, or for a cell that feeds back the output, its hidden state).</summary>
    public ReadOnlySpan<T> StepOutput(ReadOnlySpan<T> state) => TCell.FeedsBackOutput ? _stepHidden : state;

    private static string RecurrentWeightName(int layer, bool reverse) =>
        TCell.FeedsBackOutput ? ParameterNames.Recurrent("weight_yh", layer, reverse) : ParameterNames.WeightHh(layer, reverse);

    /// <summary>dL/dc0 after <see cref="Backward"/> (for a cell with a memory), [B, H]; empty otherwise.</summary>
    public ReadOnlySpan<T> InitialCellGradient => TCell.HasMemory ? _memoryCarry.AsSpan(0, _batch * Hidden) : [];

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
        int hidden = Hidden, width = GateCount * hidden, block = batch * hidden, rows = steps * batch;
        var gates = _gates.AsSpan(0, rows * width);

        // Before the loop, all T*B rows: gates = x W_ih^T + b_ih (+ b_hh, unless the cell keeps the recurrent part apart).
        bool tokenInput = _embeddingName is not null;
        int projectedRows = tokenInput ? _vocabulary : rows;
        if (tokenInput)
        {
            Buffers.Grow(ref _tokenTable, _vocabulary * width);
        }

        var projected = tokenInput ? _tokenTable.AsSpan(0, _vocabulary * width) : gates;
        ReadOnlySpan<T> projectionInput = tokenInput ? _parameters.Value(_embeddingName!) : x[..(rows * InputSize)];
        // The same product either way, row for row: for tokens over the V embedding rows, then gathered.
        ProjectInput(projectionInput, projectedRows, projected);

        // Token rows are gathered from the table by each step's parts, for their own units: the core that runs the
        // cell on those columns writes them just before, rather than the calling thread copying all T*B rows up front.
        _gatherTokens = tokenInput;

        int initialBlock = Reverse ? steps : 0, recurrentWidth = RecurrentWidth;
        if (TCell.FeedsBackOutput)
        {
            // y_{-1} = y0 (the initial state given); with teacher forcing y_{t-1} = target_{t-1} for t >= 1.
            if (!lengths.IsEmpty)
            {
                throw new UnrollException($"{TCell.Name}: expected sequences of one length (the network feeds back its own output at every step), got varying lengths.");
            }

            int feedbackBlock = batch * recurrentWidth;
            SetInitial(_feedback.AsSpan(0, feedbackBlock), initialState);
            _states.AsSpan(initialBlock * block, block).Clear();
            _teacher?.AsSpan(0, (steps - 1) * feedbackBlock).CopyTo(_feedback.AsSpan(feedbackBlock));
        }
        else
        {
            SetInitial(_states.AsSpan(initialBlock * block, block), initialState);
        }

        if (TCell.HasMemory)
        {
            SetInitial(_memories.AsSpan(initialBlock * block, block), initialCell);
        }

        _packedForward.Pack(Transpose.Yes, recurrentWidth, width, _parameters.Value(WeightHh), recurrentWidth);
        int parts = StepParts(batch);
        unsafe
        {
            fixed (T* outputPointer = output)
            {
                SetStepOutput(outputPointer, output.Length, outputColumn, outputWidth);
                _stepBackward = false;
                int rowParts = RowParts(batch, parts);
                if (rowParts > 1)
                {
                    RunByRows(steps, rowParts);
                }
                else
                {
                    for (int s = 0; s < steps; s++)
                    {
                        _stepTime = Reverse ? steps - 1 - s : s;
                        WorkerPool.Run(_stepJob, parts);
                    }
                }

                SetStepOutput(null, 0, 0, 0);
            }
        }
    }

    /// <summary>
    /// BPTT for the last <see cref="Forward"/>: reads dL/doutput from columns
    /// [<paramref name="outputColumn"/>, +H) of <paramref name="outputGradient"/> and dL/dh_n (and dL/dc_n) from
    /// <paramref name="finalStateGradient"/> (<paramref name="finalCellGradient"/>), either empty for none; adds every
    /// parameter gradient, and writes (or adds, when <paramref name="accumulateInputGradient"/>) dL/dx.
    /// </summary>
    public void Backward(
        ReadOnlySpan<T> x, ReadOnlySpan<T> outputGradient, int outputColumn, int outputWidth,
        Span<T> inputGradient, bool accumulateInputGradient,
        ReadOnlySpan<T> finalStateGradient, ReadOnlySpan<T> finalCellGradient)
    {
        int steps = _steps, batch = _batch, hidden = Hidden, width = GateCount * hidden, block = batch * hidden, rows = steps * batch;
        var states = _states.AsSpan(0, (steps + 1) * block);
        var gateGradients = _gateGradients.AsSpan(0, rows * width);
        var inputGateGradients = TCell.SeparateRecurrentGates ? _inputGateGradients.AsSpan(0, rows * width) : gateGradients;
        var carry = _carry.AsSpan(0, block);
        var memoryCarry = _memoryCarry.AsSpan(0, block);

        // h_n (c_n) is the state after the first step backward processes; rows that ended earlier carry it through
        // their padded steps, so dL/dh_n starts the carry of every row alike.
        SetInitial(carry, finalStateGradient);
        SetInitial(memoryCarry, finalCellGradient);
        if (TCell.FeedsBackOutput)
        {
            _feedbackGradients.AsSpan(0, rows * RecurrentWidth).Clear();
        }

        var stateGradient = _stateGradient.AsSpan(0, block);
        if (RecordStateGradientNorms)
        {
            Buffers.Grow(ref _stateGradients, rows * hidden);
            Buffers.Grow(ref _cellGradients, TCell.HasMemory ? rows * hidden : 0);
        }

        if (_embeddingName is not null)
        {
            // The step parts (or, split by rows, the column parts after them) scatter-add their gate-gradient columns into
            // S[token] (see AccumulateStep).
            _tokenTable.AsSpan(0, _vocabulary * width).Clear();
        }

        int recurrentWidth = RecurrentWidth;
        _packedBackward.Pack(Transpose.No, width, recurrentWidth, _parameters.Value(WeightHh), recurrentWidth);
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
                int rowParts = RowParts(batch, parts);
                if (rowParts > 1)
                {
                    // Each part's rows through every step; db_hh and the token scatter-add take every step's rows in
                    // the order the steps below add them (AccumulateStep), column range by column range, one chunk
                    // behind the rows (in the next chunk's dispatch, while its gate gradients are still in cache).
                    RunByRows(steps, rowParts);
                    WorkerPool.Run(_accumulateJob, rowParts);
                    productTime = Reverse ? steps - 1 : 0;
                }
                else
                {
                    for (int s = steps - 1; s >= 0; s--)
                    {
                        int t = Reverse ? steps - 1 - s : s;
                        if (RecordStateGradientNorms && TCell.HasMemory)
                        {
                            // dL/dc_t as it arrives from later steps, before this step's backward turns it into dL/dc_{t-1}.
                            _cellGradientNorms[t] = RecurrentLayers.Norm<T>(memoryCarry);
                            memoryCarry.CopyTo(_cellGradients.AsSpan(t * block, block));
                        }

                        _stepTime = t;
                        _productTime = productTime;
                        WorkerPool.Run(_stepJob, parts);
                        productTime = t;
                        if (RecordStateGradientNorms)
                        {
                            // ||dL/dh_t||_2 over the whole batch: the quantity whose decay or growth with the lag
                            // is the vanishing or exploding gradient (the notes' dL/dh_t = dL/dh_T prod dh_j/dh_{j-1}).
                            _stateGradientNorms[t] = RecurrentLayers.Norm<T>(stateGradient);
                            stateGradient.CopyTo(_stateGradients.AsSpan(t * block, block));
                        }
                    }
                }

                SetStepOutput(null, 0, 0, 0);
            }
        }

        // forward: gates_0 += h0 W_hh^T  =>  dL/dh0 = (direct part) + dGates_0 W_hh (dL/dy0 = dGates_0 W_yh when the output is fed back)
        if (productTime >= 0)
        {
            Gemm.ComputePacked(Transpose.No, batch, T.One, gateGradients.Slice(productTime * batch * width, batch * width), width,
                _packedBackward, T.One, TCell.FeedsBackOutput ? _feedbackGradients.AsSpan(0, batch * recurrentWidth) : carry, recurrentWidth);
        }

        if (StateGradientsOnly && inputGradient.IsEmpty && !TCell.FeedsBackOutput && _embeddingName is null)
        {
            return;
        }

        // After the loop, single GEMMs over all T*B rows: dW_hh against the previous states (or dW_yh against the outputs fed back).
        var recurrentInputs = TCell.FeedsBackOutput ? _feedback.AsSpan(0, rows * recurrentWidth) : states.Slice((Reverse ? 1 : 0) * block, rows * hidden);
        Gemm.Compute(Transpose.Yes, Transpose.No, width, recurrentWidth, rows, T.One, gateGradients, width, recurrentInputs, recurrentWidth, T.One,
            _parameters.Gradient(WeightHh), recurrentWidth);
        if (TCell.FeedsBackOutput && _teacher is null && steps > 1)
        {
            // forward: y_t = W h_t + b fed back to step t+1  =>  dW += dy_t^T h_t, db += dy_t over t = 0..T-2, with dy_t the
            // gradient the feedback brought back (the loss's own dL/dy_t reaches the head through the model).
            var fedBack = _feedbackGradients.AsSpan(batch * recurrentWidth, (rows - batch) * recurrentWidth);
            Gemm.Compute(Transpose.Yes, Transpose.No, recurrentWidth, hidden, rows - batch, T.One, fedBack, recurrentWidth,
                states.Slice(block, (rows - batch) * hidden), hidden, T.One, _parameters.Gradient(ParameterNames.HeadWeight), hidden);
            Linear.AddColumnSums<T>(fedBack, rows - batch, recurrentWidth, _parameters.Gradient(ParameterNames.HeadBias));
        }

        if (_embeddingName is null)
        {
            Linear.Backward<T>(x[..(rows * InputSize)], rows, InputSize, _parameters.Value(WeightIh), width, inputGateGradients,
                _parameters.Gradient(WeightIh), _parameters.Gradient(BiasIh), inputGradient, accumulateInputGradient);
            return;
        }

        // forward: gates_r += (E W_ih^T + b_ih)[token_r]  =>  S[v] = sum of dGates_r over rows with token v, then
        // dW_ih += S^T E, db_ih += column sums of S, dE += S W_ih: single products with K = V and K = G*H.
        var tokenGradients = _tokenTable.AsSpan(0, _vocabulary * width);
        var embedding = _parameters.Value(_embeddingName);
        Gemm.Compute(Transpose.Yes, Transpose.No, width, InputSize, _vocabulary, T.One, tokenGradients, width, embedding, InputSize, T.One, _parameters.Gradient(WeightIh), InputSize);
        Linear.AddColumnSums<T>(tokenGradients, _vocabulary, width, _parameters.Gradient(BiasIh));
        if (BiasFromTokenSums)
        {
            Linear.AddColumnSums<T>(tokenGradients, _vocabulary, width, _parameters.Gradient(BiasHh));
        }
        Gemm.Compute(Transpose.No, Transpose.No, _vocabulary, InputSize, width, T.One, tokenGradients, width, _parameters.Value(WeightIh), InputSize, T.One, _parameters.Gradient(_embeddingName), InputSize);
    }

    /// <summary>
    /// One step of inference for a batch, outside the saved-for-backward buffers:
    /// <paramref name="state"/> (and <paramref name="cell"/> for a cell with a memory) hold h_{t-1} on entry and h_t on exit.
    /// </summary>
    public void Step(ReadOnlySpan<T> x, int batch, Span<T> state, Span<T> cell)
    {
        int hidden = Hidden, width = GateCount * hidden, block = batch * hidden, recurrentWidth = RecurrentWidth;
        var gates = new T[batch * width];
        var recurrentGates = TCell.SeparateRecurrentGates ? new T[batch * width] : gates;
        ProjectInput(x, batch, gates);
        var previous = state.ToArray();
        var previousMemory = cell.ToArray();
        if (TCell.SeparateRecurrentGates)
        {
            FillRows(_parameters.Value(BiasHh), batch, recurrentGates);
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, batch, width, recurrentWidth, T.One, previous, recurrentWidth, _parameters.Value(WeightHh), recurrentWidth,
            T.One, recurrentGates, width);
        var saved = new T[TCell.SavedBlocks * block];
        // A cell that feeds back the output carries y (state, [B, O]); its hidden state goes to _stepHidden.
        var hidden_t = TCell.FeedsBackOutput ? (_stepHidden = new T[block]).AsSpan() : state;
        for (int b = 0; b < batch; b++)
        {
            int at = b * hidden;
            _cell.Forward(new CellForwardRow<T>(
                hidden, hidden, block, gates.AsSpan(b * width, width),
                TCell.SeparateRecurrentGates ? recurrentGates.AsSpan(b * width, width) : [],
                TCell.SavedBlocks == 0 ? [] : saved.AsSpan(at), TCell.FeedsBackOutput ? [] : previous.AsSpan(at, hidden),
                TCell.HasMemory ? previousMemory.AsSpan(at, hidden) : [], hidden_t.Slice(at, hidden), TCell.HasMemory ? cell.Slice(at, hidden) : []));
        }

        if (TCell.FeedsBackOutput)
        {
            // y_t = W h_t + b, the next step's y_{t-1}.
            Linear.Forward<T>(hidden_t, batch, hidden, _parameters.Value(ParameterNames.HeadWeight), _parameters.Value(ParameterNames.HeadBias), recurrentWidth, state);
        }
    }

    /// <summary>
    /// gates = input W_ih^T + b_ih (+ b_hh unless the cell keeps the recurrent part apart) for <paramref name="rows"/> rows.
    /// The bias row is summed once and copied into every row, rather than re-added for each row.
    /// </summary>
    private void ProjectInput(ReadOnlySpan<T> input, int rows, Span<T> gates)
    {
        if (rows == 0)
        {
            return;
        }

        int width = GateCount * Hidden;
        var biasIh = _parameters.Value(BiasIh);
        var biasHh = _parameters.Value(BiasHh);
        var firstRow = gates[..width];
        for (int j = 0; j < width; j++)
        {
            firstRow[j] = TCell.SeparateRecurrentGates ? biasIh[j] : biasIh[j] + biasHh[j];
        }

        FillRows(firstRow, rows, gates);
        Gemm.Compute(Transpose.No, Transpose.Yes, rows, width, InputSize, T.One, input, InputSize, _parameters.Value(WeightIh), InputSize, T.One, gates, width);
    }

    /// <summary>Copies <paramref name="row"/> into each of the first <paramref name="rows"/> rows of <paramref name="matrix"/>.</summary>
    private static void FillRows(ReadOnlySpan<T> row, int rows, Span<T> matrix)
    {
        for (int r = 0; r < rows; r++)
        {
            row.CopyTo(matrix.Slice(r * row.Length, row.Length));
        }
    }

    /// <summary>
    /// How many parts a time step is split into: one per thread, each a whole number of the GEMM's column panels of
    /// hidden units (so the parts' products are exactly the columns the whole product would give), when the step is
    /// big enough to pay for waking the workers; otherwise one part with every unit.
    /// </summary>
    private int StepParts(int batch)
    {
        int panel = Gemm.PanelWidth<T>(), threads = Parallelism.ThreadCount;
        long work = (long)batch * GateCount * Hidden * Hidden;
        // A fed-back output needs every unit of h_t before the next step: one part.
        return TCell.FeedsBackOutput || threads <= 1 || Hidden % panel != 0 || work < RecurrentDirection.MinParallelStepWork
            ? 1 : Math.Min(threads, Hidden / panel);
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
        var (firstUnit, endUnit) = Units(part, parts);
        if (_stepBackward)
        {
            BackwardBlock(_stepTime, _productTime, 0, _batch, firstUnit, endUnit);
            AccumulateStep(_stepTime, firstUnit, endUnit);
        }
        else
        {
            ForwardBlock(_stepTime, 0, _batch, firstUnit, endUnit);
        }
    }

    /// <summary>
    /// The hidden units [first, end) of part <paramref name="part"/> of <paramref name="parts"/>: whole panels of the
    /// micro-kernel's columns (more than one part only when H is a multiple of the panel width, see StepParts), or
    /// every unit for one part.
    /// </summary>
    private (int First, int End) Units(int part, int parts)
    {
        if (parts <= 1)
        {
            return (0, Hidden);
        }

        int panel = Gemm.PanelWidth<T>(), panels = Hidden / panel;
        return (part * panels / parts * panel, (part + 1) * panels / parts * panel);
    }

    /// <summary>
    /// How many parts by rows a pass over <paramref name="batch"/> rows takes, or 1 for the split by hidden units at
    /// every step (<paramref name="unitParts"/> of them). Rows are independent through the recurrence, so a part that
    /// holds whole rows runs step after step without meeting the others; it needs a few rows for the product's row
    /// tiles, every unit of h_{t-1} from its own rows only (not a fed-back output), and no whole-batch norm between
    /// steps (the gradient-flow record). The two splits give the same numbers: every row's products and cell math are
    /// the same whichever part computes them, and the column sums run in one order either way (AccumulateStep).
    /// </summary>
    private int RowParts(int batch, int unitParts)
    {
        const int minRowsPerPart = 8;
        return unitParts <= 1 || TCell.FeedsBackOutput || RecordStateGradientNorms || batch < 2 * minRowsPerPart
            ? 1 : Math.Min(unitParts, batch / minRowsPerPart);
    }

    /// <summary>
    /// Runs every step of the current pass (forward or backward, in processing order) as <paramref name="rowParts"/>
    /// parts by rows, <see cref="RecurrentDirection.StepsPerDispatch"/> steps per dispatch: the parts meet between
    /// chunks, so a thread the OS took away delays its rows by one chunk, not the whole sequence, and the next chunk's
    /// parts are claimed afresh.
    /// </summary>
    private void RunByRows(int steps, int rowParts)
    {
        _sumStart = _sumEnd = 0;
        for (int start = 0; start < steps; start += RecurrentDirection.StepsPerDispatch)
        {
            _chunkStart = start;
            _chunkEnd = Math.Min(steps, start + RecurrentDirection.StepsPerDispatch);
            WorkerPool.Run(_rowJob, rowParts);
            _sumStart = _chunkStart;
            _sumEnd = _chunkEnd;
        }
    }

    /// <summary>Rows [b0, b1) of part <paramref name="part"/> through the steps of the current chunk.</summary>
    private void RunRowPart(int part, int parts)
    {
        int batch = _batch, steps = _steps, hidden = Hidden;
        int firstRow = part * batch / parts, endRow = (part + 1) * batch / parts;
        for (int s = _chunkStart; s < _chunkEnd; s++)
        {
            if (_stepBackward)
            {
                // Processing order runs against the forward order: s = 0 is t = T-1 for the forward direction.
                int t = Reverse ? s : steps - 1 - s;
                int productTime = s == 0 ? -1 : Reverse ? t - 1 : t + 1;
                BackwardBlock(t, productTime, firstRow, endRow, 0, hidden);
            }
            else
            {
                ForwardBlock(Reverse ? steps - 1 - s : s, firstRow, endRow, 0, hidden);
            }
        }

        if (_stepBackward)
        {
            // The chunk before's column sums (complete since that dispatch returned; this chunk's rows write none of it).
            AccumulateSteps(_sumStart, _sumEnd, part, parts);
        }
    }

    /// <summary>The column sums of the last chunk of a backward pass split by rows.</summary>
    private void RunAccumulatePart(int part, int parts) => AccumulateSteps(_sumStart, _sumEnd, part, parts);

    /// <summary>
    /// The column sums of processing-order steps [<paramref name="start"/>, <paramref name="end"/>) for part
    /// <paramref name="part"/>'s columns (whole panels): steps in processing order, as the unit split adds them.
    /// </summary>
    private void AccumulateSteps(int start, int end, int part, int parts)
    {
        int steps = _steps;
        var (firstUnit, endUnit) = Units(part, parts);
        for (int s = start; s < end && firstUnit < endUnit; s++)
        {
            AccumulateStep(Reverse ? s : steps - 1 - s, firstUnit, endUnit);
        }
    }

    /// <summary>
    /// Forward step t for rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) and hidden units
    /// [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) (all rows and some units for the unit split, some rows
    /// and all units for the row split): their columns of every gate block of h_{t-1} W_hh^T (+ b_hh for a cell that
    /// keeps it apart), the cell on every active row, and their columns of the output.
    /// </summary>
    private unsafe void ForwardBlock(int t, int firstRow, int endRow, int firstUnit, int endUnit)
    {
        int batch = _batch, hidden = Hidden, width = GateCount * hidden, block = batch * hidden, units = endUnit - firstUnit;
        int previous = PreviousBlock(t), current = CurrentBlock(t);
        var hPrevious = _states.AsSpan(previous * block, block);
        var h = _states.AsSpan(current * block, block);
        var stepGates = _gates.AsSpan(t * batch * width, batch * width);
        var saved = _saved.AsSpan(t * TCell.SavedBlocks * block, TCell.SavedBlocks * block);
        var recurrentGates = TCell.SeparateRecurrentGates ? _recurrentGates.AsSpan(0, batch * width) : stepGates;
        if (TCell.SeparateRecurrentGates)
        {
            var biasHh = _parameters.Value(BiasHh);
            for (int b = firstRow; b < endRow; b++)
            {
                for (int g = 0; g < GateCount; g++)
                {
                    int column = (g * hidden) + firstUnit;
                    biasHh.Slice(column, units).CopyTo(recurrentGates.Slice((b * width) + column, units));
                }
            }
        }

        if (_gatherTokens)
        {
            // gates_r = (E W_ih^T + b)[token_r], this part's columns of every gate block.
            var table = _tokenTable.AsSpan(0, _vocabulary * width);
            for (int b = firstRow; b < endRow; b++)
            {
                int tokenRow = _tokens![(t * batch) + b] * width;
                for (int g = 0; g < GateCount; g++)
                {
                    int column = (g * hidden) + firstUnit;
                    table.Slice(tokenRow + column, units).CopyTo(stepGates.Slice((b * width) + column, units));
                }
            }
        }

        int recurrentWidth = RecurrentWidth, feedbackBlock = batch * recurrentWidth;
        ReadOnlySpan<T> recurrentInput = TCell.FeedsBackOutput ? _feedback.AsSpan(t * feedbackBlock, feedbackBlock) : hPrevious;
        int rows = endRow - firstRow;
        AddRecurrentProduct(rows, recurrentInput.Slice(firstRow * recurrentWidth, rows * recurrentWidth), recurrentWidth, _packedForward,
            recurrentGates.Slice(firstRow * width, rows * width), width, firstUnit, endUnit);
        var output = new Span<T>(_stepOutput, _stepOutputLength);
        for (int b = firstRow; b < endRow; b++)
        {
            int at = (b * hidden) + firstUnit;
            var destination = output.Slice((((t * batch) + b) * _stepOutputWidth) + _stepOutputColumn + firstUnit, units);
            var memory = TCell.HasMemory ? _memories.AsSpan((current * block) + at, units) : [];
            var previousMemory = TCell.HasMemory ? _memories.AsSpan((previous * block) + at, units) : [];
            if (!IsActive(b, t))
            {
                // A padded step: the state (and memory) carry over, the output is zero.
                hPrevious.Slice(at, units).CopyTo(h.Slice(at, units));
                previousMemory.CopyTo(memory);
                destination.Clear();
                continue;
            }

            int gateStart = (b * width) + firstUnit;
            _cell.Forward(new CellForwardRow<T>(
                units, hidden, block, stepGates[gateStart..], TCell.SeparateRecurrentGates ? recurrentGates[gateStart..] : [],
                TCell.SavedBlocks == 0 ? [] : saved[at..], TCell.FeedsBackOutput ? [] : hPrevious.Slice(at, units), previousMemory,
                h.Slice(at, units), memory));
            h.Slice(at, units).CopyTo(destination);
        }

        if (TCell.FeedsBackOutput && _teacher is null && t + 1 < _steps)
        {
            // Running free: y_t = W h_t + b is the next step's y_{t-1} (one part holds every unit, see StepParts).
            Linear.Forward<T>(h, batch, hidden, _parameters.Value(ParameterNames.HeadWeight), _parameters.Value(ParameterNames.HeadBias), recurrentWidth,
                _feedback.AsSpan((t + 1) * feedbackBlock, feedbackBlock));
        }
    }

    /// <summary>
    /// Backward step t for rows [<paramref name="firstRow"/>, <paramref name="endRow"/>) and hidden units
    /// [<paramref name="firstUnit"/>, <paramref name="endUnit"/>) (as <see cref="ForwardBlock"/>): their columns of
    /// dL/dh_t = (direct part carried from step t+1) + dGates_{t+1} W_hh (<paramref name="productTime"/> = t+1 in
    /// processing order, or -1 at the first step) + dL/doutput_t, then the cell's backward on every active row, which
    /// writes their gate-gradient columns and the direct part of dL/dh_{t-1} into their carries.
    /// </summary>
    private unsafe void BackwardBlock(int t, int productTime, int firstRow, int endRow, int firstUnit, int endUnit)
    {
        int batch = _batch, hidden = Hidden, width = GateCount * hidden, block = batch * hidden, units = endUnit - firstUnit;
        var carry = _carry.AsSpan(0, block);
        var stateGradient = _stateGradient.AsSpan(0, block);
        if (productTime >= 0 && !TCell.FeedsBackOutput)
        {
            // forward: gates_{t+1} += h_t W_hh^T  =>  dh_t += dGates_{t+1} W_hh
            int rows = endRow - firstRow;
            AddRecurrentProduct(rows, _gateGradients.AsSpan(((productTime * batch) + firstRow) * width, rows * width), width, _packedBackward,
                carry.Slice(firstRow * hidden, rows * hidden), hidden, firstUnit, endUnit);
        }
        else if (productTime >= 0 && _teacher is null)
        {
            // forward: gates_{t+1} += y_t W_yh^T, y_t = h_t W^T + b  =>  dy_t = dGates_{t+1} W_yh (kept for dW and db), dh_t += dy_t W
            int recurrentWidth = RecurrentWidth;
            var fedBack = _feedbackGradients.AsSpan(productTime * batch * recurrentWidth, batch * recurrentWidth);
            Gemm.ComputePacked(Transpose.No, batch, T.One, _gateGradients.AsSpan(productTime * batch * width, batch * width), width, _packedBackward,
                T.Zero, fedBack, recurrentWidth);
            Gemm.Compute(Transpose.No, Transpose.No, batch, hidden, recurrentWidth, T.One, fedBack, recurrentWidth,
                _parameters.Value(ParameterNames.HeadWeight), hidden, T.One, carry, hidden);
        }

        int previous = PreviousBlock(t);
        var outputGradient = new ReadOnlySpan<T>(_stepOutput, _stepOutputLength);
        var stepGates = _gates.AsSpan(t * batch * width, batch * width);
        var saved = _saved.AsSpan(t * TCell.SavedBlocks * block, TCell.SavedBlocks * block);
        var gateGradients = _gateGradients.AsSpan(t * batch * width, batch * width);
        var inputGateGradients = TCell.SeparateRecurrentGates ? _inputGateGradients.AsSpan(t * batch * width, batch * width) : gateGradients;
        var hPrevious = _states.AsSpan(previous * block, block);
        for (int b = firstRow; b < endRow; b++)
        {
            int at = (b * hidden) + firstUnit, gateStart = (b * width) + firstUnit;
            // dL/dh_t = what later steps passed back + what the layer above (or the head) sends at t.
            var total = stateGradient.Slice(at, units);
            var direct = carry.Slice(at, units);
            direct.CopyTo(total);
            if (!IsActive(b, t))
            {
                // forward: h_t = h_{t-1}, c_t = c_{t-1} (padded step)  =>  both gradients pass through unchanged:
                // the carries already hold them, and no gate saw this row.
                for (int g = 0; g < GateCount; g++)
                {
                    gateGradients.Slice(gateStart + (g * hidden), units).Clear();
                    inputGateGradients.Slice(gateStart + (g * hidden), units).Clear();
                }

                continue;
            }

            AddRow(total, outputGradient.Slice((((t * batch) + b) * _stepOutputWidth) + _stepOutputColumn + firstUnit, units));
            direct.Clear();
            _cell.Backward(new CellBackwardRow<T>(
                units, hidden, block, stepGates[gateStart..], TCell.SavedBlocks == 0 ? [] : saved[at..], TCell.FeedsBackOutput ? [] : hPrevious.Slice(at, units),
                TCell.HasMemory ? _memories.AsSpan((previous * block) + at, units) : [], total,
                TCell.HasMemory ? _memoryCarry.AsSpan(at, units) : [], inputGateGradients[gateStart..],
                TCell.SeparateRecurrentGates ? gateGradients[gateStart..] : [], direct));
        }
    }

    /// <summary>
    /// db_hh += the column sums of step t's gate gradients and, for token input, S[token_r] += the input side's row r
    /// (the scatter-add behind dW_ih, db_ih and dE; see Backward), for the columns of units [firstUnit, endUnit). Each
    /// column belongs to one part and takes the steps in processing order and each step's rows in order, for any part
    /// count and either split: the unit split calls it for step t while that step's gate gradients are in cache.
    /// </summary>
    private void AccumulateStep(int t, int firstUnit, int endUnit)
    {
        int batch = _batch, hidden = Hidden, width = GateCount * hidden, units = endUnit - firstUnit;
        var gateGradients = _gateGradients.AsSpan(t * batch * width, batch * width);
        var inputGateGradients = TCell.SeparateRecurrentGates ? _inputGateGradients.AsSpan(t * batch * width, batch * width) : gateGradients;
        var biasGradient = _parameters.Gradient(BiasHh);
        var tokenGradients = _embeddingName is null ? [] : _tokenTable.AsSpan(0, _vocabulary * width);
        bool biasFromTokens = BiasFromTokenSums;
        for (int b = 0; b < batch; b++)
        {
            if (!IsActive(b, t))
            {
                continue;
            }

            for (int g = 0; g < GateCount; g++)
            {
                int column = (g * hidden) + firstUnit, at = (b * width) + column;
                if (!biasFromTokens)
                {
                    AddRow(biasGradient.Slice(column, units), gateGradients.Slice(at, units));
                }

                if (!tokenGradients.IsEmpty)
                {
                    AddRow(tokenGradients.Slice((_tokens![(t * batch) + b] * width) + column, units), inputGateGradients.Slice(at, units));
                }
            }
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

    /// <summary>
    /// Whether db_hh comes from the token sums after the loop rather than from every row at every step: with token input
    /// and one set of gate gradients for both sides, db_hh = sum over rows of dGates_r = sum over v of S[v], the same
    /// column sums as db_ih (V rows instead of T*B).
    /// </summary>
    private bool BiasFromTokenSums => _embeddingName is not null && !TCell.SeparateRecurrentGates;

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

    /// <summary>Whether row <paramref name="row"/> takes part in step <paramref name="t"/> (t &lt; its length).</summary>
    private bool IsActive(int row, int t) => !_hasLengths || t < _lengths[row];

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
        int hidden = Hidden, width = GateCount * hidden, rows = steps * batch;
        Buffers.Grow(ref _gates, rows * width);
        Buffers.Grow(ref _gateGradients, rows * width);
        Buffers.Grow(ref _states, (rows + batch) * hidden);
        Buffers.Grow(ref _saved, TCell.SavedBlocks * rows * hidden);
        Buffers.Grow(ref _stateGradient, batch * hidden);
        Buffers.Grow(ref _carry, batch * hidden);
        Buffers.Grow(ref _memoryCarry, batch * hidden);
        if (TCell.HasMemory)
        {
            Buffers.Grow(ref _memories, (rows + batch) * hidden);
        }

        if (TCell.SeparateRecurrentGates)
        {
            Buffers.Grow(ref _recurrentGates, batch * width);
            Buffers.Grow(ref _inputGateGradients, rows * width);
        }

        if (TCell.FeedsBackOutput)
        {
            Buffers.Grow(ref _feedback, rows * RecurrentWidth);
            Buffers.Grow(ref _feedbackGradients, rows * RecurrentWidth);
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
    private sealed class StepJob(RecurrentDirection<T, TCell> direction) : IParallelJob
    {
        public void Run(int part, int parts) => direction.RunStepPart(part, parts);
    }

    /// <summary>A chunk of steps split by rows, reusable like <see cref="StepJob"/>.</summary>
    private sealed class RowJob(RecurrentDirection<T, TCell> direction) : IParallelJob
    {
        public void Run(int part, int parts) => direction.RunRowPart(part, parts);
    }

    /// <summary>The column sums after a backward pass split by rows, reusable like <see cref="StepJob"/>.</summary>
    private sealed class AccumulateJob(RecurrentDirection<T, TCell> direction) : IParallelJob
    {
        public void Run(int part, int parts) => direction.RunAccumulatePart(part, parts);
    }
}

/// <summary>The settings shared by every cell's time loop.</summary>
internal static class RecurrentDirection
{
    /// <summary>
    /// Below this batch * G * H * H (the per-step product's multiply-adds) a time step runs on the calling thread:
    /// waking a worker would cost more than it saves. Settable so tests can force the split on small models.
    /// </summary>
    internal static long MinParallelStepWork { get; set; } = 64 * 64 * 64;

    /// <summary>
    /// Steps per dispatch when a pass is split by rows (see RowParts): the parts meet once per this many steps
    /// instead of at every step.
    /// </summary>
    internal const int StepsPerDispatch = 8;
}
