using System.Globalization;
using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Inference;

/// <summary>
/// One layer and direction's weights, copied out of the model and laid out for inference:
/// <code>
/// Elman, LSTM:  gates = W_ih x + (b_ih + b_hh) + W_hh h                       [G H]
/// GRU:          gi = W_ih x + b_ih,  gh = W_hh h + b_hh                        (n needs W_hn h + b_hn apart: n = tanh(gi_n + r * gh_n))
/// </code>
/// Each matrix is kept row-major (for the GEMM of a large batch) and packed in panels for the batch-1 GEMV.
/// </summary>
internal sealed class InferenceLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features the layer reads per step (I for layer 0, D*H above).</summary>
    public required int InputSize { get; init; }

    /// <summary>W_ih [G H, InputSize], row-major.</summary>
    public required T[] InputWeights { get; init; }

    /// <summary>W_ih packed for the GEMV.</summary>
    public required GemvMatrix<T> InputPacked { get; init; }

    /// <summary>W_ih^T packed once in the GEMM's panels, for the input projection of many rows.</summary>
    public required PackedOperand<T> InputGemm { get; init; }

    /// <summary>W_hh [G H, H], row-major.</summary>
    public required T[] HiddenWeights { get; init; }

    /// <summary>W_hh packed for the GEMV.</summary>
    public required GemvMatrix<T> HiddenPacked { get; init; }

    /// <summary>W_hh^T packed once in the GEMM's panels, for the recurrent product of many rows at every step.</summary>
    public required PackedOperand<T> HiddenGemm { get; init; }

    /// <summary>b_ih + b_hh for the Elman cell and the LSTM; b_ih for the GRU. [G H].</summary>
    public required T[] InputBias { get; init; }

    /// <summary>b_hh for the GRU; empty otherwise.</summary>
    public required T[] HiddenBias { get; init; }

    /// <summary>
    /// For the first layer of a token model: E W_ih^T + InputBias, [V, G H], so a token's gate input is one row read
    /// (no one-hot, no product); empty when the table would be too large (<see cref="InferenceWeights{T}.MaxTableValues"/>).
    /// </summary>
    public required T[] TokenTable { get; init; }
}

