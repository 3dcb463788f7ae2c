using System.Text.Json;

namespace Unroll.Tests;

/// <summary>
/// One golden fixture produced by scripts/reference/elman_golden.py or recurrent_golden.py: float64
/// tensors from PyTorch, each stored as a shape and its row-major data, plus a header describing the
/// model. Files live in Golden/ next to the test assembly.
/// </summary>
internal sealed class GoldenFixture
{
    /// <summary>Every fixture the reference script writes, by file name.</summary>
    public static readonly IReadOnlyList<string> AllFileNames =
    [
        "elman_tanh.json",
        "elman_relu.json",
        "elman_sigmoid.json",
        "elman_identity.json",
        "elman_tanh_zero_h0.json",
    ];

    /// <summary>
    /// Every fixture scripts/reference/recurrent_golden.py writes: the grid
    /// &lt;cell&gt;_l&lt;layers&gt;_&lt;uni|bi&gt;_&lt;equal|varying&gt; for rnn, lstm and gru, then the
    /// classification and Jordan fixtures.
    /// </summary>
    public static readonly IReadOnlyList<string> RecurrentFileNames =
    [
        .. from cell in new[] { "rnn", "lstm", "gru" }
           from layers in new[] { 1, 2 }
           from direction in new[] { "uni", "bi" }
           from lengths in new[] { "equal", "varying" }
           select $"{cell}_l{layers}_{direction}_{lengths}.json",
        "lstm_classify_per_step.json",
        "lstm_classify_last.json",
        "gru_embedding_per_step.json",
        "jordan_teacher_forcing.json",
        "jordan_free_running.json",
    ];

    private readonly Header _header;
    private readonly Dictionary<string, int> _sizes;
    private readonly Dictionary<string, (int[] Shape, double[] Data)> _tensors;

    private GoldenFixture(
        string source,
        string description,
        Header header,
        Dictionary<string, int> sizes,
        Dictionary<string, (int[] Shape, double[] Data)> tensors)
    {
        Source = source;
        Description = description;
        _header = header;
        _sizes = sizes;
        _tensors = tensors;
    }

    /// <summary>Where the fixture came from (file name), for messages.</summary>
    public string Source { get; }

    /// <summary>How the fixture was produced (script, PyTorch version, seed).</summary>
    public string Description { get; }

    /// <summary>"tanh", "relu", "sigmoid" or "identity"; empty for LSTM and GRU fixtures, which name none.</summary>
    public string Activation => _header.Activation;

    /// <summary>"rnn" (Elman), "lstm", "gru" or "jordan"; "rnn" for the Elman fixtures, which name none.</summary>
    public string Cell => _header.Cell;

    /// <summary>Number of stacked recurrent layers (1 when the file names none).</summary>
    public int Layers => _header.Layers;

    /// <summary>True when every layer runs forward and backward in time.</summary>
    public bool Bidirectional => _header.Bidirectional;

    /// <summary>2 for a bidirectional fixture, else 1.</summary>
    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>"mse" or "cross_entropy" ("mse" when the file names none).</summary>
    public string LossKind => _header.Loss;

    /// <summary>"every_step" (head at each step) or "last_step" (head at each sequence's last valid step).</summary>
    public string Readout => _header.Readout;

    /// <summary>For Jordan fixtures "teacher_forcing" or "free_running"; otherwise empty.</summary>
    public string Feedback => _header.Feedback;

    /// <summary>Sequence length.</summary>
    public int T => _sizes["T"];

    /// <summary>Batch size.</summary>
    public int B => _sizes["B"];

    /// <summary>Input size.</summary>
    public int I => _sizes["I"];

    /// <summary>Hidden size.</summary>
    public int H => _sizes["H"];

    /// <summary>Output (head) size.</summary>
    public int O => _sizes["O"];

    /// <summary>Names of all entries of "sizes" (T, B, I, H, O and any extra such as V).</summary>
    public IReadOnlyCollection<string> SizeNames => _sizes.Keys;

    /// <summary>Any entry of "sizes", such as "V" (vocabulary) in an embedding fixture.</summary>
    public int Size(string name) =>
        _sizes.TryGetValue(name, out int size)
            ? size
            : throw new KeyNotFoundException($"{Source}: no size '{name}'; the fixture has {string.Join(", ", _sizes.Keys)}.");

    /// <summary>Names of all tensors in the fixture.</summary>
    public IReadOnlyCollection<string> Names => _tensors.Keys;

    /// <summary>The directory the fixtures are copied to at build time.</summary>
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Golden");

    /// <summary>Loads <paramref name="fileName"/> (e.g. "elman_tanh.json") from <see cref="Directory"/>.</summary>
    public static GoldenFixture Load(string fileName)
    {
        string path = Path.Combine(Directory, fileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"Golden fixture '{fileName}' not found at '{path}'; expected the test project to copy Golden/** to the output directory.",
                path);
        }

