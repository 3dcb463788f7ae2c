using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;

namespace Unroll.Layers;

/// <summary>
/// The one place that maps a cell kind to its layer type, its parameter names and shapes, and its parameter count.
/// </summary>
internal static class RecurrentLayers
{
    /// <summary>Whether the cell is trained by a scan over time (its gates do not read h): LRU, minGRU, minLSTM.</summary>
    public static bool IsScanCell(CellKind cell) => cell is CellKind.Lru or CellKind.MinGru or CellKind.MinLstm;

    /// <summary>The layer for one direction of one layer.</summary>
    public static IRecurrentLayer<T> Create<T>(
        Tensors.ParameterSet<T> parameters, CellKind cell, Activation activation, int layer, bool reverse, int inputSize, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T> => cell switch
        {
            CellKind.Lru => new LruLayer<T>(parameters, layer, reverse, inputSize, hidden),
            CellKind.MinGru => new MinGruLayer<T>(parameters, layer, reverse, inputSize, hidden),
            CellKind.MinLstm => new MinLstmLayer<T>(parameters, layer, reverse, inputSize, hidden),
            CellKind.Rnn => new RecurrentDirection<T, ElmanCell>(parameters, new ElmanCell(activation), layer, reverse, inputSize, hidden),
            CellKind.Lstm => new RecurrentDirection<T, LstmCell>(parameters, default, layer, reverse, inputSize, hidden),
            CellKind.Gru => new RecurrentDirection<T, GruCell>(parameters, default, layer, reverse, inputSize, hidden),
            _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell."),
        };

    /// <summary>The (name, shape) pairs of one direction's parameters, in the order they lie in the flat buffer.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout<T>(CellKind cell, int layer, bool reverse, int inputSize, int hidden)
        where T : unmanaged, IFloatingPointIeee754<T> => cell switch
        {
            CellKind.Lru => LruLayer<T>.Layout(layer, reverse, inputSize, hidden),
            CellKind.MinGru or CellKind.MinLstm => GatedScanLayer<T>.Layout(CellKinds.GateCount(cell), layer, reverse, inputSize, hidden),
            CellKind.Rnn => RecurrentDirection<T, ElmanCell>.Layout(layer, reverse, inputSize, hidden),
            CellKind.Lstm => RecurrentDirection<T, LstmCell>.Layout(layer, reverse, inputSize, hidden),
            CellKind.Gru => RecurrentDirection<T, GruCell>.Layout(layer, reverse, inputSize, hidden),
            _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell."),
        };

    /// <summary>
    /// The parameters of one direction of a scan cell with <paramref name="input"/> inputs and width
    /// <paramref name="hidden"/>, in double so that absurd sizes do not overflow.
    /// </summary>
    public static double ScanCellParameterCount(CellKind cell, double input, double hidden) => cell switch
    {
        // nu_log, theta_log, gamma_log [N]; B_re, B_im [N, I]; D [H, I]; C_re, C_im [H, N]; GLU [2H, H] and [2H]; N = H/2.
        CellKind.Lru => (1.5 * hidden) + (2 * hidden * input) + (hidden * hidden) + (2 * hidden * hidden) + (2 * hidden),
        // weight_ih [G H, I] and bias_ih [G H].
        CellKind.MinGru or CellKind.MinLstm => CellKinds.GateCount(cell) * hidden * (input + 1),
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Not a scan cell."),
    };

    /// <summary>
    /// dE[token_r] += dx_r for every row r: the first layer's input gradient sent back into the embedding rows it
    /// was looked up from (x_r = E[token_r]).
    /// </summary>
    public static void AddToEmbedding<T>(ReadOnlySpan<T> inputGradient, ReadOnlySpan<int> tokens, int width, Span<T> embeddingGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < tokens.Length; r++)
        {
            var source = inputGradient.Slice(r * width, width);
            var target = embeddingGradient.Slice(tokens[r] * width, width);
            for (int j = 0; j < width; j++)
            {
                target[j] += source[j];
            }
        }
    }

    /// <summary>The scan-trained layers take no gradient on their final state: throws when one is given.</summary>
    /// <exception cref="UnrollException">A final-state gradient is given.</exception>
    public static void RejectFinalStateGradient<T>(string layer, ReadOnlySpan<T> finalStateGradient, ReadOnlySpan<T> finalCellGradient)
    {
        if (!finalStateGradient.IsEmpty || !finalCellGradient.IsEmpty)
        {
            throw new UnrollException(
                $"backward: expected no gradient on the final states of a {layer} layer (they are trained by a scan over the outputs), got {finalStateGradient.Length + finalCellGradient.Length} values.");
        }
    }

    /// <summary>||v||_2 accumulated in double.</summary>
    public static double Norm<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (T value in values)
        {
            double v = double.CreateChecked(value);
            sum += v * v;
        }

        return Math.Sqrt(sum);
    }
}
