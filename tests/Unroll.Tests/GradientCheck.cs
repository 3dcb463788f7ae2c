using System.Numerics;

namespace Unroll.Tests;

/// <summary>The numerical checks the gradient and fixture tests share.</summary>
internal static class GradientCheck
{
    /// <summary>
    /// dL/dvalues[index] by the five-point central stencil, error O(h^4): with h = 1e-4 both the
    /// truncation (~h^4) and the round-off (~1e-16 / h) stay near 1e-12, far below the 1e-6 relative
    /// error the tests demand. The value is restored afterwards.
    /// </summary>
    public static double FivePoint(double[] values, int index, Func<double> loss)
    {
        const double h = 1e-4;
        double saved = values[index];
        double At(double offset)
        {
            values[index] = saved + offset;
            return loss();
        }

        double derivative = (-At(2 * h) + (8 * At(h)) - (8 * At(-h)) + At(-2 * h)) / (12 * h);
        values[index] = saved;
        return derivative;
    }

    /// <summary>
    /// |a - b| / max(1e-5, |a| + |b|): relative, with gradients below 1e-5 compared absolutely to 1e-11,
    /// the level at which the stencil's round-off (about 1e-16 |L| / h, times its coefficients) sits.
    /// </summary>
    public static double RelativeError(double a, double b) => Math.Abs(a - b) / Math.Max(1e-5, Math.Abs(a) + Math.Abs(b));

    /// <summary>Asserts an analytic gradient equals its finite difference to a relative error of 1e-6.</summary>
    public static void AssertMatches(string what, double analytic, double numeric)
    {
        double error = RelativeError(analytic, numeric);
        Assert.True(error <= 1e-6, $"{what}: analytic {analytic:R}, finite difference {numeric:R}, relative error {error:E2}");
    }

    /// <summary>Asserts every value is within <paramref name="tolerance"/> times the largest expected magnitude (at least 1e-3).</summary>
    public static void AssertClose<T>(string name, double[] expected, ReadOnlySpan<T> actual, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.True(expected.Length == actual.Length, $"{name}: expected {expected.Length} values, got {actual.Length}");
        double scale = Math.Max(1e-3, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++)
        {
            double difference = Math.Abs(double.CreateChecked(actual[i]) - expected[i]);
            Assert.True(difference <= tolerance * scale, $"{name}[{i}]: expected {expected[i]:R}, got {actual[i]}, difference {difference:E2}");
        }
    }

    /// <summary>Converts fixture values to the element type under test.</summary>
    public static T[] Convert<T>(double[] values)
        where T : unmanaged, IFloatingPointIeee754<T> => values.Select(T.CreateChecked).ToArray();
}
