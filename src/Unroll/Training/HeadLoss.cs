using System.Numerics;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>The loss of one batch, the number of rows it scored and, for classification, how many were right.</summary>
/// <param name="Loss">The mean loss over the scored rows.</param>
/// <param name="Rows">Rows scored: T*B per step, B at the last step (classification ignores rows whose class is negative).</param>
/// <param name="Correct">Rows whose largest logit is the target class; 0 for regression.</param>
internal readonly record struct HeadLossResult(double Loss, int Rows, int Correct);

/// <summary>
/// The loss a model's head implies (<see cref="ModelConfig.Head"/>, <see cref="ModelConfig.Pooling"/>),
/// on time-major targets [T, B, W] as <see cref="SequenceSet.CopyBatchTimeMajor{T}"/> writes them:
/// <list type="bullet">
/// <item>regression, every step: MSE over [T, B, O] (<see cref="Losses.MeanSquaredError{T}"/>), W = O;</item>
/// <item>regression, last step: MSE of the [B, O] predictions against the targets of step T-1 (the adding problem);</item>
/// <item>classification, every step: softmax cross-entropy over the T*B rows, W = 1 holding class ids (copy memory);</item>
/// <item>classification, last step: softmax cross-entropy of the [B, C] logits against the class of step T-1 (temporal order).</item>
/// </list>
/// Class ids are stored as numbers; a negative id marks a row to ignore, as torch's ignore_index.
/// </summary>
internal static class HeadLoss
{
    // The class ids of the last call on this thread: reused so a training step allocates nothing.
    [ThreadStatic]
    private static int[]? classBuffer;

    /// <summary>Target columns per step the head reads: O for regression, 1 (the class id) for classification.</summary>
    public static int TargetWidth(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Head == HeadKind.Classification ? 1 : config.OutputSize / config.ParametersPerValue;
    }

    /// <summary>Input columns per step: 1 (the token id) for token models, otherwise <see cref="ModelConfig.InputSize"/>.</summary>
    public static int InputWidth(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.VocabularySize > 0 ? 1 : config.InputSize;
    }

    /// <summary>The length of the model's predictions (and their gradients) for a batch: [T, B, O] or [B, O].</summary>
    public static int PredictionLength(ModelConfig config, int steps, int batch)
    {
        ArgumentNullException.ThrowIfNull(config);
        return (config.Pooling == Pooling.LastStep ? batch : steps * batch) * config.OutputSize;
    }

    /// <summary>
    /// The loss of <paramref name="predictions"/> against <paramref name="targets"/> ([T, B, W] time-major),
    /// writing dL/dprediction into <paramref name="predictionGradients"/> unless it is empty. With
    /// <paramref name="lengths"/> (each sequence's length in [1, T]) only the steps inside each sequence are
    /// scored, and a last-step head scores each sequence's own last step (as PyTorch's packed sequences).
    /// </summary>
    /// <exception cref="ArgumentException">A buffer has the wrong length, or a class id is not an integer below the class count.</exception>
    public static HeadLossResult Compute<T>(
        ModelConfig config, ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, int steps, int batch, Span<T> predictionGradients,
        ReadOnlySpan<int> lengths = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        int width = TargetWidth(config);
        if (targets.Length != steps * batch * width)
        {
            throw new ArgumentException($"Expected targets of shape [T={steps}, B={batch}, {width}], got {targets.Length} values.", nameof(targets));
        }

        if (predictions.Length != PredictionLength(config, steps, batch))
        {
            throw new ArgumentException($"Expected {PredictionLength(config, steps, batch)} predictions, got {predictions.Length}.", nameof(predictions));
        }

        if (!lengths.IsEmpty && lengths.Length != batch)
        {
            throw new ArgumentException($"Expected {batch} sequence lengths, got {lengths.Length}.", nameof(lengths));
        }

        bool lastStep = config.Pooling == Pooling.LastStep;
        if (!lengths.IsEmpty && lastStep)
        {
            // Each sequence's target sits at its own last step: gather the [B, W] rows (t = length_b - 1).
            var gathered = Gathered<T>(batch * width);
            for (int b = 0; b < batch; b++)
            {
                targets.Slice((((lengths[b] - 1) * batch) + b) * width, width).CopyTo(gathered.Slice(b * width, width));
            }

            return Compute(config, predictions, gathered, 1, batch, predictionGradients);
        }

        // With last-step pooling only the targets of step T-1 are read: the rows [(T-1) B, T B).
        var scored = lastStep ? targets.Slice((steps - 1) * batch * width, batch * width) : targets;
        if (config.Distribution != OutputDistribution.Point)
        {
            if (!lengths.IsEmpty)
            {
                throw new ArgumentException("Expected sequences of one length for a probabilistic per-step head.", nameof(lengths));
            }

            // A probabilistic head: the parameters of every target value side by side, [rows, W, P].
            T nll = config.Distribution switch
            {
                OutputDistribution.Gaussian => DistributionLosses.GaussianNll(predictions, scored, predictionGradients),
                OutputDistribution.StudentT => DistributionLosses.StudentTNll(predictions, scored, predictionGradients),
                _ => DistributionLosses.Pinball(predictions, scored, config.Quantiles!, predictionGradients),
            };
            return new HeadLossResult(double.CreateChecked(nll), scored.Length / width, 0);
        }

        if (config.Head == HeadKind.Regression)
        {
            if (!lengths.IsEmpty)
            {
                T masked = Losses.MaskedMeanSquaredError(predictions, scored, lengths, steps, batch, predictionGradients);
                int valid = 0;
                foreach (int length in lengths)
                {
                    valid += length;
                }

                return new HeadLossResult(double.CreateChecked(masked), valid, 0);
            }

            T loss = Losses.MeanSquaredError(predictions, scored, predictionGradients);
            return new HeadLossResult(double.CreateChecked(loss), scored.Length / width, 0);
        }

        int classCount = config.OutputSize;
        if (classBuffer is null || classBuffer.Length < scored.Length)
        {
            classBuffer = new int[scored.Length];
        }

        var classes = classBuffer.AsSpan(0, scored.Length);
        int rows = 0, correct = 0;
        for (int r = 0; r < classes.Length; r++)
        {
            if (!lengths.IsEmpty && r / batch >= lengths[r % batch])
            {
                classes[r] = -1; // a padded step: ignored as a negative class id is
                continue;
            }

            double value = double.CreateChecked(scored[r]);
            if (value != Math.Floor(value) || value >= classCount)
            {
                throw new ArgumentException($"Expected class ids that are integers below {classCount} (or negative to ignore), got {value} in row {r}.", nameof(targets));
            }

            classes[r] = value < 0 ? -1 : (int)value;
            if (classes[r] < 0)
            {
                continue;
            }

            rows++;
            var row = predictions.Slice(r * classCount, classCount);
            int best = 0;
            for (int j = 1; j < classCount; j++)
            {
                best = row[j] > row[best] ? j : best;
            }

            correct += best == classes[r] ? 1 : 0;
        }

        T crossEntropy = Losses.SoftmaxCrossEntropy(predictions, classes, classCount, predictionGradients);
        return new HeadLossResult(double.CreateChecked(crossEntropy), rows, correct);
    }

    // A per-thread buffer for gathered last-step targets, so a training step allocates nothing.
    private static Span<T> Gathered<T>(int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T[]? buffer = ref GatheredBuffer<T>.Value;
        if (buffer is null || buffer.Length < length)
        {
            buffer = new T[length];
        }

        return buffer.AsSpan(0, length);
    }

    private static class GatheredBuffer<T>
    {
        [ThreadStatic]
        public static T[]? Value;
    }
}
