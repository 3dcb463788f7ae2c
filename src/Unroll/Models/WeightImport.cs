using Unroll.Cells;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>Where imported weights come from.</summary>
internal enum WeightSource
{
    /// <summary>A torch.nn.RNN/LSTM/GRU (+ Linear, + Embedding) state_dict saved as safetensors.</summary>
    PyTorch,

    /// <summary>Keras SimpleRNN/LSTM/GRU (+ Dense, + Embedding) weights saved as .npz under Unroll's key names (docs/interop.md).</summary>
    Keras,
}

/// <summary>How to read and complete imported weights: what the file cannot say by itself.</summary>
internal sealed record ImportOptions
{
    /// <summary>"rnn", "lstm" or "gru"; null infers it from the shapes (1, 4 or 3 gate blocks).</summary>
    public string? Architecture { get; init; }

    /// <summary>The Elman cell's non-linearity (not stored in a state_dict); only tanh for LSTM and GRU.</summary>
    public Activation Activation { get; init; } = Activation.Tanh;

    /// <summary>
    /// The recurrent module's prefix: for PyTorch the state_dict prefix such as "rnn." or "lstm." (null:
    /// the one prefix of a "*weight_ih_l0" tensor), for Keras the layer key stem (null: "layer").
    /// </summary>
    public string? RecurrentPrefix { get; init; }

    /// <summary>The linear head's prefix: PyTorch "head." (null: "head.", else the one other Linear), Keras "dense" (null: "dense").</summary>
    public string? HeadPrefix { get; init; }

    /// <summary>The embedding's prefix: PyTorch "embedding." (null: that), Keras "embedding" (null: that).</summary>
    public string? EmbeddingPrefix { get; init; }

    /// <summary>What the head predicts.</summary>
    public HeadKind Head { get; init; } = HeadKind.Regression;

    /// <summary>Whether the head reads every step or the last state.</summary>
    public Pooling Pooling { get; init; } = Pooling.EveryStep;

    /// <summary>Names of the input features (empty: predict uses input0, input1, ...).</summary>
    public IReadOnlyList<string> InputNames { get; init; } = [];

    /// <summary>Names of the outputs (empty: output0, output1, ...).</summary>
    public IReadOnlyList<string> OutputNames { get; init; } = [];
}

/// <summary>
/// Builds Unroll models from weights trained elsewhere: PyTorch state_dicts (safetensors) and Keras
/// layer weights (.npz). Unroll keeps PyTorch's layout internally (matrices [out, in]; LSTM gates
/// i, f, g, o; GRU r, z, n with b_hn inside r * (W_hn h + b_hn)), so PyTorch weights are copied and
/// Keras weights are transposed and their GRU gate blocks reordered from z, r, h. See docs/interop.md.
/// </summary>
internal static class WeightImport
{
    /// <summary>Reads <paramref name="path"/> and imports it.</summary>
    /// <param name="path">A .safetensors file (PyTorch) or a .npz file (Keras).</param>
    /// <param name="source">Which framework's names and layout the file uses.</param>
    /// <param name="options">What the file cannot say.</param>
    /// <returns>The model, ready to run or to save with <see cref="ModelFile.Save"/>.</returns>
    /// <exception cref="UnrollException">The file cannot be read, or its names or shapes are not a recurrent network's.</exception>
    public static SequenceModel<float> Import(string path, WeightSource source, ImportOptions options) => source switch
    {
        WeightSource.PyTorch => FromPyTorch(SafeTensors.Read(path), options),
        WeightSource.Keras => FromKeras(Npz.Read(path), options),
        _ => throw new UnrollException($"import: unknown source {(int)source}; expected pytorch or keras."),
    };

