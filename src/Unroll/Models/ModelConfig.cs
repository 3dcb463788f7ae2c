using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Layers;

namespace Unroll.Models;

/// <summary>
/// What a model is: its architecture and sizes, and the names of its input and output
/// features. Stored as JSON in the model file's metadata so a file describes itself.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>
    /// The recurrent network: Elman (torch.nn.RNN), LSTM, GRU, Jordan (the output-recurrent network), or a scan-trained
    /// cell: LRU (Linear Recurrent Unit), minGRU, minLSTM. Model files write it in lowercase ("lstm").
    /// </summary>
    public Architecture Architecture { get; init; } = Architecture.Rnn;

    /// <summary>
    /// The name of a cell of your own (<see cref="SequenceModel{T}.Create{TCell}"/>), which then replaces
    /// <see cref="Architecture"/>'s; null for the built-in cells. Left out of the JSON when null.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CustomCell { get; init; }

    /// <summary>Features per input step (I); for token inputs, the embedding width.</summary>
    public int InputSize { get; init; }

    /// <summary>Hidden units per direction (H).</summary>
    public int HiddenSize { get; init; }

    /// <summary>Outputs of the linear head (O): regression targets, or classes.</summary>
    public int OutputSize { get; init; }

    /// <summary>Stacked recurrent layers.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>Whether every layer also runs backwards in time, its outputs concatenated [forward, backward].</summary>
    public bool Bidirectional { get; init; }

    /// <summary>Inverted dropout on the outputs of every layer but the last, during training only.</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// Inverted dropout on the last layer's outputs where the head reads them, during training only: PyTorch's
    /// <c>nn.Dropout</c> before <c>nn.Linear</c>, Keras's <c>Dropout</c> before <c>Dense</c>, char-rnn's dropout
    /// before the softmax. It regularises a one-layer network, which <see cref="Dropout"/> cannot reach.
    /// </summary>
    /// <remarks>Left out of the JSON when 0, so a model without it writes the text it always wrote.</remarks>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double HeadDropout { get; init; }

    /// <summary>The recurrent non-linearity f of the Elman cell (LSTM and GRU have fixed gates).</summary>
    public Activation Activation { get; init; } = Activation.Tanh;

    /// <summary>When positive, inputs are token ids in [0, V) looked up in an embedding of width <see cref="InputSize"/>.</summary>
    public int VocabularySize { get; init; }

    /// <summary>What the head predicts and which loss trains it.</summary>
    public HeadKind Head { get; init; } = HeadKind.Regression;

    /// <summary>Whether the head reads every step or only each sequence's last state.</summary>
    public Pooling Pooling { get; init; } = Pooling.EveryStep;

    /// <summary>
    /// What a regression head's outputs stand for: points (MSE, the default), Gaussian or Student-t parameters
    /// (trained by likelihood) or quantiles (pinball loss); see <see cref="OutputDistribution"/>.
    /// Left out of the JSON when it is the default, so point models' files are unchanged.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public OutputDistribution Distribution { get; init; }

    /// <summary>The quantile levels in (0, 1), increasing, of a <see cref="OutputDistribution.Quantiles"/> head; null otherwise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double>? Quantiles { get; init; }

    /// <summary>Outputs per predicted value: 1 for points, 2 (Gaussian), 3 (Student-t) or the number of quantile levels.</summary>
    [JsonIgnore]
    public int ParametersPerValue => Distribution switch
    {
        OutputDistribution.Gaussian => 2,
        OutputDistribution.StudentT => 3,
        OutputDistribution.Quantiles => Math.Max(1, Quantiles?.Count ?? 0),
        _ => 1,
    };

    /// <summary>Names of the input features, one per input (e.g. "x", "force").</summary>
    public IReadOnlyList<string> InputNames { get; init; } = [];

    /// <summary>Names of the outputs, one per output (e.g. "x_next").</summary>
    public IReadOnlyList<string> OutputNames { get; init; } = [];

    /// <summary>The cell kind of <see cref="Architecture"/>'s layers.</summary>
    [JsonIgnore]
    internal CellKind Cell => Architecture.Cell();

    /// <summary>1, or 2 when bidirectional.</summary>
    [JsonIgnore]
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>
    /// The most parameters a model may have (2^28, a 1 GB float array; training keeps three to four
    /// arrays of this size). Far above any model this CPU engine trains, it turns a forged or mistyped
    /// size into an error before anything is allocated.
    /// </summary>
    public const long MaxParameters = 1L << 28;

    /// <summary>The most stacked layers a model may have.</summary>
    public const int MaxLayers = 256;

    /// <summary>The number of weights and biases the model has (computed in 64 bits, so it never overflows).</summary>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            // In double: sizes near int.MaxValue would overflow a long product; below 2^53 it is exact.
            double i = InputSize, h = HiddenSize, o = OutputSize, count;
            if (Architecture == Architecture.Jordan)
            {
                // weight_ih [H, I], weight_yh [H, O], two biases [H], head [O, H] and [O].
                count = (h * i) + (h * o) + (2 * h) + (o * h) + o;
            }
            else if (RecurrentLayers.IsScanCell(Cell))
            {
                double directions = Directions, width = directions * h;
                count = ((double)VocabularySize * i) + (directions * RecurrentLayers.ScanCellParameterCount(Cell, i, h))
                    + (Math.Max(0, Layers - 1) * directions * RecurrentLayers.ScanCellParameterCount(Cell, width, h)) + (o * width) + o;
            }
            else
            {
                double gates = CellKinds.GateCount(Cell), directions = Directions, width = directions * h;
                double first = directions * gates * h * (i + h + 2);
                double later = directions * gates * h * (width + h + 2);
                count = ((double)VocabularySize * i) + first + (Math.Max(0, Layers - 1) * later) + (o * width) + o;
            }

            return count >= long.MaxValue ? long.MaxValue : (long)count;
        }
    }

    /// <summary>
    /// An estimate, in bytes, of what training this model on batches of <paramref name="batch"/> sequences of
    /// <paramref name="steps"/> steps keeps in memory: the weights with their gradients and optimiser state, and
    /// per layer and direction the saved gates, states and their gradients for every step (float).
    /// </summary>
    internal double TrainingBytes(int steps, int batch)
    {
        double rows = (double)steps * batch, h = HiddenSize, directions = Directions;
        // The LRU has no gate blocks, but keeps about 11 H floats per row (B x, v, y, GELU, GLU and their gradients),
        // what three gate blocks count for below.
        double gates = Architecture == Architecture.Jordan ? 1 : Cell == CellKind.Lru ? 3 : CellKinds.GateCount(Cell);
        double perDirection = rows * ((3 * gates * h) + (4 * h));
        double perLayer = (directions * perDirection) + (3 * rows * directions * h);
        double tokens = (double)VocabularySize * gates * h * directions;
        double inputs = rows * (InputSize + (2.0 * OutputSize)) * 2;
        return 4 * ((ParameterCount * 5.0) + (Layers * perLayer) + tokens + inputs);
    }

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = false,
    }, IO.EnumNames.CamelCase, ModelJsonContext.Default, ModelJson.Enums);

    /// <summary>Checks the sizes and names.</summary>
    /// <exception cref="UnrollException">A size is not positive, or a name list has the wrong length.</exception>
    public void Validate()
    {
        _ = Cell;
        RequirePositive("input size", InputSize);
        RequirePositive("hidden size", HiddenSize);
        RequirePositive("output size", OutputSize);
        RequirePositive("layers", Layers);
        if (Layers > MaxLayers)
        {
            // Stacks this deep do not train as recurrent networks, and each layer costs its diagnostics and buffers.
            throw new UnrollException($"layers: expected 1 to {MaxLayers} stacked layers, got {Layers}.");
        }
        if (!(Dropout >= 0 && Dropout < 1))
        {
            throw new UnrollException($"dropout: expected a probability in [0, 1), got {Dropout}.");
        }

        if (!(HeadDropout >= 0 && HeadDropout < 1))
        {
            throw new UnrollException($"head dropout: expected a probability in [0, 1), got {HeadDropout}.");
        }

        if (VocabularySize < 0)
        {
            throw new UnrollException($"vocabulary size: expected 0 (dense inputs) or a positive number of tokens, got {VocabularySize}.");
        }

        if (Architecture == Architecture.Jordan && (Layers != 1 || Bidirectional || VocabularySize != 0 || Head != HeadKind.Regression || Pooling != Pooling.EveryStep))
        {
            throw new UnrollException("model: the jordan network has one layer, one direction, dense inputs and a per-step regression head; got a config asking for more.");
        }

        if (Cell == CellKind.Lru && HiddenSize % 2 != 0)
        {
            throw new UnrollException($"model: the lru carries H/2 complex states and needs an even hidden size; expected an even number, got {HiddenSize}.");
        }

        if (RecurrentLayers.IsScanCell(Cell) && Activation != Activation.Tanh)
        {
            throw new UnrollException($"model: the {Architecture.Name()} cell has no choice of activation; expected tanh (the default), got {Activations.Name(Activation)}.");
        }

        if (!Enum.IsDefined(Head) || !Enum.IsDefined(Pooling))
        {
            throw new UnrollException($"model: unknown head {Head} or pooling {Pooling}.");
        }

        if (!Enum.IsDefined(Distribution) || (Distribution != OutputDistribution.Point && Head != HeadKind.Regression))
        {
            throw new UnrollException($"model: a {Distribution} output distribution needs a regression head; got {Head}.");
        }

        if (Distribution == OutputDistribution.Quantiles
            ? Quantiles is not { Count: > 0 } levels || levels.Any(l => !(l > 0 && l < 1)) || levels.Zip(levels.Skip(1)).Any(p => !(p.First < p.Second))
            : Quantiles is not null)
        {
            throw new UnrollException($"model: expected quantile levels in (0, 1), increasing, exactly with a quantile head; got {(Quantiles is null ? "none" : string.Join(", ", Quantiles))} with a {Distribution} head.");
        }

        if (OutputSize % ParametersPerValue != 0)
        {
            throw new UnrollException($"model: a {Distribution} head has {ParametersPerValue} outputs per value; expected an output size that is a multiple of it, got {OutputSize}.");
        }

        if (!Enum.IsDefined(Activation))
        {
            throw new UnrollException($"activation: expected tanh, sigmoid, relu or identity, got {(int)Activation}.");
        }

        if (ParameterCount <= MaxParameters)
        {
            // The weights and their gradients, before any training buffer.
            MemoryBudget.Check(ParameterCount * 8.0, $"model: {ParameterCount} parameters");
        }

        if (ParameterCount > MaxParameters)
        {
            throw new UnrollException(
                $"model: input {InputSize}, hidden {HiddenSize}, output {OutputSize}, {Layers} layer(s){(VocabularySize > 0 ? $", vocabulary {VocabularySize}" : string.Empty)} make {ParameterCount} parameters; expected at most {MaxParameters}.");
        }

        foreach (var (names, what) in new[] { (InputNames, "input"), (OutputNames, "output") })
        {
            if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
            {
                throw new UnrollException($"model: the {what} name '{repeated.Key}' appears {repeated.Count()} times; expected each {what} named once.");
            }
        }

        if (InputNames.Count != 0 && InputNames.Count != InputSize)
        {
            throw new UnrollException($"model: expected {InputSize} input names, got {InputNames.Count}.");
        }

        if (OutputNames.Count != 0 && OutputNames.Count != OutputSize)
        {
            throw new UnrollException($"model: expected {OutputSize} output names, got {OutputNames.Count}.");
        }
    }

    /// <summary>The config as compact JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<ModelConfig>(JsonOptions));

    /// <summary>Reads a config written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or describes an invalid model.</exception>
    public static ModelConfig FromJson(string json)
    {
        ModelConfig? config;
        try
        {
            // An architecture this version does not know (a file from a newer one, or edited) is named as such, not as bad JSON.
            using (var document = JsonDocument.Parse(json))
            {
                if (document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("architecture", out var architecture) && architecture.ValueKind == JsonValueKind.String)
                {
                    Architectures.Parse(architecture.GetString());
                }
            }

            config = IO.Json.Deserialize(json, JsonOptions, new ModelConfig());
        }
        catch (JsonException e)
        {
            throw new UnrollException($"model config: expected a JSON object describing the model, got invalid JSON ({e.Message}).", e);
        }

        if (config is null)
        {
            throw new UnrollException("model config: expected a JSON object describing the model, got null.");
        }

        if (!Enum.IsDefined(config.Architecture) || config.InputNames is null || config.OutputNames is null || config.InputNames.Any(n => n is null) || config.OutputNames.Any(n => n is null))
        {
            throw new UnrollException("model config: expected 'architecture' and the name lists to be strings, got null.");
        }

        config.Validate();
        return config;
    }

    private static void RequirePositive(string what, int value)
    {
        if (value <= 0)
        {
            throw new UnrollException($"{what}: expected a positive integer, got {value}.");
        }
    }
}

