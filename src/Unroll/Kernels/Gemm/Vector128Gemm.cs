using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Unroll.Kernels.Gemm;

/// <summary>
/// The 128-bit SIMD GEMM for CPUs without 256-bit vectors (SSE-only x86, Arm NEON): the same GotoBLAS/BLIS
/// blocking as <see cref="VectorGemm"/>, with a 4 x (2 vectors) micro-kernel (4 x 8 floats or 4 x 4 doubles in
/// 8 of the 16 XMM/NEON registers), single-threaded.
/// </summary>
/// <remarks>
/// Both operands are packed for every product (A into 4-row panels, B into 2-vector-wide panels, zero-padded),
/// so all four op(A)/op(B) combinations reach the same kernel. Multiply-adds use
/// <c>Vector128.MultiplyAddEstimate</c>: fused where the CPU has FMA, a multiply and an add elsewhere.
/// Types other than float and double defer to <see cref="ReferenceGemm"/>.
/// </remarks>
// No zeroing of the kernels' stackalloc tiles (each is written before it is read): a zeroing helper call after the k
// loop, with every accumulator live, made the JIT spill the accumulators inside the loop when it had no profile to
// tell the loop is hot (Native AOT, or tiering off), and the kernels ran three times slower.
[SkipLocalsInit]
internal static unsafe class Vector128Gemm
{
    /// <summary>Rows of C per micro-tile.</summary>
    private const int MicroRows = 4;

    /// <summary>Depth of one packed block: a 4 x 256 A panel and a 256 x 8 B panel (float) stay in L1.</summary>
    private const int DepthBlock = 256;

    /// <summary>Rows of A packed at once (an MC x KC float block of 128 KB stays in L2).</summary>
    private const int RowBlock = 128;

    /// <summary>Columns of B packed at once.</summary>
    private const int ColumnBlock = 2048;

