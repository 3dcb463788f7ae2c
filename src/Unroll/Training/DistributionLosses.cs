using System.Numerics;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>
/// Losses of probabilistic heads over N predicted values, each returning the mean loss and writing dL/dprediction.
/// Predictions are [N, P]: the P parameters of each value side by side. The math runs in double whatever T is.
/// </summary>
internal static class DistributionLosses
{
    /// <summary>The smallest scale: keeps ln sigma finite when softplus underflows.</summary>
    public const double MinimumScale = 1e-6;

    /// <summary>The smallest degrees of freedom of the Student-t head (its variance is finite above 2), as GluonTS's StudentTOutput.</summary>
    public const double MinimumDegreesOfFreedom = 2;

    private static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    /// <summary>softplus(x) = ln(1 + e^x), computed without overflow.</summary>
    public static double Softplus(double x) => x > 30 ? x : x < -30 ? Math.Exp(x) : Math.Log(1 + Math.Exp(x));

    /// <summary>The scale a raw output s stands for: softplus(s) + <see cref="MinimumScale"/>.</summary>
    public static double Scale(double raw) => Softplus(raw) + MinimumScale;

    /// <summary>The degrees of freedom a raw output d stands for: 2 + softplus(d).</summary>
    public static double DegreesOfFreedom(double raw) => MinimumDegreesOfFreedom + Softplus(raw);

    /// <summary>
    /// Gaussian negative log-likelihood, <c>L = 1/N sum_i [ ln(2 pi)/2 + ln sigma_i + (y_i - mu_i)^2 / (2 sigma_i^2) ]</c>
    /// with sigma_i = softplus(s_i) + 1e-6 (DeepAR's Gaussian head). Gradients:
    /// <c>dL/dmu = -(y - mu)/sigma^2 / N</c>, <c>dL/dsigma = (1/sigma - (y - mu)^2/sigma^3) / N</c>, <c>dsigma/ds = sigmoid(s)</c>.
    /// </summary>
    public static T GaussianNll<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(predictions, targets, predictionGradients, 2);
        int n = targets.Length;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double mu = double.CreateChecked(predictions[2 * i]), raw = double.CreateChecked(predictions[(2 * i) + 1]);
            double y = double.CreateChecked(targets[i]), sigma = Scale(raw), error = y - mu;
            sum += HalfLogTwoPi + Math.Log(sigma) + (error * error / (2 * sigma * sigma));
            if (!predictionGradients.IsEmpty)
            {
                predictionGradients[2 * i] = T.CreateChecked(-error / (sigma * sigma) / n);
                double dSigma = (1 / sigma) - (error * error / (sigma * sigma * sigma));
                predictionGradients[(2 * i) + 1] = T.CreateChecked(dSigma * Sigmoid(raw) / n);
            }
        }

        return T.CreateChecked(n > 0 ? sum / n : 0);
    }

    /// <summary>
    /// Student-t negative log-likelihood with location mu, scale sigma = softplus(s) + 1e-6 and nu = 2 + softplus(d):
    /// <c>-ln Gamma((nu+1)/2) + ln Gamma(nu/2) + ln(nu pi)/2 + ln sigma + (nu+1)/2 ln(1 + z^2/nu)</c>, z = (y - mu)/sigma,
    /// averaged over the N values. With q = 1 + z^2/nu:
    /// <c>dL/dmu = -(nu+1) z / (nu sigma q)</c>, <c>dL/dsigma = 1/sigma - (nu+1) z^2 / (nu sigma q)</c>,
    /// <c>dL/dnu = [psi(nu/2) - psi((nu+1)/2)]/2 + 1/(2 nu) + ln(q)/2 - (nu+1) z^2 / (2 nu^2 q)</c> (psi the digamma function).
    /// </summary>
    public static T StudentTNll<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> predictionGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(predictions, targets, predictionGradients, 3);
        int n = targets.Length;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double mu = double.CreateChecked(predictions[3 * i]), rawScale = double.CreateChecked(predictions[(3 * i) + 1]);
            double rawDf = double.CreateChecked(predictions[(3 * i) + 2]);
            double sigma = Scale(rawScale), nu = DegreesOfFreedom(rawDf), z = (double.CreateChecked(targets[i]) - mu) / sigma;
            double q = 1 + (z * z / nu);
            sum += -SpecialFunctions.LogGamma((nu + 1) / 2) + SpecialFunctions.LogGamma(nu / 2) + (0.5 * Math.Log(nu * Math.PI))
                + Math.Log(sigma) + ((nu + 1) / 2 * Math.Log(q));
            if (!predictionGradients.IsEmpty)
            {
                double dMu = -(nu + 1) * z / (nu * sigma * q);
                double dSigma = (1 / sigma) - ((nu + 1) * z * z / (nu * sigma * q));
                double dNu = (0.5 * (SpecialFunctions.Digamma(nu / 2) - SpecialFunctions.Digamma((nu + 1) / 2))) + (1 / (2 * nu))
                    + (0.5 * Math.Log(q)) - ((nu + 1) * z * z / (2 * nu * nu * q));
                predictionGradients[3 * i] = T.CreateChecked(dMu / n);
                predictionGradients[(3 * i) + 1] = T.CreateChecked(dSigma * Sigmoid(rawScale) / n);
                predictionGradients[(3 * i) + 2] = T.CreateChecked(dNu * Sigmoid(rawDf) / n);
            }
        }

        return T.CreateChecked(n > 0 ? sum / n : 0);
    }

    /// <summary>
    /// The pinball (quantile) loss averaged over the N values and Q levels tau_q:
    /// <c>rho_tau(y, p) = max(tau (y - p), (tau - 1)(y - p))</c>; its (sub)gradient is <c>-tau</c> where y &gt;= p and
    /// <c>1 - tau</c> where y &lt; p, over N Q. Predictions are [N, Q].
    /// </summary>
    public static T Pinball<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, IReadOnlyList<double> levels, Span<T> predictionGradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(levels);
        int q = levels.Count;
        Check(predictions, targets, predictionGradients, q);
        int n = targets.Length;
        double count = (double)n * q, sum = 0;
        for (int i = 0; i < n; i++)
        {
            double y = double.CreateChecked(targets[i]);
            for (int k = 0; k < q; k++)
            {
                double tau = levels[k], error = y - double.CreateChecked(predictions[(i * q) + k]);
                sum += error >= 0 ? tau * error : (tau - 1) * error;
                if (!predictionGradients.IsEmpty)
                {
                    predictionGradients[(i * q) + k] = T.CreateChecked((error >= 0 ? -tau : 1 - tau) / count);
                }
            }
        }

        return T.CreateChecked(count > 0 ? sum / count : 0);
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static void Check<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, Span<T> gradients, int parameters)
    {
        if (predictions.Length != targets.Length * parameters)
        {
            throw new ArgumentException($"Expected {parameters} predictions per target ({targets.Length * parameters}), got {predictions.Length}.", nameof(predictions));
        }

        if (!gradients.IsEmpty && gradients.Length != predictions.Length)
        {
            throw new ArgumentException($"Expected {predictions.Length} gradients, got {gradients.Length}.", nameof(gradients));
        }
    }
}

