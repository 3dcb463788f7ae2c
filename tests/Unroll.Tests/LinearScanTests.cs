using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>
/// The scan kernels against plain loops written out here: the chunked scan, for any number of parts (more than the
/// cores, and more than the steps), gives the sequential loop's results bit for bit, forward and adjoint, in time
/// order and against it, and the complex recurrence agrees with System.Numerics.Complex arithmetic. The parts of each
/// phase run on one thread in reverse order, so that a part reading what another part of its phase writes would show
/// whatever the timing; the worker threads run them too, and the split scans of ScanCellModelTests.
/// </summary>
public class LinearScanTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        // Few units: chunked by steps (more parts than steps, too).
        { 1, 1, 1 }, { 1, 7, 3 }, { 5, 1, 2 }, { 5, 9, 7 }, { 37, 33, 2 }, { 37, 33, 3 }, { 64, 17, 5 }, { 200, 40, 4 },

        // At least 64 units per part: split by units (the complex rows, N per row, cut mid-row).
        { 20, 130, 2 }, { 37, 200, 3 }, { 3, 333, 5 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void GatedScanMatchesThePlainLoopBitForBit(int steps, int width, int parts)
    {
        foreach (bool backwards in new[] { false, true })
        {
            foreach (bool adjoint in new[] { false, true })
            {
                var random = new Random((steps * 1000) + (width * 10) + parts);
                float[] a = Values(random, steps * width, 0f, 1.1f);
                float[] b = Values(random, steps * width, -1f, 1f);
                float[] initial = Values(random, width, -1f, 1f);

                // The reference: forward h_t = a_t h_{t-1} + b_t, states in blocks t+1 (or t when backwards, block T = h0);
                // adjoint q_t = e_t + c, c = a_t q_t in place over e.
                float[] expectedOutput = adjoint ? (float[])b.Clone() : new float[(steps + 1) * width];
                float[] expectedCarry = (float[])initial.Clone();
                for (int s = 0; s < steps; s++)
                {
                    int t = backwards ? steps - 1 - s : s;
                    for (int j = 0; j < width; j++)
                    {
                        int at = (t * width) + j;
                        if (adjoint)
                        {
                            float q = expectedOutput[at] + expectedCarry[j];
                            expectedOutput[at] = q;
                            expectedCarry[j] = a[at] * q;
                        }
                        else
                        {
                            expectedCarry[j] = (a[at] * expectedCarry[j]) + b[at];
                            expectedOutput[((t + (backwards ? 0 : 1)) * width) + j] = expectedCarry[j];
                        }
                    }
                }

                var recurrence = new GatedRecurrence<float>();
                float[] output = adjoint ? (float[])b.Clone() : new float[(steps + 1) * width];
                if (adjoint)
                {
                    recurrence.SetAdjoint(steps, width, a, output, backwards);
                }
                else
                {
                    recurrence.SetForward(steps, width, a, b, output, backwards ? 0 : 1, backwards);
                }

                float[] carry = (float[])initial.Clone();
                Reversed<float>().Run(recurrence, carry, parts);
                string what = $"{(adjoint ? "adjoint" : "forward")}{(backwards ? " backwards" : string.Empty)}, T={steps}, width {width}, {parts} parts";
                AssertBitEqual(expectedOutput, output, what + " outputs");
                AssertBitEqual(expectedCarry, carry, what + " carry");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ComplexScanMatchesThePlainLoopBitForBitAndComplexArithmetic(int steps, int units, int parts)
    {
        const int Batch = 3;
        foreach (bool backwards in new[] { false, true })
        {
            foreach (bool adjoint in new[] { false, true })
            {
                var random = new Random((steps * 1000) + (units * 10) + parts + 7);
                int width = 2 * units, stride = 3 * units; // the source rows are wider than the state, as the LRU's are
                double[] lr = new double[units], li = new double[units], gamma = Values(random, units, 0.1, 1.0);
                for (int n = 0; n < units; n++)
                {
                    var lambda = Complex.FromPolarCoordinates(0.5 + (0.5 * random.NextDouble()), 2 * Math.PI * random.NextDouble());
                    (lr[n], li[n]) = (lambda.Real, lambda.Imaginary);
                }

                int[] lengths = [steps, Math.Max(1, steps / 2), 1];
                double[] source = Values(random, steps * Batch * (adjoint ? width : stride), -1.0, 1.0);
                double[] initial = Values(random, Batch * width, -1.0, 1.0);

                var recurrence = new DiagonalComplexRecurrence<double>();
                double[] output = adjoint ? (double[])source.Clone() : new double[(steps + 1) * Batch * width];
                if (adjoint)
                {
                    recurrence.SetAdjoint(steps, Batch, units, lr, li, output, lengths, true, backwards);
                }
                else
                {
                    recurrence.SetForward(steps, Batch, units, lr, li, gamma, source, stride, output, backwards ? 0 : 1, lengths, true, backwards);
                }

                double[] carry = (double[])initial.Clone();
                Reversed<double>().Run(recurrence, carry, parts);

                // The reference, unit by unit, in Complex arithmetic; the same formulas in the same order must agree
                // bit for bit, and Complex's own product to rounding.
                string what = $"{(adjoint ? "adjoint" : "forward")}{(backwards ? " backwards" : string.Empty)}, T={steps}, N={units}, {parts} parts";
                for (int b = 0; b < Batch; b++)
                {
                    for (int n = 0; n < units; n++)
                    {
                        var lambda = new Complex(lr[n], adjoint ? -li[n] : li[n]);
                        double re = initial[(b * width) + n], im = initial[(b * width) + units + n];
                        var complexState = new Complex(re, im);
                        for (int s = 0; s < steps; s++)
                        {
                            int t = backwards ? steps - 1 - s : s;
                            bool active = t < lengths[b];
                            int row = (t * Batch) + b;
                            if (adjoint)
                            {
                                double qr = source[(row * width) + n] + re, qi = source[(row * width) + units + n] + im;
                                AssertBitEqual([qr, qi], [output[(row * width) + n], output[(row * width) + units + n]], $"{what} q[{t},{b},{n}]");
                                var q = new Complex(source[(row * width) + n], source[(row * width) + units + n]) + complexState;
                                complexState = active ? lambda * q : q;
                                (re, im) = active ? ((lr[n] * qr) + (li[n] * qi), (lr[n] * qi) - (li[n] * qr)) : (qr, qi);
                            }
                            else
                            {
                                if (active)
                                {
                                    double pr = source[(row * stride) + n], pi = source[(row * stride) + units + n];
                                    complexState = (lambda * complexState) + (gamma[n] * new Complex(pr, pi));
                                    (re, im) = (((lr[n] * re) - (li[n] * im)) + (gamma[n] * pr), ((li[n] * re) + (lr[n] * im)) + (gamma[n] * pi));
                                }

                                int at = ((((t + (backwards ? 0 : 1)) * Batch) + b) * width) + n;
                                AssertBitEqual([re, im], [output[at], output[at + units]], $"{what} v[{t},{b},{n}]");
                            }

                            Assert.True(Complex.Abs(complexState - new Complex(re, im)) <= 1e-12 * (1 + Complex.Abs(complexState)), $"{what}: {complexState} by Complex, ({re}, {im}) by the loop");
                        }

                        AssertBitEqual([re, im], [carry[(b * width) + n], carry[(b * width) + units + n]], $"{what} carry[{b},{n}]");
                    }
                }
            }
        }
    }

    [Fact]
    public void OnTheWorkerThreadsAnyPartCountMatchesTheLoop()
    {
        // Both splits (by units: 192 units; by steps: 48 units) over 2 to 5 parts, back to back, on the real pool.
        var random = new Random(3);
        foreach (int width in new[] { 192, 48 })
        {
            const int Steps = 300;
            float[] a = Values(random, Steps * width, 0f, 1f), b = Values(random, Steps * width, -1f, 1f);
            float[] Run(int parts)
            {
                var recurrence = new GatedRecurrence<float>();
                float[] states = new float[(Steps + 1) * width];
                recurrence.SetForward(Steps, width, a, b, states, 1, false);
                new LinearScan<float>().Run(recurrence, new float[width], parts);
                return states;
            }

            float[] sequential = Run(1);
            for (int repeat = 0; repeat < 200; repeat++)
            {
                AssertBitEqual(sequential, Run(2 + (repeat % 4)), $"width {width}, {2 + (repeat % 4)} parts, repeat {repeat}");
            }
        }
    }

    [Fact]
    public void ACarryOfTheWrongLengthIsRefused()
    {
        var recurrence = new GatedRecurrence<float>();
        recurrence.SetForward(3, 4, new float[12], new float[12], new float[16], 1, false);
        var error = Assert.Throws<ArgumentException>(() => new LinearScan<float>().Run(recurrence, new float[3], 2));
        Assert.Contains("Expected a carry of 4 values, got 3", error.Message, StringComparison.Ordinal);
    }

    // Each phase's parts on the calling thread, last part first.
    private static LinearScan<T> Reversed<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => new()
        {
            Dispatch = (job, parts) =>
            {
                for (int part = parts - 1; part >= 0; part--)
                {
                    job.Run(part, parts);
                }
            },
        };

    private static float[] Values(Random random, int count, float low, float high) =>
        Enumerable.Range(0, count).Select(_ => low + ((high - low) * (float)random.NextDouble())).ToArray();

    private static double[] Values(Random random, int count, double low, double high) =>
        Enumerable.Range(0, count).Select(_ => low + ((high - low) * random.NextDouble())).ToArray();

    private static void AssertBitEqual<T>(T[] expected, T[] actual, string what)
        where T : IEquatable<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // Equals, not ==: NaN equals NaN, and -0 differs from 0 only where it should not matter.
            Assert.True(expected[i].Equals(actual[i]), $"{what}[{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }
}
