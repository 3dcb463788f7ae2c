using System.Numerics;
using Unroll.Cells;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>One H x H block of a recurrent weight: the matrix that multiplies h_{t-1} in one gate's pre-activation.</summary>
/// <param name="Parameter">The state-dict name of the weight, e.g. <c>rnn.weight_hh_l1_reverse</c>.</param>
/// <param name="Layer">The layer, from 0.</param>
/// <param name="Reverse">Whether it belongs to the backward direction of a bidirectional layer.</param>
/// <param name="Gate">The block's index in PyTorch's gate order (0 for the Elman cell).</param>
/// <param name="Matrix">The block, row-major, in double.</param>
/// <param name="Size">H, its number of rows and columns.</param>
internal sealed record RecurrentBlock(string Parameter, int Layer, bool Reverse, int Gate, double[] Matrix, int Size);

/// <summary>The square recurrent blocks of a model, for its spectra (the trainer's diagnostics and the diagnose command's).</summary>
internal static class RecurrentBlocks
{
    /// <summary>
    /// Every H x H block of every <c>rnn.weight_hh_l{k}</c> (and <c>_reverse</c>), ordered by layer, then direction
    /// (forward first), then gate; block g is rows g H .. (g + 1) H - 1 of the [G H, H] weight. The Jordan network
    /// and the scan cells (LRU, minGRU, minLSTM) have no square real recurrent weight and give none.
    /// </summary>
    /// <exception cref="UnrollException">A weight is missing or has the wrong shape.</exception>
    public static List<RecurrentBlock> Of<T>(IRecurrentModel<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        var blocks = new List<RecurrentBlock>();
        if (config.Architecture == Architecture.Jordan || Layers.RecurrentLayers.IsScanCell(config.Cell))
        {
            // The scan cells have no weight_hh: the min-cells' recurrence diag(a_t) depends on the input, and the
            // LRU's diag(lambda) is complex (its eigenvalues are in Spectra.Of).
            return blocks;
        }

        int gates = CellKinds.GateCount(config.Cell);
        int hidden = config.HiddenSize;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int direction = 0; direction < config.Directions; direction++)
            {
                bool reverse = direction == 1;
                string name = ParameterNames.WeightHh(layer, reverse);
                if (!model.Parameters.Contains(name))
                {
                    throw new UnrollException($"spectra: expected a parameter '{name}' in the {config.Architecture.Name()} model, got none.");
                }

                var shape = model.Parameters.View(name).Shape;
                if (shape.Length != 2 || shape[0] != gates * hidden || shape[1] != hidden)
                {
                    throw new UnrollException(
                        $"spectra: expected '{name}' of shape [{gates * hidden}, {hidden}], got [{string.Join(", ", shape)}].");
                }

                var values = model.Parameters.Value(name);
                for (int gate = 0; gate < gates; gate++)
                {
                    var block = new double[hidden * hidden];
                    var source = values.Slice(gate * hidden * hidden, hidden * hidden);
                    for (int k = 0; k < block.Length; k++)
                    {
                        block[k] = double.CreateChecked(source[k]);
                    }

                    blocks.Add(new RecurrentBlock(name, layer, reverse, gate, block, hidden));
                }
            }
        }

        return blocks;
    }
}
