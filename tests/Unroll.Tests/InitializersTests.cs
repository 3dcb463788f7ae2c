using System.Numerics;
using Unroll.Diagnostics;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests;

public class InitializersTests
{
    // ---- Parsing -------------------------------------------------------------------------

    [Theory]
    [InlineData("default", InitKind.Default, 1.0)]
    [InlineData("uniform:0.1", InitKind.Uniform, 0.1)]
    [InlineData("normal:0.5", InitKind.Normal, 0.5)]
    [InlineData("normal-scaled", InitKind.NormalScaled, 1.0)]
    [InlineData("normal-scaled:1.5", InitKind.NormalScaled, 1.5)]
    [InlineData("xavier-uniform", InitKind.XavierUniform, 1.0)]
    [InlineData("xavier-normal:2", InitKind.XavierNormal, 2.0)]
    [InlineData("orthogonal", InitKind.Orthogonal, 1.0)]
    [InlineData("orthogonal:1.2", InitKind.Orthogonal, 1.2)]
    [InlineData("identity", InitKind.Identity, 1.0)]
    [InlineData("identity:0.5", InitKind.Identity, 0.5)]
    [InlineData(" Orthogonal:1e-1 ", InitKind.Orthogonal, 0.1)]
    [InlineData("zeros", InitKind.Zeros, 1.0)]
    public void ParsesEverySpec(string spec, InitKind kind, double value)
    {
        var settings = InitSettings.Parse(spec);
        Assert.Equal(kind, settings.Kind);
        Assert.Equal(value, settings.Value, 15);
        Assert.Equal(settings, InitSettings.Parse(settings.ToString()));
    }

    [Theory]
    [InlineData("gaussian")]
    [InlineData("uniform")]
    [InlineData("uniform:")]
    [InlineData("uniform:-0.1")]
    [InlineData("uniform:0,1")]
    [InlineData("normal:abc")]
    [InlineData("normal:0")]
    [InlineData("normal-scaled:NaN")]
    [InlineData("orthogonal:inf")]
    [InlineData("orthogonal:1:2")]
    [InlineData("zeros:1")]
    [InlineData("default:0.1")]
    [InlineData("")]
    public void MalformedSpecNamesTheOptionTheTextAndWhatIsAccepted(string spec)
    {
        var error = Assert.Throws<UnrollException>(() => InitSettings.Parse(spec, "--init-hh"));
        Assert.StartsWith("--init-hh:", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{spec}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("orthogonal[:GAIN]", error.Message, StringComparison.Ordinal);
    }

    // ---- Orthogonal ----------------------------------------------------------------------

    [Theory]
    [InlineData(8, 8)]
    [InlineData(50, 50)]
    [InlineData(12, 5)]
    [InlineData(5, 12)]
    [InlineData(1, 7)]
    [InlineData(7, 1)]
    public void OrthogonalHasOrthonormalColumnsOrRows(int rows, int columns)
    {
        var w = new double[rows * columns];
        Initializers.Orthogonal<double>(w, rows, columns, 1.0, new Random(1));
        // Tall: W^T W = I (columns x columns); wide: W W^T = I (rows x rows).
        bool tall = rows >= columns;
        int k = Math.Min(rows, columns);
        for (int a = 0; a < k; a++)
        {
            for (int b = 0; b < k; b++)
            {
                double dot = 0;
                int length = tall ? rows : columns;
                for (int i = 0; i < length; i++)
                {
                    dot += tall ? w[(i * columns) + a] * w[(i * columns) + b] : w[(a * columns) + i] * w[(b * columns) + i];
                }

                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-12, $"({a}, {b}): {dot}");
            }
        }
    }

    [Fact]
    public void OrthogonalGainScalesTheMatrix()
    {
        const int n = 6;
        var unit = new double[n * n];
        var scaled = new double[n * n];
        Initializers.Orthogonal<double>(unit, n, n, 1.0, new Random(9));
        Initializers.Orthogonal<double>(scaled, n, n, -1.7, new Random(9));
        for (int i = 0; i < unit.Length; i++)
        {
            Assert.Equal(-1.7 * unit[i], scaled[i], 14);
        }
    }

