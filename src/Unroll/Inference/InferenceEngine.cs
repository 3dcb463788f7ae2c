using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Inference;

/// <summary>
/// The buffers of one inference caller: a stateless call makes its own, a session keeps one and reuses it, so a step
/// allocates nothing once the buffers have grown to the largest chunk seen. Sized per (steps, rows).
/// </summary>
internal sealed class InferenceWorkspace<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public T[] Projection = [];
    public T[] Gates = [];
    public T[] HiddenGates = [];
    public T[] LayerInput = [];
    public T[] LayerOutput = [];
    public T[] Pooled = [];
    public T[] Outputs = [];
    public T[] StepInputs = [];

    /// <summary>The job that splits a large GEMV over the kernel threads, kept so that a step allocates nothing.</summary>
    public readonly GemvJob<T> Job = new();

    /// <summary>The job that splits a batch step by rows over the kernel threads, kept for the same reason.</summary>
    public readonly BatchStepJob<T> BatchStep = new();

    /// <summary>Grows every buffer for <paramref name="steps"/> steps of <paramref name="rows"/> sequences.</summary>
    public void Ensure(InferenceWeights<T> weights, int steps, int rows)
    {
        int cells = steps * rows;
        // Every step's projection at once only where RunLayers hoists it (tokens, few rows, one step); see there.
        bool hoisted = steps == 1 || rows <= InferenceEngine.GemvRows || weights.Vocabulary > 0;
        Buffers.Grow(ref Projection, hoisted ? cells * weights.Gates : 0);
        Buffers.Grow(ref Gates, rows * weights.Gates);
        Buffers.Grow(ref HiddenGates, weights.Cell == CellKind.Gru ? rows * weights.Gates : 0);
        Buffers.Grow(ref LayerInput, weights.Config.Layers > 1 ? cells * weights.Width : 0);
        Buffers.Grow(ref LayerOutput, cells * weights.Width);
        Buffers.Grow(ref Pooled, rows * weights.Width);
        Buffers.Grow(ref Outputs, cells * weights.Config.OutputSize);
        Buffers.Grow(ref StepInputs, rows * Math.Max(weights.Config.InputSize, weights.Width));
    }
}

/// <summary>
/// One GEMV split by panels of rows over the kernel workers (<see cref="WorkerPool"/>): each part computes whole
/// panels, which depend on nothing but their own rows, so the bits are those of one call on one thread.
/// </summary>
internal sealed unsafe class GemvJob<T> : IParallelJob
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private GemvMatrix<T>? _matrix;
    private T* _x;
    private T* _addend;
    private T* _y;

    /// <summary>The products at least this large (values of W) are split when there are several threads: 1 MB of float, where the GEMV takes some 10 us.</summary>
    internal const int SplitValues = 1 << 18;

    /// <summary>y = W x + addend, over <see cref="Parallelism.ThreadCount"/> threads when W is large enough.</summary>
    public void Multiply(GemvMatrix<T> matrix, ReadOnlySpan<T> x, ReadOnlySpan<T> addend, Span<T> y)
    {
        int parts = Math.Min(Parallelism.ThreadCount, matrix.PanelCount);
        if (parts < 2 || (long)matrix.Rows * matrix.Columns < SplitValues || x.Length != matrix.Columns || y.Length != matrix.Rows
            || (!addend.IsEmpty && addend.Length != matrix.Rows))
        {
            Gemv.Multiply(matrix, x, addend, y);
            return;
        }

        // The spans stay pinned until every part is done: WorkerPool.Run returns only then.
        fixed (T* xs = x)
        fixed (T* adds = addend)
        fixed (T* ys = y)
        {
            _matrix = matrix;
            _x = xs;
            _addend = adds;
            _y = ys;
            try
            {
                WorkerPool.Run(this, parts);
            }
            finally
            {
                _matrix = null;
                _x = _addend = _y = null;
            }
        }
    }

    /// <inheritdoc/>
    public void Run(int part, int parts)
    {
        var matrix = _matrix!;
        int panels = matrix.PanelCount;
        int first = (int)((long)panels * part / parts), end = (int)((long)panels * (part + 1) / parts);
        Gemv.Multiply(
            Gemv.Variant, matrix, new ReadOnlySpan<T>(_x, matrix.Columns), _addend == null ? default : new ReadOnlySpan<T>(_addend, matrix.Rows),
            new Span<T>(_y, matrix.Rows), first, end);
    }
}

