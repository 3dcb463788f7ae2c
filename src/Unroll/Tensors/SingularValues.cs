using System.Numerics;

namespace Unroll.Tensors;

/// <summary>
/// Singular values of a real matrix. The largest one is the spectral norm ||W||_2 that bounds how
/// much one step h -&gt; W h can stretch a vector, the beta_W of the vanishing/exploding-gradient
/// bound ||dh_j/dh_{j-1}|| &lt;= beta_W * gamma (Pascanu, Mikolov and Bengio 2013); unlike the
/// spectral radius it bounds every step, not only the long-run growth.
/// </summary>
internal static class SingularValues
{
    private const int MaxSweeps = 80;
    private const int MaxPowerIterations = 10_000;

    /// <summary>2^-52, the gap between 1 and the next double.</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>
    /// All min(m, n) singular values of the row-major m x n <paramref name="matrix"/> (not
    /// modified), in decreasing order, with multiplicity (zeros included for rank-deficient
    /// matrices). One-sided Jacobi (Hestenes 1958; Demmel and Veselic 1992): plane rotations
    /// orthogonalise the columns of A (of A^T when m &lt; n) until every pair is orthogonal to
    /// working precision; the singular values are then the column norms. Accurate to about machine
    /// epsilon times the largest singular value (small ones often to high relative accuracy);
    /// cost about 2 m n^2 flops per sweep, typically 6-10 sweeps.
    /// </summary>
    /// <exception cref="ArgumentException">The matrix does not have m * n values.</exception>
    /// <exception cref="UnrollException">The matrix has a NaN or infinite entry, or the sweeps do not converge.</exception>
    public static double[] Of(double[] matrix, int rows, int columns)
    {
        CheckMatrix(matrix, rows, columns);
        bool transpose = rows < columns;
        int length = transpose ? columns : rows;
        int count = transpose ? rows : columns;
        if (count == 0)
        {
            return [];
        }

        // Scale by the largest |a_ij| so squared norms can neither overflow nor underflow.
        double scale = 0;
        foreach (double value in matrix)
        {
            scale = Math.Max(scale, Math.Abs(value));
        }

        var values = new double[count];
        if (scale == 0)
        {
            return values;
        }

        // Column-major copy: column c of the working matrix is work[c * length .. (c + 1) * length).
        var work = new double[count * length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                double value = matrix[(i * columns) + j] / scale;
                if (transpose)
                {
                    work[(i * length) + j] = value;
                }
                else
                {
                    work[(j * length) + i] = value;
                }
            }
        }

        OrthogonaliseColumns(work, length, count);
        for (int c = 0; c < count; c++)
        {
            values[c] = scale * Math.Sqrt(Dot(work.AsSpan(c * length, length), work.AsSpan(c * length, length)));
        }