/// <summary>ln Gamma and its derivative, the digamma function psi, for positive arguments.</summary>
internal static class SpecialFunctions
{
    // Lanczos approximation, g = 7, n = 9 (Numerical Recipes 3rd ed., 6.1; relative error below 1e-15).
    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
        -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];

    /// <summary>ln Gamma(x) for x &gt; 0.</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5)
        {
            // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
            return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        }

        x -= 1;
        double a = Lanczos[0], t = x + 7.5;
        for (int i = 1; i < Lanczos.Length; i++)
        {
            a += Lanczos[i] / (x + i);
        }

        return (0.5 * Math.Log(2 * Math.PI)) + ((x + 0.5) * Math.Log(t)) - t + Math.Log(a);
    }

    /// <summary>psi(x) = d ln Gamma(x)/dx for x &gt; 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x &gt;= 10, then the asymptotic series.</summary>
    public static double Digamma(double x)
    {
        double result = 0;
        while (x < 10)
        {
            result -= 1 / x;
            x += 1;
        }

        double f = 1 / (x * x);
        // psi(x) ~ ln x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6) + 1/(240x^8) - 1/(132x^10)
        return result + Math.Log(x) - (0.5 / x) - (f * ((1.0 / 12) - (f * ((1.0 / 120) - (f * ((1.0 / 252) - (f * ((1.0 / 240) - (f / 132)))))))));
    }
}