        return Parse(File.ReadAllText(path), fileName);
    }

    /// <summary>Parses fixture JSON; <paramref name="source"/> names it in error messages.</summary>
    public static GoldenFixture Parse(string json, string source)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;

        string description = RequiredProperty(root, "description", source).GetString() ?? "";

        // The Elman format has no "cell" and always an "activation"; the later format names its cell
        // and gives an activation only where the cell has a choice of one.
        string? cell = OptionalProperty(root, "cell")?.GetString();
        string activation = (cell is null ? RequiredProperty(root, "activation", source) : OptionalProperty(root, "activation"))
            ?.GetString() ?? "";
        var header = new Header(
            cell ?? "rnn",
            activation,
            OptionalProperty(root, "layers")?.GetInt32() ?? 1,
            OptionalProperty(root, "bidirectional")?.GetBoolean() ?? false,
            OptionalProperty(root, "loss")?.GetString() ?? "mse",
            OptionalProperty(root, "readout")?.GetString() ?? "every_step",
            OptionalProperty(root, "feedback")?.GetString() ?? "");

        var sizes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty size in RequiredProperty(root, "sizes", source).EnumerateObject())
        {
            sizes[size.Name] = size.Value.GetInt32();
        }

        foreach (string key in new[] { "T", "B", "I", "H", "O" })
        {
            if (!sizes.ContainsKey(key))
            {
                throw new InvalidDataException($"{source}: expected a property '{key}' in 'sizes', got none.");
            }
        }

        var tensors = new Dictionary<string, (int[] Shape, double[] Data)>(StringComparer.Ordinal);
        foreach (JsonProperty tensor in RequiredProperty(root, "tensors", source).EnumerateObject())
        {
            int[] shape = RequiredProperty(tensor.Value, "shape", source)
                .EnumerateArray().Select(d => d.GetInt32()).ToArray();
            double[] data = RequiredProperty(tensor.Value, "data", source)
                .EnumerateArray().Select(v => v.GetDouble()).ToArray();
            long expected = shape.Aggregate(1L, (product, d) => product * d);
            if (data.Length != expected)
            {
                throw new InvalidDataException(
                    $"{source}: tensor '{tensor.Name}' of shape [{string.Join(", ", shape)}] expected {expected} values, got {data.Length}.");
            }

            if (!tensors.TryAdd(tensor.Name, (shape, data)))
            {
                throw new InvalidDataException($"{source}: tensor '{tensor.Name}' appears twice.");
            }
        }

        return new GoldenFixture(source, description, header, sizes, tensors);
    }

    /// <summary>True if the fixture holds a tensor called <paramref name="name"/>.</summary>
    public bool Has(string name) => _tensors.ContainsKey(name);

    /// <summary>A copy of the tensor's row-major data.</summary>
    public double[] Tensor(string name) => (double[])Get(name).Data.Clone();

    /// <summary>A copy of the tensor's shape; empty for a scalar.</summary>
    public int[] Shape(string name) => (int[])Get(name).Shape.Clone();

    /// <summary>The single value of a scalar tensor such as "loss".</summary>
    public double Scalar(string name)
    {
        var (shape, data) = Get(name);
        if (shape.Length != 0)
        {
            throw new InvalidOperationException(
                $"{Source}: tensor '{name}' expected shape [], got [{string.Join(", ", shape)}].");
        }

        return data[0];
    }

    /// <summary>A copy of this fixture with one value changed, to show that a consistency check catches it.</summary>
    public GoldenFixture WithValue(string name, int index, double value)
    {
        _ = Get(name); // a clear message for an unknown name
        var copy = _tensors.ToDictionary(
            entry => entry.Key,
            entry => ((int[])entry.Value.Shape.Clone(), (double[])entry.Value.Data.Clone()),
            StringComparer.Ordinal);
        copy[name].Item2[index] = value;
        return new GoldenFixture(Source + $" ({name}[{index}] changed)", Description, _header, _sizes, copy);
    }

    private (int[] Shape, double[] Data) Get(string name) =>
        _tensors.TryGetValue(name, out var tensor)
            ? tensor
            : throw new KeyNotFoundException(
                $"{Source}: no tensor '{name}'; the fixture has {string.Join(", ", _tensors.Keys)}.");

    private static JsonElement RequiredProperty(JsonElement element, string name, string source) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out JsonElement value)
            ? value
            : throw new InvalidDataException($"{source}: expected a property '{name}', got none.");

    private static JsonElement? OptionalProperty(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) ? value : null;

    private sealed record Header(
        string Cell, string Activation, int Layers, bool Bidirectional, string Loss, string Readout, string Feedback);
}
