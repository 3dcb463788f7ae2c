namespace Unroll.Tensors;

/// <summary>Standard normal draws from a seeded <see cref="Random"/>, so a seed fixes every value.</summary>
internal static class Gaussian
{
    /// <summary>
    /// Fills <paramref name="values"/> with independent N(0, 1) draws by the Box-Muller transform:
    /// for u1 in (0, 1] and u2 in [0, 1) from <see cref="Random.NextDouble"/>,
    /// sqrt(-2 ln u1) cos(2 pi u2) and sqrt(-2 ln u1) sin(2 pi u2) are two independent standard
    /// normals. Values are filled in order, a pair at a time; for an odd length the last pair's
    /// second value is discarded.
    /// </summary>
    public static void Fill(Span<double> values, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        for (int i = 0; i < values.Length; i += 2)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
            values[i] = radius * cos;
            if (i + 1 < values.Length)
            {
                values[i + 1] = radius * sin;
            }
        }
    }
}
