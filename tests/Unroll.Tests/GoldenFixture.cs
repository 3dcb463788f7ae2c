using System.Text.Json;

namespace Unroll.Tests;

/// <summary>
/// One golden fixture produced by scripts/reference/elman_golden.py: float64 tensors from PyTorch,
/// each stored as a shape and its row-major data. Files live in Golden/ next to the test assembly.
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

    private readonly Dictionary<string, (int[] Shape, double[] Data)> _tensors;

    private GoldenFixture(
        string source,
        string description,
        string activation,
        int t,
        int b,
        int i,
        int h,
        int o,
        Dictionary<string, (int[] Shape, double[] Data)> tensors)
    {
        Source = source;
        Description = description;
        Activation = activation;
        T = t;
        B = b;
        I = i;
        H = h;
        O = o;
        _tensors = tensors;
    }

    /// <summary>Where the fixture came from (file name), for messages.</summary>
    public string Source { get; }

    /// <summary>How the fixture was produced (script, PyTorch version, seed).</summary>
    public string Description { get; }

    /// <summary>"tanh", "relu", "sigmoid" or "identity".</summary>
    public string Activation { get; }

    /// <summary>Sequence length.</summary>
    public int T { get; }

    /// <summary>Batch size.</summary>
    public int B { get; }

    /// <summary>Input size.</summary>
    public int I { get; }

    /// <summary>Hidden size.</summary>
    public int H { get; }

    /// <summary>Output (head) size.</summary>
    public int O { get; }

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
        string activation = RequiredProperty(root, "activation", source).GetString() ?? "";
        JsonElement sizes = RequiredProperty(root, "sizes", source);
        int Size(string key) => RequiredProperty(sizes, key, source).GetInt32();

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

        return new GoldenFixture(
            source, description, activation, Size("T"), Size("B"), Size("I"), Size("H"), Size("O"), tensors);
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
        return new GoldenFixture(Source + $" ({name}[{index}] changed)", Description, Activation, T, B, I, H, O, copy);
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
}
