using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;

namespace Unroll.Layers;

/// <summary>How a model builds the layers of one kind of cell: each direction's parameter layout and its layer.</summary>
/// <param name="Layout">The (name, shape) pairs of one direction (layer, reverse, input size, hidden size), in buffer order.</param>
/// <param name="Create">The layer of one direction over the model's parameters.</param>
/// <param name="HasMemory">Whether the cell carries a memory c beside h.</param>
/// <typeparam name="T">float or double.</typeparam>
internal sealed record LayerFamily<T>(
    Func<int, bool, int, int, IEnumerable<(string Name, int[] Shape)>> Layout,
    Func<Tensors.ParameterSet<T>, int, bool, int, int, IRecurrentLayer<T>> Create,
    bool HasMemory)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// The one place that maps a cell kind to its layer type, its parameter names and shapes, and its parameter count.
/// </summary>
internal static class RecurrentLayers
{
    /// <summary>Whether the cell is trained by a scan over time (its gates do not read h): LRU, minGRU, minLSTM.</summary>
    public static bool IsScanCell(CellKind cell) => cell is CellKind.Lru or CellKind.MinGru or CellKind.MinLstm;

    /// <summary>The layers of a built-in cell kind; the Elman cell with <paramref name="activation"/>.</summary>
    public static LayerFamily<T> Family<T>(CellKind cell, Activation activation)
        where T : unmanaged, IFloatingPointIeee754<T> => cell switch
        {
            CellKind.Rnn => OfCell<T, ElmanCell>(new ElmanCell(activation)),
            CellKind.Lstm => OfCell<T, LstmCell>(default),
            CellKind.Gru => OfCell<T, GruCell>(default),
            CellKind.Lru => new(LruLayer<T>.Layout, static (p, layer, reverse, input, hidden) => new LruLayer<T>(p, layer, reverse, input, hidden), false),
            CellKind.MinGru => new(
                static (layer, reverse, input, hidden) => GatedScanLayer<T>.Layout(2, layer, reverse, input, hidden),
                static (p, layer, reverse, input, hidden) => new MinGruLayer<T>(p, layer, reverse, input, hidden), false),
            CellKind.MinLstm => new(
                static (layer, reverse, input, hidden) => GatedScanLayer<T>.Layout(3, layer, reverse, input, hidden),
                static (p, layer, reverse, input, hidden) => new MinLstmLayer<T>(p, layer, reverse, input, hidden), false),
            _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell."),
        };

    /// <summary>The layers of a cell behind the cell contract: one time loop, specialised for <typeparamref name="TCell"/>.</summary>
    /// <remarks><paramref name="outputs"/> (O) sizes the recurrent weight of a cell that feeds back the network's output.</remarks>
    public static LayerFamily<T> OfCell<T, TCell>(TCell cell, int outputs = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TCell : struct, IRecurrentCell<TCell> =>
        new(
            (layer, reverse, input, hidden) => RecurrentDirection<T, TCell>.Layout(layer, reverse, input, hidden, outputs),
            (p, layer, reverse, input, hidden) => new RecurrentDirection<T, TCell>(p, cell, layer, reverse, input, hidden),
            TCell.HasMemory);

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
