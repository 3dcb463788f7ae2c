using System.Numerics;
using Unroll.Data;

using Unroll.Models;

namespace Unroll.Training;

/// <summary>
/// Running a trained model over whole sequence sets: one-step predictions (every input true,
/// teacher forcing) and free-running forecasts (the model's own prediction fed back as the next
/// input, the other inputs such as the force still taken from the data).
/// </summary>
internal static class Forecasting
{
    // The most sequences a forward pass takes at once.
    private const int MaxBatch = 256;

    /// <summary>One-step predictions for every sequence, sequence-major [n, t, O] (zeros past a shorter sequence's end).</summary>
    public static double[] OneStep<T>(IRecurrentModel<T> model, SequenceSet set)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        CheckCompatible(model, set);
        int n = set.Count, steps = set.Length, inputs = set.InputSize, outputs = model.Config.OutputSize;
        // In batches of a bounded size: the forward pass keeps every step of every sequence of its batch.
        int batch = Math.Min(n, MaxBatch);
        var batchInputs = new T[steps * batch * inputs];
        var batchTargets = new T[steps * batch * set.TargetSize];
        var indices = new int[batch];
        var lengths = new int[batch];
        var predictions = new double[n * steps * outputs];
        model.Training = false;
        for (int first = 0; first < n; first += batch)
        {
            int count = Math.Min(batch, n - first);
            for (int i = 0; i < count; i++)
            {
                indices[i] = first + i;
            }

            int batchSteps = set.CopyBatch<T>(indices.AsSpan(0, count), batchInputs, batchTargets, lengths);
            var batchLengths = set.HasVaryingLengths ? lengths.AsSpan(0, count) : default;
            // Every input true, including fed-back outputs.
            model.Run(batchInputs.AsSpan(0, batchSteps * count * inputs), batchTargets.AsSpan(0, batchSteps * count * set.TargetSize), batchSteps, count, batchLengths);
            var timeMajor = model.Predictions;
            for (int t = 0; t < batchSteps; t++)
            {
                for (int s = 0; s < count; s++)
                {
                    if (t >= lengths[s])
                    {
                        continue;
                    }

                    for (int o = 0; o < outputs; o++)
                    {
                        predictions[((((first + s) * steps) + t) * outputs) + o] = double.CreateChecked(timeMajor[(((t * count) + s) * outputs) + o]);
                    }
                }
            }
        }

        return predictions;
    }

    /// <summary>
    /// Free-running forecasts, sequence-major [n, horizon, O]: at step 0 the true inputs; from step 1
    /// on, input column <paramref name="feedbackInput"/> is replaced by the previous step's output
    /// <paramref name="feedbackOutput"/>.
    /// </summary>
    /// <exception cref="UnrollException">The horizon is out of range.</exception>
    public static double[] FreeRun<T>(IRecurrentModel<T> model, SequenceSet set, int feedbackInput, int feedbackOutput, int horizon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        CheckCompatible(model, set);
        if (horizon < 1 || horizon > set.Length)
        {
            throw new UnrollException($"horizon: expected 1 to {set.Length} steps (the sequence length), got {horizon}.");
        }

        int n = set.Count, inputs = set.InputSize, outputs = model.Config.OutputSize;
        var input = new T[n * inputs];
        model.Training = false;
        var state = model.CreateState(n);
        var output = new T[n * outputs];
        var forecasts = new double[n * horizon * outputs];
        for (int t = 0; t < horizon; t++)
        {
            for (int s = 0; s < n; s++)
            {
                for (int i = 0; i < inputs; i++)
                {
                    input[(s * inputs) + i] = t > 0 && i == feedbackInput
                        ? output[(s * outputs) + feedbackOutput]
                        : T.CreateChecked(set.Input(s, t, i));
                }
            }

            model.Step(input, state, output);
            for (int s = 0; s < n; s++)
            {
                for (int o = 0; o < outputs; o++)
                {
                    forecasts[(((s * horizon) + t) * outputs) + o] = double.CreateChecked(output[(s * outputs) + o]);
                }
            }
        }

        return forecasts;
    }

    /// <summary>Mean squared error of sequence-major predictions [n, steps, O] against the set's targets over the first <paramref name="steps"/> steps.</summary>
    public static double MeanSquaredError(double[] predictions, SequenceSet set, int steps)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(set);
        int outputs = set.TargetSize;
        double sum = 0;
        for (int s = 0; s < set.Count; s++)
        {
            for (int t = 0; t < steps; t++)
            {
                for (int o = 0; o < outputs; o++)
                {
                    double difference = predictions[(((s * steps) + t) * outputs) + o] - set.Target(s, t, o);
                    sum += difference * difference;
                }
            }
        }

        return sum / ((double)set.Count * steps * outputs);
    }

    private static void CheckCompatible<T>(IRecurrentModel<T> model, SequenceSet set)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (set.InputSize != model.Config.InputSize || set.TargetSize != model.Config.OutputSize)
        {
            throw new UnrollException(
                $"data: expected {model.Config.InputSize} inputs and {model.Config.OutputSize} targets per step for this model, got {set.InputSize} and {set.TargetSize}.");
        }
    }
}