    /// <summary>
    /// Imports a torch.nn.RNN/LSTM/GRU state_dict (names <c>{prefix}weight_ih_l{k}[_reverse]</c>, ...),
    /// an optional nn.Linear head and an optional nn.Embedding. A model without a head gets the identity
    /// (its outputs are the last layer's states, as torch's <c>output</c>); without biases (bias=False), zeros.
    /// </summary>
    /// <exception cref="UnrollException">The names or shapes are not those of one recurrent module, or a tensor is left unused.</exception>
    public static SequenceModel<float> FromPyTorch(SafeTensorsFile file, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        var source = new Source(file.Path, file.Tensors);
        string prefix = options.RecurrentPrefix is { } given ? WithDot(given) : FindPyTorchPrefix(source);
        var weightIh = source.Need(prefix + "weight_ih_l0", 2);
        var weightHh = source.Need(prefix + "weight_hh_l0", 2);
        var (cell, hidden) = InferCell(source, weightHh.Name, rows: weightHh.Shape[0], hidden: weightHh.Shape[1], options.Architecture);
        if (source.Has(prefix + "weight_hr_l0"))
        {
            throw source.Error($"'{prefix}weight_hr_l0' is an LSTM projection (proj_size > 0), which Unroll does not have; expected an LSTM without proj_size");
        }

        int inputSize = weightIh.Shape[1];
        int layers = 1;
        while (source.Has($"{prefix}weight_ih_l{layers}"))
        {
            layers++;
        }

        bool bidirectional = source.Has(prefix + "weight_ih_l0_reverse");
        bool hasBias = source.Has(prefix + "bias_ih_l0") || source.Has(prefix + "bias_hh_l0");
        int width = (bidirectional ? 2 : 1) * hidden;
        var values = new Dictionary<string, double[]>(StringComparer.Ordinal);
        int gates = CellKinds.GateCount(cell);
        for (int layer = 0; layer < layers; layer++)
        {
            int layerInput = layer == 0 ? inputSize : width;
            for (int direction = 0; direction < (bidirectional ? 2 : 1); direction++)
            {
                bool reverse = direction == 1;
                string suffix = ParameterNames.Suffix(layer, reverse);
                values[ParameterNames.WeightIh(layer, reverse)] = source.Need(prefix + "weight_ih" + suffix, [gates * hidden, layerInput]).Values;
                values[ParameterNames.WeightHh(layer, reverse)] = source.Need(prefix + "weight_hh" + suffix, [gates * hidden, hidden]).Values;
                if (hasBias)
                {
                    values[ParameterNames.BiasIh(layer, reverse)] = source.Need(prefix + "bias_ih" + suffix, [gates * hidden]).Values;
                    values[ParameterNames.BiasHh(layer, reverse)] = source.Need(prefix + "bias_hh" + suffix, [gates * hidden]).Values;
                }
            }
        }

        int vocabulary = 0;
        string embeddingPrefix = options.EmbeddingPrefix is { } e ? WithDot(e) : "embedding.";
        if (source.Has(embeddingPrefix + "weight") || options.EmbeddingPrefix is not null)
        {
            var embedding = source.Need(embeddingPrefix + "weight", 2);
            vocabulary = embedding.Shape[0];
            source.Need(embedding.Name, [vocabulary, inputSize]);
            values[SequenceModel<float>.EmbeddingName] = embedding.Values;
        }

        string? headPrefix = options.HeadPrefix is { } h ? WithDot(h) : source.Has("head.weight") ? "head." : FindPyTorchHead(source);
        int outputs = width;
        if (headPrefix is not null)
        {
            var headWeight = source.Need(headPrefix + "weight", 2);
            outputs = headWeight.Shape[0];
            values[SequenceModel<float>.HeadWeightName] = source.Need(headWeight.Name, [outputs, width]).Values;
            if (source.Has(headPrefix + "bias"))
            {
                values[SequenceModel<float>.HeadBiasName] = source.Need(headPrefix + "bias", [outputs]).Values;
            }
        }
        else
        {
            values[SequenceModel<float>.HeadWeightName] = Identity(width);
        }

        source.RejectUnused("a " + Describe(cell, layers, bidirectional, inputSize, hidden) + $" under '{prefix}'");
        return Build(file.Path, options, cell, inputSize, hidden, outputs, layers, bidirectional, vocabulary, values);
    }

