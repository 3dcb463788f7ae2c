using System.Numerics;

namespace Unroll.Tensors;

/// <summary>
/// Eigenvalues of a real square matrix, the quantity that decides whether h_t = W h_{t-1}
/// vanishes (every |lambda| &lt; 1), explodes (some |lambda| &gt; 1) or holds (|lambda| = 1).
/// The classic dense algorithm, in double: balancing by powers of two (Parlett and Reinsch 1969,
/// EISPACK balanc), reduction to upper Hessenberg form by Householder similarities (orthes), then
/// the implicitly shifted Francis double-shift QR iteration with deflation (hqr; Golub and
/// Van Loan, Matrix Computations, algorithm 7.5.2), which finds complex-conjugate pairs in real
/// arithmetic. Cost about 10 n^3 flops; a few hundred milliseconds at n = 500.
/// </summary>
internal static class Eigen
{
    private const int MaxIterationsPerEigenvalue = 60;

    /// <summary>
    /// The n eigenvalues of the row-major n x n <paramref name="matrix"/> (not modified),
    /// with multiplicity, sorted by decreasing modulus (then by decreasing real part, then by
    /// decreasing imaginary part), so the first one's modulus is the spectral radius.
    /// Complex eigenvalues come in conjugate pairs with exactly opposite imaginary parts.
    /// Accuracy is about machine epsilon times the matrix norm for well-conditioned eigenvalues;
    /// a defective eigenvalue of a k x k Jordan block is, as with any backward-stable method,
    /// only found to about eps^(1/k).
    /// </summary>
    /// <exception cref="ArgumentException">The matrix does not have n * n values.</exception>
    /// <exception cref="UnrollException">The matrix has a NaN or infinite entry, or the iteration does not converge.</exception>
    public static Complex[] Eigenvalues(double[] matrix, int n)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (matrix.Length != n * n)
        {
            throw new ArgumentException($"Expected {n * n} values for a {n} x {n} matrix, got {matrix.Length}.", nameof(matrix));
        }

        for (int i = 0; i < matrix.Length; i++)
        {
            if (!double.IsFinite(matrix[i]))
            {
                throw new UnrollException(
                    $"eigenvalues: expected finite matrix entries, got {matrix[i]} at row {i / n}, column {i % n} (the weights have overflowed).");
            }
        }

        var h = (double[])matrix.Clone();
        Balance(h, n);
        ReduceToHessenberg(h, n);
        var real = new double[n];
        var imaginary = new double[n];
        HessenbergQr(h, n, real, imaginary);

        var values = new Complex[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = new Complex(real[i], imaginary[i]);
        }

