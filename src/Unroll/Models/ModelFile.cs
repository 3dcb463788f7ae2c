using System.Numerics;
using Unroll.IO;

namespace Unroll.Models;

/// <summary>A model read from a file, with the file's metadata.</summary>
/// <typeparam name="T">The model's element type: float to train and run, double for exact checks.</typeparam>
/// <param name="Model">The model, ready to run.</param>
/// <param name="Metadata">Every <c>__metadata__</c> entry of the file.</param>
public sealed record LoadedModel<T>(IRecurrentModel<T> Model, IReadOnlyDictionary<string, string> Metadata)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// The model file: safetensors with PyTorch state_dict names (<c>rnn.weight_ih_l0</c>, ...,
/// <c>head.weight</c>, <c>head.bias</c>) in F32 (F64 for a model in double), and the <see cref="ModelConfig"/> as JSON under
/// the metadata key <see cref="ConfigKey"/>, so torch.nn.RNN plus nn.Linear load the weights unchanged
/// and Unroll can rebuild the model from the file alone. See docs/formats.md.
/// </summary>
public static class ModelFile
{
    /// <summary>The metadata key that holds the model config.</summary>
    public const string ConfigKey = "unroll.config";

    /// <summary>The metadata key that holds the format version.</summary>
    public const string FormatKey = "unroll.format";

    /// <summary>The format version written by this release.</summary>
    public const string FormatVersion = "1";

    /// <summary>
    /// Writes the model (to a temporary name, then renamed over <paramref name="path"/>): a float model's weights
    /// as F32, a double model's as F64, so either reads back bit for bit.
    /// </summary>
    public static void Save<T>(string path, IRecurrentModel<T> model, IReadOnlyDictionary<string, string>? extraMetadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (extraMetadata is not null)
        {
            foreach (var (key, value) in extraMetadata)
            {
                metadata[key] = value;
            }
        }

        metadata[FormatKey] = FormatVersion;
        metadata[ConfigKey] = model.Config.ToJson();
        var dtype = typeof(T) == typeof(double) ? TensorDType.F64 : TensorDType.F32;
        var tensors = model.Parameters.Views
            .Select(view => new StoredTensor(view.Name, dtype, view.Shape, ToDoubles(model.Parameters.Values.AsSpan(view.Offset, view.Length))))
            .ToList();
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Reads a model file written by <see cref="Save"/>.</summary>
    /// <exception cref="UnrollException">
    /// The file is missing or not safetensors, carries no Unroll config, or its tensors do not match
    /// the config (a missing, extra or differently shaped tensor, or a non-finite weight).
    /// </exception>
    public static LoadedModel<float> Load(string path) => Load<float>(path);

    /// <summary>
    /// Reads a model file into a model of element type <typeparamref name="T"/>: an F32 file into a double model
    /// exactly, an F64 file into a float model rounded to the nearest float.
    /// </summary>
    /// <exception cref="UnrollException">As <see cref="Load(string)"/>, or a weight does not fit in <typeparamref name="T"/>.</exception>
    public static LoadedModel<T> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var file = SafeTensors.Read(path);
        return new LoadedModel<T>(ReadModel<T>(file, static _ => false), file.Metadata);
    }

    /// <summary>
    /// Reads a model file of a model built with <see cref="SequenceModel{T}.Create{TCell}(ModelConfig, int)"/> around a cell of
    /// your own: the file records the cell's name, and <typeparamref name="TCell"/> supplies its code.
    /// </summary>
    /// <typeparam name="T">The model's element type.</typeparam>
    /// <typeparam name="TCell">The cell the file's model was built with.</typeparam>
    /// <exception cref="UnrollException">As <see cref="Load{T}(string)"/>, or the file records another cell.</exception>
    public static LoadedModel<T> Load<T, TCell>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCell : struct, Cells.IRecurrentCell<TCell>
    {
        var file = SafeTensors.Read(path);
        return new LoadedModel<T>(ReadModel<T>(file, static _ => false, TCell.Name, SequenceModel<T>.CreateZeroed<TCell>), file.Metadata);
    }

    /// <summary>
    /// Builds the model a safetensors file describes; tensors for which <paramref name="belongsElsewhere"/>
    /// is true (a checkpoint's optimiser state, say) are left for the caller.
    /// </summary>
    /// <param name="file">The file.</param>
    /// <param name="belongsElsewhere">Which tensors are the caller's.</param>
    /// <param name="customCell">The name of the custom cell <paramref name="create"/> builds, or null for the built-in architectures.</param>
    /// <param name="create">Builds a model of a custom cell from its config; null for the built-in architectures.</param>
    internal static IRecurrentModel<T> ReadModel<T>(
        SafeTensorsFile file, Func<string, bool> belongsElsewhere, string? customCell = null, Func<ModelConfig, IRecurrentModel<T>>? create = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string path = file.Path;
        if (!file.Metadata.TryGetValue(ConfigKey, out var configJson))
        {
            throw new UnrollException(
                $"{path}: expected an Unroll model file with '{ConfigKey}' in its metadata, got a safetensors file without it (tensors: {string.Join(", ", file.Tensors.Select(t => t.Name))}).");
        }

        if (file.Metadata.TryGetValue(FormatKey, out var format) && format != FormatVersion)
        {
            throw new UnrollException($"{path}: '{FormatKey}' is '{format}'; this release reads model files of format {FormatVersion} (a newer release wrote this one).");
        }

        ModelConfig config;
        try
        {
            config = ReadConfig(configJson, customCell);
        }
        catch (UnrollException e)
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }

