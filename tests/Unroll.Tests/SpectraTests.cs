using System.Numerics;
using Unroll.Diagnostics;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests;

public class SpectraTests
{
    [Fact]
    public void DiagonalMatrixHasTheAbsoluteValuesOfItsDiagonalInDecreasingOrder()
    {
        double[] diagonal = [3, -7, 0.5, -2, 0];
        var values = SingularValues.Of(Diagonal(diagonal), 5, 5);
        AssertValues([7, 3, 2, 0.5, 0], values, 1e-15);
    }

    [Theory]
    [InlineData(0.4)]
    [InlineData(2.5)]
    public void RotationTimesDiagonalKeepsTheDiagonal(double angle)
    {
        // R(angle) diag(4, -0.25): an orthogonal factor does not change singular values.
        var (sin, cos) = Math.SinCos(angle);
        double[] a = [cos * 4, -sin * -0.25, sin * 4, cos * -0.25];
        AssertValues([4, 0.25], SingularValues.Of(a, 2, 2), 1e-15);
    }

    [Fact]
    public void HiddenSingularValuesAreFoundAfterOrthogonalChangesOfBasis()
    {
        // A = Q1 diag(s) Q2^T with orthogonal Q1, Q2: its singular values are |s| sorted.
        const int n = 8;
        double[] s = [5, 1e-3, 2, 2, 0.7, 3.5, 1e-6, 1];
        var a = Multiply(Multiply(RandomOrthogonal(n, 1), n, n, Diagonal(s), n), n, n, Transpose(RandomOrthogonal(n, 2), n, n), n);
        AssertValues(s.OrderByDescending(v => v).ToArray(), SingularValues.Of(a, n, n), 1e-13);
    }

