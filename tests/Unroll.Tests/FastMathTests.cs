using Unroll.Kernels;

namespace Unroll.Tests;

public sealed class FastMathTests
{
    /// <summary>Unit roundoff of float: half the spacing of floats in [1, 2), the spacing in [0.5, 1).</summary>
    private const double UnitRoundoff = 1.0 / (1 << 24);

    /// <summary>
    /// How many unit roundoffs of relative error the float evaluation of x P(x^2) / Q(x^2) can add:
    /// 1 for x^2, 6 for the six fused steps of P's Horner chain, 1 for the product with x, 3 for Q's
    /// three fused steps and 1 for the division. All dominant coefficients are positive, so no step
    /// cancels and each rounding contributes at most u relative to the final value (Higham, Accuracy and
    /// Stability, 5.1). This is the worst case, not the typical one: the measured error is ~5 u.
    /// </summary>
    private const int RoundingSteps = 12;

    private const float ClampBound = 7.99881172180175781f;

    private static readonly FastMathPath[] Paths = [FastMathPath.Vector512, FastMathPath.Vector256, FastMathPath.Vector128, FastMathPath.Scalar];

    /// <summary>Every float (-10 + i 1e-4) for i = 0..200000, the sweep the documented errors are measured on.</summary>
    private static float[] Sweep()
    {
        var x = new float[200_001];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(-10 + (i * 1e-4));
        }