/// <summary>
/// A model's weights for inference: read by their state-dict names (docs/formats.md), copied, so the predictor shares
/// nothing with the model's parameter and training buffers and is read-only after construction (safe to share
/// between threads).
/// </summary>
internal sealed class InferenceWeights<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The largest token table built: 2^24 values (64 MB in float); a larger vocabulary reads the embedding row and multiplies.</summary>
    internal const long MaxTableValues = 1L << 24;

    /// <exception cref="UnrollException">The model is not an Elman, LSTM or GRU sequence model.</exception>
    public InferenceWeights(ModelConfig config, ParameterSet<T> parameters)
    {
        Config = config;
        Cell = config.Cell;
        if (config.Architecture == Architecture.Jordan || config.CustomCell is not null || Cell is not (CellKind.Rnn or CellKind.Lstm or CellKind.Gru))
        {
            throw new UnrollException($"predictor: expected an rnn, lstm or gru model, got {config.CustomCell ?? config.Architecture.Name()} (run it with SequenceModel.Predict or its own Step).");
        }

        Hidden = config.HiddenSize;
        Gates = CellKinds.GateCount(Cell) * Hidden;
        Directions = config.Directions;
        Width = Directions * Hidden;
        Vocabulary = config.VocabularySize;
        Embedding = Vocabulary > 0 ? parameters.Value(SequenceModel<T>.EmbeddingName).ToArray() : [];
        Layers = new InferenceLayer<T>[config.Layers * Directions];
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int d = 0; d < Directions; d++)
            {
                Layers[(layer * Directions) + d] = ReadLayer(parameters, layer, d == 1, layer == 0 ? config.InputSize : Width);
            }
        }

        HeadWeights = parameters.Value(SequenceModel<T>.HeadWeightName).ToArray();
        HeadPacked = new GemvMatrix<T>(HeadWeights, config.OutputSize, Width);
        HeadGemm = Pack(HeadWeights, config.OutputSize, Width);
        HeadBias = parameters.Value(SequenceModel<T>.HeadBiasName).ToArray();
    }

    public ModelConfig Config { get; }

    public CellKind Cell { get; }

    /// <summary>H.</summary>
    public int Hidden { get; }

    /// <summary>G H: the width of a step's pre-activations.</summary>
    public int Gates { get; }

    public int Directions { get; }

    /// <summary>D H: the width of a layer's output.</summary>
    public int Width { get; }

    /// <summary>V, or 0 for dense inputs.</summary>
    public int Vocabulary { get; }

    /// <summary>embedding.weight [V, I]; empty for dense inputs.</summary>
    public T[] Embedding { get; }

    /// <summary>Layer l, direction d at l * D + d.</summary>
    public InferenceLayer<T>[] Layers { get; }

    /// <summary>head.weight [O, D H].</summary>
    public T[] HeadWeights { get; }

    public GemvMatrix<T> HeadPacked { get; }

    /// <summary>head.weight^T packed for the GEMM.</summary>
    public PackedOperand<T> HeadGemm { get; }

    /// <summary>head.bias [O].</summary>
    public T[] HeadBias { get; }

    private InferenceLayer<T> ReadLayer(ParameterSet<T> parameters, int layer, bool reverse, int inputSize)
    {
        string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}") + (reverse ? "_reverse" : string.Empty);
        var inputWeights = Read(parameters, "rnn.weight_ih" + suffix, Gates * inputSize);
        var hiddenWeights = Read(parameters, "rnn.weight_hh" + suffix, Gates * Hidden);
        var inputBias = Read(parameters, "rnn.bias_ih" + suffix, Gates);
        var hiddenBias = Read(parameters, "rnn.bias_hh" + suffix, Gates);
        if (Cell != CellKind.Gru)
        {
            for (int j = 0; j < Gates; j++)
            {
                inputBias[j] += hiddenBias[j];
            }

            hiddenBias = [];
        }

        T[] table = [];
        if (layer == 0 && Vocabulary > 0 && (long)Vocabulary * Gates <= MaxTableValues)
        {
            // table[v] = W_ih E[v] + bias: one GEMM over the vocabulary, once.
            table = new T[Vocabulary * Gates];
            Gemm.Compute(Transpose.No, Transpose.Yes, Vocabulary, Gates, inputSize, T.One, Embedding, inputSize, inputWeights, inputSize, T.Zero, table, Gates);
            for (int v = 0; v < Vocabulary; v++)
            {
                var row = table.AsSpan(v * Gates, Gates);
                for (int j = 0; j < Gates; j++)
                {
                    row[j] += inputBias[j];
                }
            }
        }

        return new InferenceLayer<T>
        {
            InputSize = inputSize,
            InputWeights = inputWeights,
            InputPacked = new GemvMatrix<T>(inputWeights, Gates, inputSize),
            InputGemm = Pack(inputWeights, Gates, inputSize),
            HiddenWeights = hiddenWeights,
            HiddenPacked = new GemvMatrix<T>(hiddenWeights, Gates, Hidden),
            HiddenGemm = Pack(hiddenWeights, Gates, Hidden),
            InputBias = inputBias,
            HiddenBias = hiddenBias,
            TokenTable = table,
        };
    }

    // W [rows, columns] as the GEMM's right-hand operand W^T (columns x rows), packed once.
    private static PackedOperand<T> Pack(T[] weights, int rows, int columns)
    {
        var packed = new PackedOperand<T>();
        packed.Pack(Transpose.Yes, columns, rows, weights, Math.Max(1, columns));
        return packed;
    }

    private static T[] Read(ParameterSet<T> parameters, string name, int length)
    {
        if (!parameters.Contains(name))
        {
            throw new UnrollException($"predictor: expected a parameter named {name}, got none.");
        }

        var value = parameters.Value(name);
        return value.Length == length
            ? value.ToArray()
            : throw new UnrollException($"predictor: expected {name} to hold {length} values, got {value.Length}.");
    }
}
