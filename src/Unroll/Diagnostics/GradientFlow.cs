using System.Numerics;
using Unroll.Cells;
using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Diagnostics;

/// <summary>
/// The gradient flow through time of one layer and direction: ||dL/dh_t|| (and, for the LSTM,
/// ||dL/dc_t||) at every step t = 0..T-1, in time order, for two losses:
/// <list type="bullet">
/// <item><description>the total loss L = 1/(T B O) sum_t sum_{b,o} (y_tbo - target_tbo)^2, the mean
/// squared error the trainer minimises; dL/dh_t collects the head's part at step t and every later
/// step's part;</description></item>
/// <item><description>the last step's loss alone, L_T = 1/(B O) sum_{b,o} (y_Tbo - target_Tbo)^2 (the
/// notes' quantity): dL_T/dh_k = dL_T/dh_T prod_{j=k+1..T} dh_j/dh_{j-1}, so its decay with T - k
/// is the vanishing (or growth the exploding) gradient, without the head's own contributions at
/// every step mixed in. For a reverse direction "last" is t = 0, the last step it reads.</description></item>
/// </list>
/// Norms are over the whole batch (the Frobenius norm of the [B, H] block).
/// </summary>
/// <param name="Layer">The layer, from 0.</param>
/// <param name="Reverse">Whether this is the backward direction of a bidirectional layer.</param>
/// <param name="TotalLoss">||dL/dh_t|| for the total loss, t = 0..T-1.</param>
/// <param name="LastStepLoss">||dL_T/dh_t|| for the last step's loss, t = 0..T-1.</param>
/// <param name="TotalLossCell">||dL/dc_t|| through c_{t+1} (h_t held fixed) for the LSTM, t = 0..T-1; empty for other cells.</param>
/// <param name="LastStepLossCell">As <paramref name="TotalLossCell"/>, for the last step's loss.</param>
public sealed record GradientFlowProfile(
    int Layer,
    bool Reverse,
    double[] TotalLoss,
    double[] LastStepLoss,
    double[] TotalLossCell,
    double[] LastStepLossCell)
{
    /// <summary>
    /// ||dL/dh_first|| / ||dL/dh_last|| for the total loss, first and last in the direction's own
    /// order (t = 0 and T-1 forward, T-1 and 0 reverse): well below 1, little of the loss reaches
    /// the early steps.
    /// </summary>
    public double TotalLossRatio => Ratio(TotalLoss);

    /// <summary>||dL_T/dh_first|| / ||dL_T/dh_last|| for the last step's loss: the end-to-end gain of the Jacobian product.</summary>
    public double LastStepLossRatio => Ratio(LastStepLoss);

    private double Ratio(double[] norms) => norms.Length == 0
        ? double.NaN
        : Reverse ? norms[^1] / norms[0] : norms[0] / norms[^1];
}

