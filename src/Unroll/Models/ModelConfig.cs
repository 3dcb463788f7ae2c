using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Kernels;

namespace Unroll.Models;

/// <summary>
/// What a model is: its architecture and sizes, and the names of its input and output
/// features. Stored as JSON in the model file's metadata so a file describes itself.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The architecture; "rnn" is the Elman network of torch.nn.RNN.</summary>
    public string Architecture { get; init; } = "rnn";

    /// <summary>Features per input step (I).</summary>
    public int InputSize { get; init; }

    /// <summary>Hidden units (H).</summary>
    public int HiddenSize { get; init; }

    /// <summary>Outputs per step (O) of the linear head.</summary>
    public int OutputSize { get; init; }

    /// <summary>Stacked recurrent layers.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>The recurrent non-linearity f.</summary>
    public Activation Activation { get; init; } = Activation.Tanh;

    /// <summary>Names of the input features, one per input (e.g. "x", "force").</summary>
    public IReadOnlyList<string> InputNames { get; init; } = [];

    /// <summary>Names of the outputs, one per output (e.g. "x_next").</summary>
    public IReadOnlyList<string> OutputNames { get; init; } = [];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Checks the sizes and names.</summary>
    /// <exception cref="UnrollException">A size is not positive, or a name list has the wrong length.</exception>
    public void Validate()
    {
        if (Architecture != "rnn")
        {
            throw new UnrollException($"model: expected architecture 'rnn', got '{Architecture}'.");
        }

        RequirePositive("input size", InputSize);
        RequirePositive("hidden size", HiddenSize);
        RequirePositive("output size", OutputSize);
        if (Layers != 1)
        {
            throw new UnrollException($"layers: expected 1 (stacked layers are not supported yet), got {Layers}.");
        }

        if (!Enum.IsDefined(Activation))
        {
            throw new UnrollException($"activation: expected tanh, sigmoid, relu or identity, got {(int)Activation}.");
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
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads a config written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or describes an invalid model.</exception>
    public static ModelConfig FromJson(string json)
    {
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(json, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new UnrollException($"model config: expected a JSON object describing the model, got invalid JSON ({e.Message}).", e);
        }

        if (config is null)
        {
            throw new UnrollException("model config: expected a JSON object describing the model, got null.");
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
