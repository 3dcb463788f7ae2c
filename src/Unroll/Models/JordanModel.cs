using System.Numerics;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
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
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public sealed class JordanModel<T> : IRecurrentModel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The <see cref="ModelConfig.Architecture"/> value of this network.</summary>
    public const string ArchitectureName = "jordan";

    /// <summary>State-dict name of W_yh, the output-to-hidden weights.</summary>
    public const string WeightYhName = ParameterNames.RecurrentPrefix + "weight_yh_l0";

    private T[] _inputs = [];
    private T[] _feedback = [];        // [T, B, O]: y_{t-1} as fed at step t
    private T[] _states = [];          // [T, B, H]: h_t
    private T[] _predictions = [];     // [T, B, O]
    private T[] _outputGradients = []; // [T, B, O]: total dL/dy~_t
    private T[] _preactivationGradients = []; // [T, B, H]
    private T[] _initialOutputGradient = [];
    private T[] _inputGradients = [];
    private int _steps;
    private int _batch;
    private bool _freeRunning;
    private bool _forwardDone;

    /// <summary>Creates the network with zero parameters.</summary>
    /// <exception cref="UnrollException">The config is not a valid Jordan network.</exception>
    public JordanModel(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.Architecture != ArchitectureName)
        {
            throw new UnrollException($"model: expected architecture '{ArchitectureName}', got '{config.Architecture}'.");
        }

        Config = config;
        int i = config.InputSize, h = config.HiddenSize, o = config.OutputSize;
        Parameters = new ParameterSet<T>(
        [
            (SequenceModel<T>.WeightIhName, [h, i]),
            (WeightYhName, [h, o]),
            (SequenceModel<T>.BiasIhName, [h]),
            (SequenceModel<T>.BiasHhName, [h]),
            (SequenceModel<T>.HeadWeightName, [o, h]),
            (SequenceModel<T>.HeadBiasName, [o]),
        ]);
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
    public ReadOnlySpan<T> InitialOutputGradient => _initialOutputGradient.AsSpan(0, _batch * Config.OutputSize);

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

        Allocate(steps, batch);
        _freeRunning = teacher.IsEmpty;
        inputs.CopyTo(_inputs);
        var feedback = _feedback.AsSpan(0, rows * outputs);
        var predictions = _predictions.AsSpan(0, rows * outputs);
        var states = _states.AsSpan(0, rows * hidden);
        var weightYh = Parameters.Value(WeightYhName);
        var headWeight = Parameters.Value(SequenceModel<T>.HeadWeightName);
        var headBias = Parameters.Value(SequenceModel<T>.HeadBiasName);
        int outputBlock = batch * outputs, stateBlock = batch * hidden;

        // y_{-1} = y0; with teacher forcing y_{t-1} = target_{t-1} for t >= 1.
        if (initialOutput.IsEmpty)
        {
            feedback[..outputBlock].Clear();
        }
        else
        {
            initialOutput.CopyTo(feedback);
        }

        if (!_freeRunning)
        {
            teacher[..((steps - 1) * outputBlock)].CopyTo(feedback[outputBlock..]);
        }

        // Before the loop, all rows: a = x W_ih^T + b_ih + b_hh.
        var biasIh = Parameters.Value(SequenceModel<T>.BiasIhName);
        var biasHh = Parameters.Value(SequenceModel<T>.BiasHhName);
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < hidden; j++)
            {
                states[(r * hidden) + j] = biasIh[j] + biasHh[j];
            }
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, rows, hidden, inputSize, T.One, _inputs.AsSpan(0, rows * inputSize), inputSize,
            Parameters.Value(SequenceModel<T>.WeightIhName), inputSize, T.One, states, hidden);

        for (int t = 0; t < steps; t++)
        {
            var a = states.Slice(t * stateBlock, stateBlock);
            var y = predictions.Slice(t * outputBlock, outputBlock);
            // a_t += y_{t-1} W_yh^T;  h_t = f(a_t);  y~_t = h_t W^T + b
            Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, outputs, T.One, feedback.Slice(t * outputBlock, outputBlock), outputs,
                weightYh, outputs, T.One, a, hidden);
            Activations.ApplyInPlace(Config.Activation, a);
            Linear.Forward<T>(a, batch, hidden, headWeight, headBias, outputs, y);
            if (_freeRunning && t + 1 < steps)
            {
                y.CopyTo(feedback.Slice((t + 1) * outputBlock, outputBlock));
            }
        }

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
        int outputBlock = batch * outputs, stateBlock = batch * hidden;
        if (predictionGradients.Length != rows * outputs)
        {
            throw new ArgumentException($"Expected prediction gradients of shape [T={steps}, B={batch}, O={outputs}], got {predictionGradients.Length} values.");
        }

        var states = _states.AsSpan(0, rows * hidden);
        var outputGradients = _outputGradients.AsSpan(0, rows * outputs);
        var preactivationGradients = _preactivationGradients.AsSpan(0, rows * hidden);
        var weightYh = Parameters.Value(WeightYhName);
        var headWeight = Parameters.Value(SequenceModel<T>.HeadWeightName);
        predictionGradients.CopyTo(outputGradients);
        var initialOutputGradient = _initialOutputGradient.AsSpan(0, outputBlock);
        for (int t = steps - 1; t >= 0; t--)
        {
            var dy = outputGradients.Slice(t * outputBlock, outputBlock);
            var da = preactivationGradients.Slice(t * stateBlock, stateBlock);
            // forward: y~_t = h_t W^T + b  =>  dh_t = dy~_t W
            Gemm.Compute(Transpose.No, Transpose.No, batch, hidden, outputs, T.One, dy, outputs, headWeight, hidden, T.Zero, da, hidden);
            // forward: h_t = f(a_t)  =>  da_t = dh_t f'(a_t)
            Activations.BackwardInPlace(Config.Activation, states.Slice(t * stateBlock, stateBlock), da);
            // forward: a_t += y_{t-1} W_yh^T  =>  dy_{t-1} += da_t W_yh (into y~_{t-1} when running free, into y0 at t = 0)
            if (t > 0 && _freeRunning)
            {
                Gemm.Compute(Transpose.No, Transpose.No, batch, outputs, hidden, T.One, da, hidden, weightYh, outputs, T.One,
                    outputGradients.Slice((t - 1) * outputBlock, outputBlock), outputs);
            }
            else if (t == 0)
            {
                Gemm.Compute(Transpose.No, Transpose.No, batch, outputs, hidden, T.One, da, hidden, weightYh, outputs, T.Zero, initialOutputGradient, outputs);
            }
        }

        // Weight gradients over all rows at once.
        Linear.Backward<T>(states, rows, hidden, headWeight, outputs, outputGradients,
            Parameters.Gradient(SequenceModel<T>.HeadWeightName), Parameters.Gradient(SequenceModel<T>.HeadBiasName), Span<T>.Empty);
        Gemm.Compute(Transpose.Yes, Transpose.No, hidden, outputs, rows, T.One, preactivationGradients, hidden,
            _feedback.AsSpan(0, rows * outputs), outputs, T.One, Parameters.Gradient(WeightYhName), outputs);
        if (ComputeInputGradients && _inputGradients.Length < rows * inputSize)
        {
            _inputGradients = new T[rows * inputSize];
        }

        Linear.Backward<T>(_inputs.AsSpan(0, rows * inputSize), rows, inputSize, Parameters.Value(SequenceModel<T>.WeightIhName), hidden,
            preactivationGradients, Parameters.Gradient(SequenceModel<T>.WeightIhName), Parameters.Gradient(SequenceModel<T>.BiasIhName),
            ComputeInputGradients ? _inputGradients.AsSpan(0, rows * inputSize) : Span<T>.Empty);
        Linear.AddColumnSums<T>(preactivationGradients, rows, hidden, Parameters.Gradient(SequenceModel<T>.BiasHhName));
        _forwardDone = false;
    }

    /// <inheritdoc/>
    public RecurrentState<T> CreateState(int batch) => new(batch, 0, 0, batch * Config.OutputSize);

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<T> input, RecurrentState<T> state, Span<T> output)
    {
        ArgumentNullException.ThrowIfNull(state);
        int batch = state.Batch, hidden = Config.HiddenSize, outputs = Config.OutputSize, inputSize = Config.InputSize;
        var biasIh = Parameters.Value(SequenceModel<T>.BiasIhName);
        var biasHh = Parameters.Value(SequenceModel<T>.BiasHhName);
        var a = new T[batch * hidden];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < hidden; j++)
            {
                a[(b * hidden) + j] = biasIh[j] + biasHh[j];
            }
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, inputSize, T.One, input, inputSize, Parameters.Value(SequenceModel<T>.WeightIhName), inputSize, T.One, a, hidden);
        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, outputs, T.One, state.Output, outputs, Parameters.Value(WeightYhName), outputs, T.One, a, hidden);
        Activations.ApplyInPlace(Config.Activation, a.AsSpan());
        Linear.Forward<T>(a, batch, hidden, Parameters.Value(SequenceModel<T>.HeadWeightName), Parameters.Value(SequenceModel<T>.HeadBiasName), outputs, output);
        output.CopyTo(state.Output);
    }

    private void Allocate(int steps, int batch)
    {
        _steps = steps;
        _batch = batch;
        int rows = steps * batch;
        Buffers.Grow(ref _inputs, rows * Config.InputSize);
        Buffers.Grow(ref _feedback, rows * Config.OutputSize);
        Buffers.Grow(ref _states, rows * Config.HiddenSize);
        Buffers.Grow(ref _predictions, rows * Config.OutputSize);
        Buffers.Grow(ref _outputGradients, rows * Config.OutputSize);
        Buffers.Grow(ref _preactivationGradients, rows * Config.HiddenSize);
        Buffers.Grow(ref _initialOutputGradient, batch * Config.OutputSize);
    }
}