    /// <summary>
    /// Imports Keras layer weights stored in an .npz under the keys <c>layer{k}/kernel</c> [I, G*H],
    /// <c>layer{k}/recurrent_kernel</c> [H, G*H], <c>layer{k}/bias</c> ([G*H], or [2, 3H] for a GRU with
    /// reset_after=True), <c>layer{k}_backward/...</c> for the backward half of a Bidirectional layer,
    /// <c>dense/kernel</c> [D*H, O] and <c>dense/bias</c> [O], and <c>embedding/embeddings</c> [V, I].
    /// </summary>
    /// <exception cref="UnrollException">
    /// A key is missing or has another shape, a GRU has reset_after=False (a [3H] bias, which PyTorch's
    /// GRU cannot express), or a key is left unused.
    /// </exception>
    public static SequenceModel<float> FromKeras(NpzFile file, ImportOptions options)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(options);
        var source = new Source(file.Path, file.Arrays);
        string stem = options.RecurrentPrefix ?? "layer";
        var kernel = source.Need(stem + "0/kernel", 2);
        var recurrent = source.Need(stem + "0/recurrent_kernel", 2);
        var (cell, hidden) = InferCell(source, recurrent.Name, rows: recurrent.Shape[1], hidden: recurrent.Shape[0], options.Architecture);
        int inputSize = kernel.Shape[0];
        int layers = 1;
        while (source.Has($"{stem}{layers}/kernel"))
        {
            layers++;
        }

