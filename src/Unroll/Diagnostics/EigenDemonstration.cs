using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Diagnostics;

/// <summary>
/// ||W^t h_0|| over t for one matrix, beside the part the largest eigenvalue alone predicts.
/// </summary>
/// <param name="Matrix">W, n x n row-major.</param>
/// <param name="LargestModulus">|lambda_1|, the spectral radius of W.</param>
/// <param name="Eigenvalues">All eigenvalues of W, largest first.</param>
/// <param name="Norms">||W^t h_0|| for t = 0..T.</param>
/// <param name="DominantTerm">|alpha_1| |lambda_1|^t ||w_1||, the term of h_t = sum_i alpha_i lambda_i^t w_i that takes over.</param>
internal sealed record PowerSeries(double[] Matrix, double LargestModulus, double[] Eigenvalues, double[] Norms, double[] DominantTerm);

/// <summary>
/// The notes' argument made concrete: with h_t = W h_{t-1}, h_t = W^t h_0 = sum_i alpha_i lambda_i^t w_i,
/// so the largest |lambda| decides whether the state (and, by the same product, the gradient)
/// explodes (&gt; 1), vanishes (&lt; 1) or holds (= 1).
/// </summary>
internal static class EigenDemonstration
{
    /// <summary>
    /// Builds a symmetric n x n matrix W = Q diag(lambda) Q^T with a random orthogonal Q (seeded),
    /// largest eigenvalue <paramref name="largestModulus"/> and the others spread over
    /// [0.3, 0.8] times it, and follows h_t = W h_{t-1} from a random unit h_0 for
    /// <paramref name="steps"/> steps.
    /// </summary>
    /// <exception cref="UnrollException">A size is not positive or the modulus is not finite and positive.</exception>
    public static PowerSeries Run(double largestModulus, int size, int steps, int seed)
    {
        if (!(largestModulus > 0) || double.IsInfinity(largestModulus))
        {
            throw new UnrollException($"eigenvalue: expected a finite largest |lambda| > 0, got {largestModulus}.");
        }

        if (size < 1 || steps < 1)
        {
            throw new UnrollException($"explain eigen: expected a matrix size and a number of steps of at least 1, got {size} and {steps}.");
        }

        var random = new Random(seed);
        var gaussian = new double[size * size];
        Gaussian.Fill(gaussian, random);
        var (q, _) = HouseholderQr.Decompose(gaussian, size, size);
        var lambda = new double[size];
        lambda[0] = largestModulus;
        for (int i = 1; i < size; i++)
        {
            lambda[i] = largestModulus * (0.8 - (0.5 * (i - 1) / Math.Max(1, size - 1)));
        }

        // W = Q diag(lambda) Q^T; the eigenvectors w_i are Q's columns.
        var w = new double[size * size];
        for (int r = 0; r < size; r++)
        {
            for (int c = 0; c < size; c++)
            {
                double sum = 0;
                for (int k = 0; k < size; k++)
                {
                    sum += q[(r * size) + k] * lambda[k] * q[(c * size) + k];
                }

                w[(r * size) + c] = sum;
            }
        }

        var h = new double[size];
        Gaussian.Fill(h, random);
        double length = Math.Sqrt(h.Sum(v => v * v));
        for (int i = 0; i < size; i++)
        {
            h[i] /= length;
        }

        // alpha_1 = <w_1, h_0> (Q is orthogonal, so the coordinates are projections).
        double alpha = 0;
        for (int i = 0; i < size; i++)
        {
            alpha += q[(i * size) + 0] * h[i];
        }

        var norms = new double[steps + 1];
        var dominant = new double[steps + 1];
        var next = new double[size];
        for (int t = 0; t <= steps; t++)
        {
            norms[t] = Math.Sqrt(h.Sum(v => v * v));
            dominant[t] = Math.Abs(alpha) * Math.Pow(largestModulus, t);
            for (int r = 0; r < size; r++)
            {
                double sum = 0;
                for (int c = 0; c < size; c++)
                {
                    sum += w[(r * size) + c] * h[c];
                }

                next[r] = sum;
            }

            (h, next) = (next, h);
        }

        return new PowerSeries(w, largestModulus, lambda, norms, dominant);
    }
}