        // The config comes from the file too: a forged size must not allocate the model it describes
        // before the tensors show that the file holds no such model. Small mismatches are left to the
        // per-tensor checks below, whose messages name the tensor; this bounds the allocation by the file.
        long stored = file.Tensors.Sum(t => (long)t.ElementCount);
        // A custom cell's count is bounded below by the one-gate Elman network of the same sizes.
        long parameterCount = config.ParameterCount;
        if (parameterCount > (4 * stored) + 65536)
        {
            throw new UnrollException(
                $"{path}: '{ConfigKey}' describes a {Describe(config)} with {config.ParameterCount} parameters, but the file holds {stored} values; expected the tensors of that model.");
        }

        var model = create is null ? RecurrentModels.Create<T>(config) : create(config);
        var expected = model.Parameters.Views.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        var unexpected = file.Tensors.Where(t => !expected.Contains(t.Name) && !belongsElsewhere(t.Name)).Select(t => t.Name).ToList();
        if (unexpected.Count > 0)
        {
            throw new UnrollException(
                $"{path}: holds tensors {string.Join(", ", unexpected)} that a {Describe(config)} does not have; expected exactly {string.Join(", ", expected)}.");
        }

        CopyWeights(file, model, config);
        return model;
    }

    /// <summary>
    /// Copies the weights of a model file into <paramref name="model"/>, whose architecture and sizes must
    /// match the file's (<c>--init-from</c>).
    /// </summary>
    /// <exception cref="UnrollException">The file holds a model of another architecture or size.</exception>
    public static void LoadWeightsInto<T>(string path, IRecurrentModel<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var loaded = Load<T>(path).Model;
        var theirs = loaded.Config;
        var ours = model.Config;
        if (theirs.Architecture != ours.Architecture || theirs.InputSize != ours.InputSize || theirs.HiddenSize != ours.HiddenSize
            || theirs.OutputSize != ours.OutputSize || theirs.Layers != ours.Layers || theirs.Bidirectional != ours.Bidirectional
            || theirs.VocabularySize != ours.VocabularySize)
        {
            throw new UnrollException($"{path}: holds {WithArticle(Describe(theirs))}; expected {WithArticle(Describe(ours))}.");
        }

        loaded.Parameters.Values.CopyTo(model.Parameters.Values, 0);
    }

    private static double[] ToDoubles<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var doubles = new double[values.Length];
        for (int i = 0; i < doubles.Length; i++)
        {
            doubles[i] = double.CreateChecked(values[i]);
        }

        return doubles;
    }

    private static void CopyWeights<T>(SafeTensorsFile file, IRecurrentModel<T> model, ModelConfig config)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        string path = file.Path;
        foreach (var view in model.Parameters.Views)
        {
            if (!file.TryGet(view.Name, out var tensor))
            {
                throw new UnrollException($"{path}: expected tensor '{view.Name}' {view.ShapeText} for a {Describe(config)}, but the file has no such tensor.");
            }

            if (!tensor.Shape.SequenceEqual(view.Shape))
            {
                throw new UnrollException(
                    $"{path}: tensor '{view.Name}' has shape [{string.Join(", ", tensor.Shape)}]; expected {view.ShapeText} for a {Describe(config)}.");
            }

            var destination = model.Parameters.Values.AsSpan(view.Offset, view.Length);
            for (int i = 0; i < destination.Length; i++)
            {
                T value = T.CreateChecked(tensor.Values[i]);
                if (!T.IsFinite(value) && double.IsFinite(tensor.Values[i]))
                {
                    throw new UnrollException(
                        $"{path}: tensor '{view.Name}' holds {tensor.Values[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture)} at index {i}, beyond the range of a float; expected weights a float holds (load the model as double).");
                }

                if (!T.IsFinite(value))
                {
                    throw new UnrollException($"{path}: tensor '{view.Name}' holds a non-finite value ({value}) at index {i}; expected finite weights.");
                }

                destination[i] = value;
            }
        }
    }

    /// <summary>The config a file records, which must name <paramref name="customCell"/> when given and no custom cell otherwise.</summary>
    private static ModelConfig ReadConfig(string json, string? customCell)
    {
        var config = ModelConfig.FromJson(json);
        if (config.CustomCell != customCell)
        {
            throw new UnrollException(customCell is null
                ? $"model config: the model runs the custom cell '{config.CustomCell}'; expected ModelFile.Load<T, TCell> with that cell."
                : $"model config: expected a model of the cell '{customCell}', got {(config.CustomCell is null ? $"the built-in architecture '{config.Architecture.Name()}'" : $"the cell '{config.CustomCell}'")}.");
        }

        return config;
    }

    /// <summary>
    /// <paramref name="phrase"/> after "a" or "an" as it is read aloud: the cell names lstm, rnn and lru are spelled out
    /// (an lstm), and so is a leading number (an 8-layer, an 80-layer, an 11-layer, an 18-layer, but a 110-layer).
    /// </summary>
    internal static string WithArticle(string phrase)
    {
        int digits = phrase.TakeWhile(char.IsAsciiDigit).Count();
        bool vowel = digits > 0
            ? phrase[0] == '8' || (digits == 2 && (phrase.StartsWith("11", StringComparison.Ordinal) || phrase.StartsWith("18", StringComparison.Ordinal)))
            : new[] { "lstm", "rnn", "lru", "a", "e", "i", "o", "u" }.Any(start => phrase.StartsWith(start, StringComparison.OrdinalIgnoreCase));
        return (vowel ? "an " : "a ") + phrase;
    }

    private static string Describe(ModelConfig config) =>
        $"{(config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty)}{(config.Bidirectional ? "bidirectional " : string.Empty)}{config.CustomCell ?? config.Architecture.Name()} model with input {config.InputSize}, hidden {config.HiddenSize}, output {config.OutputSize}"
        + (config.VocabularySize > 0 ? $", vocabulary {config.VocabularySize}" : string.Empty);
}