    [Fact]
    public void RankDeficientMatrixHasZeroSingularValues()
    {
        // u v^T has one non-zero singular value ||u|| ||v||; a Q1 diag(3, 1, 0, 0, 0) Q2^T has rank 2.
        double[] u = [1, 2, -2], v = [3, 0, 4, 0];
        var outer = new double[12];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 4; j++)
            {
                outer[(i * 4) + j] = u[i] * v[j];
            }
        }

        AssertValues([15, 0, 0], SingularValues.Of(outer, 3, 4), 1e-14);

        const int n = 5;
        var a = Multiply(Multiply(RandomOrthogonal(n, 3), n, n, Diagonal([3, 0, 1, 0, 0]), n), n, n, Transpose(RandomOrthogonal(n, 4), n, n), n);
        AssertValues([3, 1, 0, 0, 0], SingularValues.Of(a, n, n), 1e-14);
    }

    [Fact]
    public void RectangularMatricesHaveMinOfRowsAndColumnsSingularValues()
    {
        // A (3 x 5) = Q1 [diag(4, 0.5, 2) | 0] Q2^T; A^T (5 x 3) has the same singular values.
        var core = new double[3 * 5];
        core[0] = 4;
        core[5 + 1] = 0.5;
        core[10 + 2] = 2;
        var wide = Multiply(Multiply(RandomOrthogonal(3, 5), 3, 3, core, 5), 3, 5, Transpose(RandomOrthogonal(5, 6), 5, 5), 5);
        var tall = Transpose(wide, 3, 5);
        AssertValues([4, 2, 0.5], SingularValues.Of(wide, 3, 5), 1e-14);
        AssertValues([4, 2, 0.5], SingularValues.Of(tall, 5, 3), 1e-14);
        Assert.Equal(4, SingularValues.Largest(wide, 3, 5), 1e-10);
        Assert.Equal(4, SingularValues.Largest(tall, 5, 3), 1e-10);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 2)]
    [InlineData(17, 3)]
    [InlineData(40, 4)]
    public void SquaresSumToTheFrobeniusNormAndProductIsAbsoluteDeterminant(int n, int seed)
    {
        var random = new Random(seed);
        var a = RandomMatrix(random, n, n);
        var values = SingularValues.Of(a, n, n);
        Assert.Equal(n, values.Length);
        for (int i = 1; i < n; i++)
        {
            Assert.True(values[i - 1] >= values[i]);
        }

        double frobenius = a.Sum(x => x * x);
        Assert.Equal(frobenius, values.Sum(x => x * x), 1e-12 * frobenius);
        double logDeterminant = LogAbsDeterminant(a, n);
        Assert.Equal(logDeterminant, values.Sum(Math.Log), 1e-10 * Math.Max(1, Math.Abs(logDeterminant)));
    }

    [Theory]
    [InlineData(2, 7)]
    [InlineData(6, 8)]
    [InlineData(25, 9)]
    public void SpectralRadiusIsBetweenTheSmallestAndLargestSingularValue(int n, int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 5; trial++)
        {
            var a = RandomMatrix(random, n, n);
            var spectrum = Spectra.OfMatrix("w", "", 0, false, a, n);
            Assert.True(spectrum.SpectralRadius <= spectrum.LargestSingularValue * (1 + 1e-12));
            Assert.True(spectrum.Eigenvalues.Min(e => e.Magnitude) >= spectrum.SingularValues[^1] * (1 - 1e-9) - 1e-12);
        }
    }

    [Fact]
    public void PowerIterationAgreesWithJacobi()
    {
        var random = new Random(10);
        var a = RandomMatrix(random, 30, 20);
        Assert.Equal(SingularValues.Of(a, 30, 20)[0], SingularValues.Largest(a, 30, 20, 1e-14), 1e-8);
        Assert.Equal(0, SingularValues.Largest(new double[6], 2, 3));
    }

    [Fact]
    public void BadInputIsRejected()
    {
        Assert.Throws<UnrollException>(() => SingularValues.Of([1, double.NaN, 0, 1], 2, 2));
        Assert.Throws<ArgumentException>(() => SingularValues.Of([1, 2, 3], 2, 2));
        Assert.Empty(SingularValues.Of([], 0, 3));
        AssertValues([0, 0], SingularValues.Of(new double[6], 2, 3), 0);
    }

    [Fact]
    public void BidirectionalLstmGivesEveryGateOfEveryLayerAndDirection()
    {
        const int hidden = 3;
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = hidden, OutputSize = 1, Layers = 2, Bidirectional = true }, initialize: false);
        const double theta = 0.9;
        var (sin, cos) = Math.SinCos(theta);

        // Forget block (rows 3..5) of layer 0 forward: 0.5 I.
        var forward0 = model.Parameters.Value("rnn.weight_hh_l0");
        for (int i = 0; i < hidden; i++)
        {
            forward0[((hidden + i) * hidden) + i] = 0.5;
        }

        // Cell-candidate block (rows 6..8) of layer 1 backward: R(theta) (+) 0.3.
        var reverse1 = model.Parameters.Value("rnn.weight_hh_l1_reverse");
        double[] g = [cos, -sin, 0, sin, cos, 0, 0, 0, 0.3];
        g.CopyTo(reverse1[(2 * hidden * hidden)..]);

        var spectra = Spectra.Of(model);
        Assert.Equal(16, spectra.Count);
        int index = 0;
        foreach (int layer in new[] { 0, 1 })
        {
            foreach (bool reverse in new[] { false, true })
            {
                foreach (string gate in new[] { "i", "f", "g", "o" })
                {
                    var s = spectra[index++];
                    Assert.Equal($"rnn.weight_hh_l{layer}{(reverse ? "_reverse" : "")}", s.Parameter);
                    Assert.Equal(gate, s.Gate);
                    Assert.Equal(layer, s.Layer);
                    Assert.Equal(reverse, s.Reverse);
                    Assert.Equal(hidden, s.Eigenvalues.Length);
                    Assert.Equal(hidden, s.SingularValues.Length);
                }
            }
        }

        var forget = spectra.Single(s => s.Layer == 0 && !s.Reverse && s.Gate == "f");
        Assert.All(forget.Eigenvalues, e => AssertComplex(new Complex(0.5, 0), e, 1e-15));
        AssertValues([0.5, 0.5, 0.5], forget.SingularValues, 1e-15);
        Assert.Equal(0.5, forget.SpectralRadius, 1e-15);

        var candidate = spectra.Single(s => s.Layer == 1 && s.Reverse && s.Gate == "g");
        AssertComplex(Complex.FromPolarCoordinates(1, theta), candidate.Eigenvalues[0], 1e-14);
        AssertComplex(Complex.FromPolarCoordinates(1, -theta), candidate.Eigenvalues[1], 1e-14);
        AssertComplex(new Complex(0.3, 0), candidate.Eigenvalues[2], 1e-14);
        Assert.Equal(1, candidate.SpectralRadius, 1e-14);
        AssertValues([1, 1, 0.3], candidate.SingularValues, 1e-14);

        foreach (var other in spectra.Where(s => s != forget && s != candidate))
        {
            Assert.Equal(0, other.SpectralRadius);
            Assert.Equal(0, other.LargestSingularValue);
        }
    }

    [Fact]
    public void FloatGruAndElmanModelsAreLabelledByTheirGates()
    {
        var gru = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 1, HiddenSize = 2, OutputSize = 1 }, initialize: false);
        var z = gru.Parameters.Value("rnn.weight_hh_l0").Slice(4, 4);
        z[0] = 2f;
        z[3] = -3f;
        var spectra = Spectra.Of(gru);
        Assert.Equal(["r", "z", "n"], spectra.Select(s => s.Gate));
        Assert.All(spectra, s => Assert.Equal("rnn.weight_hh_l0", s.Parameter));
        Assert.Equal(3, spectra[1].SpectralRadius, 1e-6);
        AssertValues([3, 2], spectra[1].SingularValues, 1e-6);

        var elman = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Rnn, InputSize = 1, HiddenSize = 4, OutputSize = 1, Layers = 3 }, initialize: false);
        var elmanSpectra = Spectra.Of(elman);
        Assert.Equal([0, 1, 2], elmanSpectra.Select(s => s.Layer));
        Assert.All(elmanSpectra, s => Assert.Equal("", s.Gate));
        Assert.Equal("rnn.weight_hh_l2", elmanSpectra[2].Parameter);
    }

    [Fact]
    public void JordanNetworkHasNoSquareRecurrentWeight()
    {
        var jordan = new JordanModel<double>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        Assert.Empty(Spectra.Of(jordan));
    }

    [Fact]
    public void VanishingBoundIsTheSupremumOfTheActivationDerivative()
    {
        Assert.Equal(1.0, Spectra.VanishingBound(Activation.Tanh));
        Assert.Equal(1.0, Spectra.VanishingBound(Activation.Relu));
        Assert.Equal(1.0, Spectra.VanishingBound(Activation.Identity));
        Assert.Equal(0.25, Spectra.VanishingBound(Activation.Sigmoid));
    }

    [Theory]
    [InlineData(0.99, Activation.Tanh, GradientRegime.VanishingGuaranteed)]
    [InlineData(1.01, Activation.Tanh, GradientRegime.MayExplode)]
    [InlineData(1.0, Activation.Relu, GradientRegime.Neither)]
    [InlineData(3.9, Activation.Sigmoid, GradientRegime.VanishingGuaranteed)]
    [InlineData(4.1, Activation.Sigmoid, GradientRegime.MayExplode)]
    [InlineData(4.0, Activation.Sigmoid, GradientRegime.Neither)]
    [InlineData(0.0, Activation.Identity, GradientRegime.VanishingGuaranteed)]
    public void ClassifyComparesTheSpectralNormWithOneOverGamma(double sigma, Activation activation, GradientRegime expected) =>
        Assert.Equal(expected, Spectra.Classify(sigma, activation));

    [Fact]
    public void ClassifyUsesTheLargestSingularValueNotTheSpectralRadius()
    {
        // [[0.5, 2], [0, 0.5]]: radius 0.5 but sigma_1 is about 2.1 (non-normal), above 1 but below 4.
        var spectrum = Spectra.OfMatrix("rnn.weight_hh_l0", "", 0, false, [0.5, 2, 0, 0.5], 2);
        Assert.Equal(0.5, spectrum.SpectralRadius, 1e-12);
        // sigma_1 sigma_2 = |det| = 0.25 and sigma_1^2 + sigma_2^2 = 4.5.
        double sigma1 = Math.Sqrt((4.5 + Math.Sqrt((4.5 * 4.5) - (4 * 0.0625))) / 2);
        Assert.Equal(sigma1, spectrum.LargestSingularValue, 1e-12);
        Assert.Equal(GradientRegime.MayExplode, Spectra.Classify(spectrum, Activation.Tanh));
        Assert.Equal(GradientRegime.VanishingGuaranteed, Spectra.Classify(spectrum, Activation.Sigmoid));

        var lstm = Spectra.Of(new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 1, HiddenSize = 2, OutputSize = 1 }, initialize: false));
        Assert.Throws<ArgumentException>(() => Spectra.Classify(lstm[0], Activation.Tanh));
    }

    private static void AssertValues(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"value {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static void AssertComplex(Complex expected, Complex actual, double tolerance) =>
        Assert.True((expected - actual).Magnitude <= tolerance, $"expected {expected}, got {actual}");

    private static double[] Diagonal(double[] diagonal)
    {
        int n = diagonal.Length;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[(i * n) + i] = diagonal[i];
        }

        return a;
    }

    private static double[] RandomMatrix(Random random, int rows, int columns)
    {
        var a = new double[rows * columns];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (2 * random.NextDouble()) - 1;
        }

        return a;
    }

    private static double[] RandomOrthogonal(int n, int seed)
    {
        var q = new double[n * n];
        Initializers.Orthogonal<double>(q, n, n, 1.0, new Random(seed));
        var gram = Multiply(Transpose(q, n, n), n, n, q, n);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                Assert.Equal(i == j ? 1.0 : 0.0, gram[(i * n) + j], 1e-14);
            }
        }

        return q;
    }

    private static double[] Multiply(double[] a, int rows, int inner, double[] b, int columns)
    {
        var c = new double[rows * columns];
        for (int i = 0; i < rows; i++)
        {
            for (int k = 0; k < inner; k++)
            {
                for (int j = 0; j < columns; j++)
                {
                    c[(i * columns) + j] += a[(i * inner) + k] * b[(k * columns) + j];
                }
            }
        }

        return c;
    }

    private static double[] Transpose(double[] a, int rows, int columns)
    {
        var t = new double[rows * columns];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                t[(j * rows) + i] = a[(i * columns) + j];
            }
        }

        return t;
    }

    /// <summary>log |det A| by Gaussian elimination with partial pivoting.</summary>
    private static double LogAbsDeterminant(double[] matrix, int n)
    {
        var a = (double[])matrix.Clone();
        double log = 0;
        for (int k = 0; k < n; k++)
        {
            int pivot = k;
            for (int i = k + 1; i < n; i++)
            {
                if (Math.Abs(a[(i * n) + k]) > Math.Abs(a[(pivot * n) + k]))
                {
                    pivot = i;
                }
            }

            for (int j = 0; j < n; j++)
            {
                (a[(k * n) + j], a[(pivot * n) + j]) = (a[(pivot * n) + j], a[(k * n) + j]);
            }

            double diagonal = a[(k * n) + k];
            log += Math.Log(Math.Abs(diagonal));
            for (int i = k + 1; i < n; i++)
            {
                double factor = a[(i * n) + k] / diagonal;
                for (int j = k; j < n; j++)
                {
                    a[(i * n) + j] -= factor * a[(k * n) + j];
                }
            }
        }

        return log;
    }
}