        return x;
    }

    /// <summary>
    /// The same clamped rational function as FastMath evaluated in double (float coefficients, written from
    /// Eigen's table independently of the kernel): its distance from tanh is the approximation error alone.
    /// </summary>
    private static double RationalInDouble(float x)
    {
        double c = Math.Clamp(x, -ClampBound, ClampBound);
        double c2 = c * c;
        float[] numerator = [-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f, 5.12229709037114e-08f, 1.48572235717979e-05f, 6.37261928875436e-04f, 4.89352455891786e-03f];
        float[] denominator = [1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f, 4.89352518554385e-03f];
        double p = 0;
        foreach (float a in numerator)
        {
            p = (p * c2) + a;
        }

        p *= c;
        double q = 0;
        foreach (float b in denominator)
        {
            q = (q * c2) + b;
        }

        return Math.Abs(x) < 0.0004f ? x : p / q;
    }

    /// <summary>
    /// Allowed |FastMath.Tanh(x) - tanh(x)|: the approximation's own error at x (computed in double) plus
    /// <see cref="RoundingSteps"/> roundings of relative size u, plus u for the final clamp to [-1, 1].
    /// </summary>
    private static double TanhBound(float x)
    {
        double rational = RationalInDouble(x);
        return Math.Abs(rational - Math.Tanh(x)) + ((RoundingSteps + 1) * UnitRoundoff * Math.Abs(rational));
    }

    /// <summary>sigmoid = 0.5 tanh(x/2) + 0.5: half the tanh bound at x/2 (x/2 is exact) plus the fused final rounding (u).</summary>
    private static double SigmoidBound(float x) => (0.5 * TanhBound(x * 0.5f)) + UnitRoundoff;

    private static double Logistic(double x) => 1.0 / (1.0 + Math.Exp(-x));

    [Fact]
    public void TanhErrorOnTheSweepIsWithinTheDerivedBound()
    {
        float[] x = Sweep();
        var y = new float[x.Length];
        FastMath.Tanh(x, y);
        double maxError = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double error = Math.Abs(y[i] - Math.Tanh(x[i]));
            Assert.True(error <= TanhBound(x[i]), $"tanh({x[i]:R}) = {y[i]:R}, error {error:E3} > bound {TanhBound(x[i]):E3}");
            maxError = Math.Max(maxError, error);
        }

        // Measured 2.57e-7 at x = -5.2128; a wrong coefficient or a broken path shows up orders of magnitude above this.
        Assert.True(maxError < 1e-6, $"max tanh error {maxError:E3}");
    }

    [Fact]
    public void SigmoidErrorOnTheSweepIsWithinTheDerivedBound()
    {
        float[] x = Sweep();
        var y = new float[x.Length];
        FastMath.Sigmoid(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double error = Math.Abs(y[i] - Logistic(x[i]));
            Assert.True(error <= SigmoidBound(x[i]), $"sigmoid({x[i]:R}) = {y[i]:R}, error {error:E3} > bound {SigmoidBound(x[i]):E3}");
        }
    }

    [Fact]
    public void TanhErrorOverSampledBitPatternsIsWithinTheDerivedBound()
    {
        // Every 251st float from +0 to 9 (tiny, denormal and mid-range magnitudes alike); odd symmetry covers x < 0.
        uint top = BitConverter.SingleToUInt32Bits(9f);
        var x = new float[(top / 251) + 1];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = BitConverter.UInt32BitsToSingle((uint)i * 251);
        }

        var y = new float[x.Length];
        FastMath.Tanh(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double error = Math.Abs(y[i] - Math.Tanh(x[i]));
            Assert.True(error <= TanhBound(x[i]), $"tanh({x[i]:R}) = {y[i]:R}, error {error:E3} > bound {TanhBound(x[i]):E3}");
        }
    }

    [Fact]
    public void SpecialValues()
    {
        Assert.Equal(0f, FastMath.Tanh(0f));
        Assert.True(float.IsNegative(FastMath.Tanh(-0f)), "tanh(-0) keeps the sign of zero");
        Assert.Equal(1e-30f, FastMath.Tanh(1e-30f));
        Assert.Equal(float.Epsilon, FastMath.Tanh(float.Epsilon));
        Assert.Equal(1f, FastMath.Tanh(float.PositiveInfinity));
        Assert.Equal(-1f, FastMath.Tanh(float.NegativeInfinity));
        Assert.Equal(1f, FastMath.Tanh(float.MaxValue));
        Assert.Equal(-1f, FastMath.Tanh(float.MinValue));
        Assert.Equal(1f, FastMath.Tanh(1e20f));
        Assert.True(float.IsNaN(FastMath.Tanh(float.NaN)));

        Assert.Equal(0.5f, FastMath.Sigmoid(0f));
        Assert.Equal(0.5f, FastMath.Sigmoid(-0f));
        Assert.Equal(0.5f, FastMath.Sigmoid(1e-30f));
        Assert.Equal(1f, FastMath.Sigmoid(float.PositiveInfinity));
        Assert.Equal(0f, FastMath.Sigmoid(float.NegativeInfinity));
        Assert.Equal(1f, FastMath.Sigmoid(float.MaxValue));
        Assert.Equal(0f, FastMath.Sigmoid(float.MinValue));
        Assert.True(float.IsNaN(FastMath.Sigmoid(float.NaN)));

        // Beyond the clamp tanh saturates exactly (the true value is within 2.7e-7 of +-1 there).
        Assert.Equal(1f, FastMath.Tanh(ClampBound));
        Assert.Equal(-1f, FastMath.Tanh(-8.5f));
    }

    [Fact]
    public void SpecialValuesGiveTheSameBitsOnEveryPath()
    {
        float[] specials =
        [
            0f, -0f, 1e-30f, -1e-30f, float.Epsilon, -float.Epsilon, 0.0004f, -0.0004f, 0.00039999f, 1f, -1f,
            ClampBound, -ClampBound, 9f, -9f, 1e20f, -1e20f, float.MaxValue, float.MinValue,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN,
        ];
        foreach (FastMathPath path in Paths)
        {
            var tanh = new float[specials.Length];
            var sigmoid = new float[specials.Length];
            FastMath.Tanh(specials, tanh, path);
            FastMath.Sigmoid(specials, sigmoid, path);
            for (int i = 0; i < specials.Length; i++)
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(FastMath.Tanh(specials[i])), BitConverter.SingleToUInt32Bits(tanh[i]));
                Assert.Equal(BitConverter.SingleToUInt32Bits(FastMath.Sigmoid(specials[i])), BitConverter.SingleToUInt32Bits(sigmoid[i]));
            }
        }
    }

    [Fact]
    public void RangeIsClosedUnitIntervalOverTheSweep()
    {
        float[] x = Sweep();
        var tanh = new float[x.Length];
        var sigmoid = new float[x.Length];
        FastMath.Tanh(x, tanh);
        FastMath.Sigmoid(x, sigmoid);
        Assert.All(tanh, t => Assert.InRange(t, -1f, 1f));
        Assert.All(sigmoid, s => Assert.InRange(s, 0f, 1f));
    }

    [Fact]
    public void TanhIsExactlyOdd()
    {
        // x P(x^2) / Q(x^2) changes only the sign of x, and every clamp is symmetric, so oddness is exact.
        float[] x = Sweep();
        var y = new float[x.Length];
        FastMath.Tanh(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(-y[i]), BitConverter.SingleToUInt32Bits(FastMath.Tanh(-x[i])));
        }
    }

    [Fact]
    public void NonDecreasingWhereTheStepExceedsTheRoundingNoise()
    {
        // Between sweep points 1e-4 apart tanh rises by 1e-4 sech^2(x), which exceeds twice the worst
        // rounding error (2 * 13 u = 1.6e-6) for |x| < 2.7, so there the result must not decrease. Further
        // out the rise per step drops below an ulp and the few-ulp rounding noise of the rational function
        // makes it non-monotone at the ulp scale (measured: decreases of up to 3.6e-7 beyond |x| = 3.73).
        float[] x = Sweep();
        var tanh = new float[x.Length];
        var sigmoid = new float[x.Length];
        FastMath.Tanh(x, tanh);
        FastMath.Sigmoid(x, sigmoid);
        for (int i = 1; i < x.Length; i++)
        {
            if (Math.Abs(x[i]) < 2.7f && Math.Abs(x[i - 1]) < 2.7f)
            {
                Assert.True(tanh[i] >= tanh[i - 1], $"tanh decreases from x = {x[i - 1]:R} to {x[i]:R}");
            }

            // sigmoid(x) = 0.5 tanh(x/2) + 0.5: the same argument on x/2.
            if (Math.Abs(x[i]) < 5.4f && Math.Abs(x[i - 1]) < 5.4f)
            {
                Assert.True(sigmoid[i] >= sigmoid[i - 1], $"sigmoid decreases from x = {x[i - 1]:R} to {x[i]:R}");
            }
        }
    }

    [Fact]
    public void EveryLengthAndPathAgreesBitForBitWithTheScalarFunction()
    {
        var random = new Random(2024);
        for (int length = 0; length <= 67; length++)
        {
            var x = new float[length];
            for (int i = 0; i < length; i++)
            {
                x[i] = (float)((random.NextDouble() - 0.5) * 24);
            }

            foreach (FastMathPath path in Paths)
            {
                var tanh = new float[length];
                var sigmoid = new float[length];
                FastMath.Tanh(x, tanh, path);
                FastMath.Sigmoid(x, sigmoid, path);
                for (int i = 0; i < length; i++)
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits(FastMath.Tanh(x[i])), BitConverter.SingleToUInt32Bits(tanh[i]));
                    Assert.Equal(BitConverter.SingleToUInt32Bits(FastMath.Sigmoid(x[i])), BitConverter.SingleToUInt32Bits(sigmoid[i]));
                }

                // In place: the same bits as out of place.
                var inPlace = (float[])x.Clone();
                FastMath.Tanh(inPlace, inPlace, path);
                Assert.Equal(tanh, inPlace);
                inPlace = (float[])x.Clone();
                FastMath.Sigmoid(inPlace, inPlace, path);
                Assert.Equal(sigmoid, inPlace);
            }
        }
    }

    [Fact]
    public void MismatchedOrPartlyOverlappingSpansAreRejected()
    {
        var buffer = new float[10];
        Assert.Throws<ArgumentException>(() => FastMath.Tanh(buffer.AsSpan(0, 4), buffer.AsSpan(4, 5)));
        Assert.Throws<ArgumentException>(() => FastMath.Sigmoid(buffer.AsSpan(0, 8), buffer.AsSpan(1, 8)));
    }
}
