using System.Text.Json;
using Unroll.IO;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>A checkpoint read back: the model with its weights, the trainer's state and the file's metadata.</summary>
/// <param name="Model">The model at the checkpoint.</param>
/// <param name="State">The trainer's state at the checkpoint.</param>
/// <param name="Metadata">Every metadata entry (config, data description, training options).</param>
internal sealed record LoadedCheckpoint(IRecurrentModel<float> Model, TrainerState State, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// A training checkpoint in one safetensors file, so that replacing it is a single atomic rename and
/// a kill at any instant leaves the previous checkpoint whole: the weights under their PyTorch names
/// (the file loads as a model too), the optimiser's buffers as <c>optimizer.&lt;name&gt;</c>, the epoch's
/// batch order as <c>trainer.order</c>, what a stream carries into its next window as
/// <c>trainer.carry.&lt;name&gt;</c>, the metrics so far as <c>trainer.metrics</c> [steps, 10]
/// (step, train loss, validation loss, gradient norm, clipped, spectral radius, largest singular value,
/// clipped share, gradient ratio, validation accuracy; NaN where not measured; files with the first 5 or 9
/// columns still load), and the step, batch position and random-number states as JSON under <c>unroll.checkpoint</c>.
/// A checkpoint is only ever written with finite weights and optimiser state.
/// </summary>
internal static class Checkpoint
{
    /// <summary>The checkpoint file's name in a run directory.</summary>
    public const string FileName = "checkpoint.safetensors";

    /// <summary>The metadata key of the trainer's scalar state.</summary>
    public const string StateKey = "unroll.checkpoint";

    /// <summary>The metadata key of the checkpoint layout's version.</summary>
    public const string FormatKey = "unroll.checkpoint-format";

    /// <summary>The checkpoint layout this release writes and resumes: the batch source's position, a stream's carried state, ten metrics columns.</summary>
    public const string FormatVersion = "2";

    private const string OptimizerPrefix = "optimizer.";
    private const string OrderName = "trainer.order";
    private const string MetricsName = "trainer.metrics";
    private const string CarryPrefix = "trainer.carry.";
    private const int MetricsColumns = 10;
    private static readonly int[] LegacyMetricsColumns = [5, 9];

    /// <summary>Writes the checkpoint atomically.</summary>
    public static void Save(string path, IRecurrentModel<float> model, TrainerState state, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(metadata);
        if (!FiniteValues.All<float>(model.Parameters.Values) || state.OptimizerState.Any(s => !FiniteValues.All<float>(s.Values)))
        {
            throw new UnrollException($"{path}: refusing to write a checkpoint whose weights or optimiser state are not finite; the previous checkpoint is kept.");
        }

        var tensors = model.Parameters.Views
            .Select(view => StoredTensor.FromSingles(view.Name, view.Shape, model.Parameters.Values.AsSpan(view.Offset, view.Length)))
            .ToList();
        foreach (var (name, values) in state.OptimizerState)
        {
            tensors.Add(StoredTensor.FromSingles(OptimizerPrefix + name, [values.Length], values));
        }

        foreach (var (name, values) in state.Carry)
        {
            tensors.Add(StoredTensor.FromSingles(CarryPrefix + name, [values.Length], values));
        }

        tensors.Add(new StoredTensor(OrderName, TensorDType.F64, [state.Order.Length], state.Order.Select(i => (double)i).ToArray()));
        var metrics = new double[state.History.Count * MetricsColumns];
        for (int i = 0; i < state.History.Count; i++)
        {
            var m = state.History[i];
            var row = metrics.AsSpan(i * MetricsColumns, MetricsColumns);
            row[0] = m.Step;
            row[1] = m.TrainLoss;
            row[2] = m.ValidationLoss;
            row[3] = m.GradientNorm;
            row[4] = m.Clipped ? 1 : 0;
            row[5] = m.SpectralRadius;
            row[6] = m.LargestSingularValue;
            row[7] = m.ClippedShare;
            row[8] = m.GradientRatio;
            row[9] = m.ValidationAccuracy;
        }

        tensors.Add(new StoredTensor(MetricsName, TensorDType.F64, [state.History.Count, MetricsColumns], metrics));
        var allMetadata = new Dictionary<string, string>(metadata, StringComparer.Ordinal)
        {
            [ModelFile.FormatKey] = ModelFile.FormatVersion,
            [FormatKey] = FormatVersion,
            [ModelFile.ConfigKey] = model.Config.ToJson(),
            [StateKey] = JsonSerializer.Serialize(new ScalarState(state.Step, state.Position, state.ShuffleState, state.ModelRandomState, state.OptimizerStepCount), TrainingJsonContext.Default.ScalarState),
        };
        SafeTensors.Write(path, tensors, allMetadata);
    }

    /// <summary>Reads a checkpoint written by <see cref="Save"/>.</summary>
    /// <exception cref="UnrollException">The file is missing, malformed, or not a checkpoint.</exception>
    public static LoadedCheckpoint Load(string path)
    {
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(StateKey, out var stateJson))
        {
            throw new UnrollException($"{path}: expected a training checkpoint with '{StateKey}' in its metadata, got a file without it.");
        }

        if (!file.Metadata.TryGetValue(FormatKey, out var format) || format != FormatVersion)
        {
            throw new UnrollException(
                $"{path}: a checkpoint of layout {(format is null ? "1 (an earlier release)" : $"'{format}'")}; this release resumes layout {FormatVersion} only. " +
                "Its weights still load: start a new run from them with --init-from.");
        }

        var model = ModelFile.ReadModel<float>(file, name => name.StartsWith(OptimizerPrefix, StringComparison.Ordinal) || name.StartsWith(CarryPrefix, StringComparison.Ordinal) || name is OrderName or MetricsName);
        ScalarState scalars;
        try
        {
            scalars = JsonSerializer.Deserialize(stateJson, TrainingJsonContext.Default.ScalarState) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new UnrollException($"{path}: '{StateKey}' is not the JSON of a trainer state ({e.Message}).", e);
        }

        var order = file.Get(OrderName).Values.Select(v => (int)v).ToArray();
        var metricsTensor = file.Get(MetricsName);
        if (metricsTensor.Shape.Length != 2 || (metricsTensor.Shape[1] != MetricsColumns && !LegacyMetricsColumns.Contains(metricsTensor.Shape[1])))
        {
            throw new UnrollException(
                $"{path}: '{MetricsName}' has shape [{string.Join(", ", metricsTensor.Shape)}]; expected [steps, {MetricsColumns}] (or [steps, 5] or [steps, 9] from earlier releases).");
        }

        // Checkpoints from before the diagnostics (or the validation accuracy) columns load without them.
        var values = metricsTensor.Values;
        int columns = metricsTensor.Shape[1];
        var history = new List<StepMetrics>(metricsTensor.Shape[0]);
        for (int i = 0; i < metricsTensor.Shape[0]; i++)
        {
            var row = values.AsSpan(i * columns, columns);
            if (!(row[0] >= 1 && row[0] <= int.MaxValue && row[0] == Math.Floor(row[0])))
            {
                throw new UnrollException($"{path}: '{MetricsName}' row {i + 1} has step {row[0]}; expected a positive whole number.");
            }

            var metrics = new StepMetrics((int)row[0], row[1], row[2], row[3], row[4] != 0);
            if (columns >= 9)
            {
                metrics = metrics with { SpectralRadius = row[5], LargestSingularValue = row[6], ClippedShare = row[7], GradientRatio = row[8] };
            }

            if (columns >= 10)
            {
                metrics = metrics with { ValidationAccuracy = row[9] };
            }

            history.Add(metrics);
        }

        var optimizerState = file.Tensors
            .Where(t => t.Name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            .Select(t => (t.Name[OptimizerPrefix.Length..], t.ToSingleArray()))
            .ToList();
        var carry = file.Tensors
            .Where(t => t.Name.StartsWith(CarryPrefix, StringComparison.Ordinal))
            .Select(t => (t.Name[CarryPrefix.Length..], t.ToSingleArray()))
            .ToList();
        var state = new TrainerState
        {
            Step = scalars.Step,
            Order = order,
            Position = scalars.Position,
            ShuffleState = scalars.ShuffleState,
            ModelRandomState = scalars.ModelRandomState,
            OptimizerStepCount = scalars.OptimizerStepCount,
            OptimizerState = optimizerState,
            Carry = carry,
            History = history,
        };
        if (state.Position < 0 || (order.Length > 0 && state.Position > order.Length) || order.Any(i => i < 0 || i >= order.Length) || order.Distinct().Count() != order.Length)
        {
            throw new UnrollException($"{path}: the batch order or position is out of range; expected a permutation of {order.Length} sequences.");
        }

        return new LoadedCheckpoint(model, state, file.Metadata);
    }

    internal sealed record ScalarState(int Step, int Position, ulong ShuffleState, ulong ModelRandomState, int OptimizerStepCount);
}