        Array.Sort(values, static (a, b) => b.CompareTo(a));
        return values;
    }

    /// <summary>
    /// The largest singular value (spectral norm) of the row-major m x n <paramref name="matrix"/>
    /// by power iteration on A^T A, for matrices too big for <see cref="Of"/>: each iteration costs
    /// two matrix-vector products (4 m n flops). It converges at the rate (sigma_2 / sigma_1)^2 per
    /// iteration, so it is slow when the top two singular values are close; it stops when the
    /// estimate changes by less than <paramref name="relativeTolerance"/>. The start vector is
    /// fixed (deterministic) pseudo-random, so a start orthogonal to the top singular vector is
    /// practically impossible.
    /// </summary>
    /// <exception cref="ArgumentException">The matrix does not have m * n values, or the tolerance is not positive.</exception>
    /// <exception cref="UnrollException">The matrix has a NaN or infinite entry.</exception>
    public static double Largest(double[] matrix, int rows, int columns, double relativeTolerance = 1e-12)
    {
        CheckMatrix(matrix, rows, columns);
        if (!(relativeTolerance > 0))
        {
            throw new ArgumentException($"Expected a positive tolerance, got {relativeTolerance}.", nameof(relativeTolerance));
        }

        if (rows == 0 || columns == 0)
        {
            return 0;
        }

        var v = new double[columns];
        var w = new double[rows];
        var random = new Random(12345);
        for (int j = 0; j < columns; j++)
        {
            v[j] = random.NextDouble() + 0.5;
        }

        Normalise(v);
        double estimate = 0;
        for (int iteration = 0; iteration < MaxPowerIterations; iteration++)
        {
            // w = A v; sigma ~ ||A v|| for the unit vector v; then v = A^T w / ||A^T w||.
            for (int i = 0; i < rows; i++)
            {
                w[i] = Dot(matrix.AsSpan(i * columns, columns), v);
            }

            double next = Math.Sqrt(Dot(w, w));
            if (next == 0)
            {
                return 0;
            }

            Array.Clear(v);
            for (int i = 0; i < rows; i++)
            {
                var row = matrix.AsSpan(i * columns, columns);
                for (int j = 0; j < columns; j++)
                {
                    v[j] += row[j] * w[i];
                }
            }

            Normalise(v);
            if (Math.Abs(next - estimate) <= relativeTolerance * next)
            {
                return next;
            }

            estimate = next;
        }

        return estimate;
    }

    private static void CheckMatrix(double[] matrix, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (matrix.Length != (long)rows * columns)
        {
            throw new ArgumentException($"Expected {(long)rows * columns} values for a {rows} x {columns} matrix, got {matrix.Length}.", nameof(matrix));
        }

        for (int i = 0; i < matrix.Length; i++)
        {
            if (!double.IsFinite(matrix[i]))
            {
                throw new UnrollException(
                    $"singular values: expected finite matrix entries, got {matrix[i]} at row {i / columns}, column {i % columns} (the weights have overflowed).");
            }
        }
    }

    /// <summary>
    /// Cyclic one-sided Jacobi sweeps over the column pairs (p, q): the rotation that zeroes the
    /// off-diagonal entry gamma = a_p . a_q of the 2 x 2 Gram matrix [[alpha, gamma], [gamma, beta]]
    /// (Golub and Van Loan, section 8.6.3: zeta = (beta - alpha) / 2 gamma,
    /// t = sign(zeta) / (|zeta| + sqrt(1 + zeta^2)), c = 1 / sqrt(1 + t^2), s = c t).
    /// A pair counts as orthogonal when |gamma| &lt;= m eps sqrt(alpha beta), m the column length:
    /// the rounding error of the computed dot product can be that large, so a tighter test might
    /// never be met.
    /// </summary>
    private static void OrthogonaliseColumns(double[] work, int length, int count)
    {
        double threshold = length * MachineEpsilon;
        for (int sweep = 0; sweep < MaxSweeps; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < count - 1; p++)
            {
                var columnP = work.AsSpan(p * length, length);
                for (int q = p + 1; q < count; q++)
                {
                    var columnQ = work.AsSpan(q * length, length);
                    var (alpha, beta, gamma) = Dots(columnP, columnQ);
                    if (alpha == 0 || beta == 0 || Math.Abs(gamma) <= threshold * Math.Sqrt(alpha * beta))
                    {
                        continue;
                    }

                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.CopySign(1.0, zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + (zeta * zeta)));
                    double c = 1 / Math.Sqrt(1 + (t * t));
                    double s = c * t;
                    Rotate(columnP, columnQ, c, s);
                }
            }

            if (!rotated)
            {
                return;
            }
        }

        throw new UnrollException($"singular values: expected one-sided Jacobi to converge within {MaxSweeps} sweeps, got no convergence for a {length} x {count} matrix.");
    }

    /// <summary>(a . a, b . b, a . b) in one pass over both columns, in vectors: the sweeps' inner loop.</summary>
    private static (double Alpha, double Beta, double Gamma) Dots(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int i = 0;
        var aa = Vector<double>.Zero;
        var bb = Vector<double>.Zero;
        var ab = Vector<double>.Zero;
        for (; i <= a.Length - Vector<double>.Count; i += Vector<double>.Count)
        {
            var x = new Vector<double>(a[i..]);
            var y = new Vector<double>(b[i..]);
            aa = Vector.FusedMultiplyAdd(x, x, aa);
            bb = Vector.FusedMultiplyAdd(y, y, bb);
            ab = Vector.FusedMultiplyAdd(x, y, ab);
        }

        double alpha = Vector.Sum(aa), beta = Vector.Sum(bb), gamma = Vector.Sum(ab);
        for (; i < a.Length; i++)
        {
            alpha += a[i] * a[i];
            beta += b[i] * b[i];
            gamma += a[i] * b[i];
        }

        return (alpha, beta, gamma);
    }

    /// <summary>(a, b) = (c a - s b, s a + c b), in vectors.</summary>
    private static void Rotate(Span<double> a, Span<double> b, double c, double s)
    {
        int i = 0;
        var cv = new Vector<double>(c);
        var sv = new Vector<double>(s);
        for (; i <= a.Length - Vector<double>.Count; i += Vector<double>.Count)
        {
            var x = new Vector<double>(a[i..]);
            var y = new Vector<double>(b[i..]);
            ((cv * x) - (sv * y)).CopyTo(a[i..]);
            ((sv * x) + (cv * y)).CopyTo(b[i..]);
        }

        for (; i < a.Length; i++)
        {
            double x = a[i], y = b[i];
            a[i] = (c * x) - (s * y);
            b[i] = (s * x) + (c * y);
        }
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static void Normalise(Span<double> v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        for (int i = 0; i < v.Length; i++)
        {
            v[i] /= norm;
        }
    }
}