        bool bidirectional = source.Has(stem + "0_backward/kernel");
        int width = (bidirectional ? 2 : 1) * hidden;
        int gates = CellKinds.GateCount(cell);
        // Unroll's gate block j is Keras' block order[j]: the LSTM shares i, f, c(g), o; Keras' GRU
        // stacks z, r, h where PyTorch stacks r, z, n.
        int[] order = cell == CellKind.Gru ? [1, 0, 2] : Enumerable.Range(0, gates).ToArray();
        var values = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int layer = 0; layer < layers; layer++)
        {
            int layerInput = layer == 0 ? inputSize : width;
            for (int direction = 0; direction < (bidirectional ? 2 : 1); direction++)
            {
                string key = $"{stem}{layer}" + (direction == 1 ? "_backward" : string.Empty);
                bool reverse = direction == 1;
                var k = source.Need(key + "/kernel", [layerInput, gates * hidden]);
                var r = source.Need(key + "/recurrent_kernel", [hidden, gates * hidden]);
                values[ParameterNames.WeightIh(layer, reverse)] = PermuteGateRows(Transpose(k), gates, hidden, layerInput, order);
                values[ParameterNames.WeightHh(layer, reverse)] = PermuteGateRows(Transpose(r), gates, hidden, hidden, order);
                if (!source.Has(key + "/bias"))
                {
                    continue; // use_bias=False
                }

                var bias = source.Need(key + "/bias", -1);
                if (cell == CellKind.Gru)
                {
                    if (bias.Shape.Length == 1)
                    {
                        throw source.Error($"'{bias.Name}' has shape {StoredTensor.FormatShape(bias.Shape)}, a GRU with reset_after=False, whose candidate tanh(W x + U (r * h)) PyTorch's GRU cannot express; expected [2, {gates * hidden}] from a GRU with reset_after=True (the Keras 2 default)");
                    }

                    source.Need(bias.Name, [2, gates * hidden]);
                    // reset_after=True: row 0 is the input bias (b_ih), row 1 the recurrent bias (b_hh), and
                    // Keras' candidate tanh(x W_h + b_h0 + r * (h U_h + b_h1)) is PyTorch's n exactly.
                    values[ParameterNames.BiasIh(layer, reverse)] = PermuteGateRows(bias.Values[..(gates * hidden)], gates, hidden, 1, order);
                    values[ParameterNames.BiasHh(layer, reverse)] = PermuteGateRows(bias.Values[(gates * hidden)..], gates, hidden, 1, order);
                }
                else
                {
                    source.Need(bias.Name, [gates * hidden]);
                    values[ParameterNames.BiasIh(layer, reverse)] = PermuteGateRows(bias.Values, gates, hidden, 1, order);
                }
            }
        }

        int vocabulary = 0;
        string embeddingStem = options.EmbeddingPrefix ?? "embedding";
        if (source.Has(embeddingStem + "/embeddings") || options.EmbeddingPrefix is not null)
        {
            var embedding = source.Need(embeddingStem + "/embeddings", 2);
            vocabulary = embedding.Shape[0];
            values[SequenceModel<float>.EmbeddingName] = source.Need(embedding.Name, [vocabulary, inputSize]).Values;
        }

        string headStem = options.HeadPrefix ?? "dense";
        int outputs = width;
        if (source.Has(headStem + "/kernel") || options.HeadPrefix is not null)
        {
            var headKernel = source.Need(headStem + "/kernel", 2);
            outputs = headKernel.Shape[1];
            values[SequenceModel<float>.HeadWeightName] = Transpose(source.Need(headKernel.Name, [width, outputs]));
            if (source.Has(headStem + "/bias"))
            {
                values[SequenceModel<float>.HeadBiasName] = source.Need(headStem + "/bias", [outputs]).Values;
            }
        }
        else
        {
            values[SequenceModel<float>.HeadWeightName] = Identity(width);
        }

        source.RejectUnused("a Keras " + Describe(cell, layers, bidirectional, inputSize, hidden) + $" under the keys '{stem}0/...'");
        return Build(file.Path, options, cell, inputSize, hidden, outputs, layers, bidirectional, vocabulary, values);
    }

    private static SequenceModel<float> Build(
        string path, ImportOptions options, CellKind cell, int inputSize, int hidden, int outputs, int layers, bool bidirectional, int vocabulary, Dictionary<string, double[]> values)
    {
        if (cell != CellKind.Rnn && options.Activation != Activation.Tanh)
        {
            throw new UnrollException($"{path}: holds {ModelFile.WithArticle(CellName(cell))}, whose gates are fixed; the activation {Activations.Name(options.Activation)} applies to rnn only");
        }

        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(CellName(cell)),
            InputSize = inputSize,
            HiddenSize = hidden,
            OutputSize = outputs,
            Layers = layers,
            Bidirectional = bidirectional,
            Activation = options.Activation,
            VocabularySize = vocabulary,
            Head = options.Head,
            Pooling = options.Pooling,
            InputNames = options.InputNames,
            OutputNames = options.OutputNames,
        };
        try
        {
            config.Validate();
        }
        catch (UnrollException e)
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }

        var model = new SequenceModel<float>(config, initialize: false);
        foreach (var view in model.Parameters.Views)
        {
            // Parameters the file does not have are biases of a module built with bias=False: zero.
            if (!values.TryGetValue(view.Name, out var source))
            {
                continue;
            }

            var destination = model.Parameters.Values.AsSpan(view.Offset, view.Length);
            for (int i = 0; i < destination.Length; i++)
            {
                float value = (float)source[i];
                if (!float.IsFinite(value))
                {
                    throw new UnrollException($"{path}: the weights for '{view.Name}' hold a non-finite value ({source[i]}) at index {i}; expected finite weights");
                }

                destination[i] = value;
            }
        }

        return model;
    }

    private static (CellKind Cell, int Hidden) InferCell(Source source, string name, int rows, int hidden, string? requested)
    {
        if (hidden <= 0 || rows % hidden != 0 || (rows / hidden) is not (1 or 3 or 4))
        {
            throw source.Error($"'{name}' relates {rows} gate rows to hidden size {hidden}; expected 1 (rnn), 3 (gru) or 4 (lstm) gate blocks of a positive hidden size");
        }

        var cell = (rows / hidden) switch { 1 => CellKind.Rnn, 3 => CellKind.Gru, _ => CellKind.Lstm };
        if (requested is not null && requested != CellName(cell))
        {
            throw source.Error($"'{name}' holds {rows / hidden} gate block(s) of {hidden}, {ModelFile.WithArticle(CellName(cell))}; expected {ModelFile.WithArticle(requested)} (--model {requested}) with {(requested == "lstm" ? 4 : requested == "gru" ? 3 : 1)}");
        }

        return (cell, hidden);
    }

    private static string FindPyTorchPrefix(Source source)
    {
        var prefixes = source.Names.Where(n => n.EndsWith("weight_ih_l0", StringComparison.Ordinal)).Select(n => n[..^"weight_ih_l0".Length]).ToList();
        return prefixes.Count switch
        {
            1 => prefixes[0],
            0 => throw source.Error($"holds no '*weight_ih_l0' tensor; expected the state_dict of a torch.nn.RNN, LSTM or GRU (tensors: {source.List()})"),
            _ => throw source.Error($"holds several recurrent modules ({string.Join(", ", prefixes.Select(p => $"'{p}'"))}); choose one with --rnn-prefix"),
        };
    }

    /// <summary>Without a "head." module, a single other Linear (X.weight, optional X.bias) is taken as the head.</summary>
    private static string? FindPyTorchHead(Source source)
    {
        var candidates = source.Unused.Where(n => n.EndsWith("weight", StringComparison.Ordinal)).Select(n => n[..^"weight".Length]).ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        if (candidates.Count == 1 && source.Unused.All(n => n == candidates[0] + "weight" || n == candidates[0] + "bias"))
        {
            return candidates[0];
        }

        throw source.Error($"holds {string.Join(", ", source.Unused)} besides the recurrent module; name the head's prefix with --head-prefix (e.g. fc)");
    }

    private static string WithDot(string prefix) => prefix.Length == 0 || prefix.EndsWith('.') ? prefix : prefix + ".";

    private static string CellName(CellKind cell) => cell switch { CellKind.Lstm => "lstm", CellKind.Gru => "gru", _ => "rnn" };

    private static string Describe(CellKind cell, int layers, bool bidirectional, int inputSize, int hidden) =>
        $"{(layers > 1 ? $"{layers}-layer " : string.Empty)}{(bidirectional ? "bidirectional " : string.Empty)}{CellName(cell)} with input {inputSize}, hidden {hidden}";

    private static double[] Identity(int size)
    {
        var identity = new double[size * size];
        for (int i = 0; i < size; i++)
        {
            identity[(i * size) + i] = 1;
        }

        return identity;
    }

    /// <summary>[rows, columns] row-major to [columns, rows] row-major: Keras' [in, out] to PyTorch's [out, in].</summary>
    private static double[] Transpose(StoredTensor matrix)
    {
        int rows = matrix.Shape[0], columns = matrix.Shape[1];
        var result = new double[matrix.Values.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                result[(c * rows) + r] = matrix.Values[(r * columns) + c];
            }
        }

        return result;
    }

    /// <summary>Reorders the G blocks of H rows each: block j of the result is block order[j] of the input.</summary>
    private static double[] PermuteGateRows(double[] values, int gates, int hidden, int columns, int[] order)
    {
        var result = new double[values.Length];
        int block = hidden * columns;
        for (int j = 0; j < gates; j++)
        {
            Array.Copy(values, order[j] * block, result, j * block, block);
        }

        return result;
    }

    /// <summary>The tensors of a file, which of them the import has used, and errors that name the file.</summary>
    private sealed class Source(string path, IReadOnlyList<StoredTensor> tensors)
    {
        private readonly Dictionary<string, StoredTensor> _byName = tensors.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);

        public IEnumerable<string> Names => tensors.Select(t => t.Name);

        public IEnumerable<string> Unused => tensors.Select(t => t.Name).Where(n => !_used.Contains(n));

        public bool Has(string name) => _byName.ContainsKey(name);

        public string List() => tensors.Count == 0 ? "none" : string.Join(", ", tensors.Select(t => $"{t.Name} {StoredTensor.FormatShape(t.Shape)}"));

        /// <summary>The tensor called <paramref name="name"/> with <paramref name="rank"/> dimensions (any rank when negative).</summary>
        public StoredTensor Need(string name, int rank)
        {
            if (!_byName.TryGetValue(name, out var tensor))
            {
                throw Error($"has no '{name}'; expected it beside the others (it holds: {List()})");
            }

            if (rank >= 0 && tensor.Shape.Length != rank)
            {
                throw Error($"'{name}' has shape {StoredTensor.FormatShape(tensor.Shape)}; expected {rank} dimensions");
            }

            _used.Add(name);
            return tensor;
        }

        /// <summary>The tensor called <paramref name="name"/>, which must have exactly <paramref name="shape"/>.</summary>
        public StoredTensor Need(string name, int[] shape)
        {
            var tensor = Need(name, -1);
            if (!tensor.Shape.SequenceEqual(shape))
            {
                throw Error($"'{name}' has shape {StoredTensor.FormatShape(tensor.Shape)}; expected {StoredTensor.FormatShape(shape)}");
            }

            return tensor;
        }

        public void RejectUnused(string what)
        {
            var unused = Unused.ToList();
            if (unused.Count > 0)
            {
                throw Error($"holds {string.Join(", ", unused)}, which {what} does not use; expected only its weights (check --model, --rnn-prefix, --head-prefix, --embedding-prefix)");
            }
        }

        public UnrollException Error(string message) => new($"{path}: {message}");
    }
}
