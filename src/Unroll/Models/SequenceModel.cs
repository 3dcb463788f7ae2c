using System.Numerics;
using Unroll.Cells;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// A stack of recurrent layers (Elman, LSTM, GRU, or the scan-trained LRU, minGRU and minLSTM; one or two directions) with a linear head,
/// trained by exact backpropagation through time:
/// <code>
/// x_t            inputs, or embedding.weight[token_t] for token inputs
/// h^l_t          = cell(h^{l-1}_t, h^l_{t-1})                         l = 0..L-1
/// y_t            = W [h^{L-1}_t forward ; h^{L-1}_t backward] + b      (head.weight W, head.bias b)
/// </code>
/// Parameters carry torch.nn.RNN/LSTM/GRU's state_dict names and shapes with the prefix
/// <c>rnn.</c> (<c>rnn.weight_ih_l0</c>, <c>rnn.weight_hh_l1_reverse</c>, ...), then
/// <c>head.weight</c> [O, D*H] and <c>head.bias</c> [O], and <c>embedding.weight</c> [V, I] first
/// for token inputs. Sequences are time-major: inputs [T, B, I], outputs [T, B, D*H], predictions
/// [T, B, O] (or [B, O] with <see cref="Pooling.LastStep"/>). Initial and final states are
/// [L*D, B, H] in torch's order (layer-major, then direction).
/// </summary>
/// <remarks>
/// A batch may carry each sequence's length: padded steps neither change the state nor produce an
/// output (it is zero, as torch's pad_packed_sequence gives), the final state is each sequence's
/// state at its own last step, and the reverse direction starts at each sequence's own end.
/// Between layers, inverted dropout (kept with probability 1-p, scaled by 1/(1-p)) applies while
/// <see cref="Training"/> is set.
/// </remarks>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public sealed partial class SequenceModel<T> : IRecurrentModel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>State-dict name of the first layer's W_ih.</summary>
    public const string WeightIhName = ParameterNames.RecurrentPrefix + "weight_ih_l0";

    /// <summary>State-dict name of the first layer's W_hh.</summary>
    public const string WeightHhName = ParameterNames.RecurrentPrefix + "weight_hh_l0";

    /// <summary>State-dict name of the first layer's b_ih.</summary>
    public const string BiasIhName = ParameterNames.RecurrentPrefix + "bias_ih_l0";

    /// <summary>State-dict name of the first layer's b_hh.</summary>
    public const string BiasHhName = ParameterNames.RecurrentPrefix + "bias_hh_l0";

    /// <summary>State-dict name of the head's weight.</summary>
    public const string HeadWeightName = ParameterNames.HeadWeight;

    /// <summary>State-dict name of the head's bias.</summary>
    public const string HeadBiasName = ParameterNames.HeadBias;

    /// <summary>State-dict name of the token embedding.</summary>
    public const string EmbeddingName = ParameterNames.Embedding;

    private readonly IRecurrentLayer<T>[][] _layers;
    private readonly bool _hasMemory;
    private readonly int _outputWidth;
    private readonly SplitMix64 _dropoutRandom = new(0);
    private T[] _inputs = [];
    private int[] _tokens = [];
    private int[] _tokenColumns = [];
    private int[] _lengths = [];
    private T[][] _layerOutputs;
    private T[][] _layerOutputGradients;
    private T[][] _dropoutMasks;
    private T[] _pooled = [];
    private T[] _pooledGradients = [];
    private T[] _predictions = [];
    private T[] _inputGradients = [];
    private T[] _finalStates = [];
    private T[] _finalCells = [];
    private T[] _initialStateGradients = [];
    private T[] _initialCellGradients = [];
    private int _steps;
    private int _batch;
    private bool _hasLengths;
    private bool _tokenInput;
    private bool _forwardDone;

    /// <summary>
    /// Creates a model initialised as a new model should be (<see cref="Initializers.Default{T}"/>: PyTorch's defaults,
    /// or the scan cells' papers'), drawn from <paramref name="seed"/>: two models of the same config and seed are equal.
    /// </summary>
    /// <exception cref="UnrollException">The config is invalid.</exception>
    public SequenceModel(ModelConfig config, int seed = 0)
        : this(config, initialize: true, seed)
    {
    }

    /// <summary>Creates a model, with all parameters zero unless <paramref name="initialize"/> (for weights about to be loaded or set).</summary>
    internal SequenceModel(ModelConfig config, bool initialize, int seed = 0)
        : this(config, BuiltInFamily(config))
    {
        if (initialize)
        {
            Initializers.Default(this, new Random(seed));
        }
    }

    private SequenceModel(ModelConfig config, LayerFamily<T> family)
    {
        _hasMemory = family.HasMemory;
        Config = config;
        int directions = config.Directions, hidden = config.HiddenSize;
        _outputWidth = directions * hidden;
        var layout = new List<(string, int[])>();
        if (config.VocabularySize > 0)
        {
            layout.Add((EmbeddingName, [config.VocabularySize, config.InputSize]));
        }

        for (int layer = 0; layer < config.Layers; layer++)
        {
            int inputSize = layer == 0 ? config.InputSize : _outputWidth;
            for (int d = 0; d < directions; d++)
            {
                layout.AddRange(family.Layout(layer, d == 1, inputSize, hidden));
            }
        }

        layout.Add((HeadWeightName, [config.OutputSize, _outputWidth]));
        layout.Add((HeadBiasName, [config.OutputSize]));
        Parameters = new ParameterSet<T>(layout);
        _layers = new IRecurrentLayer<T>[config.Layers][];
        for (int layer = 0; layer < config.Layers; layer++)
        {
            int inputSize = layer == 0 ? config.InputSize : _outputWidth;
            _layers[layer] = new IRecurrentLayer<T>[directions];
            for (int d = 0; d < directions; d++)
            {
                _layers[layer][d] = family.Create(Parameters, layer, d == 1, inputSize, hidden);
            }
        }

        _layerOutputs = new T[config.Layers][];
        _layerOutputGradients = new T[config.Layers][];
        _dropoutMasks = new T[config.Layers][];
        for (int layer = 0; layer < config.Layers; layer++)
        {
            _layerOutputs[layer] = [];
            _layerOutputGradients[layer] = [];
            _dropoutMasks[layer] = [];
        }
    }

    /// <summary>
    /// Creates a model whose layers run <typeparamref name="TCell"/>, a cell of your own behind
    /// <see cref="IRecurrentCell{TSelf}"/> (docs/cells.md), initialised as PyTorch initialises its recurrent modules (every
    /// weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), the head as nn.Linear) from <paramref name="seed"/>. The model's
    /// config records the cell's <see cref="IRecurrentCell{TSelf}.Name"/> in <see cref="ModelConfig.CustomCell"/>, and so
    /// do its model files; load one with <see cref="ModelFile.Load{T, TCell}(string)"/>. The rest of
    /// <paramref name="config"/> (sizes, layers, direction, head) is read as for a built-in cell; its
    /// <see cref="ModelConfig.Architecture"/> is ignored.
    /// </summary>
    /// <typeparam name="TCell">The cell.</typeparam>
    /// <exception cref="UnrollException">The config is invalid, names another custom cell, or the cell's name is a built-in architecture's.</exception>
    public static SequenceModel<T> Create<TCell>(ModelConfig config, int seed = 0)
        where TCell : struct, IRecurrentCell<TCell>
    {
        ArgumentNullException.ThrowIfNull(config);
        if (Architectures.Names.Contains(TCell.Name))
        {
            throw new UnrollException($"model: expected a custom cell's name to differ from the built-in architectures ({Architectures.Listed}), got '{TCell.Name}' for {typeof(TCell).Name}.");
        }

        if (config.CustomCell is not null && config.CustomCell != TCell.Name)
        {
            throw new UnrollException($"model: expected the custom cell '{TCell.Name}' (the name of {typeof(TCell).Name}), got a config of '{config.CustomCell}'.");
        }

        if (TCell.FeedsBackOutput)
        {
            throw new UnrollException($"model: the {TCell.Name} cell feeds back the network's output; expected a cell whose recurrence reads h (a SequenceModel carries hidden states).");
        }

        // Sizes, names and options are checked as for any hidden-state cell; the cell is the custom one.
        var own = config with { Architecture = Architecture.Rnn, CustomCell = TCell.Name };
        (own with { CustomCell = null }).Validate();
        var model = new SequenceModel<T>(own, RecurrentLayers.OfCell<T, TCell>(TCell.Create(config.Activation)));
        Initializers.PyTorchDefault(model, new Random(seed));
        return model;
    }

    /// <summary>A custom-cell model with zero parameters, for weights about to be loaded.</summary>
    internal static SequenceModel<T> CreateZeroed<TCell>(ModelConfig config)
        where TCell : struct, IRecurrentCell<TCell>
        => new(config, RecurrentLayers.OfCell<T, TCell>(TCell.Create(config.Activation)));

    private static LayerFamily<T> BuiltInFamily(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (config.CustomCell is not null)
        {
            throw new UnrollException($"model: the config is of the custom cell '{config.CustomCell}'; expected SequenceModel<T>.Create<TCell> with that cell.");
        }

        if (config.Architecture == Architecture.Jordan)
        {
            throw new UnrollException("model: the jordan network is a JordanModel, not a SequenceModel.");
        }

        return RecurrentLayers.Family<T>(config.Cell, config.Activation);
    }

    /// <summary>The architecture and sizes.</summary>
    public ModelConfig Config { get; }

    /// <summary>The parameters and their gradients.</summary>
    public ParameterSet<T> Parameters { get; }

    /// <summary>When set, <see cref="Backward(ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T})"/> also computes dL/dx for dense inputs.</summary>
    public bool ComputeInputGradients { get; set; }

    /// <summary>Training mode: dropout (between layers and before the head) is active. Off by default (evaluation).</summary>
    public bool Training { get; set; }

    /// <summary>Steps of the last forward pass.</summary>
    public int Steps => _steps;

    /// <summary>Batch size of the last forward pass.</summary>
    public int Batch => _batch;

    /// <summary>Rows of <see cref="Predictions"/>: T*B per step, or B with <see cref="Pooling.LastStep"/>.</summary>
    public int PredictionRows => Config.Pooling == Pooling.LastStep ? _batch : _steps * _batch;

    /// <summary>The head's outputs of the last forward pass, [T, B, O] (or [B, O] for <see cref="Pooling.LastStep"/>).</summary>
    public ReadOnlySpan<T> Predictions => _predictions.AsSpan(0, PredictionRows * Config.OutputSize);

    /// <summary>The last layer's outputs h_t for every step, [T, B, D*H] (torch's output; zero at padded steps).</summary>
    public ReadOnlySpan<T> States => _layerOutputs[^1].AsSpan(0, _steps * _batch * _outputWidth);

    /// <summary>Each sequence's last hidden state for every layer and direction, [L*D, B, H] (torch's h_n).</summary>
    public ReadOnlySpan<T> FinalState => _finalStates.AsSpan(0, StateLength);

    /// <summary>The LSTM's last cell states, [L*D, B, H] (torch's c_n); empty for other cells.</summary>
    public ReadOnlySpan<T> FinalCell => _hasMemory ? _finalCells.AsSpan(0, StateLength) : [];

    /// <summary>dL/dh0 from the last backward pass, [L*D, B, H].</summary>
    public ReadOnlySpan<T> InitialStateGradient => _initialStateGradients.AsSpan(0, StateLength);

    /// <summary>dL/dc0 from the last backward pass (LSTM), [L*D, B, H].</summary>
    public ReadOnlySpan<T> InitialCellGradient => _hasMemory ? _initialCellGradients.AsSpan(0, StateLength) : [];

    /// <summary>dL/dx from the last backward pass, [T, B, I]; filled only when <see cref="ComputeInputGradients"/> is set.</summary>
    public ReadOnlySpan<T> InputGradients => _inputGradients.AsSpan(0, ComputeInputGradients && !_tokenInput ? _steps * _batch * Config.InputSize : 0);

    private int StateLength => Config.Layers * Config.Directions * _batch * Config.HiddenSize;

    /// <summary>
    /// When set, <see cref="Backward(ReadOnlySpan{T}, ReadOnlySpan{T}, ReadOnlySpan{T})"/> records the gradient flow through time: ||dL/dh_t|| for every
    /// step, layer and direction (see <see cref="StateGradientNorms"/>). Costs one pass over dL/dh_t per step.
    /// </summary>
    public bool RecordGradientFlow
    {
        get => _layers[0][0].RecordStateGradientNorms;
        set
        {
            foreach (var layer in _layers)
            {
                foreach (var direction in layer)
                {
                    direction.RecordStateGradientNorms = value;
                }
            }
        }
    }

    /// <summary>
    /// When set, a backward pass asked for no input gradient adds nothing to the recurrent layers' weight gradients:
    /// for measurements that read only dL/dh_t (the Jacobian products). Not for the scan cells.
    /// </summary>
    internal bool StateGradientsOnly
    {
        set
        {
            foreach (var layer in _layers)
            {
                foreach (var direction in layer)
                {
                    direction.StateGradientsOnly = value;
                }
            }
        }
    }

    /// <summary>
    /// ||dL/dh_t||_2 over the batch, t = 0..T-1, for one layer and direction, from the last backward pass
    /// with <see cref="RecordGradientFlow"/> set: the total derivative, through the head at step t and
    /// through every later step.
    /// </summary>
    public ReadOnlySpan<double> StateGradientNorms(int layer, int direction = 0) => _layers[layer][direction].StateGradientNorms;

    /// <summary>For the LSTM, ||dL/dc_t||_2 arriving from later steps, t = 0..T-1, as <see cref="StateGradientNorms"/>.</summary>
    public ReadOnlySpan<double> CellGradientNorms(int layer, int direction = 0) => _layers[layer][direction].CellGradientNorms;

    /// <summary>The vectors dL/dh_t behind <see cref="StateGradientNorms"/>, [T, B, H] in time order.</summary>
    public ReadOnlySpan<T> StateGradients(int layer, int direction = 0) => _layers[layer][direction].StateGradients;

    /// <summary>The LSTM's vectors dL/dc_t behind <see cref="CellGradientNorms"/>, [T, B, H] in time order; empty for other cells.</summary>
    public ReadOnlySpan<T> CellGradients(int layer, int direction = 0) => _layers[layer][direction].CellGradients;

    /// <summary>Seeds the random numbers behind dropout masks.</summary>
    public void SetDropoutSeed(int seed) => _dropoutRandom.State = unchecked((ulong)seed);

    /// <inheritdoc/>
    public ulong RandomState
    {
        get => _dropoutRandom.State;
        set => _dropoutRandom.State = value;
    }

    /// <summary>
    /// Runs the network over a batch of dense sequences and keeps what backward needs.
    /// </summary>
    /// <param name="inputs">[T, B, I] time-major.</param>
    /// <param name="steps">T, at least 1.</param>
    /// <param name="batch">B, at least 1.</param>
    /// <param name="initialState">h0 as [L*D, B, H], or empty for zeros.</param>
    /// <param name="lengths">Each sequence's length in [1, T], or empty when all have T steps.</param>
    /// <param name="initialCell">c0 for the LSTM as [L*D, B, H], or empty for zeros.</param>
    public void Forward(
        ReadOnlySpan<T> inputs, int steps, int batch,
        ReadOnlySpan<T> initialState = default, ReadOnlySpan<int> lengths = default, ReadOnlySpan<T> initialCell = default)
    {
        if (Config.VocabularySize > 0)
        {
            throw new InvalidOperationException("This model reads token ids: call ForwardTokens.");
        }

        CheckShapes(steps, batch, initialState, lengths, initialCell);
        if (inputs.Length != steps * batch * Config.InputSize)
        {
            throw new ArgumentException($"Expected inputs of shape [T={steps}, B={batch}, I={Config.InputSize}] ({steps * batch * Config.InputSize} values), got {inputs.Length} values.");
        }

        Prepare(steps, batch, lengths, tokenInput: false);
        inputs.CopyTo(_inputs);
        Run(initialState, initialCell);
    }

    /// <summary>Runs the network over token ids [T, B] looked up in <c>embedding.weight</c>.</summary>
    /// <exception cref="ArgumentException">A token is outside [0, V) or a shape does not match.</exception>
    public void ForwardTokens(
        ReadOnlySpan<int> tokens, int steps, int batch,
        ReadOnlySpan<T> initialState = default, ReadOnlySpan<int> lengths = default, ReadOnlySpan<T> initialCell = default)
    {
        if (Config.VocabularySize <= 0)
        {
            throw new InvalidOperationException("This model reads dense inputs: call Forward.");
        }

        CheckShapes(steps, batch, initialState, lengths, initialCell);
        if (tokens.Length != steps * batch)
        {
            throw new ArgumentException($"Expected token ids of shape [T={steps}, B={batch}], got {tokens.Length} values.");
        }

        Prepare(steps, batch, lengths, tokenInput: true);
        int width = Config.InputSize;
        var embedding = Parameters.Value(EmbeddingName);
        for (int r = 0; r < tokens.Length; r++)
        {
            int token = tokens[r];
            if ((uint)token >= (uint)Config.VocabularySize)
            {
                throw new ArgumentException($"Expected token ids in [0, {Config.VocabularySize}), got {token} at position {r}.");
            }

            _tokens[r] = token;
            embedding.Slice(token * width, width).CopyTo(_inputs.AsSpan(r * width, width));
        }

        Run(initialState, initialCell);
    }

    /// <summary>
    /// Backpropagation through time for the last forward pass: adds dL/dtheta for every parameter to
    /// <see cref="ParameterSet{T}.Gradients"/> and sets the initial-state (and input) gradients.
    /// </summary>
    /// <param name="predictionGradients">dL/dy, shaped as <see cref="Predictions"/>.</param>
    public void Backward(ReadOnlySpan<T> predictionGradients) => Backward(predictionGradients, default, default);

    /// <summary>
    /// Backpropagation through time for the last forward pass with a loss on the predictions, on the final states, or
    /// on both: adds dL/dtheta for every parameter to <see cref="ParameterSet{T}.Gradients"/> and sets the
    /// initial-state (and input) gradients. Any of the three gradients may be empty, for a loss that does not read it.
    /// </summary>
    /// <param name="predictionGradients">dL/dy, shaped as <see cref="Predictions"/>, or empty.</param>
    /// <param name="finalStateGradients">dL/dh_n, shaped as <see cref="FinalState"/> ([L*D, B, H], torch's h_n), or empty.</param>
    /// <param name="finalCellGradients">dL/dc_n for a cell with a memory, shaped as <see cref="FinalCell"/>, or empty.</param>
    /// <exception cref="ArgumentException">A gradient is not empty and not shaped as what it differentiates.</exception>
    /// <exception cref="UnrollException">The layers cannot take a gradient on their final states (the scan cells) and one is given.</exception>
    public void Backward(ReadOnlySpan<T> predictionGradients, ReadOnlySpan<T> finalStateGradients, ReadOnlySpan<T> finalCellGradients)
    {
        if (!_forwardDone)
        {
            throw new InvalidOperationException("Backward needs a forward pass first.");
        }

        int steps = _steps, batch = _batch, rows = steps * batch, width = _outputWidth, hidden = Config.HiddenSize;
        int outputs = Config.OutputSize, directions = Config.Directions;
        if (!predictionGradients.IsEmpty && predictionGradients.Length != PredictionRows * outputs)
        {
            throw new ArgumentException($"Expected prediction gradients shaped as the predictions ({PredictionRows} x {outputs}), got {predictionGradients.Length} values.");
        }

        if (!finalStateGradients.IsEmpty && finalStateGradients.Length != StateLength)
        {
            throw new ArgumentException($"Expected final-state gradients shaped as h_n [L*D={Config.Layers * directions}, B={batch}, H={hidden}], got {finalStateGradients.Length} values.");
        }

        if (!finalCellGradients.IsEmpty && (FinalCell.IsEmpty || finalCellGradients.Length != StateLength))
        {
            throw new ArgumentException($"Expected final-cell gradients shaped as c_n [L*D={Config.Layers * directions}, B={batch}, H={hidden}] (for a cell with a memory), got {finalCellGradients.Length} values.");
        }

        if (ComputeInputGradients || _tokenInput)
        {
            Buffers.Grow(ref _inputGradients, rows * Config.InputSize);
        }

        // The head, over all rows at once (nothing reaches it from a loss on the final states alone).
        var topGradient = _layerOutputGradients[^1].AsSpan(0, rows * width);
        if (predictionGradients.IsEmpty)
        {
            topGradient.Clear();
        }
        else if (Config.Pooling == Pooling.EveryStep)
        {
            Linear.Backward<T>(States, rows, width, Parameters.Value(HeadWeightName), outputs, predictionGradients,
                Parameters.Gradient(HeadWeightName), Parameters.Gradient(HeadBiasName), topGradient);
        }
        else
        {
            var pooledGradient = _pooledGradients.AsSpan(0, batch * width);
            Linear.Backward<T>(_pooled.AsSpan(0, batch * width), batch, width, Parameters.Value(HeadWeightName), outputs, predictionGradients,
                Parameters.Gradient(HeadWeightName), Parameters.Gradient(HeadBiasName), pooledGradient);
            topGradient.Clear();
            ScatterLastStep(pooledGradient, topGradient);
        }

        if (IsHeadDropoutActive)
        {
            // forward: head input = mask * y^{L-1}  =>  dy^{L-1} = mask * d(head input)
            var mask = _dropoutMasks[^1].AsSpan(0, rows * width);
            for (int i = 0; i < topGradient.Length; i++)
            {
                topGradient[i] *= mask[i];
            }
        }

        // The layers, top to bottom; each direction adds its part of dL/d(layer input).
        for (int layer = Config.Layers - 1; layer >= 0; layer--)
        {
            var outputGradient = _layerOutputGradients[layer].AsSpan(0, rows * width);
            ReadOnlySpan<T> layerInput = layer == 0 ? _inputs.AsSpan(0, rows * Config.InputSize) : _layerOutputs[layer - 1].AsSpan(0, rows * width);
            // Token input: the first layer adds dL/dE itself (see RecurrentDirection.SetTokenInput).
            bool wantInputGradient = layer > 0 || (ComputeInputGradients && !_tokenInput);
            Span<T> inputGradient = layer > 0
                ? _layerOutputGradients[layer - 1].AsSpan(0, rows * width)
                : wantInputGradient ? _inputGradients.AsSpan(0, rows * Config.InputSize) : Span<T>.Empty;
            for (int d = 0; d < directions; d++)
            {
                int stateStart = ((layer * directions) + d) * batch * hidden;
                _layers[layer][d].Backward(layerInput, outputGradient, d * hidden, width, inputGradient, accumulateInputGradient: d > 0,
                    finalStateGradients.IsEmpty ? [] : finalStateGradients.Slice(stateStart, batch * hidden),
                    finalCellGradients.IsEmpty ? [] : finalCellGradients.Slice(stateStart, batch * hidden));
            }

            if (layer > 0 && IsDropoutActive)
            {
                // forward: x^{l} = mask * y^{l-1} (in place)  =>  dy^{l-1} = mask * dx^{l}
                var mask = _dropoutMasks[layer - 1].AsSpan(0, rows * width);
                for (int i = 0; i < inputGradient.Length; i++)
                {
                    inputGradient[i] *= mask[i];
                }
            }
        }

        int block = batch * hidden;
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            for (int d = 0; d < directions; d++)
            {
                int index = (layer * directions) + d;
                _layers[layer][d].InitialStateGradient.CopyTo(_initialStateGradients.AsSpan(index * block, block));
                if (_hasMemory)
                {
                    _layers[layer][d].InitialCellGradient.CopyTo(_initialCellGradients.AsSpan(index * block, block));
                }
            }
        }

        _forwardDone = false;
    }

    /// <summary>
    /// One step of inference for a unidirectional model with dense inputs, carrying the state
    /// (used to run the model free, its prediction fed back as the next input).
    /// </summary>
    /// <param name="input">x_t as [B, I].</param>
    /// <param name="state">h_{t-1} for every layer as [L, B, H] on entry, h_t on exit.</param>
    /// <param name="cell">The LSTM's c as [L, B, H] (in and out); empty for other cells.</param>
    /// <param name="output">y_t as [B, O].</param>
    /// <param name="batch">B.</param>
    public void Step(ReadOnlySpan<T> input, Span<T> state, Span<T> cell, Span<T> output, int batch)
    {
        if (Config.Bidirectional || Config.VocabularySize > 0 || Config.Pooling != Pooling.EveryStep)
        {
            throw new InvalidOperationException("Step-by-step inference needs a unidirectional model with dense inputs and a per-step head.");
        }

        int hidden = Config.HiddenSize, block = batch * hidden;
        bool lstm = _hasMemory;
        if (input.Length != batch * Config.InputSize || state.Length != Config.Layers * block || output.Length != batch * Config.OutputSize
            || (lstm && cell.Length != Config.Layers * block))
        {
            throw new ArgumentException(
                $"Expected x [B={batch}, I={Config.InputSize}], h [L={Config.Layers}, B, H={hidden}]{(lstm ? ", c [L, B, H]" : string.Empty)}, y [B, O={Config.OutputSize}], got {input.Length}, {state.Length}{(lstm ? $", {cell.Length}" : string.Empty)} and {output.Length} values.");
        }

        ReadOnlySpan<T> x = input;
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            var h = state.Slice(layer * block, block);
            _layers[layer][0].Step(x, batch, h, lstm ? cell.Slice(layer * block, block) : Span<T>.Empty);
            x = _layers[layer][0].StepOutput(h);
        }

        Linear.Forward<T>(x, batch, hidden, Parameters.Value(HeadWeightName), Parameters.Value(HeadBiasName), Config.OutputSize, output);
    }

    /// <inheritdoc/>
    /// <remarks>A token model (<see cref="ModelConfig.VocabularySize"/> &gt; 0) reads one column per step holding the token id.</remarks>
    public void Run(ReadOnlySpan<T> inputs, ReadOnlySpan<T> targets, int steps, int batch, ReadOnlySpan<int> lengths = default)
        => ForwardColumns(inputs, steps, batch, lengths: lengths);

    /// <summary>
    /// Runs the network over inputs laid out as the trainer's batches are: dense x [T, B, I], or for a
    /// token model its token ids as numbers [T, B] (converted without allocating).
    /// </summary>
    /// <exception cref="ArgumentException">A token id is not a whole number in [0, V), or a shape does not match.</exception>
    internal void ForwardColumns(
        ReadOnlySpan<T> inputs, int steps, int batch, ReadOnlySpan<T> initialState = default, ReadOnlySpan<T> initialCell = default,
        ReadOnlySpan<int> lengths = default)
    {
        if (Config.VocabularySize <= 0)
        {
            Forward(inputs, steps, batch, initialState, lengths, initialCell);
            return;
        }

        if (_tokenColumns.Length < inputs.Length)
        {
            _tokenColumns = new int[inputs.Length];
        }

        for (int i = 0; i < inputs.Length; i++)
        {
            T value = inputs[i];
            if (!T.IsInteger(value))
            {
                throw new ArgumentException($"Expected token ids that are whole numbers, got {value} at position {i}.", nameof(inputs));
            }

            _tokenColumns[i] = int.CreateSaturating(value);
        }

        ForwardTokens(_tokenColumns.AsSpan(0, inputs.Length), steps, batch, initialState, lengths, initialCell);
    }

    /// <inheritdoc/>
    public RecurrentState<T> CreateState(int batch)
    {
        int length = Config.Layers * batch * Config.HiddenSize;
        return new RecurrentState<T>(batch, length, _hasMemory ? length : 0, batch * Config.OutputSize);
    }

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<T> input, RecurrentState<T> state, Span<T> output)
    {
        ArgumentNullException.ThrowIfNull(state);
        Step(input, state.Hidden, state.Cell, output, state.Batch);
        output.CopyTo(state.Output);
    }

    /// <summary>One step of inference for a model without cell state: see <see cref="Step(ReadOnlySpan{T}, Span{T}, Span{T}, Span{T}, int)"/>.</summary>
    public void Step(ReadOnlySpan<T> input, Span<T> state, Span<T> output, int batch) => Step(input, state, Span<T>.Empty, output, batch);

    private bool IsDropoutActive => Training && Config.Dropout > 0 && Config.Layers > 1;

    private bool IsHeadDropoutActive => Training && Config.HeadDropout > 0;

    private bool HasDropoutMask(int layer) => layer < Config.Layers - 1 ? IsDropoutActive : IsHeadDropoutActive;

    private void Run(ReadOnlySpan<T> initialState, ReadOnlySpan<T> initialCell)
    {
        int steps = _steps, batch = _batch, rows = steps * batch, width = _outputWidth, hidden = Config.HiddenSize;
        int directions = Config.Directions, block = batch * hidden;
        var lengths = _hasLengths ? _lengths.AsSpan(0, batch) : ReadOnlySpan<int>.Empty;
        ReadOnlySpan<T> layerInput = _inputs.AsSpan(0, rows * Config.InputSize);
        foreach (var direction in _layers[0])
        {
            direction.SetTokenInput(_tokenInput ? _tokens : null, _tokenInput ? EmbeddingName : null, Config.VocabularySize);
        }

        for (int layer = 0; layer < Config.Layers; layer++)
        {
            var output = _layerOutputs[layer].AsSpan(0, rows * width);
            for (int d = 0; d < directions; d++)
            {
                int index = (layer * directions) + d;
                var h0 = initialState.IsEmpty ? ReadOnlySpan<T>.Empty : initialState.Slice(index * block, block);
                var c0 = initialCell.IsEmpty ? ReadOnlySpan<T>.Empty : initialCell.Slice(index * block, block);
                var direction = _layers[layer][d];
                direction.Forward(layerInput, steps, batch, lengths, h0, c0, output, d * hidden, width);
                direction.FinalState.CopyTo(_finalStates.AsSpan(index * block, block));
                if (_hasMemory)
                {
                    direction.FinalCell.CopyTo(_finalCells.AsSpan(index * block, block));
                }
            }

            double dropout = !HasDropoutMask(layer) ? 0 : layer < Config.Layers - 1 ? Config.Dropout : Config.HeadDropout;
            if (dropout > 0)
            {
                // Inverted dropout: keep with probability 1-p and scale by 1/(1-p), so evaluation needs no rescaling.
                // In place: each layer keeps its own states for BPTT, so only the next layer (or the head) reads this.
                var mask = _dropoutMasks[layer].AsSpan(0, rows * width);
                T scale = T.CreateChecked(1.0 / (1.0 - dropout));
                for (int i = 0; i < mask.Length; i++)
                {
                    mask[i] = _dropoutRandom.NextDouble() < dropout ? T.Zero : scale;
                    output[i] *= mask[i];
                }
            }

            layerInput = output;
        }

        int outputs = Config.OutputSize;
        var predictions = _predictions.AsSpan(0, PredictionRows * outputs);
        if (Config.Pooling == Pooling.EveryStep)
        {
            Linear.Forward<T>(States, rows, width, Parameters.Value(HeadWeightName), Parameters.Value(HeadBiasName), outputs, predictions);
        }
        else
        {
            var pooled = _pooled.AsSpan(0, batch * width);
            GatherLastStep(States, pooled);
            Linear.Forward<T>(pooled, batch, width, Parameters.Value(HeadWeightName), Parameters.Value(HeadBiasName), outputs, predictions);
        }

        _forwardDone = true;
    }

    // Many-to-one: the forward half from each sequence's own last step, the backward half from t = 0.
    private void GatherLastStep(ReadOnlySpan<T> outputs, Span<T> pooled)
    {
        int width = _outputWidth, hidden = Config.HiddenSize;
        for (int b = 0; b < _batch; b++)
        {
            int last = (_hasLengths ? _lengths[b] : _steps) - 1;
            outputs.Slice(((last * _batch) + b) * width, hidden).CopyTo(pooled.Slice(b * width, hidden));
            if (Config.Bidirectional)
            {
                outputs.Slice((b * width) + hidden, hidden).CopyTo(pooled.Slice((b * width) + hidden, hidden));
            }
        }
    }

    private void ScatterLastStep(ReadOnlySpan<T> pooledGradient, Span<T> outputGradient)
    {
        int width = _outputWidth, hidden = Config.HiddenSize;
        for (int b = 0; b < _batch; b++)
        {
            int last = (_hasLengths ? _lengths[b] : _steps) - 1;
            pooledGradient.Slice(b * width, hidden).CopyTo(outputGradient.Slice(((last * _batch) + b) * width, hidden));
            if (Config.Bidirectional)
            {
                pooledGradient.Slice((b * width) + hidden, hidden).CopyTo(outputGradient.Slice((b * width) + hidden, hidden));
            }
        }
    }

    private void CheckShapes(int steps, int batch, ReadOnlySpan<T> initialState, ReadOnlySpan<int> lengths, ReadOnlySpan<T> initialCell)
    {
        if (steps < 1 || batch < 1)
        {
            throw new ArgumentException($"Expected at least one step and one sequence, got T={steps}, B={batch}.");
        }

        int stateLength = Config.Layers * Config.Directions * batch * Config.HiddenSize;
        // Formatted only for a message: a training step allocates nothing.
        string StateShape() => $"[L*D={Config.Layers * Config.Directions}, B={batch}, H={Config.HiddenSize}]";
        if (!initialState.IsEmpty && initialState.Length != stateLength)
        {
            throw new ArgumentException($"Expected an initial state of shape {StateShape()}, got {initialState.Length} values.");
        }

        if (!initialCell.IsEmpty && (!_hasMemory || initialCell.Length != stateLength))
        {
            throw new ArgumentException($"Expected an initial cell state of shape {StateShape()} (LSTM only), got {initialCell.Length} values.");
        }

        if (!lengths.IsEmpty)
        {
            if (lengths.Length != batch)
            {
                throw new ArgumentException($"Expected one length per sequence (B={batch}), got {lengths.Length}.");
            }

            foreach (int length in lengths)
            {
                if (length < 1 || length > steps)
                {
                    throw new ArgumentException($"Expected sequence lengths in [1, T={steps}], got {length}.");
                }
            }
        }
    }

    private void Prepare(int steps, int batch, ReadOnlySpan<int> lengths, bool tokenInput)
    {
        _steps = steps;
        _batch = batch;
        _tokenInput = tokenInput;
        int rows = steps * batch, width = _outputWidth, states = Config.Layers * Config.Directions * batch * Config.HiddenSize;
        Buffers.Grow(ref _inputs, rows * Config.InputSize);
        if (tokenInput || ComputeInputGradients)
        {
            Buffers.Grow(ref _inputGradients, rows * Config.InputSize);
        }

        if (tokenInput && _tokens.Length < rows)
        {
            _tokens = new int[rows];
        }

        for (int layer = 0; layer < Config.Layers; layer++)
        {
            Buffers.Grow(ref _layerOutputs[layer], rows * width);
            Buffers.Grow(ref _layerOutputGradients[layer], rows * width);
            if (HasDropoutMask(layer))
            {
                Buffers.Grow(ref _dropoutMasks[layer], rows * width);
            }
        }

        Buffers.Grow(ref _pooled, batch * width);
        Buffers.Grow(ref _pooledGradients, batch * width);
        Buffers.Grow(ref _predictions, rows * Config.OutputSize);
        Buffers.Grow(ref _finalStates, states);
        Buffers.Grow(ref _finalCells, states);
        Buffers.Grow(ref _initialStateGradients, states);
        Buffers.Grow(ref _initialCellGradients, states);
        _hasLengths = !lengths.IsEmpty;
        if (_hasLengths)
        {
            Buffers.Grow(ref _lengths, batch);

            lengths.CopyTo(_lengths);
        }
    }
}