/// <summary>
/// What a regression head predicts for every target value: a point (trained with the MSE), the parameters of a
/// distribution (trained by its negative log-likelihood), or quantiles (trained with the pinball loss).
/// </summary>
public enum OutputDistribution
{
    /// <summary>One value per target, trained with the mean squared error.</summary>
    Point,

    /// <summary>Two outputs per target, (mu, s): a normal distribution with mean mu and scale sigma = softplus(s) + 1e-6.</summary>
    Gaussian,

    /// <summary>Three outputs per target, (mu, s, d): Student's t with location mu, scale softplus(s) + 1e-6 and nu = 2 + softplus(d) degrees of freedom.</summary>
    StudentT,

    /// <summary>One output per target and quantile level, trained with the pinball (quantile) loss.</summary>
    Quantiles,
}

/// <summary>What the head predicts.</summary>
public enum HeadKind
{
    /// <summary>Real values, trained with the mean squared error.</summary>
    Regression,

    /// <summary>Class scores (logits), trained with softmax cross-entropy.</summary>
    Classification,
}

/// <summary>Which states the head reads.</summary>
public enum Pooling
{
    /// <summary>One output per step (many-to-many).</summary>
    EveryStep,

    /// <summary>
    /// One output per sequence (many-to-one) from its last state: the forward direction's state
    /// after the sequence's own last step, and for bidirectional layers the backward direction's
    /// state after t = 0, concatenated (as torch's h_n).
    /// </summary>
    LastStep,
}
