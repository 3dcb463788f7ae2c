using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Training;

/// <summary>Losses over all T*B rows at once, each returning the loss and writing dL/dprediction.</summary>
internal static unsafe class Losses
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

    /// <summary>
    /// Mean squared error over the valid steps of time-major [T, B, O] predictions: row (t, b) counts
    /// while t &lt; length_b. <c>L = 1/(N_valid O) sum_valid (p - y)^2</c>; padded rows get zero gradient.
    /// </summary>
    public static T MaskedMeanSquaredError<T>(
        ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, ReadOnlySpan<int> lengths, int steps, int batch,
        Span<T> predictionGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (lengths.IsEmpty)
        {
            return MeanSquaredError(predictions, targets, predictionGradients);
        }

        int outputs = predictions.Length / (steps * batch);
        int valid = 0;
        foreach (int length in lengths)
        {
            valid += length;
        }

        T twoOverCount = T.CreateChecked(2.0 / ((double)valid * outputs));
        double sum = 0;
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                int offset = ((t * batch) + b) * outputs;
                bool active = t < lengths[b];
                for (int o = 0; o < outputs; o++)
                {
                    T difference = predictions[offset + o] - targets[offset + o];
                    if (active)
                    {
                        sum += double.CreateChecked(difference * difference);
                    }

                    if (!predictionGradients.IsEmpty)
                    {
                        predictionGradients[offset + o] = active ? twoOverCount * difference : T.Zero;
                    }
                }
            }
        }

        return T.CreateChecked(sum / ((double)valid * outputs));
    }

    /// <summary>
    /// Softmax cross-entropy over rows of logits [N, C] with class ids [N], as torch.nn.CrossEntropyLoss:
    /// <c>L = 1/N_valid sum_valid (logsumexp(z) - z_y)</c>, computed with the maximum subtracted so no
    /// exponential overflows. A row whose class is negative is ignored (padding). Writes
    /// <c>dL/dz = (softmax(z) - onehot(y)) / N_valid</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A class id is C or more.</exception>
    public static T SoftmaxCrossEntropy<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> classes, int classCount, Span<T> logitGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = classes.Length;
        if (logits.Length != rows * classCount)
        {
            throw new ArgumentException($"Expected logits of shape [N={rows}, C={classCount}], got {logits.Length} values.");
        }

        if (!logitGradients.IsEmpty && logitGradients.Length != logits.Length)
        {
            throw new ArgumentException($"Expected logit gradients shaped as the logits ({logits.Length} values), got {logitGradients.Length}.");
        }

        int valid = 0;
        foreach (int c in classes)
        {
            if (c >= classCount)
            {
                throw new ArgumentException($"Expected class ids below C={classCount}, got {c}.");
            }

            valid += c >= 0 ? 1 : 0;
        }

        T inverseCount = valid > 0 ? T.CreateChecked(1.0 / valid) : T.Zero;
        double sum = 0;
        fixed (T* logitPointer = logits)
        fixed (int* classPointer = classes)
        fixed (T* gradientPointer = logitGradients)
        {
            var job = SoftmaxCrossEntropyJob<T>.ForThisThread();
            int parts = Math.Min(rows, ParallelReductions.PartsFor((long)rows * classCount));
            job.Set(logitPointer, classPointer, rows, classCount, logitGradients.IsEmpty ? null : gradientPointer, inverseCount, parts);
            try
            {
                WorkerPool.Run(job, parts);

                // The rows' losses added in row order, whichever thread computed them.
                var rowLosses = job.RowLosses;
                for (int r = 0; r < rows; r++)
                {
                    sum += rowLosses[r];
                }
            }
            finally
            {
                job.Clear();
            }
        }

        return valid > 0 ? T.CreateChecked(sum / valid) : T.Zero;
    }

    /// <summary>The rows of one softmax cross-entropy, split over the kernel threads; reused per calling thread.</summary>
    private sealed class SoftmaxCrossEntropyJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static SoftmaxCrossEntropyJob<T>? perThread;

        private double[] _rowLosses = [];
        private double[] _exponentials = [];
        private T* _logits, _gradients;
        private int* _classes;
        private int _rows, _classCount;
        private T _inverseCount;

        /// <summary>logsumexp(z) - z_y of every row (0 for an ignored row) from the last run.</summary>
        public ReadOnlySpan<double> RowLosses => _rowLosses.AsSpan(0, _rows);

        public static SoftmaxCrossEntropyJob<T> ForThisThread() => perThread ??= new SoftmaxCrossEntropyJob<T>();

        public void Set(T* logits, int* classes, int rows, int classCount, T* gradients, T inverseCount, int parts)
        {
            // One row of exp(z_j - max) per part, so each exponential is computed once.
            if (_exponentials.Length < (long)parts * classCount)
            {
                _exponentials = new double[parts * classCount];
            }

            _logits = logits;
            _classes = classes;
            _gradients = gradients;
            _rows = rows;
            _classCount = classCount;
            _inverseCount = inverseCount;
            if (_rowLosses.Length < rows)
            {
                _rowLosses = new double[rows];
            }
        }

        public void Clear()
        {
            _logits = null;
            _classes = null;
            _gradients = null;
        }

        public void Run(int part, int parts)
        {
            var (first, end) = ParallelReductions.Split(_rows, part, parts);
            int classCount = _classCount;
            T inverseCount = _inverseCount;
            for (int r = first; r < end; r++)
            {
                var row = new ReadOnlySpan<T>(_logits + ((long)r * classCount), classCount);
                var gradient = _gradients == null ? Span<T>.Empty : new Span<T>(_gradients + ((long)r * classCount), classCount);
                int target = _classes[r];
                if (target < 0)
                {
                    gradient.Clear();
                    _rowLosses[r] = 0;
                    continue;
                }

                T max = row[0];
                for (int j = 1; j < classCount; j++)
                {
                    max = T.Max(max, row[j]);
                }

                var exponentials = _exponentials.AsSpan(part * classCount, classCount);
                double total = 0;
                for (int j = 0; j < classCount; j++)
                {
                    double exponential = exponentials[j] = Math.Exp(double.CreateChecked(row[j] - max));
                    total += exponential;
                }

                _rowLosses[r] = double.CreateChecked(max) + Math.Log(total) - double.CreateChecked(row[target]);
                if (!gradient.IsEmpty)
                {
                    // softmax(z)_j = exp(z_j - max) / sum_k exp(z_k - max)
                    for (int j = 0; j < classCount; j++)
                    {
                        gradient[j] = T.CreateChecked(exponentials[j] / total) * inverseCount;
                    }

                    gradient[target] -= inverseCount;
                }
            }
        }
    }
}
