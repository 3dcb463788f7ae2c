using System.Numerics;

namespace Unroll.Training;

/// <summary>Losses over all T*B rows at once, each returning the loss and writing dL/dprediction.</summary>
public static class Losses
{
    /// <summary>
    /// Mean squared error over every element, as torch.nn.MSELoss(reduction='mean'):
    /// <c>L = 1/N sum_i (p_i - y_i)^2</c>, N = T*B*O (the notes' J = 1/T sum_t J_t, averaged over the
    /// batch and outputs too). Writes <c>dL/dp_i = 2 (p_i - y_i) / N</c> into <paramref name="predictionGradients"/>
    /// unless it is empty.
    /// </summary>
    public static T MeanSquaredError<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (predictions.Length != targets.Length)
        {
            throw new ArgumentException($"Expected predictions and targets of equal length, got {predictions.Length} and {targets.Length}.");
        }

        if (predictions.IsEmpty)
        {
            return T.Zero;
        }

        T count = T.CreateChecked(predictions.Length);
        T twoOverCount = T.CreateChecked(2) / count;
        // Accumulate in double: float sums over 10^5 terms lose digits the loss curve needs.
        double sum = 0;
        bool writeGradients = !predictionGradients.IsEmpty;
        for (int i = 0; i < predictions.Length; i++)
        {
            T difference = predictions[i] - targets[i];
            sum += double.CreateChecked(difference * difference);
            if (writeGradients)
            {
                predictionGradients[i] = twoOverCount * difference;
            }
        }

        return T.CreateChecked(sum / predictions.Length);
    }
}