/// <summary>
/// One batch step split by rows over the kernel workers (<see cref="WorkerPool"/>): each part takes whole rows through
/// the step (the input projection when it is made per step, the recurrent product, the gate math), since a row's new
/// state reads that row's inputs and state alone. One dispatch per step instead of one per product and one for the gate
/// math, and a row's gates are made and used on the same core. Each element of a product is the same chain of fused
/// multiply-adds over k in every kernel, so each part computes exactly what one thread would, bit for bit; part bounds
/// fall on the GEMM's row tiles (<see cref="Gemm.RowTile{T}"/>) so that no part packs rows one thread reads in place.
/// </summary>
internal sealed unsafe class BatchStepJob<T> : IParallelJob
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Rows times hidden units below which the step runs on the calling thread (a few microseconds of work).</summary>
    internal const int SplitUnits = 1 << 12;

    /// <summary>The fewest rows a part gets, so that a dispatch is worth its cost.</summary>
    private const int MinRowsPerPart = 4;

    private CellKind _cell;
    private Activation _activation;
    private int _hidden;
    private int _rows;
    private int _inputSize;
    private int _rowTile;
    private PackedOperand<T>? _hiddenGemm;
    private PackedOperand<T>? _inputGemm;
    private T* _x;
    private T* _inputBias;
    private T* _hiddenBias;
    private T* _gates;
    private T* _hiddenGates;
    private T* _h;
    private T* _c;

    // Set by Sequence for the length of one call: the steps, the input [T, B, I] or projection [T, B, G H], the output.
    private int _steps;
    private T* _input;
    private T* _projection;
    private T* _output;
    private int _outputWidth;
    private int _outputColumn;

    /// <summary>
    /// Whether <see cref="Step"/> can run a layer's step: its weights are packed for the GEMM variant in use (always,
    /// unless a test forces another variant after the predictor was made).
    /// </summary>
    public static bool CanStep(InferenceLayer<T> layer)
        => layer.HiddenGemm.PackedFor == Gemm.Variant && layer.InputGemm.PackedFor == Gemm.Variant;

    /// <summary>
    /// One step of <paramref name="rows"/> rows, over <see cref="Parallelism.ThreadCount"/> threads when large enough:
    /// with <paramref name="x"/> given, gates = x W_ih^T + b_ih first (else <paramref name="gates"/> already holds the
    /// projection); then the recurrent product (Elman and LSTM: gates += h W_hh^T; GRU: hiddenGates = h W_hh^T + b_hh)
    /// and the cell update of h (and c).
    /// </summary>
    public void Step(
        CellKind cell, Activation activation, InferenceLayer<T> layer, ReadOnlySpan<T> x, Span<T> gates, Span<T> hiddenGates,
        Span<T> h, Span<T> c, int rows, int hidden)
    {
        _rowTile = Gemm.RowTile<T>();
        int parts = Parts(rows, hidden);

        // The spans stay pinned until every part is done: WorkerPool.Run returns only then.
        fixed (T* xStart = x)
        fixed (T* inputBias = layer.InputBias)
        fixed (T* hiddenBias = layer.HiddenBias)
        fixed (T* gatesStart = gates)
        fixed (T* hiddenGatesStart = hiddenGates)
        fixed (T* hStart = h)
        fixed (T* cStart = c)
        {
            (_cell, _activation, _hidden, _rows, _inputSize) = (cell, activation, hidden, rows, layer.InputSize);
            (_hiddenGemm, _inputGemm) = (layer.HiddenGemm, layer.InputGemm);
            _x = x.IsEmpty ? null : xStart;
            _inputBias = inputBias;
            _hiddenBias = hiddenBias;
            _gates = gatesStart;
            _hiddenGates = hiddenGatesStart;
            _h = hStart;
            _c = cStart;
            try
            {
                if (parts < 2)
                {
                    Run(0, 1);
                }
                else
                {
                    WorkerPool.Run(this, parts);
                }
            }
            finally
            {
                _hiddenGemm = _inputGemm = null;
                _x = _inputBias = _hiddenBias = _gates = _hiddenGates = _h = _c = null;
            }
        }
    }

    /// <summary>
    /// A whole direction over <paramref name="steps"/> steps of <paramref name="batch"/> sequences of one length, as one
    /// job split by rows: a row's recurrence never reads another row, so each part takes its rows through every step
    /// and the threads meet once, not at every step. Per step a part does what <see cref="Step"/> does for its rows: the
    /// projection of <paramref name="input"/>'s step (when <paramref name="projection"/> is empty) into its rows of
    /// <paramref name="gates"/>, else the recurrent product into its rows of the projection's step; the cell update; and
    /// the copy of h into columns [<paramref name="column"/>, +H) of <paramref name="output"/> ([T, B, width]).
    /// </summary>
    public void Sequence(
        CellKind cell, Activation activation, InferenceLayer<T> layer, ReadOnlySpan<T> input, ReadOnlySpan<T> projection, Span<T> gates,
        Span<T> hiddenGates, Span<T> h, Span<T> c, int steps, int batch, int hidden, Span<T> output, int width, int column)
    {
        fixed (T* inputStart = input)
        fixed (T* projectionStart = projection)
        fixed (T* outputStart = output)
        {
            _steps = steps;
            _input = input.IsEmpty ? null : inputStart;
            _projection = projection.IsEmpty ? null : projectionStart;
            _output = outputStart;
            (_outputWidth, _outputColumn) = (width, column);
            try
            {
                Step(cell, activation, layer, default, gates, hiddenGates, h, c, batch, hidden);
            }
            finally
            {
                _steps = 0;
                _input = _projection = _output = null;
            }
        }
    }

    /// <summary>Whether <see cref="Sequence"/> splits <paramref name="rows"/> rows of <paramref name="hidden"/> units over more than one thread.</summary>
    public static bool Splits(int rows, int hidden) => Parts(rows, hidden) > 1;

    /// <summary>
    /// Parts of a step of <paramref name="rows"/> rows: one per thread, each at least <see cref="MinRowsPerPart"/> rows
    /// and a whole number of row tiles; one when the step is too small to pay for a dispatch.
    /// </summary>
    private static int Parts(int rows, int hidden)
    {
        int rowTile = Gemm.RowTile<T>();
        return rows * hidden < SplitUnits ? 1 : Math.Min(Math.Min(Parallelism.ThreadCount, rows / MinRowsPerPart), (rows + rowTile - 1) / rowTile);
    }

    /// <inheritdoc/>
    public void Run(int part, int parts)
    {
        int tiles = (_rows + _rowTile - 1) / _rowTile;
        int first = (int)((long)tiles * part / parts) * _rowTile;
        int rows = Math.Min(_rows, (int)((long)tiles * (part + 1) / parts) * _rowTile) - first;
        if (rows <= 0)
        {
            return;
        }

        int hidden = _hidden, width = CellKinds.GateCount(_cell) * hidden;
        var hiddenGates = _hiddenGates == null ? default : new Span<T>(_hiddenGates + ((long)first * width), rows * width);
        if (_steps == 0)
        {
            StepRows(first, rows, _x == null ? null : _x + ((long)first * _inputSize), new Span<T>(_gates + ((long)first * width), rows * width), hiddenGates);
            return;
        }

        // The whole sequence for these rows (see Sequence): the batch's rows are [_rows], a step's block [_rows, width].
        for (int k = 0; k < _steps; k++)
        {
            long stepRow = ((long)k * _rows) + first;
            var gates = _projection != null
                ? new Span<T>(_projection + (stepRow * width), rows * width)
                : new Span<T>(_gates + ((long)first * width), rows * width);
            StepRows(first, rows, _projection != null ? null : _input + (stepRow * _inputSize), gates, hiddenGates);
            for (int b = 0; b < rows; b++)
            {
                new ReadOnlySpan<T>(_h + ((long)(first + b) * hidden), hidden).CopyTo(
                    new Span<T>(_output + ((stepRow + b) * _outputWidth) + _outputColumn, hidden));
            }
        }
    }

    /// <summary>One step of rows [<paramref name="first"/>, +<paramref name="rows"/>): projection (when <paramref name="x"/> is given), recurrent product, cell.</summary>
    private void StepRows(int first, int rows, T* x, Span<T> gates, Span<T> hiddenGates)
    {
        int hidden = _hidden, width = CellKinds.GateCount(_cell) * hidden;
        var h = new Span<T>(_h + ((long)first * hidden), rows * hidden);
        if (x != null)
        {
            Gemm.ComputePackedColumns(rows, T.One, new ReadOnlySpan<T>(x, rows * _inputSize), _inputSize, _inputGemm!, T.Zero, gates, width, 0, width);
            InferenceEngine.AddRowBias(gates, new ReadOnlySpan<T>(_inputBias, width));
        }

        if (_cell == CellKind.Gru)
        {
            Gemm.ComputePackedColumns(rows, T.One, h, hidden, _hiddenGemm!, T.Zero, hiddenGates, width, 0, width);
            InferenceEngine.AddRowBias(hiddenGates, new ReadOnlySpan<T>(_hiddenBias, width));
        }
        else
        {
            Gemm.ComputePackedColumns(rows, T.One, h, hidden, _hiddenGemm!, T.One, gates, width, 0, width);
        }

        InferenceEngine.UpdateRows(
            _cell, _activation, gates, hiddenGates, h, _c == null ? default : new Span<T>(_c + ((long)first * hidden), rows * hidden), rows, hidden);
    }
}

