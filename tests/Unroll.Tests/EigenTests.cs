using System.Numerics;
using Unroll.Diagnostics;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests;

public class EigenTests
{
    [Fact]
    public void DiagonalMatrixHasItsDiagonalSortedByModulus()
    {
        double[] diagonal = [3, -1, 0.5, 2, -7];
        var values = Eigen.Eigenvalues(Diagonal(diagonal), diagonal.Length);
        AssertSpectrum([new(-7, 0), new(3, 0), new(2, 0), new(-1, 0), new(0.5, 0)], values, 1e-14);
    }

    [Fact]
    public void UpperTriangularMatrixHasItsDiagonal()
    {
        const int n = 6;
        var random = new Random(3);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[(i * n) + i] = i - 2.5;
            for (int j = i + 1; j < n; j++)
            {
                a[(i * n) + j] = 10 * ((2 * random.NextDouble()) - 1);
            }
        }

        var expected = Enumerable.Range(0, n).Select(i => new Complex(i - 2.5, 0)).ToArray();
        AssertSpectrum(expected, Eigen.Eigenvalues(a, n), 1e-12);
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(1.0)]
    [InlineData(2.9)]
    public void RotationHasCosPlusMinusISin(double angle)
    {
        var (sin, cos) = Math.SinCos(angle);
        var values = Eigen.Eigenvalues([cos, -sin, sin, cos], 2);
        AssertSpectrum([new(cos, sin), new(cos, -sin)], values, 1e-14);
    }

    [Fact]
    public void HiddenRotationsAndScalingsAreFoundAfterAnOrthogonalChangeOfBasis()
    {
        // A = Q B Q^T, B block diagonal: r1 R(t1), r2 R(t2), and reals 0.9, -0.2, 1.5.
        const int n = 7;
        var b = new double[n * n];
        void Rotation(int at, double radius, double angle)
        {
            var (sin, cos) = Math.SinCos(angle);
            b[(at * n) + at] = radius * cos;
            b[(at * n) + at + 1] = -radius * sin;
            b[((at + 1) * n) + at] = radius * sin;
            b[((at + 1) * n) + at + 1] = radius * cos;
        }

        Rotation(0, 1.2, 0.7);
        Rotation(2, 0.5, 2.0);
        b[(4 * n) + 4] = 0.9;
        b[(5 * n) + 5] = -0.2;
        b[(6 * n) + 6] = 1.5;
        var q = new double[n * n];
        Initializers.Orthogonal<double>(q, n, n, 1.0, new Random(11));
        var a = Multiply(Multiply(q, b, n), Transpose(q, n), n);

        var expected = new[]
        {
            Complex.FromPolarCoordinates(1.2, 0.7), Complex.FromPolarCoordinates(1.2, -0.7),
            Complex.FromPolarCoordinates(0.5, 2.0), Complex.FromPolarCoordinates(0.5, -2.0),
            new(0.9, 0), new(-0.2, 0), new(1.5, 0),
        };
        AssertSpectrum(expected, Eigen.Eigenvalues(a, n), 1e-12);
    }

    [Fact]
    public void CompanionMatrixHasThePolynomialsRoots()
    {
        Complex[] roots = [3, -2, 0.5, new(1, 2), new(1, -2), new(-1, 1), new(-1, -1)];
        // p(x) = prod (x - r) = x^n + c[n-1] x^(n-1) + ... + c[0].
        var coefficients = new Complex[] { 1 };
        foreach (var root in roots)
        {
            var next = new Complex[coefficients.Length + 1];
            for (int k = 0; k < coefficients.Length; k++)
            {
                next[k + 1] += coefficients[k];
                next[k] -= root * coefficients[k];
            }

            coefficients = next;
        }

        int n = roots.Length;
        var companion = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            Assert.Equal(0, coefficients[n - 1 - j].Imaginary, 12);
            companion[j] = -coefficients[n - 1 - j].Real;
        }

        for (int i = 1; i < n; i++)
        {
            companion[(i * n) + i - 1] = 1;
        }

        AssertSpectrum(roots, Eigen.Eigenvalues(companion, n), 1e-10);
    }

    [Fact]
    public void BadlyScaledMatrixKeepsItsEigenvalues()
    {
        // A = tridiag(1; 2, 3, 4; 1) has characteristic polynomial -(l - 3)(l^2 - 6 l + 6),
        // so eigenvalues 3 and 3 +- sqrt(3); D A D^-1 has the same, and scalings of 1e6 would
        // spoil an unbalanced QR's accuracy.
        double[] a = [2, 1, 0, 1, 3, 1, 0, 1, 4];
        double[] scales = [1, 1e6, 1e-6];
        var scaled = new double[9];
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 3; j++)
            {
                scaled[(i * 3) + j] = scales[i] * a[(i * 3) + j] / scales[j];
            }
        }

        Complex[] expected = [3 + Math.Sqrt(3), 3, 3 - Math.Sqrt(3)];
        AssertSpectrum(expected, Eigen.Eigenvalues(a, 3), 1e-14);
        AssertSpectrum(expected, Eigen.Eigenvalues(scaled, 3), 1e-12);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(13)]
    public void CyclicPermutationHasTheRootsOfUnity(int n)
    {
        // The classic case where the standard Francis shift stalls (every Hessenberg QR step maps the
        // matrix to itself) and the exceptional shifts must break the cycle.
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[(((i + 1) % n) * n) + i] = 1;
        }

        var expected = Enumerable.Range(0, n).Select(k => Complex.FromPolarCoordinates(1, 2 * Math.PI * k / n)).ToArray();
        AssertSpectrum(expected, Eigen.Eigenvalues(a, n), 1e-12);
    }

    [Fact]
    public void IdentityHasOneRepeated()
    {
        const int n = 10;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[(i * n) + i] = 1;
        }

        Assert.All(Eigen.Eigenvalues(a, n), v => Assert.Equal(Complex.One, v));
    }

    [Fact]
    public void TridiagonalToeplitzMatrixHasItsCosineSpectrum()
    {
        // tridiag(-1, 2, -1) of size n: lambda_k = 2 - 2 cos(k pi / (n + 1)), k = 1..n.
        const int n = 40;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[(i * n) + i] = 2;
            if (i > 0)
            {
                a[(i * n) + i - 1] = -1;
                a[((i - 1) * n) + i] = -1;
            }
        }

        var expected = Enumerable.Range(1, n)
            .Select(k => new Complex(2 - (2 * Math.Cos(k * Math.PI / (n + 1))), 0)).ToArray();
        AssertSpectrum(expected, Eigen.Eigenvalues(a, n), 1e-12);
    }

    [Fact]
    public void JordanBlockGivesItsDefectiveEigenvalueToTheExpectedAccuracy()
    {
        // J_4(2) seen in a random orthogonal basis: a perturbation of size eps moves a
        // 4-fold defective eigenvalue by about eps^(1/4) ~ 1e-4, but their sum stays exact.
        const int n = 4;
        var jordan = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            jordan[(i * n) + i] = 2;
            if (i + 1 < n)
            {
                jordan[(i * n) + i + 1] = 1;
            }
        }

        var q = new double[n * n];
        Initializers.Orthogonal<double>(q, n, n, 1.0, new Random(5));
        var a = Multiply(Multiply(q, jordan, n), Transpose(q, n), n);
        var values = Eigen.Eigenvalues(a, n);
        Assert.Equal(n, values.Length);
        foreach (var value in values)
        {
            Assert.True(Complex.Abs(value - 2) < 1e-3, $"{value} is not near 2.");
        }

        Assert.Equal(8.0, values.Aggregate(Complex.Zero, (s, v) => s + v).Real, 12);
        Assert.Equal(16.0, values.Aggregate(Complex.One, (s, v) => s * v).Real, 9);

        // Unperturbed (already triangular) the block deflates exactly.
        Assert.All(Eigen.Eigenvalues(jordan, n), v => Assert.Equal(new Complex(2, 0), v));
    }

    [Fact]
    public void RandomMatrixSatisfiesTheTracePowerIdentities()
    {
        // sum_i lambda_i^k = tr(A^k) for every k; k = 1..n determine the spectrum (Newton's identities).
        const int n = 30;
        var random = new Random(21);
        var a = new double[n * n];
        Gaussian.Fill(a, random);
        var values = Eigen.Eigenvalues(a, n);
        Assert.Equal(n, values.Length);

        var power = Diagonal(Enumerable.Repeat(1.0, n).ToArray());
        for (int k = 1; k <= 6; k++)
        {
            power = Multiply(power, a, n);
            double trace = Enumerable.Range(0, n).Sum(i => power[(i * n) + i]);
            var sum = values.Aggregate(Complex.Zero, (s, v) => s + Complex.Pow(v, k));
            double scale = values.Sum(v => Math.Pow(v.Magnitude, k));
            Assert.True(Math.Abs(sum.Real - trace) < 1e-10 * scale, $"k={k}: sum lambda^k = {sum}, tr(A^k) = {trace}.");
            Assert.True(Math.Abs(sum.Imaginary) < 1e-10 * scale, $"k={k}: imaginary part {sum.Imaginary}.");
        }

        // Non-real eigenvalues come in exact conjugate pairs, adjacent after sorting.
        for (int i = 0; i < n; i++)
        {
            if (values[i].Imaginary > 0)
            {
                Assert.Equal(Complex.Conjugate(values[i]), values[i + 1]);
            }
        }
    }

    [Fact]
    public void SpectralRadiusIsTheLargestModulus() =>
        Assert.Equal(Math.Sqrt(2), Eigen.SpectralRadius([1, -1, 1, 1], 2), 14);

    [Fact]
    public void SmallAndEmptyMatricesWork()
    {
        Assert.Empty(Eigen.Eigenvalues([], 0));
        Assert.Equal([new Complex(-4, 0)], Eigen.Eigenvalues([-4], 1));
        Assert.All(Eigen.Eigenvalues(new double[9], 3), v => Assert.Equal(Complex.Zero, v));
    }

    [Fact]
    public void NonFiniteEntryIsAUserErrorNamingTheEntry()
    {
        var error = Assert.Throws<UnrollException>(() => Eigen.Eigenvalues([1, 2, double.NaN, 4], 2));
        Assert.Contains("row 1, column 0", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Eigen.Eigenvalues([1, 2, 3], 2));
    }

    [Fact]
    public void InputMatrixIsNotModified()
    {
        double[] a = [1, 2, 3, 4, 5, 6, 7, 8, 10];
        var copy = (double[])a.Clone();
        Eigen.Eigenvalues(a, 3);
        Assert.Equal(copy, a);
    }

    internal static double[] Multiply(double[] a, double[] b, int n)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < n; k++)
            {
                double aik = a[(i * n) + k];
                for (int j = 0; j < n; j++)
                {
                    c[(i * n) + j] += aik * b[(k * n) + j];
                }
            }
        }

        return c;
    }

    internal static double[] Transpose(double[] a, int n)
    {
        var t = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                t[(j * n) + i] = a[(i * n) + j];
            }
        }

        return t;
    }

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

    /// <summary>Matches each expected eigenvalue to a distinct computed one within the tolerance.</summary>
    private static void AssertSpectrum(Complex[] expected, Complex[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var unused = actual.ToList();
        foreach (var value in expected)
        {
            int nearest = Enumerable.Range(0, unused.Count).MinBy(i => Complex.Abs(unused[i] - value));
            Assert.True(Complex.Abs(unused[nearest] - value) <= tolerance * Math.Max(1, Complex.Abs(value)),
                $"expected eigenvalue {value}, nearest computed {unused[nearest]}; all: {string.Join(", ", actual)}");
            unused.RemoveAt(nearest);
        }

        // Sorted by decreasing modulus.
        for (int i = 1; i < actual.Length; i++)
        {
            Assert.True(actual[i - 1].Magnitude >= actual[i].Magnitude - 1e-12);
        }
    }
}
