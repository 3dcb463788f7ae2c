using System.Numerics;
using Unroll.Kernels.Gemm;

namespace Unroll.Tests;

/// <summary>Tests that set <see cref="Gemm.Variant"/> (process-wide state) run in this collection, one at a time.</summary>
[CollectionDefinition("Gemm", DisableParallelization = true)]
public sealed class GemmCollection
{
}

[Collection("Gemm")]
public sealed class GemmTests
{
    private static readonly int[] Dimensions = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 65];

    /// <summary>Every variant this CPU can run (all four on a CPU with AVX-512).</summary>
    public static TheoryData<string> Variants() => new(Enum.GetValues<GemmVariant>().Where(Gemm.IsSupported).Select(v => v.ToString()));

    /// <summary>The packed, blocked, multi-threaded variants this CPU can run: the 256-bit one and, with AVX-512, the 512-bit one.</summary>
    public static TheoryData<string> BlockedVariants() =>
        new(new[] { GemmVariant.Vector, GemmVariant.Vector512 }.Where(Gemm.IsSupported).Select(v => v.ToString()));

    /// <summary>
    /// Shapes: a seeded sample of the odd small sizes, every zero dimension, and a few that cross the
    /// vector kernel's block boundaries (k past one 256-deep block, m past one row block, n past one column block).
    /// </summary>
    private static List<(int M, int N, int K)> Shapes()
    {
        var random = new Random(12345);
        var shapes = new List<(int, int, int)>
        {
            (0, 5, 7), (5, 0, 7), (5, 7, 0), (0, 0, 0), (1, 1, 1), (2, 3, 2), (6, 16, 1), (6, 8, 4),
            (65, 65, 65), (37, 129, 70), (12, 33, 300), (151, 17, 9), (2, 4113, 3),
        };
        for (int i = 0; i < 30; i++)
        {
            shapes.Add((Dimensions[random.Next(Dimensions.Length)], Dimensions[random.Next(Dimensions.Length)], Dimensions[random.Next(Dimensions.Length)]));
        }

        return shapes;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void FloatMatchesIndependentProductOnAllShapes(string variantName) => CheckAllShapes<float>(Enum.Parse<GemmVariant>(variantName));

    [Theory]
    [MemberData(nameof(Variants))]
    public void DoubleMatchesIndependentProductOnAllShapes(string variantName) => CheckAllShapes<double>(Enum.Parse<GemmVariant>(variantName));

    [Theory]
    [MemberData(nameof(Variants))]
    public void HandComputedTwoByThreeByTwoInEveryLayout(string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        // op(A) = [[1, 2], [3, 4]], op(B) = [[5, 6, 7], [8, 9, 10]]:
        // op(A) op(B) = [[1*5+2*8, 1*6+2*9, 1*7+2*10], [3*5+4*8, 3*6+4*9, 3*7+4*10]] = [[21, 24, 27], [47, 54, 61]].
        // With alpha = 2, beta = 0.5 and C = [[1, 2, 3], [4, 5, 6]]: 2 * AB + 0.5 * C.
        double[] expected = [42.5, 49, 55.5, 96, 110.5, 125];
        double[] aRowMajor = [1, 2, 3, 4];
        double[] aTransposed = [1, 3, 2, 4];
        double[] bRowMajor = [5, 6, 7, 8, 9, 10];
        double[] bTransposed = [5, 8, 6, 9, 7, 10];
        foreach (Transpose transA in Enum.GetValues<Transpose>())
        {
            foreach (Transpose transB in Enum.GetValues<Transpose>())
            {
                double[] c = [1, 2, 3, 4, 5, 6];
                WithVariant(variant, () => Gemm.Compute(
                    transA, transB, 2, 3, 2, 2.0,
                    transA == Transpose.No ? aRowMajor : aTransposed, 2,
                    transB == Transpose.No ? bRowMajor : bTransposed, transB == Transpose.No ? 3 : 2,
                    0.5, c, 3));
                Assert.Equal(expected, c);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void BetaZeroIgnoresNaNAndAlphaZeroScalesC(string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        float[] a = [1, 2, 3, 4];
        float[] b = [1, 0, 0, 1];
        float[] c = [float.NaN, float.NaN, float.PositiveInfinity, float.NaN];
        WithVariant(variant, () => Gemm.Compute(Transpose.No, Transpose.No, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2));
        Assert.Equal(new float[] { 1, 2, 3, 4 }, c);

        float[] d = [1, 2, 3, 4];
        WithVariant(variant, () => Gemm.Compute(Transpose.No, Transpose.No, 2, 2, 2, 0f, a, 2, b, 2, 3f, d, 2));
        Assert.Equal(new float[] { 3, 6, 9, 12 }, d);
    }

    /// <summary>Shapes above the threaded-split threshold, with a tall, a wide and a deep case, and partial tiles everywhere.</summary>
    private static readonly (int M, int N, int K)[] ParallelShapes = [(70, 83, 65), (200, 37, 90), (13, 300, 70), (33, 129, 300), (7, 2049, 17), (20, 48, 300), (146, 40, 520), (32, 200, 260), (300, 40, 300), (9, 301, 260)];

    public static TheoryData<string, int> VariantsAndThreads()
    {
        var data = new TheoryData<string, int>();
        foreach (GemmVariant variant in Enum.GetValues<GemmVariant>().Where(Gemm.IsSupported))
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                data.Add(variant.ToString(), threads);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(VariantsAndThreads))]
    public void SplitOverThreadsMatchesIndependentProduct(string variantName, int threads)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        var random = new Random(77);
        WithThreads(threads, () =>
        {
            foreach (var (m, n, k) in ParallelShapes)
            {
                foreach (Transpose transA in Enum.GetValues<Transpose>())
                {
                    foreach (Transpose transB in Enum.GetValues<Transpose>())
                    {
                        CheckCase<float>(variant, random, transA, transB, m, n, k, 1, 0, 1, 0, 3);
                        CheckCase<double>(variant, random, transA, transB, m, n, k, -0.5, 0.3, 0, 3, 1);
                    }
                }
            }
        });
    }

    /// <summary>
    /// Every row count from 1 to 14 (each remainder of the six-row tiles, with and without a full tile before the
    /// four-row tail), one row block past MC (144) with a two-row remainder, and k past one 256-deep block so the
    /// tiles accumulate onto C.
    /// </summary>
    [Theory]
    [MemberData(nameof(BlockedVariants))]
    public void RowTailsMatchIndependentProduct(string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        var random = new Random(31);
        int[] rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 146, 151];
        foreach (int m in rows)
        {
            foreach (Transpose transA in Enum.GetValues<Transpose>())
            {
                CheckCase<float>(variant, random, transA, Transpose.No, m, 19, 270, 1, 0.3, 1, 0, 2);
                CheckCase<double>(variant, random, transA, Transpose.Yes, m, 35, 260, -0.5, 1, 0, 3, 0);
            }
        }
    }

    /// <summary>
    /// Each element of C is summed in the same order whatever the split over threads: the products are equal bit for
    /// bit at 1, 2 and 3 threads, including shapes whose rows are split (few columns) and k past one block with beta != 0.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void SplitOverThreadsIsBitIdentical(string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        (int M, int N, int K)[] shapes = [(20, 40, 300), (26, 16, 260), (146, 40, 520), (290, 33, 257), (151, 17, 300), (32, 300, 260), (300, 300, 70)];
        var random = new Random(5);
        foreach (var (m, n, k) in shapes)
        {
            foreach (Transpose transA in Enum.GetValues<Transpose>())
            {
                foreach (Transpose transB in Enum.GetValues<Transpose>())
                {
                    float[] a = RandomValues(random, m * k), b = RandomValues(random, k * n), c0 = RandomValues(random, m * n);
                    int lda = transA == Transpose.No ? k : m, ldb = transB == Transpose.No ? n : k;
                    float[]? first = null;

                    // alpha = 0.7 (not a power of two) so alpha * acc rounds: a tile stored through the partial-tile path
                    // (separate multiply and add) would then differ from a full tile's fused multiply-add.
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        float[] c = (float[])c0.Clone();
                        WithThreads(threads, () => WithVariant(variant, () => Gemm.Compute(transA, transB, m, n, k, 0.7f, a, lda, b, ldb, 0.3f, c, n)));
                        if (first is null)
                        {
                            first = c;
                            continue;
                        }

                        for (int i = 0; i < c.Length; i++)
                        {
                            Assert.True(
                                BitConverter.SingleToInt32Bits(first[i]) == BitConverter.SingleToInt32Bits(c[i]),
                                $"{variant} {transA}{transB} m={m} n={n} k={k}: C[{i / n},{i % n}] is {c[i]} at {threads} threads, {first[i]} at 1.");
                        }
                    }
                }
            }
        }
    }

    private static float[] RandomValues(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }

    [Theory]
    [MemberData(nameof(VariantsAndThreads))]
    public void PackedOperandMatchesIndependentProduct(string variantName, int threads)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        var random = new Random(78);
        var shapes = Shapes().Concat(ParallelShapes).ToList();
        WithThreads(threads, () =>
        {
            int index = 0;
            foreach (var (m, n, k) in shapes)
            {
                foreach (Transpose transA in Enum.GetValues<Transpose>())
                {
                    foreach (Transpose transB in Enum.GetValues<Transpose>())
                    {
                        double beta = new[] { 0, 1, 0.3 }[index++ % 3];
                        CheckCase<float>(variant, random, transA, transB, m, n, k, 1, beta, index % 2, 1, 0, packed: true);
                        CheckCase<double>(variant, random, transA, transB, m, n, k, 0.7, beta, 0, index % 3, 2, packed: true);
                    }
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void PackedColumnRangesTileTheFullProduct(string variantName)
    {
        var variant = Enum.Parse<GemmVariant>(variantName);
        // Each range of whole panels, computed alone, must equal those columns of the full product (to the
        // dot-product error bound) and leave every other column of C as it was.
        var random = new Random(91);
        (int M, int N, int K)[] shapes = [(1, 16, 1), (6, 32, 5), (7, 48, 300), (32, 512, 128), (13, 40, 17), (5, 7, 3), (15, 48, 261), (40, 64, 33)];
        WithVariant(variant, () =>
        {
            foreach (var (m, n, k) in shapes)
            {
                CheckColumnRanges<float>(random, m, n, k);
                CheckColumnRanges<double>(random, m, n, k);
            }
        });
    }

    private static void CheckColumnRanges<T>(Random random, int m, int n, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = k + 3, ldc = n + 2, width = Gemm.PanelWidth<T>();
        T[] a = [.. Enumerable.Range(0, m * lda).Select(_ => T.CreateChecked(random.NextDouble() - 0.5))];
        T[] b = [.. Enumerable.Range(0, k * n).Select(_ => T.CreateChecked(random.NextDouble() - 0.5))];
        var operand = new PackedOperand<T>();
        operand.Pack(Transpose.No, k, n, b, n);
        int panels = (n + width - 1) / width;
        for (int first = 0; first < panels; first += 1 + (panels / 3))
        {
            int firstColumn = first * width, endColumn = Math.Min(n, firstColumn + ((1 + (panels / 2)) * width));
            T[] c = [.. Enumerable.Range(0, m * ldc).Select(_ => T.CreateChecked(random.NextDouble()))];
            T[] before = (T[])c.Clone();
            Gemm.ComputePackedColumns(m, T.CreateChecked(0.5), a, lda, operand, T.One, c, ldc, firstColumn, endColumn);
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < ldc; j++)
                {
                    double expected = double.CreateChecked(before[(i * ldc) + j]), bound = 0;
                    if (j >= firstColumn && j < endColumn)
                    {
                        for (int p = 0; p < k; p++)
                        {
                            double term = double.CreateChecked(a[(i * lda) + p]) * double.CreateChecked(b[(p * n) + j]);
                            expected += 0.5 * term;
                            bound += Math.Abs(term);
                        }
                    }

                    double tolerance = ((k + 2) * (typeof(T) == typeof(float) ? 6e-8 : 1.2e-16) * (bound + Math.Abs(expected))) + 1e-30;
                    Assert.True(
                        Math.Abs(double.CreateChecked(c[(i * ldc) + j]) - expected) <= tolerance,
                        $"{typeof(T).Name} m={m} n={n} k={k} columns [{firstColumn}, {endColumn}): C[{i}, {j}] = {c[(i * ldc) + j]}, expected {expected}");
                }
            }
        }
    }

    [Fact]
    public void PackedColumnRangeOffPanelBoundaryIsRejected()
    {
        var operand = new PackedOperand<float>();
        WithVariant(GemmVariant.Vector, () =>
        {
            operand.Pack(Transpose.No, 2, 40, new float[80], 40);
            Assert.Throws<ArgumentException>(() => Gemm.ComputePackedColumns(2, 1f, new float[4], 2, operand, 0f, new float[80], 40, 8, 32));
        });
    }

    [Fact]
    public void TheWidestSupportedVariantIsTheDefault()
    {
        Assert.Equal(GemmVariant.Vector512, Gemm.ChooseVariant(null, _ => true));
        Assert.Equal(GemmVariant.Vector, Gemm.ChooseVariant(" ", v => v != GemmVariant.Vector512));
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, Gemm.IsSupported(GemmVariant.Vector512));
    }

    [Theory]
    [InlineData("vector512", "Vector512")]
    [InlineData(" Vector ", "Vector")]
    [InlineData("vector256", "Vector")]
    [InlineData("VECTOR128", "Vector128")]
    [InlineData("reference", "Reference")]
    public void TheEnvironmentVariableForcesAVariant(string forced, string expectedName)
    {
        Assert.Equal(Enum.Parse<GemmVariant>(expectedName), Gemm.ChooseVariant(forced, _ => true));
    }

    [Fact]
    public void TheVariantIsDescribedByItsVectorWidth()
    {
        WithVariant(GemmVariant.Vector128, () => Assert.Equal("128-bit kernels", Gemm.VariantDescription));
        WithVariant(GemmVariant.Reference, () => Assert.Equal("scalar kernels", Gemm.VariantDescription));
        if (Gemm.IsSupported(GemmVariant.Vector))
        {
            WithVariant(GemmVariant.Vector, () => Assert.Equal(
                System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2 kernels" : "256-bit kernels", Gemm.VariantDescription));
        }

        if (Gemm.IsSupported(GemmVariant.Vector512))
        {
            WithVariant(GemmVariant.Vector512, () => Assert.Equal("AVX-512 kernels", Gemm.VariantDescription));
        }
    }

    [Fact]
    public void ForcingAVariantTheCpuCannotRunFailsWithOneMessage()
    {
        var error = Assert.Throws<UnrollException>(() => Gemm.ChooseVariant("vector512", v => v != GemmVariant.Vector512));
        Assert.Equal("GEMM variant: expected one this CPU supports (up to 'vector'), got 'vector512'.", error.Message);
        var unknown = Assert.Throws<UnrollException>(() => Gemm.ChooseVariant("avx9", _ => true));
        Assert.Equal("UNROLL_GEMM: expected 'reference', 'vector128', 'vector' (256-bit) or 'vector512', got 'avx9'.", unknown.Message);
    }

    [Fact]
    public void PackedOperandFromAnotherVariantIsRejected()
    {
        var packed = new PackedOperand<float>();
        WithVariant(GemmVariant.Reference, () => packed.Pack(Transpose.No, 2, 2, new float[4], 2));
        var error = Assert.Throws<InvalidOperationException>(() => WithVariant(GemmVariant.Vector, () =>
            Gemm.ComputePacked(Transpose.No, 2, 1f, new float[4], 2, packed, 0f, new float[4], 2)));
        Assert.Contains("pack it again", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsNegativeDimensions()
    {
        float[] buffer = new float[64];
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, -1, 2, 2, 1f, buffer, 2, buffer, 2, 0f, buffer, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, 2, -1, 2, 1f, buffer, 2, buffer, 2, 0f, buffer, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, 2, 2, -1, 1f, buffer, 2, buffer, 2, 0f, buffer, 2));
    }

    [Theory]
    [InlineData("No", "No", 2, 4, 4)]
    [InlineData("Yes", "No", 1, 4, 4)]
    [InlineData("No", "No", 3, 3, 4)]
    [InlineData("No", "Yes", 3, 2, 4)]
    [InlineData("No", "No", 3, 4, 3)]
    public void RejectsLeadingDimensionSmallerThanARow(string transAName, string transBName, int lda, int ldb, int ldc)
    {
        var transA = Enum.Parse<Transpose>(transAName);
        var transB = Enum.Parse<Transpose>(transBName);
        // m = 2, n = 4, k = 3: A is 2 x 3 (or 3 x 2), B is 3 x 4 (or 4 x 3), C is 2 x 4.
        float[] buffer = new float[64];
        Assert.Throws<ArgumentException>(() => Gemm.Compute(transA, transB, 2, 4, 3, 1f, buffer, lda, buffer, ldb, 0f, buffer, ldc));
    }

    [Fact]
    public void RejectsShortBuffers()
    {
        // m = 2, n = 4, k = 3 with lda = 5, ldb = 4, ldc = 6: A needs 5 + 3 = 8, B needs 2*4 + 4 = 12, C needs 6 + 4 = 10.
        float[] big = new float[64];
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, 2, 4, 3, 1f, new float[7], 5, big, 4, 0f, big, 6));
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, 2, 4, 3, 1f, big, 5, new float[11], 4, 0f, big, 6));
        Assert.Throws<ArgumentException>(() => Gemm.Compute(Transpose.No, Transpose.No, 2, 4, 3, 1f, big, 5, big, 4, 0f, new float[9], 6));

        // The exact lengths are accepted.
        Gemm.Compute(Transpose.No, Transpose.No, 2, 4, 3, 1f, new float[8], 5, new float[12], 4, 0f, new float[10], 6);
    }

    private static void CheckAllShapes<T>(GemmVariant variant)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(2024);
        int caseIndex = 0;
        foreach (var (m, n, k) in Shapes())
        {
            foreach (Transpose transA in Enum.GetValues<Transpose>())
            {
                foreach (Transpose transB in Enum.GetValues<Transpose>())
                {
                    foreach (double alpha in new[] { 1, -0.5, 0 })
                    {
                        foreach (double beta in new[] { 0, 1, 0.3 })
                        {
                            // Rotate padding of each leading dimension through 0, 1 and 3 extra elements.
                            int padA = new[] { 0, 1, 3 }[caseIndex % 3];
                            int padB = new[] { 3, 0, 1 }[(caseIndex / 3) % 3];
                            int padC = new[] { 1, 3, 0 }[(caseIndex / 9) % 3];
                            CheckCase<T>(variant, random, transA, transB, m, n, k, alpha, beta, padA, padB, padC);
                            caseIndex++;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Runs one GEMM through <see cref="Gemm.Compute{T}"/> and compares with a product computed here in double.
    /// Operands sit inside NaN-filled buffers (leading-dimension padding and guards on both ends), so any read
    /// of an element outside op(A), op(B) or C would poison a result, and any write outside C is detected.
    /// </summary>
    private static void CheckCase<T>(
        GemmVariant variant, Random random, Transpose transA, Transpose transB,
        int m, int n, int k, double alpha, double beta, int padA, int padB, int padC, bool packed = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int Guard = 8;
        var (aRows, aCols) = transA == Transpose.No ? (m, k) : (k, m);
        var (bRows, bCols) = transB == Transpose.No ? (k, n) : (n, k);
        int lda = Math.Max(1, aCols) + padA;
        int ldb = Math.Max(1, bCols) + padB;
        int ldc = Math.Max(1, n) + padC;
        T[] a = NaNFilledOperand<T>(random, aRows, aCols, lda, Guard);
        T[] b = NaNFilledOperand<T>(random, bRows, bCols, ldb, Guard);
        T[] c = NaNFilledOperand<T>(random, m, n, ldc, Guard);
        if (beta == 0 && n > 0)
        {
            // beta = 0 must overwrite C without reading it.
            for (int i = 0; i < m; i++)
            {
                c.AsSpan(Guard + (i * ldc), n).Fill(T.NaN);
            }
        }

        T[] before = (T[])c.Clone();
        double OpA(int i, int p) => double.CreateChecked(transA == Transpose.No ? a[Guard + (i * lda) + p] : a[Guard + (p * lda) + i]);
        double OpB(int p, int j) => double.CreateChecked(transB == Transpose.No ? b[Guard + (p * ldb) + j] : b[Guard + (j * ldb) + p]);

        WithVariant(variant, () =>
        {
            if (packed)
            {
                var operand = new PackedOperand<T>();
                operand.Pack(transB, k, n, b.AsSpan(Guard, Needed(bRows, bCols, ldb)), ldb);
                Gemm.ComputePacked(
                    transA, m, T.CreateChecked(alpha), a.AsSpan(Guard, Needed(aRows, aCols, lda)), lda,
                    operand, T.CreateChecked(beta), c.AsSpan(Guard, Needed(m, n, ldc)), ldc);
            }
            else
            {
                Gemm.Compute(
                    transA, transB, m, n, k, T.CreateChecked(alpha),
                    a.AsSpan(Guard, Needed(aRows, aCols, lda)), lda,
                    b.AsSpan(Guard, Needed(bRows, bCols, ldb)), ldb,
                    T.CreateChecked(beta), c.AsSpan(Guard, Needed(m, n, ldc)), ldc);
            }
        });

        // Forward error bound of a k-term dot product, |fl(s) - s| <= k u sum |terms|, with slack for the final scaling.
        double unitRoundoff = typeof(T) == typeof(float) ? Math.Pow(2, -24) : Math.Pow(2, -53);
        string context = $"variant={variant} threads={Unroll.Kernels.Parallelism.ThreadCount} packed={packed} {typeof(T).Name} transA={transA} transB={transB} m={m} n={n} k={k} alpha={alpha} beta={beta} lda={lda} ldb={ldb} ldc={ldc}";
        for (int index = 0; index < c.Length; index++)
        {
            int offset = index - Guard;
            int row = offset >= 0 ? offset / ldc : -1;
            int col = offset >= 0 ? offset % ldc : -1;
            bool inside = offset >= 0 && row < m && col < n;
            if (!inside)
            {
                Assert.True(T.IsNaN(c[index]), $"{context}: element {offset} outside C was written ({c[index]}).");
                continue;
            }

            double sum = 0, magnitude = 0;
            for (int p = 0; p < k; p++)
            {
                double term = OpA(row, p) * OpB(p, col);
                sum += term;
                magnitude += Math.Abs(term);
            }

            double oldC = double.CreateChecked(before[index]);
            double expected = beta == 0 ? alpha * sum : (alpha * sum) + (beta * oldC);
            double bound = 4 * unitRoundoff * (((k + 2) * Math.Abs(alpha) * magnitude) + (beta == 0 ? 0 : 2 * Math.Abs(beta * oldC)));
            double actual = double.CreateChecked(c[index]);
            Assert.True(
                Math.Abs(actual - expected) <= bound,
                $"{context}: C[{row},{col}] = {actual}, expected {expected} within {bound}.");
        }
    }

    private static int Needed(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : ((rows - 1) * ld) + cols;

    /// <summary>A buffer of NaN with <paramref name="guard"/> elements before and after, holding a rows x cols matrix of values in [-1, 1].</summary>
    private static T[] NaNFilledOperand<T>(Random random, int rows, int cols, int ld, int guard)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var buffer = new T[Needed(rows, cols, ld) + (2 * guard)];
        Array.Fill(buffer, T.NaN);
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                buffer[guard + (i * ld) + j] = T.CreateChecked((random.NextDouble() * 2) - 1);
            }
        }

        return buffer;
    }

    private static void WithThreads(int threads, Action action)
    {
        int saved = Unroll.Kernels.Parallelism.ThreadCount;
        try
        {
            Unroll.Kernels.Parallelism.ThreadCount = threads;
            action();
        }
        finally
        {
            Unroll.Kernels.Parallelism.ThreadCount = saved;
        }
    }

    private static void WithVariant(GemmVariant variant, Action action)
    {
        GemmVariant saved = Gemm.Variant;
        try
        {
            Gemm.Variant = variant;
            action();
        }
        finally
        {
            Gemm.Variant = saved;
        }
    }
}