/// <summary>
/// Runs a model's layers for inference over a time-major batch [T, B] whose sequences are sorted by length, longest
/// first, so that at step k the sequences still running are the first <c>active(k)</c> rows: each step's recurrent
/// product covers exactly them, and padded steps cost nothing. No backward buffer is kept.
/// </summary>
/// <remarks>
/// Per layer and direction: the input projection of every step at once (one GEMM, or a table row per token), then the
/// time loop with the recurrent product (a GEMV per row when a step has at most <see cref="GemvRows"/> rows, else one
/// GEMM) and the gate math fused per row. The reverse direction walks each sequence from its own last step. When the
/// sequences share one length, the forward direction hands each thread its rows for <see cref="SequenceChunk"/> steps
/// at a time, so the threads meet once a chunk rather than once a step.
/// </remarks>
internal static class InferenceEngine
{
    /// <summary>
    /// Steps per dispatch when sequences of one length run by rows (see RunDirection): at batch 64, H = 256 on two
    /// threads, 4, 10 and 25 steps gave 20.8-21.1, 20.4-20.8 and 20.2-20.6 ms best (21.0-21.4 one step at a time), with
    /// medians 21.2-22.2, 21.3-21.5 and 21.6-23.3 ms.
    /// </summary>
    internal const int SequenceChunk = 10;

