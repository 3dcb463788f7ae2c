using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// The output-recurrent (Jordan) network of the notes: the previous output, not the previous
/// hidden state, is fed back.
/// <code>
/// h_t  = f(W_ih x_t + b_ih + W_yh y_{t-1} + b_hh)     (W_ih: [H, I], W_yh: [H, O])
/// y~_t = W h_t + b                                      (head.weight, head.bias)
/// </code>
/// With teacher forcing (training, and one-step prediction) y_{t-1} is the true previous target, so the steps are independent
/// given the data; run free (inference) y_{t-1} = y~_{t-1}, the model's own previous output, and the
/// gradient flows back through it: <c>dL/dy~_t = dL_t/dy~_t + dL/da_{t+1} W_yh</c>. Both are exact BPTT.
/// y_{-1} is y0 (zero unless given).
/// </summary>
/// <remarks>
/// The recurrence is the <see cref="JordanCell"/> in the time loop every cell shares; this type adds the head, the
/// teacher's targets and y0.
/// </remarks>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
internal sealed class JordanModel<T> : IRecurrentModel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>State-dict name of W_yh, the output-to-hidden weights.</summary>
    public const string WeightYhName = ParameterNames.RecurrentPrefix + "weight_yh_l0";

    private readonly RecurrentDirection<T, JordanCell> _layer;
    private T[] _inputs = [];
    private T[] _teacher = [];
    private T[] _states = [];               // [T, B, H]: h_t
    private T[] _predictions = [];          // [T, B, O]
    private T[] _stateGradients = [];       // [T, B, H]: dL/dh_t through the head at step t
    private T[] _inputGradients = [];
    private int _steps;
    private int _batch;
    private bool _forwardDone;

    /// <summary>Creates the network with zero parameters.</summary>
    /// <exception cref="UnrollException">The config is not a valid Jordan network.</exception>
    public JordanModel(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.Architecture != Architecture.Jordan)
        {
            throw new UnrollException($"model: expected architecture 'jordan', got '{config.Architecture.Name()}'.");
        }

        Config = config;
        int i = config.InputSize, h = config.HiddenSize, o = config.OutputSize;
        Parameters = new ParameterSet<T>(
        [
            .. RecurrentDirection<T, JordanCell>.Layout(0, false, i, h, o),
            (ParameterNames.HeadWeight, [o, h]),
            (ParameterNames.HeadBias, [o]),
        ]);
        _layer = new RecurrentDirection<T, JordanCell>(Parameters, new JordanCell(config.Activation), 0, false, i, h);
    }

    /// <inheritdoc/>
    public ModelConfig Config { get; }

    /// <inheritdoc/>
    public ParameterSet<T> Parameters { get; }

    /// <summary>Training mode (the network has no dropout; kept for the common interface).</summary>
    public bool Training { get; set; }

    /// <summary>When set, <see cref="Backward"/> also computes dL/dx.</summary>
    public bool ComputeInputGradients { get; set; }

    /// <inheritdoc/>
    public ReadOnlySpan<T> Predictions => _predictions.AsSpan(0, _steps * _batch * Config.OutputSize);

    /// <summary>The hidden states h_t of the last forward pass, [T, B, H].</summary>
    public ReadOnlySpan<T> States => _states.AsSpan(0, _steps * _batch * Config.HiddenSize);

    /// <summary>dL/dy0 from the last backward pass, [B, O].</summary>
    public ReadOnlySpan<T> InitialOutputGradient => _layer.InitialStateGradient;

    /// <summary>dL/dx from the last backward pass, [T, B, I], when <see cref="ComputeInputGradients"/> is set.</summary>
    public ReadOnlySpan<T> InputGradients => _inputGradients.AsSpan(0, ComputeInputGradients ? _steps * _batch * Config.InputSize : 0);

    /// <inheritdoc/>
    public ulong RandomState { get; set; }

    /// <inheritdoc/>
    public void SetDropoutSeed(int seed)
    {
        // No dropout in a single-layer network.
    }

    /// <inheritdoc/>
    /// <exception cref="UnrollException">The sequences have different lengths, which the Jordan network does not take.</exception>
    public void Run(ReadOnlySpan<T> inputs, ReadOnlySpan<T> targets, int steps, int batch, ReadOnlySpan<int> lengths = default)
    {
        foreach (int length in lengths)
        {
            if (length != steps)
            {
                throw new UnrollException($"jordan: expected sequences of one length, got lengths {length} and {steps} in one batch; the Jordan network runs whole sequences only.");
            }
        }

        Forward(inputs, steps, batch, targets);
    }

    /// <summary>
    /// Runs the network. With <paramref name="teacher"/> ([T, B, O]) it feeds the true y_{t-1}
    /// (teacher forcing); with it empty, its own previous output (free running).
    /// </summary>
    /// <param name="inputs">[T, B, I].</param>
    /// <param name="steps">T.</param>
    /// <param name="batch">B.</param>
    /// <param name="teacher">The true outputs [T, B, O] to feed back, or empty to run free.</param>
    /// <param name="initialOutput">y0 as [B, O], or empty for zeros.</param>
    public void Forward(ReadOnlySpan<T> inputs, int steps, int batch, ReadOnlySpan<T> teacher, ReadOnlySpan<T> initialOutput = default)
    {
        int inputSize = Config.InputSize, hidden = Config.HiddenSize, outputs = Config.OutputSize, rows = steps * batch;
        if (steps < 1 || batch < 1 || inputs.Length != rows * inputSize)
        {
            throw new ArgumentException($"Expected inputs of shape [T={steps}, B={batch}, I={inputSize}], got {inputs.Length} values.");
        }

        if ((!teacher.IsEmpty && teacher.Length != rows * outputs) || (!initialOutput.IsEmpty && initialOutput.Length != batch * outputs))
        {
            throw new ArgumentException($"Expected teacher outputs [T={steps}, B={batch}, O={outputs}] and y0 [B, O], got {teacher.Length} and {initialOutput.Length} values.");
        }

        _steps = steps;
        _batch = batch;
        Buffers.Grow(ref _inputs, rows * inputSize);
        Buffers.Grow(ref _states, rows * hidden);
        Buffers.Grow(ref _predictions, rows * outputs);
        Buffers.Grow(ref _stateGradients, rows * hidden);
        inputs.CopyTo(_inputs);
        if (!teacher.IsEmpty)
        {
            Buffers.Grow(ref _teacher, rows * outputs);
            teacher.CopyTo(_teacher);
        }

        _layer.SetTeacher(teacher.IsEmpty ? null : _teacher);
        var states = _states.AsSpan(0, rows * hidden);
        _layer.Forward(_inputs.AsSpan(0, rows * inputSize), steps, batch, [], initialOutput, [], states, 0, hidden);
        Linear.Forward<T>(states, rows, hidden, Parameters.Value(ParameterNames.HeadWeight), Parameters.Value(ParameterNames.HeadBias), outputs,
            _predictions.AsSpan(0, rows * outputs));
        _forwardDone = true;
    }

    /// <inheritdoc/>
    public void Backward(ReadOnlySpan<T> predictionGradients)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException("Backward needs a forward pass first.");
        }

        int steps = _steps, batch = _batch, rows = steps * batch;
        int inputSize = Config.InputSize, hidden = Config.HiddenSize, outputs = Config.OutputSize;
        if (predictionGradients.Length != rows * outputs)
        {
            throw new ArgumentException($"Expected prediction gradients of shape [T={steps}, B={batch}, O={outputs}], got {predictionGradients.Length} values.");
        }

        // forward: y~_t = W h_t + b  =>  dh_t = dy~_t W (the loss's part; the fed-back part is the recurrence's, in the layer)
        var stateGradients = _stateGradients.AsSpan(0, rows * hidden);
        Linear.Backward<T>(States, rows, hidden, Parameters.Value(ParameterNames.HeadWeight), outputs, predictionGradients,
            Parameters.Gradient(ParameterNames.HeadWeight), Parameters.Gradient(ParameterNames.HeadBias), stateGradients);
        if (ComputeInputGradients)
        {
            Buffers.Grow(ref _inputGradients, rows * inputSize);
        }

        _layer.Backward(_inputs.AsSpan(0, rows * inputSize), stateGradients, 0, hidden,
            ComputeInputGradients ? _inputGradients.AsSpan(0, rows * inputSize) : Span<T>.Empty, accumulateInputGradient: false, [], []);
        _forwardDone = false;
    }

    /// <inheritdoc/>
    public RecurrentState<T> CreateState(int batch) => new(batch, 0, 0, batch * Config.OutputSize);

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<T> input, RecurrentState<T> state, Span<T> output)
    {
        ArgumentNullException.ThrowIfNull(state);
        // The layer reads y_{t-1} from the state and leaves y_t = W h_t + b there.
        _layer.Step(input, state.Batch, state.Output, []);
        state.Output.CopyTo(output);
    }
}
