using Google.Protobuf;
using Onnx;
using Unroll.Cells;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Onnx;

/// <summary>
/// Writes a <see cref="SequenceModel{T}"/> as an ONNX model (opset <see cref="OpsetVersion"/>) that
/// computes the same predictions with the standard ONNX operators, so ONNX Runtime and other ONNX
/// back ends run it without Unroll:
/// <code>
/// input [time, batch, I] float          (or tokens [time, batch] int64 -> Gather(embedding.weight))
/// initial_h [L*D, batch, H] (zeros unless fed; initial_c too for the LSTM), Slice per layer
///   -> RNN | LSTM | GRU (layer 0)       Y [time, D, batch, H], Y_h (and Y_c) [D, batch, H]
///   -> Transpose(0, 2, 1, 3), Reshape   [time, batch, D*H]   (forward half first, as torch)
///   -> ... layers 1..L-1 ...
///   -> MatMul(head.weight^T) + head.bias            output [time, batch, O]      (every step)
///   or Y_h -> [batch, D*H] -> Gemm(head)             output [batch, O]            (last step)
/// every layer's Y_h (and Y_c) -> Concat            final_h (final_c) [L*D, batch, H]
/// </code>
/// Gate blocks are reordered from torch's layout to ONNX's: LSTM i, f, g, o becomes i, o, f, c;
/// GRU r, z, n becomes z, r, h, with <c>linear_before_reset = 1</c> (torch's GRU). States are
/// stacked as torch's h0 and h_n (and Unroll's initial and final states): layer-major, then
/// direction. A sequence starts from the state fed as <see cref="InitialStateName"/> (a graph
/// input whose initializer of zeros is its default, so it may be left out) and runs all
/// <c>time</c> steps, or, with <see cref="OnnxExportOptions.SequenceLengths"/>, its own length
/// given in the input <c>lengths</c>; feeding one call's <see cref="FinalStateName"/> as the next
/// call's <see cref="InitialStateName"/> streams a long sequence in pieces. Dropout is not part of
/// inference. See docs/onnx.md.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The ONNX operator set the graph uses: RNN-14, LSTM-14 and GRU-14 are its recurrent operators.</summary>
    public const int OpsetVersion = 14;

    /// <summary>The ONNX IR version that goes with <see cref="OpsetVersion"/> (ONNX 1.9).</summary>
    public const long IrVersion = 7;

    /// <summary>Name of the dense input, float [time, batch, I].</summary>
    public const string DenseInputName = "input";

    /// <summary>Name of the token input of embedding models, int64 [time, batch].</summary>
    public const string TokenInputName = "tokens";

    /// <summary>Name of the optional input of each sequence's length, int32 [batch] (<see cref="OnnxExportOptions.SequenceLengths"/>).</summary>
    public const string LengthsInputName = "lengths";

    /// <summary>
    /// Name of the optional input of the initial hidden state, float [L*D, batch, H] (torch's h0):
    /// layer-major, then direction (forward, backward). Left out, every sequence starts from zeros.
    /// </summary>
    public const string InitialStateName = "initial_h";

    /// <summary>Name of the LSTM's optional input of the initial cell state, float [L*D, batch, H] (torch's c0); zeros when left out.</summary>
    public const string InitialCellName = "initial_c";

    /// <summary>
    /// Name of the output of each sequence's last hidden state, float [L*D, batch, H] (torch's h_n):
    /// the forward direction's after its last step, the backward direction's after t = 0.
    /// </summary>
    public const string FinalStateName = "final_h";

    /// <summary>Name of the LSTM's output of each sequence's last cell state, float [L*D, batch, H] (torch's c_n).</summary>
    public const string FinalCellName = "final_c";

    /// <summary>Name of a regression model's output.</summary>
    public const string RegressionOutputName = "output";

    /// <summary>Name of a classification model's output: logits, before any softmax.</summary>
    public const string ClassificationOutputName = "logits";

    /// <summary>The symbolic dimension of the sequence length.</summary>
    public const string TimeDimension = "time";

    /// <summary>The symbolic dimension of the batch.</summary>
    public const string BatchDimension = "batch";

    /// <summary>The metadata_props key under which the model's <see cref="ModelConfig"/> JSON is stored.</summary>
    public const string ConfigKey = ModelFile.ConfigKey;

    /// <summary>The input name the exported graph has for <paramref name="config"/>.</summary>
    public static string InputName(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.VocabularySize > 0 ? TokenInputName : DenseInputName;
    }

    /// <summary>The output name the exported graph has for <paramref name="config"/>.</summary>
    public static string OutputName(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Head == HeadKind.Classification ? ClassificationOutputName : RegressionOutputName;
    }

    /// <summary>Writes the model as ONNX to <paramref name="path"/> (to a temporary name, then renamed over it).</summary>
    /// <exception cref="UnrollException">The model cannot be expressed in ONNX (the Jordan network), or the file cannot be written.</exception>
    public static void Save(string path, IRecurrentModel<float> model, OnnxExportOptions? options = null)
    {
        var proto = Build(model, options ?? new OnnxExportOptions());
        AtomicFile.Write(path, stream => proto.WriteTo(stream));
    }

    /// <summary>The serialised ONNX model.</summary>
    /// <exception cref="UnrollException">The model cannot be expressed in ONNX (the Jordan network, the LRU, minGRU and minLSTM).</exception>
    public static byte[] ToBytes(IRecurrentModel<float> model, OnnxExportOptions? options = null) =>
        Build(model, options ?? new OnnxExportOptions()).ToByteArray();

    internal static ModelProto Build(IRecurrentModel<float> model, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (model is not SequenceModel<float> sequenceModel)
        {
            throw new UnrollException(
                $"cannot export a {model.Config.Architecture.Name()} model to ONNX: the Jordan network feeds its own output back as the next step's input, "
                + "which ONNX's RNN, LSTM and GRU operators cannot express; expected an rnn, lstm or gru model.");
        }

        var config = sequenceModel.Config;
        config.Validate();
        if (config.Cell is CellKind.Lru or CellKind.MinGru or CellKind.MinLstm)
        {
            // ONNX has RNN, LSTM and GRU operators; a scan cell would need its own graph (a Scan body or T unrolled steps).
            throw new UnrollException(
                $"cannot export a {config.Architecture.Name()} model to ONNX: ONNX's recurrent operators are RNN, LSTM and GRU, and the {config.Architecture.Name()} cell is none of them; "
                + "expected an rnn, lstm or gru model.");
        }

        var builder = new OnnxGraphBuilder("unroll_" + config.Architecture);
        string current = AddInput(builder, sequenceModel);
        string lengths = string.Empty;
        if (options.SequenceLengths)
        {
            lengths = LengthsInputName;
            builder.Graph.Input.Add(OnnxGraphBuilder.Value(lengths, TensorProto.Types.DataType.Int32,
                "Each sequence's length in [1, time]; its later steps are padding: they leave the state unchanged and give zero layer outputs.", BatchDimension));
        }

        var (initialState, initialCell) = AddInitialStates(builder, config, InputName(config), options.RequiredInitialStates);
        int hidden = config.HiddenSize, directions = config.Directions;
        bool lastStep = config.Pooling == Pooling.LastStep, hasCell = CellKinds.HasCellState(config.Cell);
        var finalStates = new List<string>();
        var finalCells = new List<string>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            bool top = layer == config.Layers - 1;
            string prefix = $"layer{layer}";
            var (weight, recurrence, bias) = AddLayerWeights(builder, sequenceModel, layer);
            string y = top && lastStep ? string.Empty : $"{prefix}_Y";
            string yh = $"{prefix}_Y_h", yc = hasCell ? $"{prefix}_Y_c" : string.Empty;
            string layerState = LayerSlice(builder, initialState, layer, config.Layers, directions);
            string layerCell = hasCell ? LayerSlice(builder, initialCell, layer, config.Layers, directions) : string.Empty;
            var attributes = new List<AttributeProto>
            {
                OnnxGraphBuilder.Int("hidden_size", hidden),
                OnnxGraphBuilder.Text("direction", config.Bidirectional ? "bidirectional" : "forward"),
            };
            attributes.AddRange(CellAttributes(config));
            builder.AddNode(OperatorName(config.Cell), $"{prefix}_{config.Architecture.Name()}", [current, weight, recurrence, bias, lengths, layerState, layerCell], [y, yh, yc], [.. attributes]);
            finalStates.Add(yh);
            if (hasCell)
            {
                finalCells.Add(yc);
            }

            if (top && lastStep)
            {
                // Y_h [D, batch, H] holds each direction's state after its last step (the backward
                // direction's after t = 0), exactly what the head pools: -> [batch, D*H].
                builder.AddNode("Transpose", $"{prefix}_final_batch_major", [yh], [$"{prefix}_Y_h_bdh"], OnnxGraphBuilder.Ints("perm", 1, 0, 2));
                string shape = builder.AddInt64s("shape_batch_features", 0, -1);
                current = $"{prefix}_final";
                builder.AddNode("Reshape", $"{prefix}_final_concat", [$"{prefix}_Y_h_bdh", shape], [current]);
            }
            else
            {
                // Y [time, D, batch, H] -> [time, batch, D, H] -> [time, batch, D*H]: torch's layer output.
                builder.AddNode("Transpose", $"{prefix}_directions_inner", [y], [$"{prefix}_Y_tbdh"], OnnxGraphBuilder.Ints("perm", 0, 2, 1, 3));
                string shape = builder.AddInt64s("shape_time_batch_features", 0, 0, -1);
                current = $"{prefix}_output";
                builder.AddNode("Reshape", $"{prefix}_directions_concat", [$"{prefix}_Y_tbdh", shape], [current]);
            }
        }

        AddHead(builder, sequenceModel, current);
        AddFinalStates(builder, config, finalStates, FinalStateName, "hidden state (torch's h_n)");
        if (hasCell)
        {
            AddFinalStates(builder, config, finalCells, FinalCellName, "LSTM cell state (torch's c_n)");
        }

        var proto = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "unroll",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString(3) ?? "0",
            DocString = Describe(config),
            Graph = builder.Graph,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = OpsetVersion });
        proto.MetadataProps.Add(new StringStringEntryProto { Key = ConfigKey, Value = config.ToJson() });
        return proto;
    }

    private static string AddInput(OnnxGraphBuilder builder, SequenceModel<float> model)
    {
        var config = model.Config;
        if (config.VocabularySize <= 0)
        {
            string features = config.InputNames.Count > 0 ? $" (features {string.Join(", ", config.InputNames)})" : string.Empty;
            builder.Graph.Input.Add(OnnxGraphBuilder.Value(DenseInputName, TensorProto.Types.DataType.Float,
                $"Input sequences, time-major [time, batch, {config.InputSize}]{features}.", TimeDimension, BatchDimension, config.InputSize));
            return DenseInputName;
        }

        builder.Graph.Input.Add(OnnxGraphBuilder.Value(TokenInputName, TensorProto.Types.DataType.Int64,
            $"Token ids in [0, {config.VocabularySize}), time-major [time, batch].", TimeDimension, BatchDimension));
        string embedding = builder.AddFloats(SequenceModel<float>.EmbeddingName, [config.VocabularySize, config.InputSize],
            model.Parameters.Value(SequenceModel<float>.EmbeddingName).ToArray());
        builder.AddNode("Gather", "embedding", [embedding, TokenInputName], ["embedded"], OnnxGraphBuilder.Int("axis", 0));
        return "embedded";
    }

    /// <summary>
    /// The inputs <see cref="InitialStateName"/> (and <see cref="InitialCellName"/> for the LSTM),
    /// [L*D, batch, H]. Unless <paramref name="required"/>, each has an initializer of zeros
    /// [L*D, 1, H] under the same name: ONNX (IR 4 and later) treats such an initializer as the
    /// input's default, so a caller may leave it out; Expand broadcasts the default's batch of one to
    /// the batch of <paramref name="sequenceInput"/>, as the recurrent operators need (a fed state of
    /// the full batch passes through unchanged). Returns the states the layers slice.
    /// </summary>
    private static (string State, string Cell) AddInitialStates(OnnxGraphBuilder builder, ModelConfig config, string sequenceInput, bool required)
    {
        int stacked = config.Layers * config.Directions, hidden = config.HiddenSize;
        if (!required)
        {
            builder.AddNode("Shape", "input_shape", [sequenceInput], ["input_shape"]);
            string batchIndex = builder.AddInt64s("index_batch", 1);
            builder.AddNode("Gather", "input_batch", ["input_shape", batchIndex], ["input_batch"], OnnxGraphBuilder.Int("axis", 0));
            string leading = builder.AddInt64s("state_layers_directions", stacked);
            string trailing = builder.AddInt64s("state_hidden", hidden);
            builder.AddNode("Concat", "state_shape", [leading, "input_batch", trailing], ["state_shape"], OnnxGraphBuilder.Int("axis", 0));
        }

        string State(string name, string what, string final)
        {
            string use = required
                ? "required: feed zeros to start from a zero state"
                : "optional: zeros when left out";
            builder.Graph.Input.Add(OnnxGraphBuilder.Value(name, TensorProto.Types.DataType.Float,
                $"The initial {what} of every layer and direction, [{stacked}, batch, {hidden}], layer-major then direction "
                + $"(torch's order); {use}. Feed a call's {final} here to continue its sequences.",
                stacked, BatchDimension, hidden));
            if (required)
            {
                return name;
            }

            builder.AddFloats(name, [stacked, 1, hidden], new float[stacked * hidden]);
            string expanded = name + "_batch";
            builder.AddNode("Expand", name + "_to_batch", [name, "state_shape"], [expanded]);
            return expanded;
        }

        string state = State(InitialStateName, "hidden state (torch's h0)", FinalStateName);
        string cell = CellKinds.HasCellState(config.Cell) ? State(InitialCellName, "LSTM cell state (torch's c0)", FinalCellName) : string.Empty;
        return (state, cell);
    }

    /// <summary>Layer <paramref name="layer"/>'s rows [layer*D, (layer+1)*D) of a stacked state, as the recurrent operator's [D, batch, H].</summary>
    private static string LayerSlice(OnnxGraphBuilder builder, string stacked, int layer, int layers, int directions)
    {
        if (layers == 1)
        {
            return stacked;
        }

        string sliced = $"{stacked}_l{layer}";
        builder.AddNode("Slice", $"{sliced}_slice", [stacked, builder.AddInt64s($"state_start_l{layer}", layer * directions),
            builder.AddInt64s($"state_end_l{layer}", (layer + 1) * directions), builder.AddInt64s("axis_0", 0)], [sliced]);
        return sliced;
    }

    /// <summary>The output <paramref name="name"/> [L*D, batch, H]: every layer's [D, batch, H] final state, stacked in layer order.</summary>
    private static void AddFinalStates(OnnxGraphBuilder builder, ModelConfig config, List<string> layerStates, string name, string what)
    {
        builder.AddNode("Concat", $"{name}_layers", [.. layerStates], [name], OnnxGraphBuilder.Int("axis", 0));
        int stacked = config.Layers * config.Directions;
        builder.Graph.Output.Add(OnnxGraphBuilder.Value(name, TensorProto.Types.DataType.Float,
            $"Each sequence's last {what} for every layer and direction, [{stacked}, batch, {config.HiddenSize}], layer-major then direction: "
            + "the forward direction's after the sequence's last step, the backward direction's after t = 0.",
            stacked, BatchDimension, config.HiddenSize));
    }

    // ONNX stacks the directions of a layer in one W [D, G*H, in], R [D, G*H, H] and B [D, 2*G*H]
    // (W's bias blocks, then R's), each in its own gate order.
    private static (string Weight, string Recurrence, string Bias) AddLayerWeights(OnnxGraphBuilder builder, SequenceModel<float> model, int layer)
    {
        var config = model.Config;
        int hidden = config.HiddenSize, directions = config.Directions, gates = CellKinds.GateCount(config.Cell);
        int inputWidth = layer == 0 ? config.InputSize : directions * hidden;
        int rows = gates * hidden;
        var order = OnnxGateOrder(config.Cell);
        var weight = new float[directions * rows * inputWidth];
        var recurrence = new float[directions * rows * hidden];
        var bias = new float[directions * 2 * rows];
        for (int d = 0; d < directions; d++)
        {
            bool reverse = d == 1;
            Reorder(model.Parameters.Value(ParameterNames.WeightIh(layer, reverse)), order, hidden, inputWidth, weight.AsSpan(d * rows * inputWidth, rows * inputWidth));
            Reorder(model.Parameters.Value(ParameterNames.WeightHh(layer, reverse)), order, hidden, hidden, recurrence.AsSpan(d * rows * hidden, rows * hidden));
            Reorder(model.Parameters.Value(ParameterNames.BiasIh(layer, reverse)), order, hidden, 1, bias.AsSpan(2 * d * rows, rows));
            Reorder(model.Parameters.Value(ParameterNames.BiasHh(layer, reverse)), order, hidden, 1, bias.AsSpan(((2 * d) + 1) * rows, rows));
        }

        string prefix = $"layer{layer}";
        return (
            builder.AddFloats($"{prefix}_W", [directions, rows, inputWidth], weight),
            builder.AddFloats($"{prefix}_R", [directions, rows, hidden], recurrence),
            builder.AddFloats($"{prefix}_B", [directions, 2 * rows], bias));
    }

    /// <summary>
    /// For each ONNX gate block in ONNX's order, the torch block it comes from:
    /// LSTM ONNX i, o, f, c from torch i, f, g, o; GRU ONNX z, r, h from torch r, z, n.
    /// </summary>
    internal static int[] OnnxGateOrder(CellKind cell) => cell switch
    {
        CellKind.Rnn => [0],
        CellKind.Lstm => [0, 3, 1, 2],
        CellKind.Gru => [1, 0, 2],
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell."),
    };

    private static void Reorder(ReadOnlySpan<float> torchBlocks, int[] order, int hidden, int columns, Span<float> onnxBlocks)
    {
        int block = hidden * columns;
        for (int k = 0; k < order.Length; k++)
        {
            torchBlocks.Slice(order[k] * block, block).CopyTo(onnxBlocks.Slice(k * block, block));
        }
    }

    private static string OperatorName(CellKind cell) => cell switch
    {
        CellKind.Rnn => "RNN",
        CellKind.Lstm => "LSTM",
        CellKind.Gru => "GRU",
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell."),
    };

    private static IEnumerable<AttributeProto> CellAttributes(ModelConfig config)
    {
        switch (config.Cell)
        {
            case CellKind.Gru:
                // torch's GRU applies r to (W_hn h + b_hn), i.e. after the linear map.
                yield return OnnxGraphBuilder.Int("linear_before_reset", 1);
                break;
            case CellKind.Rnn:
                // One activation per direction. ONNX has no identity activation; Affine(alpha=1, beta=0)
                // computes alpha*x + beta, which is the identity.
                var (name, affine) = config.Activation switch
                {
                    Activation.Tanh => ("Tanh", false),
                    Activation.Relu => ("Relu", false),
                    Activation.Sigmoid => ("Sigmoid", false),
                    Activation.Identity => ("Affine", true),
                    _ => throw new UnrollException($"cannot export activation {config.Activation} to ONNX; expected tanh, relu, sigmoid or identity."),
                };
                yield return OnnxGraphBuilder.Texts("activations", [.. Enumerable.Repeat(name, config.Directions)]);
                if (affine)
                {
                    yield return OnnxGraphBuilder.Floats("activation_alpha", [.. Enumerable.Repeat(1f, config.Directions)]);
                    yield return OnnxGraphBuilder.Floats("activation_beta", [.. Enumerable.Repeat(0f, config.Directions)]);
                }

                break;
            default:
                // LSTM's default activations (sigmoid, tanh, tanh) are torch's.
                break;
        }
    }

    private static void AddHead(OnnxGraphBuilder builder, SequenceModel<float> model, string features)
    {
        var config = model.Config;
        int width = config.Directions * config.HiddenSize, outputs = config.OutputSize;
        var headWeight = model.Parameters.Value(SequenceModel<float>.HeadWeightName);
        string bias = builder.AddFloats(SequenceModel<float>.HeadBiasName, [outputs], model.Parameters.Value(SequenceModel<float>.HeadBiasName).ToArray());
        string output = OutputName(config);
        string what = config.Head == HeadKind.Classification ? "Class logits (apply softmax for probabilities)" : "Predictions";
        if (config.Pooling == Pooling.LastStep)
        {
            // Gemm: Y = A B^T + C with A [batch, D*H], B = head.weight [O, D*H] as torch stores it.
            string weight = builder.AddFloats(SequenceModel<float>.HeadWeightName, [outputs, width], headWeight.ToArray());
            builder.AddNode("Gemm", "head", [features, weight, bias], [output], OnnxGraphBuilder.Int("transB", 1));
            builder.Graph.Output.Add(OnnxGraphBuilder.Value(output, TensorProto.Types.DataType.Float,
                $"{what} from each sequence's last state, [batch, {outputs}]{NamesSuffix(config)}.", BatchDimension, outputs));
            return;
        }

        // MatMul broadcasts over [time, batch, D*H] x [D*H, O]; it needs head.weight transposed.
        var transposed = new float[width * outputs];
        for (int o = 0; o < outputs; o++)
        {
            for (int j = 0; j < width; j++)
            {
                transposed[(j * outputs) + o] = headWeight[(o * width) + j];
            }
        }

        string weightTransposed = builder.AddFloats("head.weight_transposed", [width, outputs], transposed);
        builder.AddNode("MatMul", "head_matmul", [features, weightTransposed], ["head_product"]);
        builder.AddNode("Add", "head_bias", ["head_product", bias], [output]);
        builder.Graph.Output.Add(OnnxGraphBuilder.Value(output, TensorProto.Types.DataType.Float,
            $"{what} at every step, [time, batch, {outputs}]{NamesSuffix(config)}.", TimeDimension, BatchDimension, outputs));
    }

    private static string NamesSuffix(ModelConfig config) =>
        config.OutputNames.Count > 0 ? $" ({string.Join(", ", config.OutputNames)})" : string.Empty;

    private static string Describe(ModelConfig config) =>
        $"Unroll {(config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty)}{(config.Bidirectional ? "bidirectional " : string.Empty)}"
        + $"{config.Architecture.Name()} model: input {config.InputSize}{(config.VocabularySize > 0 ? $" (embedding of {config.VocabularySize} tokens)" : string.Empty)}, "
        + $"hidden {config.HiddenSize}, {config.Head.ToString().ToLowerInvariant()} head with {config.OutputSize} outputs "
        + $"{(config.Pooling == Pooling.LastStep ? "from the last step" : "at every step")}.";
}

/// <summary>Choices for <see cref="OnnxExporter"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>
    /// Adds the input <see cref="OnnxExporter.LengthsInputName"/> (int32 [batch]), passed to every
    /// recurrent node as <c>sequence_lens</c>, so one batch may hold sequences of different lengths:
    /// padded steps leave the state unchanged and give zero layer outputs (so the head gives its bias
    /// there), the backward direction starts at each sequence's own end, and last-step pooling reads
    /// each sequence's own last state, as Unroll's forward with lengths.
    /// </summary>
    public bool SequenceLengths { get; init; }

    /// <summary>
    /// Makes <see cref="OnnxExporter.InitialStateName"/> (and <see cref="OnnxExporter.InitialCellName"/>)
    /// required inputs without a default, so a caller feeds zeros to start from a zero state. By
    /// default they are optional (an initializer of zeros is their default), which ONNX Runtime
    /// supports but reports with a warning when it loads the model, and which runtimes that feed
    /// only the inputs without a default cannot set (onnxruntime-node ignores them).
    /// </summary>
    public bool RequiredInitialStates { get; init; }
}