    [Fact]
    public void OrthogonalEqualsGramSchmidtOfTheSameGaussianMatrix()
    {
        // torch.nn.init.orthogonal_ takes Q from A = Q R with R's diagonal made positive; that Q is
        // unique, and Gram-Schmidt produces exactly it. The Gaussian matrix is drawn row-major first.
        foreach (var (rows, columns) in new[] { (9, 9), (10, 4), (3, 8) })
        {
            var gaussian = new double[rows * columns];
            Gaussian.Fill(gaussian, new Random(42));
            bool transposed = rows < columns;
            int tall = transposed ? columns : rows;
            int wide = transposed ? rows : columns;
            var a = new double[tall * wide];
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < columns; j++)
                {
                    a[transposed ? (j * wide) + i : (i * wide) + j] = gaussian[(i * columns) + j];
                }
            }

            var q = GramSchmidt(a, tall, wide);
            var w = new double[rows * columns];
            Initializers.Orthogonal<double>(w, rows, columns, 1.0, new Random(42));
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < columns; j++)
                {
                    double expected = transposed ? q[(j * wide) + i] : q[(i * wide) + j];
                    Assert.Equal(expected, w[(i * columns) + j], 10);
                }
            }
        }
    }

    [Fact]
    public void HouseholderQrReconstructsTheMatrix()
    {
        const int rows = 9, columns = 4;
        var a = new double[rows * columns];
        Gaussian.Fill(a, new Random(2));
        var (q, r) = HouseholderQr.Decompose(a, rows, columns);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                double sum = 0;
                for (int k = 0; k < columns; k++)
                {
                    sum += q[(i * columns) + k] * r[(k * columns) + j];
                }

                Assert.Equal(a[(i * columns) + j], sum, 12);
            }
        }

        for (int i = 0; i < columns; i++)
        {
            for (int j = 0; j < i; j++)
            {
                Assert.Equal(0.0, r[(i * columns) + j]);
            }
        }
    }

    [Fact]
    public void SquareOrthogonalHasEveryEigenvalueOnTheUnitCircle()
    {
        const int n = 64;
        var w = new double[n * n];
        Initializers.Orthogonal<double>(w, n, n, 1.0, new Random(4));
        var values = Eigen.Eigenvalues(w, n);
        Assert.Equal(n, values.Length);
        Assert.All(values, v => Assert.True(Math.Abs(v.Magnitude - 1) < 1e-10, $"|{v}| = {v.Magnitude}"));

        Initializers.Orthogonal<double>(w, n, n, 1.2, new Random(4));
        Assert.All(Eigen.Eigenvalues(w, n), v => Assert.True(Math.Abs(v.Magnitude - 1.2) < 1e-10, $"|{v}| = {v.Magnitude}"));
    }

    [Fact]
    public void OrthogonalIsUniformlyDistributedThanksToTheSignFix()
    {
        // For Q uniform (Haar) on O(n): E[Q_ii] = 0 and E[(tr Q)^2] = 1 (Diaconis and Shahshahani 1994).
        // Householder's raw Q has Q_00 = -|a_00| / ||a_0|| < 0 always, and tr Q strongly negative.
        const int n = 5, draws = 3000;
        var random = new Random(17);
        var w = new double[n * n];
        double diagonalSum = 0, traceSquaredSum = 0, rawFirstSum = 0;
        int positiveFirst = 0;
        for (int d = 0; d < draws; d++)
        {
            Initializers.Orthogonal<double>(w, n, n, 1.0, random);
            double trace = 0;
            for (int i = 0; i < n; i++)
            {
                trace += w[(i * n) + i];
            }

            diagonalSum += trace;
            traceSquaredSum += trace * trace;
            positiveFirst += w[0] > 0 ? 1 : 0;

            var gaussian = new double[n * n];
            Gaussian.Fill(gaussian, random);
            rawFirstSum += HouseholderQr.Decompose(gaussian, n, n).Q[0];
        }

        // Q_ii has variance 1/n, so the mean of n * draws diagonal entries has sd 1/(n sqrt(draws)) ~ 0.004.
        double diagonalMean = diagonalSum / (n * draws);
        Assert.True(Math.Abs(diagonalMean) < 0.02, $"mean diagonal entry {diagonalMean}");
        // (tr Q)^2 is close to chi-squared(1), variance ~ 2: the mean has sd ~ 0.026.
        double traceSquaredMean = traceSquaredSum / draws;
        Assert.True(Math.Abs(traceSquaredMean - 1) < 0.15, $"E[(tr Q)^2] = {traceSquaredMean}");
        Assert.InRange(positiveFirst, (draws / 2) - 200, (draws / 2) + 200);
        // Without the fix the bias is gross: E[Q_00] = -E|a_00| / ||a_0|| ~ -0.4 for n = 5.
        Assert.True(rawFirstSum / draws < -0.3, $"raw Householder mean Q_00 = {rawFirstSum / draws}");
    }

    [Fact]
    public void OrthogonalWorksInFloat()
    {
        const int n = 32;
        var w = new float[n * n];
        Initializers.Orthogonal<float>(w, n, n, 1.0, new Random(8));
        for (int a = 0; a < n; a++)
        {
            for (int b = 0; b < n; b++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++)
                {
                    dot += (double)w[(i * n) + a] * w[(i * n) + b];
                }

                Assert.True(Math.Abs(dot - (a == b ? 1 : 0)) < 1e-6, $"({a}, {b}): {dot}");
            }
        }
    }

    // ---- Gate blocks ---------------------------------------------------------------------

    [Fact]
    public void OrthogonalTreatsEachGateBlockIndependently()
    {
        const int h = 6, blocks = 4;
        var w = new double[blocks * h * h];
        Initializers.Fill<double>(w, blocks * h, h, InitSettings.Parse("orthogonal"), new Random(3), blocks);
        var gram = new double[h * h];
        for (int block = 0; block < blocks; block++)
        {
            var b = w.AsSpan(block * h * h, h * h).ToArray();
            var product = EigenTests.Multiply(EigenTests.Transpose(b, h), b, h);
            for (int i = 0; i < h * h; i++)
            {
                Assert.Equal(i % (h + 1) == 0 ? 1.0 : 0.0, product[i], 12);
                gram[i] += product[i];
            }
        }

        // Stacked, W^T W = sum of the blocks' B^T B = 4 I: the whole [4H, H] is not orthonormal, each block is.
        Assert.Equal(4.0, gram[0], 12);
        Assert.NotEqual(w[0], w[h * h]);
    }

    [Fact]
    public void IdentityFillsEveryGateBlock()
    {
        const int h = 3, blocks = 3;
        var w = new float[blocks * h * h];
        Array.Fill(w, 7f);
        Initializers.Fill<float>(w, blocks * h, h, InitSettings.Parse("identity:0.5"), new Random(0), blocks);
        for (int row = 0; row < blocks * h; row++)
        {
            for (int column = 0; column < h; column++)
            {
                Assert.Equal(row % h == column ? 0.5f : 0f, w[(row * h) + column]);
            }
        }
    }

    [Fact]
    public void IdentityOfANonSquareMatrixIsTheLeadingIdentity()
    {
        var wide = new double[2 * 4];
        Initializers.Identity<double>(wide, 2, 4, 1.0);
        Assert.Equal(new double[] { 1, 0, 0, 0, 0, 1, 0, 0 }, wide);
        var tall = new double[3 * 2];
        Initializers.Identity<double>(tall, 3, 2, 1.0);
        Assert.Equal(new double[] { 1, 0, 0, 1, 0, 0 }, tall);
    }

    [Fact]
    public void ApplyInitialisesOnlyTheNamedParameterOfALstmShapedSet()
    {
        const int h = 4, input = 3;
        var parameters = new ParameterSet<double>([
            ("lstm.weight_ih_l0", [4 * h, input]),
            ("lstm.weight_hh_l0", [4 * h, h]),
            ("lstm.bias_hh_l0", [4 * h]),
        ]);
        Array.Fill(parameters.Values, 9.0);
        Initializers.Apply(parameters, "lstm.weight_hh_l0", InitSettings.Parse("identity"), 4, new Random(0));
        Assert.All(parameters.Value("lstm.weight_ih_l0").ToArray(), v => Assert.Equal(9.0, v));
        Assert.All(parameters.Value("lstm.bias_hh_l0").ToArray(), v => Assert.Equal(9.0, v));
        var hh = parameters.Value("lstm.weight_hh_l0");
        for (int row = 0; row < 4 * h; row++)
        {
            for (int column = 0; column < h; column++)
            {
                Assert.Equal(row % h == column ? 1.0 : 0.0, hh[(row * h) + column]);
            }
        }

        // A bias takes the default: U(-1/sqrt(H), 1/sqrt(H)) with H the hidden size, not 4H.
        Initializers.Apply(parameters, "lstm.bias_hh_l0", InitSettings.Default, 4, new Random(0));
        Assert.All(parameters.Value("lstm.bias_hh_l0").ToArray(), v => Assert.InRange(v, -0.5, 0.5));
        Assert.Contains(parameters.Value("lstm.bias_hh_l0").ToArray(), v => Math.Abs(v) > 0.25);
    }

    [Fact]
    public void ApplyRejectsUnknownNamesAndMatrixKindsOnVectors()
    {
        var parameters = new ParameterSet<float>([("rnn.weight_hh_l0", [2, 2]), ("rnn.bias_hh_l0", [2])]);
        var unknown = Assert.Throws<UnrollException>(() =>
            Initializers.Apply(parameters, "rnn.weight_hh_l1", InitSettings.Default, 1, new Random(0)));
        Assert.Contains("'rnn.weight_hh_l1'", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("rnn.bias_hh_l0", unknown.Message, StringComparison.Ordinal);
        var vector = Assert.Throws<UnrollException>(() =>
            Initializers.Apply(parameters, "rnn.bias_hh_l0", InitSettings.Parse("orthogonal"), 1, new Random(0)));
        Assert.Contains("[2]", vector.Message, StringComparison.Ordinal);
    }

    // ---- Distributions -------------------------------------------------------------------

    [Fact]
    public void XavierUniformHasTheGlorotBoundAndVariance()
    {
        const int rows = 200, columns = 300;
        const double gain = 1.5;
        var w = new double[rows * columns];
        Initializers.XavierUniform<double>(w, rows, columns, gain, new Random(6));
        double bound = gain * Math.Sqrt(6.0 / (rows + columns));
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.True(w.Max() > 0.999 * bound && w.Min() < -0.999 * bound);
        // U(-a, a) has variance a^2/3 and kurtosis 9/5: the sample variance's relative sd is sqrt(0.8/N) ~ 0.4%.
        double variance = w.Sum(v => v * v) / w.Length;
        double expected = gain * gain * 2.0 / (rows + columns);
        Assert.True(Math.Abs((variance / expected) - 1) < 5 * Math.Sqrt(0.8 / w.Length), $"variance {variance}, expected {expected}");
        Assert.True(Math.Abs(w.Average()) < 5 * Math.Sqrt(expected / w.Length));
    }

    [Fact]
    public void XavierNormalHasTheGlorotVariance()
    {
        const int rows = 120, columns = 500;
        var w = new double[rows * columns];
        Initializers.Fill<double>(w, rows, columns, InitSettings.Parse("xavier-normal"), new Random(7));
        double expected = 2.0 / (rows + columns);
        double variance = w.Sum(v => v * v) / w.Length;
        // For a normal, the sample variance's relative sd is sqrt(2/N).
        Assert.True(Math.Abs((variance / expected) - 1) < 5 * Math.Sqrt(2.0 / w.Length), $"variance {variance}, expected {expected}");
        Assert.True(Math.Abs(w.Average()) < 5 * Math.Sqrt(expected / w.Length));
        // Fourth moment of a normal: 3 sigma^4 (a uniform would give 1.8 sigma^4).
        double fourth = w.Sum(v => v * v * v * v) / w.Length;
        Assert.InRange(fourth / (variance * variance), 2.8, 3.2);
    }

    [Fact]
    public void NormalHasTheRequestedStdAndGaussianTails()
    {
        var w = new double[100_000];
        Initializers.Fill<double>(w, 100_000, 1, InitSettings.Parse("normal:0.5"), new Random(12));
        double variance = w.Sum(v => v * v) / w.Length;
        Assert.True(Math.Abs((variance / 0.25) - 1) < 5 * Math.Sqrt(2.0 / w.Length), $"variance {variance}");
        // P(|Z| > 2) = 0.0455.
        double beyondTwoSigma = w.Count(v => Math.Abs(v) > 1.0) / (double)w.Length;
        Assert.True(Math.Abs(beyondTwoSigma - 0.0455) < 5 * Math.Sqrt(0.0455 * 0.9545 / w.Length), $"P(|Z| > 2) = {beyondTwoSigma}");
    }

    [Fact]
    public void DefaultAndUniformRespectTheirBounds()
    {
        const int h = 25;
        var w = new float[h * 7];
        Initializers.Fill<float>(w, h, 7, InitSettings.Default, new Random(1));
        Assert.All(w, v => Assert.InRange(v, -0.2f, 0.2f));
        Assert.True(w.Max() > 0.18f && w.Min() < -0.18f);
        Initializers.Fill<float>(w, h, 7, InitSettings.Parse("uniform:0.01"), new Random(1));
        Assert.All(w, v => Assert.InRange(v, -0.01f, 0.01f));
        Initializers.Fill<float>(w, h, 7, InitSettings.Parse("zeros"), new Random(1));
        Assert.All(w, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void NormalScaledWithSOneHasSpectralRadiusNearOne()
    {
        // W ~ N(0, s^2/H): by the circular law the eigenvalues fill the disc of radius s.
        const int h = 400;
        var w = new double[h * h];
        Initializers.Fill<double>(w, h, h, InitSettings.Parse("normal-scaled:1"), new Random(13));
        double radius = Eigen.SpectralRadius(w, h);
        Assert.InRange(radius, 0.9, 1.1);

        // s scales the radius; a smaller H keeps the test fast (edge fluctuations ~ sqrt(ln(H/2 pi)/4H) ~ 7% at H = 200).
        const int small = 200;
        var scaled = new double[small * small];
        Initializers.Fill<double>(scaled, small, small, InitSettings.Parse("normal-scaled:1.5"), new Random(13));
        Assert.InRange(Eigen.SpectralRadius(scaled, small), 1.5 * 0.85, 1.5 * 1.15);
    }

    // ---- Determinism and the model-level entry point --------------------------------------

    [Theory]
    [InlineData("default")]
    [InlineData("normal:1")]
    [InlineData("normal-scaled:1")]
    [InlineData("xavier-uniform")]
    [InlineData("xavier-normal")]
    [InlineData("orthogonal")]
    public void SameSeedSameValuesOtherSeedOtherValues(string spec)
    {
        var settings = InitSettings.Parse(spec);
        var a = new double[15 * 9];
        var b = new double[15 * 9];
        var c = new double[15 * 9];
        Initializers.Fill<double>(a, 15, 9, settings, new Random(100), 3);
        Initializers.Fill<double>(b, 15, 9, settings, new Random(100), 3);
        Initializers.Fill<double>(c, 15, 9, settings, new Random(101), 3);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void InitializeWithDefaultsIsExactlyPyTorchDefault()
    {
        var config = new ModelConfig { InputSize = 2, HiddenSize = 5, OutputSize = 1 };
        var expected = new SequenceModel<float>(config);
        var actual = new SequenceModel<float>(config);
        Initializers.PyTorchDefault(expected, new Random(3));
        Initializers.Initialize(actual, InitSettings.Default, InitSettings.Default, new Random(3));
        Assert.Equal(expected.Parameters.Values, actual.Parameters.Values);
    }

    [Fact]
    public void InitializeSetsTheIrnnRecurrentWeightAndLeavesTheRestAtTheDefault()
    {
        var config = new ModelConfig { InputSize = 2, HiddenSize = 5, OutputSize = 1, Activation = Kernels.Activation.Relu };
        var model = new SequenceModel<double>(config);
        Initializers.Initialize(model, InitSettings.Parse("identity"), InitSettings.Parse("xavier-uniform"), new Random(3));
        var hh = model.Parameters.Value(SequenceModel<double>.WeightHhName);
        for (int i = 0; i < 25; i++)
        {
            Assert.Equal(i % 6 == 0 ? 1.0 : 0.0, hh[i]);
        }

        double xavierBound = Math.Sqrt(6.0 / (5 + 2));
        Assert.All(model.Parameters.Value(SequenceModel<double>.WeightIhName).ToArray(), v => Assert.InRange(v, -xavierBound, xavierBound));
        double defaultBound = 1 / Math.Sqrt(5);
        Assert.All(model.Parameters.Value(SequenceModel<double>.BiasHhName).ToArray(), v => Assert.InRange(v, -defaultBound, defaultBound));
        Assert.All(model.Parameters.Value(SequenceModel<double>.HeadWeightName).ToArray(), v => Assert.InRange(v, -defaultBound, defaultBound));
    }

    /// <summary>Modified Gram-Schmidt, an independent QR: Q with A = Q R and R's diagonal positive.</summary>
    private static double[] GramSchmidt(double[] a, int rows, int columns)
    {
        var q = (double[])a.Clone();
        for (int j = 0; j < columns; j++)
        {
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < rows; i++)
                {
                    dot += q[(i * columns) + k] * q[(i * columns) + j];
                }

                for (int i = 0; i < rows; i++)
                {
                    q[(i * columns) + j] -= dot * q[(i * columns) + k];
                }
            }

            double norm = Math.Sqrt(Enumerable.Range(0, rows).Sum(i => q[(i * columns) + j] * q[(i * columns) + j]));
            for (int i = 0; i < rows; i++)
            {
                q[(i * columns) + j] /= norm;
            }
        }

        return q;
    }
}
