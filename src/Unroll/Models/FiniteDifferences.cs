using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// Checks analytic gradients against central finite differences in double: the test a new cell's backward must pass.
/// </summary>
public static class FiniteDifferences
{
    /// <summary>
    /// dL/dv at <paramref name="values"/>[<paramref name="index"/>] by the five-point stencil
    /// <c>(-L(v+2s) + 8 L(v+s) - 8 L(v-s) + L(v-2s)) / 12 s</c> (error O(s^4)); the value is restored afterwards.
    /// </summary>
    /// <param name="values">The values the loss reads (a model's parameters, its inputs, ...).</param>
    /// <param name="index">Which value to move.</param>
    /// <param name="loss">Computes the loss from the current values.</param>
    /// <param name="step">s: with 1e-4 the truncation (~s^4) and the round-off (~1e-16 / s) both stay near 1e-12.</param>
    public static double Derivative(double[] values, int index, Func<double> loss, double step = 1e-4)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(loss);
        double saved = values[index];
        double At(double offset)
        {
            values[index] = saved + offset;
            return loss();
        }

        double derivative = ((-At(2 * step)) + (8 * At(step)) - (8 * At(-step)) + At(-2 * step)) / (12 * step);
        values[index] = saved;
        return derivative;
    }

    /// <summary>
    /// The largest error, over every parameter, between <paramref name="gradients"/> (what backward gave) and the finite
    /// difference of <paramref name="loss"/>, each relative to max(|analytic| + |numeric|, <paramref name="floor"/>).
    /// A correct backward in double stays below 1e-6; a wrong term gives far more.
    /// </summary>
    /// <param name="parameters">The model's parameters; <paramref name="loss"/> must read them.</param>
    /// <param name="gradients">dL/dtheta from backward, laid out as <see cref="ParameterSet{T}.Values"/>.</param>
    /// <param name="loss">Runs the model forward and returns the loss.</param>
    /// <param name="floor">The denominator's floor, so that gradients near zero are compared absolutely.</param>
    /// <returns>The largest relative error and the parameter (name and index) where it occurs.</returns>
    public static (double Error, string Where) MaxRelativeError(ParameterSet<double> parameters, ReadOnlySpan<double> gradients, Func<double> loss, double floor = 1e-5)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (gradients.Length != parameters.Values.Length)
        {
            throw new ArgumentException($"Expected one gradient per parameter ({parameters.Values.Length}), got {gradients.Length}.", nameof(gradients));
        }

        (double Error, string Where) worst = (0, string.Empty);
        foreach (var view in parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                double analytic = gradients[view.Offset + i];
                double numeric = Derivative(parameters.Values, view.Offset + i, loss);
                double error = Math.Abs(analytic - numeric) / Math.Max(floor, Math.Abs(analytic) + Math.Abs(numeric));
                if (error > worst.Error)
                {
                    worst = (error, $"{view.Name}[{i}]");
                }
            }
        }

        return worst;
    }
}
