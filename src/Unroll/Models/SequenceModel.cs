using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// An Elman recurrent layer with a linear head, trained by exact backpropagation through time:
/// <code>
/// h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   t = 0..T-1, h_{-1} = h0 (zero unless given)
/// y_t = W h_t + b                                    (head.weight W: [O, H], head.bias b: [O])
/// </code>
/// Parameters carry torch.nn.RNN's and nn.Linear's state_dict names and shapes
/// (<c>rnn.weight_ih_l0</c> [H, I], <c>rnn.weight_hh_l0</c> [H, H], <c>rnn.bias_ih_l0</c> [H],
/// <c>rnn.bias_hh_l0</c> [H], <c>head.weight</c> [O, H], <c>head.bias</c> [O]).
/// Sequences are time-major: inputs [T, B, I], predictions [T, B, O], states [T, B, H].
/// </summary>
/// <remarks>
/// The computation follows the fast engines' shape: the input projection for all T*B rows is one
/// GEMM before the time loop; inside the loop only the recurrent GEMM and f; the head runs once
/// over all rows; in backward, the loop computes dL/dz_t and dL/dh_{t-1}, and the weight
/// gradients are single GEMMs over all T*B rows after it. Buffers are reused between calls of
/// the same (or smaller) size.
/// </remarks>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public sealed class SequenceModel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>State-dict name of W_ih.</summary>
    public const string WeightIhName = "rnn.weight_ih_l0";

    /// <summary>State-dict name of W_hh.</summary>
    public const string WeightHhName = "rnn.weight_hh_l0";

    /// <summary>State-dict name of b_ih.</summary>
    public const string BiasIhName = "rnn.bias_ih_l0";

    /// <summary>State-dict name of b_hh.</summary>
    public const string BiasHhName = "rnn.bias_hh_l0";

    /// <summary>State-dict name of the head's weight.</summary>
    public const string HeadWeightName = "head.weight";

    /// <summary>State-dict name of the head's bias.</summary>
    public const string HeadBiasName = "head.bias";

    private T[] _inputs = [];
    private T[] _states = [];           // [(T+1), B, H]: row block 0 is h0, block t+1 is h_t
    private T[] _predictions = [];      // [T, B, O]
    private T[] _stateGradients = [];   // [T, B, H]: dL/dh_t from the head, then dL/dz_t
    private T[] _initialStateGradient = []; // [B, H]
    private T[] _inputGradients = [];   // [T, B, I]
    private int _steps;
    private int _batch;
    private bool _forwardDone;

    /// <summary>Creates a model with all parameters zero; call an initialiser before training.</summary>
    /// <exception cref="UnrollException">The config is invalid.</exception>
    public SequenceModel(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int i = config.InputSize, h = config.HiddenSize, o = config.OutputSize;
        Parameters = new ParameterSet<T>(
        [
            (WeightIhName, [h, i]),
            (WeightHhName, [h, h]),
            (BiasIhName, [h]),
            (BiasHhName, [h]),
            (HeadWeightName, [o, h]),
            (HeadBiasName, [o]),
        ]);
    }

    /// <summary>The architecture and sizes.</summary>
    public ModelConfig Config { get; }

    /// <summary>The parameters and their gradients.</summary>
    public ParameterSet<T> Parameters { get; }

    /// <summary>When set, <see cref="Backward"/> also computes dL/dx for every input.</summary>
    public bool ComputeInputGradients { get; set; }

    /// <summary>Steps of the last forward pass.</summary>
    public int Steps => _steps;

    /// <summary>Batch size of the last forward pass.</summary>
    public int Batch => _batch;

    /// <summary>The predictions y_t of the last forward pass, [T, B, O].</summary>
    public ReadOnlySpan<T> Predictions => _predictions.AsSpan(0, _steps * _batch * Config.OutputSize);

    /// <summary>The hidden states h_0..h_{T-1} of the last forward pass, [T, B, H] (torch.nn.RNN's output).</summary>
    public ReadOnlySpan<T> States => _states.AsSpan(_batch * Config.HiddenSize, _steps * _batch * Config.HiddenSize);

    /// <summary>The last hidden state h_{T-1}, [B, H] (torch.nn.RNN's h_n for one layer).</summary>
    public ReadOnlySpan<T> FinalState => _states.AsSpan(_steps * _batch * Config.HiddenSize, _batch * Config.HiddenSize);

    /// <summary>dL/dh0 from the last backward pass, [B, H].</summary>
    public ReadOnlySpan<T> InitialStateGradient => _initialStateGradient.AsSpan(0, _batch * Config.HiddenSize);

    /// <summary>dL/dx from the last backward pass, [T, B, I]; filled only when <see cref="ComputeInputGradients"/> is set.</summary>
    public ReadOnlySpan<T> InputGradients => _inputGradients.AsSpan(0, ComputeInputGradients ? _steps * _batch * Config.InputSize : 0);

    /// <summary>
    /// Runs the network over a batch of sequences and keeps what backward needs.
    /// </summary>
    /// <param name="inputs">[T, B, I] time-major.</param>
    /// <param name="steps">T, at least 1.</param>
    /// <param name="batch">B, at least 1.</param>
    /// <param name="initialState">h0 as [B, H], or empty for zeros.</param>
    public void Forward(ReadOnlySpan<T> inputs, int steps, int batch, ReadOnlySpan<T> initialState = default)
    {
        int inputSize = Config.InputSize, hidden = Config.HiddenSize, outputs = Config.OutputSize;
        if (steps < 1 || batch < 1)
        {
            throw new ArgumentException($"Expected at least one step and one sequence, got T={steps}, B={batch}.");
        }

        if (inputs.Length != steps * batch * inputSize)
        {
            throw new ArgumentException($"Expected inputs of shape [T={steps}, B={batch}, I={inputSize}] ({steps * batch * inputSize} values), got {inputs.Length} values.");
        }

        if (!initialState.IsEmpty && initialState.Length != batch * hidden)
        {
            throw new ArgumentException($"Expected an initial state of shape [B={batch}, H={hidden}], got {initialState.Length} values.");
        }

        EnsureCapacity(steps, batch);
        int rows = steps * batch;
        inputs.CopyTo(_inputs);
        var states = _states.AsSpan(0, (steps + 1) * batch * hidden);
        var h0 = states[..(batch * hidden)];
        if (initialState.IsEmpty)
        {
            h0.Clear();
        }
        else
        {
            initialState.CopyTo(h0);
        }

        var weightIh = Parameters.Value(WeightIhName);
        var weightHh = Parameters.Value(WeightHhName);
        var biasIh = Parameters.Value(BiasIhName);
        var biasHh = Parameters.Value(BiasHhName);

        // Before the loop, for all T*B rows at once: Z = X W_ih^T + b_ih + b_hh, written where h_t will live.
        var preactivations = states[(batch * hidden)..];
        for (int r = 0; r < rows; r++)
        {
            var row = preactivations.Slice(r * hidden, hidden);
            for (int j = 0; j < hidden; j++)
            {
                row[j] = biasIh[j] + biasHh[j];
            }
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, rows, hidden, inputSize,
            T.One, _inputs.AsSpan(0, rows * inputSize), inputSize, weightIh, inputSize, T.One, preactivations, hidden);

        // The time loop: only the recurrent product and f.
        int block = batch * hidden;
        for (int t = 0; t < steps; t++)
        {
            ElmanCell.Step(Config.Activation, weightHh, hidden, batch,
                states.Slice(t * block, block), states.Slice((t + 1) * block, block));
        }

        // The head over all T*B rows at once.
        Linear.Forward<T>(preactivations, rows, hidden,
            Parameters.Value(HeadWeightName), Parameters.Value(HeadBiasName), outputs,
            _predictions.AsSpan(0, rows * outputs));
        _forwardDone = true;
    }

    /// <summary>
    /// Backpropagation through time for the last <see cref="Forward"/>: adds dL/dtheta for every
    /// parameter to <see cref="ParameterSet{T}.Gradients"/> and sets <see cref="InitialStateGradient"/>.
    /// </summary>
    /// <param name="predictionGradients">dL/dy_t for every step, [T, B, O].</param>
    public void Backward(ReadOnlySpan<T> predictionGradients)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException("Backward needs a forward pass first.");
        }

        int steps = _steps, batch = _batch;
        int inputSize = Config.InputSize, hidden = Config.HiddenSize, outputs = Config.OutputSize;
        int rows = steps * batch, block = batch * hidden;
        if (predictionGradients.Length != rows * outputs)
        {
            throw new ArgumentException($"Expected prediction gradients of shape [T={steps}, B={batch}, O={outputs}], got {predictionGradients.Length} values.");
        }

        var states = _states.AsSpan(0, (steps + 1) * block);
        var allStates = states[block..];
        var previousStates = states[..(rows * hidden)];
        var stateGradients = _stateGradients.AsSpan(0, rows * hidden);
        var weightHh = Parameters.Value(WeightHhName);

        // forward: Y = H W^T + b  =>  dW, db, and dL/dh_t from the head for every t (overwrites the buffer).
        Linear.Backward<T>(allStates, rows, hidden, Parameters.Value(HeadWeightName), outputs, predictionGradients,
            Parameters.Gradient(HeadWeightName), Parameters.Gradient(HeadBiasName), stateGradients);

        // The time loop backwards: dL/dh_t is complete when step t is reached (the head's part plus
        // what step t+1 passed down); it becomes dL/dz_t, and step t passes dz_t W_hh to dL/dh_{t-1}.
        var initialStateGradient = _initialStateGradient.AsSpan(0, block);
        initialStateGradient.Clear();
        for (int t = steps - 1; t >= 0; t--)
        {
            var previousGradient = t > 0 ? stateGradients.Slice((t - 1) * block, block) : initialStateGradient;
            ElmanCell.StepBackward(Config.Activation, weightHh, hidden, batch,
                allStates.Slice(t * block, block), stateGradients.Slice(t * block, block), previousGradient);
        }

        // After the loop, single GEMMs over all T*B rows (stateGradients now holds dZ):
        // forward: z_t = ... + h_{t-1} W_hh^T  =>  dW_hh += dZ^T H_prev
        Gemm.Compute(Transpose.Yes, Transpose.No, hidden, hidden, rows,
            T.One, stateGradients, hidden, previousStates, hidden, T.One, Parameters.Gradient(WeightHhName), hidden);

        // forward: z_t = x_t W_ih^T + b_ih + b_hh + ...  =>  dW_ih += dZ^T X, db_ih += sum dZ, db_hh += sum dZ, dX = dZ W_ih
        if (ComputeInputGradients)
        {
            Grow(ref _inputGradients, rows * inputSize);
        }

        var inputGradients = ComputeInputGradients ? _inputGradients.AsSpan(0, rows * inputSize) : Span<T>.Empty;
        Linear.Backward<T>(_inputs.AsSpan(0, rows * inputSize), rows, inputSize, Parameters.Value(WeightIhName), hidden,
            stateGradients, Parameters.Gradient(WeightIhName), Parameters.Gradient(BiasIhName), inputGradients);
        Linear.AddColumnSums<T>(stateGradients, rows, hidden, Parameters.Gradient(BiasHhName));
        _forwardDone = false;
    }

    /// <summary>
    /// One step of inference for a batch, carrying the state: h = f(W_ih x + b_ih + W_hh h + b_hh), y = W h + b.
    /// Used to run the model free (its prediction fed back as the next input).
    /// </summary>
    /// <param name="input">x_t as [B, I].</param>
    /// <param name="state">h_{t-1} as [B, H] on entry, h_t on exit.</param>
    /// <param name="output">y_t as [B, O].</param>
    /// <param name="batch">B.</param>
    public void Step(ReadOnlySpan<T> input, Span<T> state, Span<T> output, int batch)
    {
        int inputSize = Config.InputSize, hidden = Config.HiddenSize;
        if (input.Length != batch * inputSize || state.Length != batch * hidden || output.Length != batch * Config.OutputSize)
        {
            throw new ArgumentException($"Expected x [B={batch}, I={inputSize}], h [B, H={hidden}], y [B, O={Config.OutputSize}], got {input.Length}, {state.Length} and {output.Length} values.");
        }

        var biasIh = Parameters.Value(BiasIhName);
        var biasHh = Parameters.Value(BiasHhName);
        var preactivation = new T[batch * hidden];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < hidden; j++)
            {
                preactivation[(b * hidden) + j] = biasIh[j] + biasHh[j];
            }
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, inputSize,
            T.One, input, inputSize, Parameters.Value(WeightIhName), inputSize, T.One, preactivation, hidden);
        ElmanCell.Step<T>(Config.Activation, Parameters.Value(WeightHhName), hidden, batch, state, preactivation);
        preactivation.CopyTo(state);
        Linear.Forward<T>(state, batch, hidden, Parameters.Value(HeadWeightName), Parameters.Value(HeadBiasName), Config.OutputSize, output);
    }

    private void EnsureCapacity(int steps, int batch)
    {
        _steps = steps;
        _batch = batch;
        int rows = steps * batch;
        Grow(ref _inputs, rows * Config.InputSize);
        Grow(ref _states, (rows + batch) * Config.HiddenSize);
        Grow(ref _predictions, rows * Config.OutputSize);
        Grow(ref _stateGradients, rows * Config.HiddenSize);
        Grow(ref _initialStateGradient, batch * Config.HiddenSize);
        if (ComputeInputGradients)
        {
            Grow(ref _inputGradients, rows * Config.InputSize);
        }
    }

    private static void Grow(ref T[] buffer, int length)
    {
        if (buffer.Length < length)
        {
            buffer = new T[length];
        }
    }
}