    /// <summary>Columns of C per micro-tile: two vectors.</summary>
    internal static int MicroColumns<T>()
        where T : unmanaged
        => 2 * Vector128<T>.Count;

    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            ReferenceGemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }

        if (m == 0 || n == 0)
        {
            return;
        }

        if (k == 0 || alpha == T.Zero)
        {
            // BLAS quick return: C = beta * C, with beta = 0 writing zeros without reading C.
            fixed (T* pc = c)
            {
                VectorGemm.ScaleC(m, n, beta, pc, ldc);
            }

            return;
        }

        int nr = MicroColumns<T>();
        int kcMax = Math.Min(DepthBlock, k);
        int mcAlloc = Math.Min(RowBlock, RoundUp(m, MicroRows));
        int ncAlloc = Math.Min(ColumnBlock, RoundUp(n, nr));
        T[] packedA = Buffers<T>.A(mcAlloc * kcMax);
        T[] packedB = Buffers<T>.B(ncAlloc * kcMax);
        fixed (T* pa = a)
        fixed (T* pb = b)
        fixed (T* pc = c)
        fixed (T* panelsA = packedA)
        fixed (T* panelsB = packedB)
        {
            for (int jc = 0; jc < n; jc += ColumnBlock)
            {
                int nc = Math.Min(ColumnBlock, n - jc);
                for (int pcol = 0; pcol < k; pcol += kcMax)
                {
                    int kc = Math.Min(kcMax, k - pcol);
                    T betaBlock = pcol == 0 ? beta : T.One;
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        Pack(transB == Transpose.No, pb, ldb, pcol, jc + jr, kc, Math.Min(nr, nc - jr), nr, panelsB + ((long)jr * kc));
                    }

                    for (int ic = 0; ic < m; ic += RowBlock)
                    {
                        int mc = Math.Min(RowBlock, m - ic);
                        for (int ir = 0; ir < mc; ir += MicroRows)
                        {
                            // op(A)[i, p] is op(A)^T[p, i]: the same packing as B's, with the roles of the layouts swapped.
                            Pack(transA == Transpose.Yes, pa, lda, pcol, ic + ir, kc, Math.Min(MicroRows, mc - ir), MicroRows, panelsA + ((long)ir * kc));
                        }

                        for (int jr = 0; jr < nc; jr += nr)
                        {
                            for (int ir = 0; ir < mc; ir += MicroRows)
                            {
                                MicroKernel(kc, panelsA + ((long)ir * kc), panelsB + ((long)jr * kc), pc + ((long)(ic + ir) * ldc) + jc + jr, ldc,
                                    alpha, betaBlock, Math.Min(MicroRows, mc - ir), Math.Min(nr, nc - jr));
                            }
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Packs one panel: for each p in [0, kc), the <paramref name="width"/> values X[pc + p, j0 + j] (j &lt; count, the rest zero)
    /// contiguously, where X[p, j] = x[p * ld + j] when <paramref name="rowsAlongK"/>, else x[j * ld + p].
    /// </summary>
    private static void Pack<T>(bool rowsAlongK, T* x, int ld, int pc, int j0, int kc, int count, int width, T* panel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int p = 0; p < kc; p++)
        {
            T* destination = panel + ((long)p * width);
            for (int j = 0; j < count; j++)
            {
                destination[j] = rowsAlongK ? x[((long)(pc + p) * ld) + j0 + j] : x[((long)(j0 + j) * ld) + pc + p];
            }

            for (int j = count; j < width; j++)
            {
                destination[j] = T.Zero;
            }
        }
    }

    /// <summary>C[0..rows, 0..cols] = alpha * (A panel x B panel) + beta * C for a 4 x kc and a kc x (2 vectors) panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel<T>(int kc, T* a, T* b, T* c, int ldc, T alpha, T beta, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int width = Vector128<T>.Count;
        Vector128<T> c00 = Vector128<T>.Zero, c01 = Vector128<T>.Zero;
        Vector128<T> c10 = Vector128<T>.Zero, c11 = Vector128<T>.Zero;
        Vector128<T> c20 = Vector128<T>.Zero, c21 = Vector128<T>.Zero;
        Vector128<T> c30 = Vector128<T>.Zero, c31 = Vector128<T>.Zero;
        for (int p = 0; p < kc; p++)
        {
            Vector128<T> b0 = Vector128.Load(b), b1 = Vector128.Load(b + width);
            Vector128<T> ai = Vector128.Create(a[0]);
            c00 = MultiplyAdd(ai, b0, c00);
            c01 = MultiplyAdd(ai, b1, c01);
            ai = Vector128.Create(a[1]);
            c10 = MultiplyAdd(ai, b0, c10);
            c11 = MultiplyAdd(ai, b1, c11);
            ai = Vector128.Create(a[2]);
            c20 = MultiplyAdd(ai, b0, c20);
            c21 = MultiplyAdd(ai, b1, c21);
            ai = Vector128.Create(a[3]);
            c30 = MultiplyAdd(ai, b0, c30);
            c31 = MultiplyAdd(ai, b1, c31);
            a += MicroRows;
            b += 2 * width;
        }

        T* tile = stackalloc T[MicroRows * 2 * Vector128<T>.Count];
        Vector128.Store(c00, tile);
        Vector128.Store(c01, tile + width);
        Vector128.Store(c10, tile + (2 * width));
        Vector128.Store(c11, tile + (3 * width));
        Vector128.Store(c20, tile + (4 * width));
        Vector128.Store(c21, tile + (5 * width));
        Vector128.Store(c30, tile + (6 * width));
        Vector128.Store(c31, tile + (7 * width));
        for (int i = 0; i < rows; i++)
        {
            T* cRow = c + ((long)i * ldc);
            T* tRow = tile + (i * 2 * width);
            for (int j = 0; j < cols; j++)
            {
                // beta = 0 overwrites: C may hold NaN and must not leak through 0 * NaN.
                cRow[j] = beta == T.Zero ? alpha * tRow[j] : (alpha * tRow[j]) + (beta * cRow[j]);
            }
        }
    }

    /// <summary>x * y + z: fused where the CPU has FMA, a multiply and an add elsewhere (the JIT removes the type tests).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<T> MultiplyAdd<T>(Vector128<T> x, Vector128<T> y, Vector128<T> z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            return Vector128.MultiplyAddEstimate(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        }

        return Vector128.MultiplyAddEstimate(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
    }

    /// <summary>Per-thread packing buffers, grown on demand and reused so a product allocates nothing once warm.</summary>
    private static class Buffers<T>
    {
        [ThreadStatic]
        private static T[]? packedA;

        [ThreadStatic]
        private static T[]? packedB;

        public static T[] A(int length) => Grow(ref packedA, length);

        public static T[] B(int length) => Grow(ref packedB, length);

        private static T[] Grow(ref T[]? buffer, int length)
        {
            if (buffer is null || buffer.Length < length)
            {
                buffer = GC.AllocateUninitializedArray<T>(length, pinned: true);
            }

            return buffer;
        }
    }
}