        Array.Sort(values, static (a, b) =>
        {
            int byModulus = b.Magnitude.CompareTo(a.Magnitude);
            if (byModulus != 0)
            {
                return byModulus;
            }

            int byReal = b.Real.CompareTo(a.Real);
            return byReal != 0 ? byReal : b.Imaginary.CompareTo(a.Imaginary);
        });
        return values;
    }

    /// <summary>The spectral radius max |lambda_i| of the row-major n x n <paramref name="matrix"/>.</summary>
    /// <exception cref="UnrollException">As for <see cref="Eigenvalues"/>.</exception>
    public static double SpectralRadius(double[] matrix, int n)
    {
        var values = Eigenvalues(matrix, n);
        return values.Length == 0 ? 0.0 : values[0].Magnitude;
    }

    /// <summary>
    /// Replaces A by D^-1 A D, D diagonal with powers of two (so exact), until every row and its
    /// column have comparable norms; the eigenvalues are unchanged and their computed accuracy,
    /// which depends on ||A||, improves for badly scaled matrices such as companion matrices.
    /// </summary>
    private static void Balance(double[] a, int n)
    {
        const double radix = 2.0;
        const double radixSquared = radix * radix;
        bool done = false;
        while (!done)
        {
            done = true;
            for (int i = 0; i < n; i++)
            {
                double rowNorm = 0;
                double columnNorm = 0;
                for (int j = 0; j < n; j++)
                {
                    if (j != i)
                    {
                        columnNorm += Math.Abs(a[(j * n) + i]);
                        rowNorm += Math.Abs(a[(i * n) + j]);
                    }
                }

                if (columnNorm == 0 || rowNorm == 0)
                {
                    continue;
                }

                double sum = columnNorm + rowNorm;
                double factor = 1.0;
                double g = rowNorm / radix;
                while (columnNorm < g)
                {
                    factor *= radix;
                    columnNorm *= radixSquared;
                }

                g = rowNorm * radix;
                while (columnNorm > g)
                {
                    factor /= radix;
                    columnNorm /= radixSquared;
                }

                if ((columnNorm + rowNorm) / factor < 0.95 * sum)
                {
                    done = false;
                    double inverse = 1.0 / factor;
                    for (int j = 0; j < n; j++)
                    {
                        a[(i * n) + j] *= inverse;
                    }

                    for (int j = 0; j < n; j++)
                    {
                        a[(j * n) + i] *= factor;
                    }
                }
            }
        }
    }

    /// <summary>
    /// H = P^T A P upper Hessenberg (zero below the first subdiagonal), P a product of
    /// Householder reflections (EISPACK orthes; Golub and Van Loan algorithm 7.4.2).
    /// </summary>
    private static void ReduceToHessenberg(double[] h, int n)
    {
        var u = new double[n];
        var columnSums = new double[n];
        for (int m = 1; m < n - 1; m++)
        {
            // Zero column m-1 below row m.
            double scale = 0;
            for (int i = m; i < n; i++)
            {
                scale += Math.Abs(h[(i * n) + m - 1]);
            }

            if (scale == 0)
            {
                continue;
            }

            double norm2 = 0;
            for (int i = m; i < n; i++)
            {
                u[i] = h[(i * n) + m - 1] / scale;
                norm2 += u[i] * u[i];
            }

            double g = Math.Sqrt(norm2);
            if (u[m] > 0)
            {
                g = -g;
            }

            // P = I - u u^T / beta with u = x - g e_1 and beta = ||x||^2 - x_0 g.
            double beta = norm2 - (u[m] * g);
            u[m] -= g;

            // H <- P H (rows m..n-1), row by row so memory is read contiguously:
            // f = u^T H / beta over columns m-1..n-1, then H -= u f.
            Span<double> f = columnSums.AsSpan(m - 1, n - m + 1);
            f.Clear();
            for (int i = m; i < n; i++)
            {
                double ui = u[i];
                ReadOnlySpan<double> row = h.AsSpan((i * n) + m - 1, n - m + 1);
                for (int j = 0; j < row.Length; j++)
                {
                    f[j] += ui * row[j];
                }
            }

            for (int j = 0; j < f.Length; j++)
            {
                f[j] /= beta;
            }

            for (int i = m; i < n; i++)
            {
                double ui = u[i];
                Span<double> row = h.AsSpan((i * n) + m - 1, n - m + 1);
                for (int j = 0; j < row.Length; j++)
                {
                    row[j] -= f[j] * ui;
                }
            }

            // H <- H P (columns m..n-1).
            ReadOnlySpan<double> reflector = u.AsSpan(m, n - m);
            for (int i = 0; i < n; i++)
            {
                Span<double> row = h.AsSpan((i * n) + m, n - m);
                double dot = 0;
                for (int j = 0; j < row.Length; j++)
                {
                    dot += reflector[j] * row[j];
                }

                dot /= beta;
                for (int j = 0; j < row.Length; j++)
                {
                    row[j] -= dot * reflector[j];
                }
            }

            // Exact zeros below the subdiagonal of column m-1 (they are rounding noise now).
            h[(m * n) + m - 1] = scale * g;
            for (int i = m + 1; i < n; i++)
            {
                h[(i * n) + m - 1] = 0;
            }
        }
    }

    /// <summary>
    /// Eigenvalues of the upper Hessenberg H by the Francis double-shift QR iteration
    /// (EISPACK hqr, as in JAMA's hqr2 without eigenvectors). Works on the active window
    /// rows/columns l..last; a negligible subdiagonal entry splits the problem, a 1 x 1 or
    /// 2 x 2 block at the bottom deflates one real eigenvalue or a pair. Exceptional shifts at
    /// iterations 10 and 30 break the rare cycles of the standard shift.
    /// </summary>
    private static void HessenbergQr(double[] h, int size, double[] real, double[] imaginary)
    {
        double eps = Math.Pow(2.0, -52);
        double exshift = 0;
        double p = 0, q = 0, r = 0, s, z, w, x, y;

        double norm = 0;
        for (int i = 0; i < size; i++)
        {
            for (int j = Math.Max(i - 1, 0); j < size; j++)
            {
                norm += Math.Abs(h[(i * size) + j]);
            }
        }

        int last = size - 1;
        int iterations = 0;
        while (last >= 0)
        {
            // Find the lowest negligible subdiagonal entry h[l, l-1]: the window l..last is unreduced.
            int l = last;
            while (l > 0)
            {
                s = Math.Abs(H(l - 1, l - 1)) + Math.Abs(H(l, l));
                if (s == 0)
                {
                    s = norm;
                }

                if (Math.Abs(H(l, l - 1)) <= eps * s)
                {
                    break;
                }

                l--;
            }

            if (l == last)
            {
                // A 1 x 1 block: one real eigenvalue.
                real[last] = H(last, last) + exshift;
                imaginary[last] = 0;
                last--;
                iterations = 0;
            }
            else if (l == last - 1)
            {
                // A 2 x 2 block [a b; c d]: lambda = (a + d)/2 +- sqrt(((a - d)/2)^2 + b c).
                w = H(last, last - 1) * H(last - 1, last);
                p = (H(last - 1, last - 1) - H(last, last)) / 2.0;
                q = (p * p) + w;
                z = Math.Sqrt(Math.Abs(q));
                x = H(last, last) + exshift;
                if (q >= 0)
                {
                    // Real pair; the larger root from the stable formula, the other from the product.
                    z = p >= 0 ? p + z : p - z;
                    real[last - 1] = x + z;
                    real[last] = z != 0 ? x - (w / z) : x + z;
                    imaginary[last - 1] = 0;
                    imaginary[last] = 0;
                }
                else
                {
                    real[last - 1] = x + p;
                    real[last] = x + p;
                    imaginary[last - 1] = z;
                    imaginary[last] = -z;
                }

                last -= 2;
                iterations = 0;
            }
            else
            {
                // Shifts: the eigenvalues of the trailing 2 x 2 block, through x + y (trace) and x y - w (determinant).
                x = H(last, last);
                y = H(last - 1, last - 1);
                w = H(last, last - 1) * H(last - 1, last);

                if (iterations == 10)
                {
                    // Wilkinson's exceptional shift.
                    exshift += x;
                    for (int i = 0; i <= last; i++)
                    {
                        h[(i * size) + i] -= x;
                    }

                    s = Math.Abs(H(last, last - 1)) + Math.Abs(H(last - 1, last - 2));
                    x = y = 0.75 * s;
                    w = -0.4375 * s * s;
                }

                if (iterations == 30)
                {
                    // MATLAB's exceptional shift.
                    s = (y - x) / 2.0;
                    s = (s * s) + w;
                    if (s > 0)
                    {
                        s = Math.Sqrt(s);
                        if (y < x)
                        {
                            s = -s;
                        }

                        s = x - (w / (((y - x) / 2.0) + s));
                        for (int i = 0; i <= last; i++)
                        {
                            h[(i * size) + i] -= s;
                        }

                        exshift += s;
                        x = y = w = 0.964;
                    }
                }

                iterations++;
                if (iterations > MaxIterationsPerEigenvalue)
                {
                    throw new UnrollException(
                        $"eigenvalues: expected the QR iteration to converge within {MaxIterationsPerEigenvalue} iterations per eigenvalue, got no convergence for a {size} x {size} matrix.");
                }

                // Look for two consecutive small subdiagonal entries, to start the bulge lower.
                int m = last - 2;
                while (m >= l)
                {
                    z = H(m, m);
                    r = x - z;
                    s = y - z;
                    p = (((r * s) - w) / H(m + 1, m)) + H(m, m + 1);
                    q = H(m + 1, m + 1) - z - r - s;
                    r = H(m + 2, m + 1);
                    s = Math.Abs(p) + Math.Abs(q) + Math.Abs(r);
                    p /= s;
                    q /= s;
                    r /= s;
                    if (m == l)
                    {
                        break;
                    }

                    if (Math.Abs(H(m, m - 1)) * (Math.Abs(q) + Math.Abs(r)) <
                        eps * (Math.Abs(p) * (Math.Abs(H(m - 1, m - 1)) + Math.Abs(z) + Math.Abs(H(m + 1, m + 1)))))
                    {
                        break;
                    }

                    m--;
                }

                for (int i = m + 2; i <= last; i++)
                {
                    h[(i * size) + i - 2] = 0;
                    if (i > m + 2)
                    {
                        h[(i * size) + i - 3] = 0;
                    }
                }

                // The double QR step on rows l..last and columns m..last: chase a 3 x 3 bulge down.
                for (int k = m; k <= last - 1; k++)
                {
                    bool notLast = k != last - 1;
                    if (k != m)
                    {
                        p = H(k, k - 1);
                        q = H(k + 1, k - 1);
                        r = notLast ? H(k + 2, k - 1) : 0.0;
                        x = Math.Abs(p) + Math.Abs(q) + Math.Abs(r);
                        if (x == 0)
                        {
                            continue;
                        }

                        p /= x;
                        q /= x;
                        r /= x;
                    }

                    s = Math.Sqrt((p * p) + (q * q) + (r * r));
                    if (p < 0)
                    {
                        s = -s;
                    }

                    if (s == 0)
                    {
                        continue;
                    }

                    if (k != m)
                    {
                        h[(k * size) + k - 1] = -s * x;
                    }
                    else if (l != m)
                    {
                        h[(k * size) + k - 1] = -H(k, k - 1);
                    }

                    p += s;
                    x = p / s;
                    y = q / s;
                    z = r / s;
                    q /= p;
                    r /= p;

                    // Row modification (columns k..last of the active window).
                    for (int j = k; j <= last; j++)
                    {
                        p = H(k, j) + (q * H(k + 1, j));
                        if (notLast)
                        {
                            p += r * H(k + 2, j);
                            h[((k + 2) * size) + j] -= p * z;
                        }

                        h[(k * size) + j] -= p * x;
                        h[((k + 1) * size) + j] -= p * y;
                    }

                    // Column modification (rows l..min(last, k+3)).
                    int bottom = Math.Min(last, k + 3);
                    for (int i = l; i <= bottom; i++)
                    {
                        p = (x * H(i, k)) + (y * H(i, k + 1));
                        if (notLast)
                        {
                            p += z * H(i, k + 2);
                            h[(i * size) + k + 2] -= p * r;
                        }

                        h[(i * size) + k] -= p;
                        h[(i * size) + k + 1] -= p * q;
                    }
                }
            }
        }

        double H(int row, int column) => h[(row * size) + column];
    }
}
