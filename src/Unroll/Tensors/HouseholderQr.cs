namespace Unroll.Tensors;

/// <summary>
/// The thin QR decomposition A = Q R of a tall matrix by Householder reflections, in double
/// (Golub and Van Loan, Matrix Computations, algorithm 5.2.1). Each reflection
/// H_k = I - 2 v v^T / (v^T v) zeroes column k below the diagonal; its sign is chosen to avoid
/// cancellation, so R's diagonal may be negative (see the orthogonal initialiser
/// for the sign fix that makes Q uniformly distributed).
/// </summary>
internal static class HouseholderQr
{
    /// <summary>
    /// Decomposes the row-major <paramref name="rows"/> x <paramref name="columns"/> matrix
    /// <paramref name="matrix"/> (rows &gt;= columns) into Q (rows x columns, orthonormal
    /// columns, row-major) and R (columns x columns, upper triangular, row-major).
    /// </summary>
    /// <exception cref="ArgumentException">The sizes do not fit, or rows &lt; columns.</exception>
    public static (double[] Q, double[] R) Decompose(ReadOnlySpan<double> matrix, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (rows < columns)
        {
            throw new ArgumentException($"QR needs rows >= columns, got {rows} x {columns}; transpose first.", nameof(rows));
        }

        if (matrix.Length != rows * columns)
        {
            throw new ArgumentException($"Expected {rows * columns} values for {rows} x {columns}, got {matrix.Length}.", nameof(matrix));
        }

        // Work column by column: a[j * rows + i] holds A[i, j], so each reflection touches contiguous memory.
        var a = new double[rows * columns];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                a[(j * rows) + i] = matrix[(i * columns) + j];
            }
        }

        // reflectors[k] holds v_k (entries k..rows-1, scaled so v^T v = 2 and H_k = I - v v^T).
        var reflectors = new double[rows * columns];
        var diagonal = new double[columns];
        for (int k = 0; k < columns; k++)
        {
            Span<double> column = a.AsSpan((k * rows) + k, rows - k);
            double norm = Norm(column);
            Span<double> v = reflectors.AsSpan((k * rows) + k, rows - k);
            if (norm == 0)
            {
                // Nothing to zero: H_k = I (v = 0) and R[k, k] = 0.
                diagonal[k] = 0;
                continue;
            }

            // alpha = -sign(x_0) ||x|| so that x_0 - alpha does not cancel.
            double alpha = column[0] >= 0 ? -norm : norm;
            column.CopyTo(v);
            v[0] -= alpha;
            // v^T v = 2 ||x|| (||x|| + |x_0|); rescale to v^T v = 2.
            double scale = 1.0 / Math.Sqrt(norm * (norm + Math.Abs(column[0])));
            for (int i = 0; i < v.Length; i++)
            {
                v[i] *= scale;
            }

            diagonal[k] = alpha;
            for (int j = k + 1; j < columns; j++)
            {
                Reflect(v, a.AsSpan((j * rows) + k, rows - k));
            }
        }

        var r = new double[columns * columns];
        for (int i = 0; i < columns; i++)
        {
            r[(i * columns) + i] = diagonal[i];
            for (int j = i + 1; j < columns; j++)
            {
                r[(i * columns) + j] = a[(j * rows) + i];
            }
        }

        // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of I, right to left.
        var qColumns = new double[rows * columns];
        for (int j = 0; j < columns; j++)
        {
            Span<double> qj = qColumns.AsSpan(j * rows, rows);
            qj[j] = 1.0;
            for (int k = Math.Min(j, columns - 1); k >= 0; k--)
            {
                Reflect(reflectors.AsSpan((k * rows) + k, rows - k), qj[k..]);
            }
        }

        var q = new double[rows * columns];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                q[(i * columns) + j] = qColumns[(j * rows) + i];
            }
        }

        return (q, r);
    }

    /// <summary>x &lt;- (I - v v^T) x.</summary>
    private static void Reflect(ReadOnlySpan<double> v, Span<double> x)
    {
        double dot = 0;
        for (int i = 0; i < v.Length; i++)
        {
            dot += v[i] * x[i];
        }

        for (int i = 0; i < v.Length; i++)
        {
            x[i] -= dot * v[i];
        }
    }

    private static double Norm(ReadOnlySpan<double> x)
    {
        // Scaled to avoid overflow and underflow for extreme entries.
        double largest = 0;
        foreach (double value in x)
        {
            largest = Math.Max(largest, Math.Abs(value));
        }

        if (largest == 0 || !double.IsFinite(largest))
        {
            return largest;
        }

        double sum = 0;
        foreach (double value in x)
        {
            double scaled = value / largest;
            sum += scaled * scaled;
        }

        return largest * Math.Sqrt(sum);
    }
}