/// <summary>
/// Measures the gradient flow through time of a model on given sequences from exact BPTT
/// (<see cref="SequenceModel{T}.RecordGradientFlow"/>), for the total loss and for the last step's
/// loss alone (see <see cref="GradientFlowProfile"/>).
/// </summary>
public static class GradientFlow
{
    /// <summary>
    /// The gradient flow of every layer and direction (ordered by layer, then forward before reverse)
    /// over a batch of sequences, for the loss the model's head implies (<see cref="HeadLoss"/>). Runs in
    /// evaluation mode (no dropout); the model's parameter gradients, training flag and recording flag
    /// are left as they were.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="inputs">[T, B, I] time-major (for a token model, its token ids as numbers, [T, B]).</param>
    /// <param name="targets">[T, B, W] time-major as <see cref="HeadLoss"/> reads them (W = O, or 1 class id).</param>
    /// <param name="steps">T.</param>
    /// <param name="batch">B.</param>
    /// <exception cref="ArgumentException">A buffer does not fit the model.</exception>
    public static IReadOnlyList<GradientFlowProfile> Measure<T>(SequenceModel<T> model, ReadOnlySpan<T> inputs, ReadOnlySpan<T> targets, int steps, int batch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        int targetWidth = HeadLoss.TargetWidth(config);
        if (targets.Length != steps * batch * targetWidth)
        {
            throw new ArgumentException($"Expected targets of shape [T={steps}, B={batch}, {targetWidth}] ({steps * batch * targetWidth} values), got {targets.Length}.", nameof(targets));
        }

        bool wasTraining = model.Training, wasRecording = model.RecordGradientFlow;
        var savedGradients = model.Parameters.Gradients.ToArray();
        try
        {
            model.Training = false;
            model.RecordGradientFlow = true;
            int layers = config.Layers, directions = config.Directions;
            var total = new (double[] H, double[] C)[layers * directions];
            var last = new (double[] H, double[] C)[layers * directions];

            // The total loss.
            model.ForwardColumns(inputs, steps, batch);
            var gradients = new T[model.Predictions.Length];
            HeadLoss.Compute<T>(config, model.Predictions, targets, steps, batch, gradients);
            model.Backward(gradients);
            Collect(model, total, reverse: null);

            // The last step's loss: forward directions end at t = T-1, reverse ones at t = 0.
            if (config.Pooling == Pooling.LastStep)
            {
                Array.Copy(total, last, total.Length);
            }
            else
            {
                int rowWidth = batch * config.OutputSize, targetRow = batch * targetWidth;
                for (int pass = 0; pass < directions; pass++)
                {
                    int step = pass == 1 ? 0 : steps - 1;
                    model.ForwardColumns(inputs, steps, batch);
                    Array.Clear(gradients);
                    HeadLoss.Compute<T>(config, model.Predictions.Slice(step * rowWidth, rowWidth), targets.Slice(step * targetRow, targetRow), 1, batch, gradients.AsSpan(step * rowWidth, rowWidth));
                    model.Backward(gradients);
                    Collect(model, last, pass == 1);
                }
            }

            var profiles = new List<GradientFlowProfile>(layers * directions);
            for (int layer = 0; layer < layers; layer++)
            {
                for (int d = 0; d < directions; d++)
                {
                    int index = (layer * directions) + d;
                    profiles.Add(new GradientFlowProfile(layer, d == 1, total[index].H, last[index].H, total[index].C, last[index].C));
                }
            }

            return profiles;
        }
        finally
        {
            model.Training = wasTraining;
            model.RecordGradientFlow = wasRecording;
            savedGradients.CopyTo(model.Parameters.Gradients.AsSpan());
        }
    }

    /// <summary>
    /// <see cref="Measure{T}(SequenceModel{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, int, int)"/> over the
    /// first <paramref name="sequences"/> sequences of <paramref name="data"/> (all of them when it has fewer).
    /// </summary>
    /// <exception cref="UnrollException">The data does not fit the model, or as the other overload.</exception>
    public static IReadOnlyList<GradientFlowProfile> Measure<T>(SequenceModel<T> model, SequenceSet data, int sequences = 8)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var (inputs, targets, batch) = Batch<T>(model.Config, data, sequences, "gradient flow");
        return Measure(model, inputs, targets, data.Length, batch);
    }

    /// <summary>The first sequences of a set, time-major, checked against the model's sizes.</summary>
    internal static (T[] Inputs, T[] Targets, int Batch) Batch<T>(ModelConfig config, SequenceSet data, int sequences, string what)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        if (sequences < 1)
        {
            throw new UnrollException($"{what}: expected at least 1 sequence, got {sequences}.");
        }

        if (data.Count == 0 || data.Length == 0)
        {
            throw new UnrollException($"{what}: expected at least one sequence of at least one step, got {data.Count} sequences of {data.Length} steps.");
        }

        if (data.HasVaryingLengths)
        {
            throw new UnrollException($"{what}: expected sequences of one length, got sequences of different lengths; measure on sequences of the longest length, or cut them to one length.");
        }

        int inputWidth = HeadLoss.InputWidth(config), targetWidth = HeadLoss.TargetWidth(config);
        if (data.InputSize != inputWidth || data.TargetSize != targetWidth)
        {
            throw new UnrollException(
                $"{what}: expected {inputWidth} input and {targetWidth} target columns per step for this model, got {data.InputSize} and {data.TargetSize}.");
        }

        int batch = Math.Min(sequences, data.Count);
        var indices = Enumerable.Range(0, batch).ToArray();
        var inputs = new T[data.Length * batch * data.InputSize];
        var targets = new T[data.Length * batch * data.TargetSize];
        data.CopyBatchTimeMajor<T>(indices, inputs, targets);
        return (inputs, targets, batch);
    }

    private static void Collect<T>(SequenceModel<T> model, (double[] H, double[] C)[] into, bool? reverse)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = model.Config;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int d = 0; d < config.Directions; d++)
            {
                if (reverse is { } wanted && wanted != (d == 1))
                {
                    continue;
                }

                into[(layer * config.Directions) + d] = (
                    model.StateGradientNorms(layer, d).ToArray(),
                    CellKinds.HasCellState(config.Cell) ? model.CellGradientNorms(layer, d).ToArray() : []);
            }
        }
    }
}