    /// <summary>Rows up to which a product runs as one GEMV per row rather than a GEMM (whose packing costs more for so few rows).</summary>
    internal const int GemvRows = 4;

    /// <summary>
    /// Runs every layer: <paramref name="dense"/> [T, B, I] or <paramref name="tokens"/> [T, B] in, the last layer's
    /// outputs [T, B, D H] left in <see cref="InferenceWorkspace{T}.LayerOutput"/> (zero at padded steps).
    /// <paramref name="state"/> and <paramref name="cell"/> ([L D, B, H]) hold h0 and c0 on entry and each sequence's
    /// final state on exit.
    /// </summary>
    public static void RunLayers<T>(
        InferenceWeights<T> weights, InferenceWorkspace<T> workspace, ReadOnlySpan<T> dense, ReadOnlySpan<int> tokens,
        int steps, int batch, ReadOnlySpan<int> lengths, Span<T> state, Span<T> cell)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int hidden = weights.Hidden, width = weights.Width, directions = weights.Directions, block = batch * hidden;
        int layers = weights.Config.Layers;
        for (int layer = 0; layer < layers; layer++)
        {
            // Layer l reads layer l-1's outputs: swap so that LayerInput holds them and LayerOutput is free.
            if (layer > 0)
            {
                (workspace.LayerInput, workspace.LayerOutput) = (workspace.LayerOutput, workspace.LayerInput);
            }

            ReadOnlySpan<T> input = layer == 0 ? dense : workspace.LayerInput.AsSpan(0, steps * batch * width);
            var output = workspace.LayerOutput.AsSpan(0, steps * batch * width);
            if (directions > 1 || !lengths.IsEmpty)
            {
                output.Clear();
            }

            for (int d = 0; d < directions; d++)
            {
                int index = (layer * directions) + d;
                var parameters = weights.Layers[index];
                // A batch of dense rows projects each step's inputs just before its recurrent product, into a buffer that
                // stays in cache; hoisting every step's projection would write [T, B, G H] (26 MB for 64 x 100 steps
                // of an H = 256 LSTM) and read it back from memory one step at a time. Tokens read a table row either way,
                // and a GEMV runs per row either way, so those are hoisted.
                bool perStep = steps > 1 && batch > GemvRows && (layer > 0 || tokens.IsEmpty);
                var projection = perStep ? default : workspace.Projection.AsSpan(0, steps * batch * weights.Gates);
                if (!perStep)
                {
                    Project(weights, parameters, workspace, input, layer == 0 ? tokens : default, steps * batch, projection);
                }

                RunDirection(
                    weights, parameters, workspace, projection, perStep ? input : default, steps, batch, lengths, reverse: d == 1,
                    state.Slice(index * block, block), weights.Cell == CellKind.Lstm ? cell.Slice(index * block, block) : default,
                    output, d * hidden);
            }
        }
    }

    /// <summary>
    /// The head over the rows of <paramref name="states"/> ([rows, D H]): <c>y = W states + b</c> into
    /// <paramref name="outputs"/> [rows, O].
    /// </summary>
    public static void Head<T>(InferenceWeights<T> weights, InferenceWorkspace<T> workspace, ReadOnlySpan<T> states, int rows, Span<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = weights.Width, count = weights.Config.OutputSize;
        if (rows <= GemvRows)
        {
            for (int r = 0; r < rows; r++)
            {
                workspace.Job.Multiply(weights.HeadPacked, states.Slice(r * width, width), weights.HeadBias, outputs.Slice(r * count, count));
            }

            return;
        }

        MultiplyTransposed(rows, states, width, weights.HeadWeights, weights.HeadGemm, count, T.Zero, outputs);
        AddRowBias(outputs[..(rows * count)], weights.HeadBias);
    }

    // projection[r] = W_ih x_r + bias for every row r of [T B] (tokens: the table's row, or W_ih E[token] + bias).
    private static void Project<T>(
        InferenceWeights<T> weights, InferenceLayer<T> layer, InferenceWorkspace<T> workspace, ReadOnlySpan<T> input, ReadOnlySpan<int> tokens, int rows,
        Span<T> projection)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int gates = weights.Gates, inputSize = layer.InputSize;
        if (weights.Vocabulary > 0 && layer.InputSize == weights.Config.InputSize && !tokens.IsEmpty)
        {
            for (int r = 0; r < rows; r++)
            {
                int token = tokens[r];
                var target = projection.Slice(r * gates, gates);
                if (layer.TokenTable.Length > 0)
                {
                    layer.TokenTable.AsSpan(token * gates, gates).CopyTo(target);
                }
                else
                {
                    workspace.Job.Multiply(layer.InputPacked, weights.Embedding.AsSpan(token * inputSize, inputSize), layer.InputBias, target);
                }
            }

            return;
        }

        if (rows <= GemvRows)
        {
            for (int r = 0; r < rows; r++)
            {
                workspace.Job.Multiply(layer.InputPacked, input.Slice(r * inputSize, inputSize), layer.InputBias, projection.Slice(r * gates, gates));
            }

            return;
        }

        MultiplyTransposed(rows, input, inputSize, layer.InputWeights, layer.InputGemm, gates, T.Zero, projection);
        AddRowBias(projection, layer.InputBias);
    }

    private static void RunDirection<T>(
        InferenceWeights<T> weights, InferenceLayer<T> layer, InferenceWorkspace<T> workspace, Span<T> projection, ReadOnlySpan<T> input,
        int steps, int batch, ReadOnlySpan<int> lengths, bool reverse, Span<T> state, Span<T> cell, Span<T> output, int column)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int gates = weights.Gates, hidden = weights.Hidden, width = weights.Width;
        // Sorted longest first: every sequence runs all the steps when the shortest does.
        bool oneLength = lengths.IsEmpty || lengths[batch - 1] >= steps;
        if (!reverse && oneLength && steps > 1 && batch > GemvRows && BatchStepJob<T>.CanStep(layer) && BatchStepJob<T>.Splits(batch, hidden))
        {
            // Sequences of one length, forward: each thread takes its rows through several steps per dispatch, not one.
            // A chunk, not the whole sequence: a worker that wakes late (a core the host had idled) then delays a
            // chunk's part, while the caller runs the chunks before it alone.
            for (int k0 = 0; k0 < steps; k0 += SequenceChunk)
            {
                int chunk = Math.Min(SequenceChunk, steps - k0);
                workspace.BatchStep.Sequence(
                    weights.Cell, weights.Config.Activation, layer, input.IsEmpty ? default : input.Slice(k0 * batch * layer.InputSize, chunk * batch * layer.InputSize),
                    projection.IsEmpty ? default : projection.Slice(k0 * batch * gates, chunk * batch * gates), workspace.Gates.AsSpan(0, batch * gates),
                    weights.Cell == CellKind.Gru ? workspace.HiddenGates.AsSpan(0, batch * gates) : default, state[..(batch * hidden)],
                    weights.Cell == CellKind.Lstm ? cell[..(batch * hidden)] : default, chunk, batch, hidden,
                    output.Slice(k0 * batch * width, chunk * batch * width), width, column);
            }

            return;
        }

        int active = batch;
        for (int k = 0; k < steps; k++)
        {
            // Sorted longest first: the rows still running at step k are a prefix.
            if (!lengths.IsEmpty)
            {
                while (active > 0 && lengths[active - 1] <= k)
                {
                    active--;
                }
            }

            // A step of more than a GEMV's rows runs as one job split by rows, its projection included when made per step.
            bool byRows = active > GemvRows && BatchStepJob<T>.CanStep(layer);
            Span<T> stepGates;
            ReadOnlySpan<T> stepInput = default;
            if (projection.IsEmpty)
            {
                // This step's projection, W_ih x + b for the active rows (each row at its own time when reversed).
                int inputSize = layer.InputSize;
                ReadOnlySpan<T> rows = input.Slice(k * batch * inputSize, active * inputSize);
                if (reverse)
                {
                    var gathered = workspace.StepInputs.AsSpan(0, active * inputSize);
                    for (int b = 0; b < active; b++)
                    {
                        int time = (lengths.IsEmpty ? steps : lengths[b]) - 1 - k;
                        input.Slice(((time * batch) + b) * inputSize, inputSize).CopyTo(gathered.Slice(b * inputSize, inputSize));
                    }

                    rows = gathered;
                }

                stepGates = workspace.Gates.AsSpan(0, active * gates);
                if (byRows)
                {
                    stepInput = rows;
                }
                else
                {
                    MultiplyTransposed(active, rows, inputSize, layer.InputWeights, layer.InputGemm, gates, T.Zero, stepGates);
                    AddRowBias(stepGates, layer.InputBias);
                }
            }
            else if (!reverse)
            {
                stepGates = projection.Slice(k * batch * gates, active * gates);
            }
            else
            {
                // Sequence b runs backwards from its own last step: at step k it reads time len_b - 1 - k.
                stepGates = workspace.Gates.AsSpan(0, active * gates);
                for (int b = 0; b < active; b++)
                {
                    int time = (lengths.IsEmpty ? steps : lengths[b]) - 1 - k;
                    projection.Slice(((time * batch) + b) * gates, gates).CopyTo(stepGates.Slice(b * gates, gates));
                }
            }

            var h = state[..(active * hidden)];
            var hiddenGates = weights.Cell == CellKind.Gru ? workspace.HiddenGates.AsSpan(0, active * gates) : default;
            var c = weights.Cell == CellKind.Lstm ? cell[..(active * hidden)] : default;
            if (byRows)
            {
                workspace.BatchStep.Step(weights.Cell, weights.Config.Activation, layer, stepInput, stepGates, hiddenGates, h, c, active, hidden);
            }
            else
            {
                Recurrent(weights, layer, workspace.Job, h, active, stepGates, hiddenGates);
                UpdateRows(weights.Cell, weights.Config.Activation, stepGates, hiddenGates, h, c, active, hidden);
            }

            for (int b = 0; b < active; b++)
            {
                int time = reverse ? (lengths.IsEmpty ? steps : lengths[b]) - 1 - k : k;
                h.Slice(b * hidden, hidden).CopyTo(output.Slice((((time * batch) + b) * width) + column, hidden));
            }
        }
    }

    // Elman and LSTM: gates += W_hh h. GRU: hiddenGates = W_hh h + b_hh.
    private static void Recurrent<T>(
        InferenceWeights<T> weights, InferenceLayer<T> layer, GemvJob<T> job, ReadOnlySpan<T> h, int rows, Span<T> gates, Span<T> hiddenGates)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = weights.Gates, hidden = weights.Hidden;
        bool gru = weights.Cell == CellKind.Gru;
        if (rows <= GemvRows)
        {
            for (int b = 0; b < rows; b++)
            {
                var x = h.Slice(b * hidden, hidden);
                if (gru)
                {
                    job.Multiply(layer.HiddenPacked, x, layer.HiddenBias, hiddenGates.Slice(b * width, width));
                }
                else
                {
                    var row = gates.Slice(b * width, width);
                    job.Multiply(layer.HiddenPacked, x, row, row);
                }
            }

            return;
        }

        if (gru)
        {
            MultiplyTransposed(rows, h, hidden, layer.HiddenWeights, layer.HiddenGemm, width, T.Zero, hiddenGates);
            AddRowBias(hiddenGates, layer.HiddenBias);
        }
        else
        {
            MultiplyTransposed(rows, h, hidden, layer.HiddenWeights, layer.HiddenGemm, width, T.One, gates);
        }
    }

    /// <summary>The cell update of <paramref name="rows"/> rows on the calling thread (see <see cref="BatchStepJob{T}"/>).</summary>
    internal static void UpdateRows<T>(
        CellKind cell, Activation activation, Span<T> gates, ReadOnlySpan<T> hiddenGates, Span<T> h, Span<T> c, int rows, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (cell)
        {
            case CellKind.Rnn:
                ElmanRows(activation, gates, h, rows, hidden);
                break;
            case CellKind.Lstm:
                LstmRows(gates, h, c, rows, hidden);
                break;
            default:
                GruRows(gates, hiddenGates, h, rows, hidden);
                break;
        }
    }

    // h = f(a) (the Elman cell)
    private static void ElmanRows<T>(Activation activation, Span<T> gates, Span<T> h, int rows, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var all = gates[..(rows * hidden)];
        Activations.ApplyInPlace(activation, all);
        all.CopyTo(h);
    }

    // i, f, o = sigmoid; g = tanh; c = f c + i g; h = o tanh(c) (the LSTM cell, PyTorch's gate order i, f, g, o)
    private static void LstmRows<T>(Span<T> gates, Span<T> h, Span<T> c, int rows, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 4 * hidden;
        if (typeof(T) == typeof(float) && FastMath.UseVector512 && hidden % Vector512<float>.Count == 0)
        {
            // One 512-bit pass per row from the gate sums to c and h, the same operations (and bits) as the passes below.
            for (int b = 0; b < rows; b++)
            {
                LstmCell.Update(
                    hidden, MemoryMarshal.Cast<T, float>(gates.Slice(b * width, width)),
                    MemoryMarshal.Cast<T, float>(c.Slice(b * hidden, hidden)), MemoryMarshal.Cast<T, float>(h.Slice(b * hidden, hidden)));
            }

            return;
        }

        for (int b = 0; b < rows; b++)
        {
            var row = gates.Slice(b * width, width);
            Activations.SigmoidInPlace(row[..(2 * hidden)]);
            var candidate = row.Slice(2 * hidden, hidden);
            Activations.TanhInPlace(candidate);
            var output = row.Slice(3 * hidden, hidden);
            Activations.SigmoidInPlace(output);
            var input = row[..hidden];
            var forget = row.Slice(hidden, hidden);
            var cRow = c.Slice(b * hidden, hidden);
            var hRow = h.Slice(b * hidden, hidden);
            ref T i0 = ref MemoryMarshal.GetReference(input);
            ref T f0 = ref MemoryMarshal.GetReference(forget);
            ref T g0 = ref MemoryMarshal.GetReference(candidate);
            ref T c0 = ref MemoryMarshal.GetReference(cRow);
            int j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
                {
                    var f = Vector.LoadUnsafe(ref f0, (nuint)j);
                    var i = Vector.LoadUnsafe(ref i0, (nuint)j);
                    var g = Vector.LoadUnsafe(ref g0, (nuint)j);
                    ((f * Vector.LoadUnsafe(ref c0, (nuint)j)) + (i * g)).StoreUnsafe(ref c0, (nuint)j);
                }
            }

            for (; j < hidden; j++)
            {
                cRow[j] = (forget[j] * cRow[j]) + (input[j] * candidate[j]);
            }

            // tanh(c) into the spent candidate block, then h = o tanh(c).
            cRow.CopyTo(candidate);
            Activations.TanhInPlace(candidate);
            ref T o0 = ref MemoryMarshal.GetReference(output);
            ref T h0 = ref MemoryMarshal.GetReference(hRow);
            j = 0;
            if (Vector.IsHardwareAccelerated)
            {
                for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
                {
                    (Vector.LoadUnsafe(ref o0, (nuint)j) * Vector.LoadUnsafe(ref g0, (nuint)j)).StoreUnsafe(ref h0, (nuint)j);
                }
            }

            for (; j < hidden; j++)
            {
                hRow[j] = output[j] * candidate[j];
            }
        }
    }

    // r = sigmoid(gi_r + gh_r); z = sigmoid(gi_z + gh_z); n = tanh(gi_n + r gh_n); h = (1 - z) n + z h (PyTorch's GRU)
    private static void GruRows<T>(Span<T> inputGates, ReadOnlySpan<T> hiddenGates, Span<T> h, int rows, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = 3 * hidden;
        for (int b = 0; b < rows; b++)
        {
            var gi = inputGates.Slice(b * width, width);
            var gh = hiddenGates.Slice(b * width, width);
            var resetUpdate = gi[..(2 * hidden)];
            var hRow = h.Slice(b * hidden, hidden);
            // A lane walk stores only lanes it has not stored before, so the in-place updates are safe; it reads the spans
            // through their first elements, unchecked, and each holds at least the count it walks (sliced from the row).
            ref T r0 = ref MemoryMarshal.GetReference(resetUpdate), gh0 = ref MemoryMarshal.GetReference(gh);
            for (var lane = new Lanes<T>(2 * hidden); lane.Next();)
            {
                lane.Store(lane.Load(ref r0) + lane.Load(ref gh0), ref r0);
            }

            Activations.SigmoidInPlace(resetUpdate);
            var candidate = gi.Slice(2 * hidden, hidden);
            ref T n0 = ref MemoryMarshal.GetReference(candidate), hn0 = ref MemoryMarshal.GetReference(gh.Slice(2 * hidden, hidden));
            for (var lane = new Lanes<T>(hidden); lane.Next();)
            {
                lane.Store(lane.Load(ref n0) + (lane.Load(ref r0) * lane.Load(ref hn0)), ref n0);
            }

            Activations.TanhInPlace(candidate);
            ref T z0 = ref MemoryMarshal.GetReference(resetUpdate.Slice(hidden, hidden)), h0 = ref MemoryMarshal.GetReference(hRow);
            var one = new Vector<T>(T.One);
            for (var lane = new Lanes<T>(hidden); lane.Next();)
            {
                var z = lane.Load(ref z0);
                lane.Store(((one - z) * lane.Load(ref n0)) + (z * lane.Load(ref h0)), ref h0);
            }
        }
    }

    // c = a W^T + beta c for a [rows, depth] and W [width, depth]: with W^T packed beforehand when it was packed for the
    // GEMM variant in use (always, unless a test forces another variant after the predictor was made).
    private static void MultiplyTransposed<T>(
        int rows, ReadOnlySpan<T> a, int depth, T[] weights, PackedOperand<T> packed, int width, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (packed.PackedFor == Gemm.Variant)
        {
            Gemm.ComputePacked(Transpose.No, rows, T.One, a[..(rows * depth)], depth, packed, beta, c[..(rows * width)], width);
        }
        else
        {
            Gemm.Compute(Transpose.No, Transpose.Yes, rows, width, depth, T.One, a, depth, weights, depth, beta, c, width);
        }
    }

    internal static void AddRowBias<T>(Span<T> rows, ReadOnlySpan<T> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int start = 0; start < rows.Length; start += bias.Length)
        {
            var row = rows.Slice(start, bias.Length);
            ref T r0 = ref MemoryMarshal.GetReference(row);
            ref T b0 = ref MemoryMarshal.GetReference(bias);
            for (var lane = new Lanes<T>(row.Length); lane.Next();)
            {
                lane.Store(lane.Load(ref r0) + lane.Load(ref b0), ref r0);
            }
        }
    }
}
