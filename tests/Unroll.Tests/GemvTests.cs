using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>The packed matrix-vector product of every variant this CPU runs, against a plain loop over the unpacked matrix.</summary>
public sealed class GemvTests
{
    public static TheoryData<string> Variants() => [.. Enum.GetValues<GemvVariant>().Where(Gemv.IsSupported).Select(v => v.ToString())];

    // Plain y[r] = sum_k W[r, k] x[k] + a[r] in double.
    private static double[] Plain<T>(T[] w, T[] x, T[]? addend, int rows, int columns)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int k = 0; k < columns; k++)
            {
                sum += double.CreateChecked(w[(r * columns) + k]) * double.CreateChecked(x[k]);
            }

            y[r] = sum + (addend is null ? 0 : double.CreateChecked(addend[r]));
        }

        return y;
    }

    private static T[] RandomValues<T>(Random random, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
        => [.. Enumerable.Range(0, count).Select(_ => T.CreateChecked((random.NextDouble() * 2) - 1))];

    private static void CheckShapes<T>(GemvVariant variant, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(7);
        int[] sizes = [1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 65, 130];
        foreach (int rows in sizes)
        {
            foreach (int columns in new[] { 0, 1, 2, 3, 4, 5, 9, 33, 130 })
            {
                var w = RandomValues<T>(random, rows * columns);
                var x = RandomValues<T>(random, columns);
                var addend = RandomValues<T>(random, rows);
                var packed = new GemvMatrix<T>(w, rows, columns);
                foreach (bool add in new[] { false, true })
                {
                    // y starts as NaN: every entry must be written, none read.
                    var y = Enumerable.Repeat(T.NaN, rows).ToArray();
                    Gemv.Multiply(variant, packed, x, add ? addend : default, y, 0, packed.PanelCount);
                    var expected = Plain(w, x, add ? addend : null, rows, columns);
                    for (int r = 0; r < rows; r++)
                    {
                        double scale = 1 + Enumerable.Range(0, columns).Sum(k => Math.Abs(double.CreateChecked(w[(r * columns) + k]) * double.CreateChecked(x[k])));
                        Assert.True(Math.Abs(double.CreateChecked(y[r]) - expected[r]) <= tolerance * scale,
                            $"{variant} {typeof(T).Name} [{rows}, {columns}] add={add} row {r}: {y[r]} vs {expected[r]}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryShapeMatchesAPlainLoopInFloat(string variant) => CheckShapes<float>(Gemv.Choose(variant), 1e-6);

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryShapeMatchesAPlainLoopInDouble(string variant) => CheckShapes<double>(Gemv.Choose(variant), 1e-14);

    [Theory]
    [MemberData(nameof(Variants))]
    public void PanelRangesGiveTheSameBitsAsOneCallAndTheAddendMayBeTheOutput(string name)
    {
        var variant = Gemv.Choose(name);
        var random = new Random(3);
        const int Rows = 200, Columns = 37;
        var w = RandomValues<float>(random, Rows * Columns);
        var x = RandomValues<float>(random, Columns);
        var addend = RandomValues<float>(random, Rows);
        var packed = new GemvMatrix<float>(w, Rows, Columns);
        var whole = new float[Rows];
        Gemv.Multiply(variant, packed, x, addend, whole, 0, packed.PanelCount);

        var split = (float[])addend.Clone();
        int middle = packed.PanelCount / 2;
        Gemv.Multiply(variant, packed, x, split, split, middle, packed.PanelCount);
        Gemv.Multiply(variant, packed, x, split, split, 0, middle);
        Assert.Equal(whole, split);
    }

    [Fact]
    public void AMismatchedLengthIsRefused()
    {
        var packed = new GemvMatrix<float>(new float[6], 2, 3);
        var error = Assert.Throws<ArgumentException>(() => Gemv.Multiply(packed, new float[2], default, new float[2]));
        Assert.Contains("expected x of 3", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new GemvMatrix<float>(new float[5], 2, 3));
    }

    [Fact]
    public void TheEnvironmentNamesAVariantOrFailsClearly()
    {
        Assert.Equal(GemvVariant.Scalar, Gemv.Choose("scalar"));
        Assert.Equal(Gemv.IsSupported(GemvVariant.Vector512) ? GemvVariant.Vector512 : Gemv.IsSupported(GemvVariant.Vector256) ? GemvVariant.Vector256 : GemvVariant.Scalar, Gemv.Choose(null));
        var error = Assert.Throws<UnrollException>(() => Gemv.Choose("fast"));
        Assert.Contains("expected 'scalar', 'vector256' or 'vector512', got 'fast'", error.Message, StringComparison.Ordinal);
    }
}
