using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels.Gemm;

/// <summary>Whether a GEMM operand is used as stored or transposed.</summary>
internal enum Transpose
{
    /// <summary>op(X) = X.</summary>
    No,

    /// <summary>op(X) = X^T, read in place (the transpose is never materialised).</summary>
    Yes,
}

/// <summary>The implementations behind <see cref="Gemm.Compute{T}"/>.</summary>
internal enum GemmVariant
{
    /// <summary>The never-optimised triple loop: the reference every other variant is tested against.</summary>
    Reference,

    /// <summary>The 256-bit SIMD implementation (AVX2 and FMA on x86): packed, blocked, multi-threaded.</summary>
    Vector,

    /// <summary>The 128-bit SIMD implementation for CPUs without 256-bit vectors: packed and blocked, single-threaded.</summary>
    Vector128,

    /// <summary>
    /// The 512-bit SIMD implementation (AVX-512F on x86): the 256-bit variant's packing, blocking and threading with
    /// micro-kernels that do each step in 512-bit fused multiply-adds; chosen when the CPU has them.
    /// </summary>
    Vector512,
}

/// <summary>
/// The one matrix-multiply entry point, shaped like BLAS's xGEMM on row-major storage:
/// <c>C = alpha * op(A) * op(B) + beta * C</c>, where op(A) is m x k, op(B) is k x n and C is m x n.
/// </summary>
/// <remarks>
/// Storage is row-major with leading dimensions (the distance between consecutive rows):
/// A is m x k with <c>lda &gt;= k</c> when <c>transA = No</c>, and k x m with <c>lda &gt;= m</c> when
/// <c>transA = Yes</c>; likewise B is k x n (ldb &gt;= n) or n x k (ldb &gt;= k); C is m x n with ldc &gt;= n.
/// <c>beta = 0</c> overwrites C without reading it, so NaN or garbage in C never propagates.
/// The variant is chosen once from the CPU's features (512-bit vectors, else 256-bit vectors, else 128-bit vectors,
/// else the scalar reference); the environment variable <c>UNROLL_GEMM</c> (<c>reference</c>, <c>vector128</c>,
/// <c>vector</c> for 256-bit or <c>vector512</c>) forces one.
/// </remarks>
internal static class Gemm
{
    /// <summary>The name of the environment variable that forces a variant.</summary>
    public const string VariantEnvironmentVariable = "UNROLL_GEMM";

    private static GemmVariant? variant;

    /// <summary>The variant used by <see cref="Compute{T}"/>; settable so tests can exercise each one.</summary>
    /// <remarks>
    /// Chosen on first use rather than in a static initialiser, so a bad <c>UNROLL_GEMM</c> surfaces as an
    /// <see cref="UnrollException"/> from the first call instead of a TypeInitializationException.
    /// </remarks>
    /// <exception cref="UnrollException"><c>UNROLL_GEMM</c> is set to something other than a variant name, or names (or the
    /// setter is given) a variant this CPU cannot run.</exception>
    public static GemmVariant Variant
    {
        get => variant ??= ChooseVariant(Environment.GetEnvironmentVariable(VariantEnvironmentVariable), IsSupported);
        set => variant = IsSupported(value) ? value : throw Unsupported(value.ToString(), IsSupported);
    }

    /// <summary>
    /// The vector width the kernels run at, in a user's words ("AVX-512 kernels", "AVX2 kernels", ...): a Native AOT
    /// build for a baseline CPU, for one, has no 256-bit vectors and says so.
    /// </summary>
    public static string VariantDescription => Variant switch
    {
        GemmVariant.Vector512 => "AVX-512 kernels",
        GemmVariant.Vector => Avx2.IsSupported ? "AVX2 kernels" : "256-bit kernels",
        GemmVariant.Vector128 => "128-bit kernels",
        _ => "scalar kernels",
    };

    /// <summary>Whether this CPU can run <paramref name="candidate"/> (the reference and the 128-bit variant run anywhere).</summary>
    public static bool IsSupported(GemmVariant candidate) => candidate switch
    {
        GemmVariant.Vector512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        GemmVariant.Vector => Vector256.IsHardwareAccelerated,
        GemmVariant.Reference or GemmVariant.Vector128 => true,
        _ => false,
    };

    /// <summary>Computes <c>C = alpha * op(A) * op(B) + beta * C</c> with the current <see cref="Variant"/>.</summary>
    /// <exception cref="ArgumentException">A dimension is negative, a leading dimension is too small, or a buffer is too short.</exception>
    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        ComputeUnchecked(Variant, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    private static void ComputeUnchecked<T>(
        GemmVariant chosen, Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (chosen)
        {
            case GemmVariant.Vector:
            case GemmVariant.Vector512:
                VectorGemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                break;
            case GemmVariant.Vector128:
                Vector128Gemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                break;
            default:
                ReferenceGemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
                break;
        }
    }

    /// <summary>
    /// <c>C = alpha * op(A) * B + beta * C</c> with B packed beforehand (<see cref="PackedOperand{T}.Pack"/>),
    /// for an operand shared by many products, such as the recurrent weight at every time step.
    /// </summary>
    /// <exception cref="ArgumentException">A dimension or leading dimension does not fit, or a buffer is too short.</exception>
    /// <exception cref="InvalidOperationException">B was packed under another <see cref="Variant"/>.</exception>
    internal static void ComputePacked<T>(
        Transpose transA, int m, T alpha, ReadOnlySpan<T> a, int lda, PackedOperand<T> b, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, Transpose.No, m, b.Columns, b.Depth, a.Length, lda, b.Depth * b.Columns, Math.Max(1, b.Columns), c.Length, ldc);
        if (b.PackedFor != Variant)
        {
            throw new InvalidOperationException($"GEMM: the operand was packed for the {b.PackedFor} variant, but the current variant is {Variant}; pack it again.");
        }

        if (b.IsPlain)
        {
            ComputeUnchecked(b.PackedFor, transA, Transpose.No, m, b.Columns, b.Depth, alpha, a, lda, b.Panels, Math.Max(1, b.Columns), beta, c, ldc);
        }
        else
        {
            VectorGemm.ComputePacked(transA, m, alpha, a, lda, b, beta, c, ldc);
        }
    }

    /// <summary>
    /// Columns [<paramref name="firstColumn"/>, <paramref name="endColumn"/>) of <c>C = alpha * A * B + beta * C</c>, on the
    /// calling thread alone, with A row-major (m x k) and B packed beforehand: one part's share of a per-step product when a
    /// time step is split over the cores by hidden units. The bounds must be multiples of <see cref="PanelWidth{T}"/>
    /// (the end may also be n); the other columns of C are not touched.
    /// </summary>
    /// <exception cref="ArgumentException">A dimension, leading dimension or column bound does not fit, or a buffer is too short.</exception>
    /// <exception cref="InvalidOperationException">B was packed under another <see cref="Variant"/>.</exception>
    internal static void ComputePackedColumns<T>(
        int m, T alpha, ReadOnlySpan<T> a, int lda, PackedOperand<T> b, T beta, Span<T> c, int ldc, int firstColumn, int endColumn)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(Transpose.No, Transpose.No, m, b.Columns, b.Depth, a.Length, lda, b.Depth * b.Columns, Math.Max(1, b.Columns), c.Length, ldc);
        if (b.PackedFor != Variant)
        {
            throw new InvalidOperationException($"GEMM: the operand was packed for the {b.PackedFor} variant, but the current variant is {Variant}; pack it again.");
        }

        if (!b.IsPlain)
        {
            VectorGemm.ComputePackedColumns(m, alpha, a, lda, b, beta, c, ldc, firstColumn, endColumn);
            return;
        }

        if (firstColumn < 0 || endColumn > b.Columns || firstColumn > endColumn)
        {
            throw new ArgumentException($"GEMM column range [{firstColumn}, {endColumn}) must lie in [0, {b.Columns}].");
        }

        int width = endColumn - firstColumn;
        if (m > 0 && width > 0)
        {
            ComputeUnchecked(b.PackedFor, Transpose.No, Transpose.No, m, width, b.Depth, alpha, a, lda,
                b.Panels.AsSpan(firstColumn), Math.Max(1, b.Columns), beta, c[firstColumn..], ldc);
        }
    }

    /// <summary>
    /// The column granularity of <see cref="ComputePackedColumns{T}"/>: the micro-kernel's panel width for float and
    /// double under the vector variant, 1 otherwise.
    /// </summary>
    internal static int PanelWidth<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
        => Variant is GemmVariant.Vector or GemmVariant.Vector512 && (typeof(T) == typeof(float) || typeof(T) == typeof(double)) ? VectorGemm.MicroColumns<T>() : 1;

    /// <summary>
    /// The row granularity of <see cref="ComputePackedColumns{T}"/> over a row-major A: rows are read in place in tiles of
    /// this many and the last few are packed, so a split of the rows on these bounds packs no more than the whole does.
    /// </summary>
    internal static int RowTile<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
        => PanelWidth<T>() == 1 ? 1 : VectorGemm.InPlaceRowTile;

    internal static void Validate(
        Transpose transA, Transpose transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentException($"GEMM dimensions must be non-negative, got m={m}, n={n}, k={k}.");
        }

        var (aRows, aCols) = transA == Transpose.No ? (m, k) : (k, m);
        var (bRows, bCols) = transB == Transpose.No ? (k, n) : (n, k);
        CheckOperand("A", aRows, aCols, aLength, lda);
        CheckOperand("B", bRows, bCols, bLength, ldb);
        CheckOperand("C", m, n, cLength, ldc);
    }

    private static void CheckOperand(string name, int rows, int cols, int length, int ld)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentException($"GEMM leading dimension of {name} must be at least {Math.Max(1, cols)}, got {ld}.");
        }

        long needed = rows == 0 || cols == 0 ? 0 : ((long)(rows - 1) * ld) + cols;
        if (length < needed)
        {
            throw new ArgumentException($"GEMM operand {name} ({rows} x {cols}, leading dimension {ld}) needs {needed} elements, got {length}.");
        }
    }

    /// <summary>The variant <paramref name="forced"/> names (UNROLL_GEMM), or else the widest one <paramref name="supported"/> allows.</summary>
    internal static GemmVariant ChooseVariant(string? forced, Func<GemmVariant, bool> supported)
    {
        if (!string.IsNullOrWhiteSpace(forced))
        {
            var named = forced.Trim().ToUpperInvariant() switch
            {
                "REFERENCE" => GemmVariant.Reference,
                "VECTOR" or "VECTOR256" => GemmVariant.Vector,
                "VECTOR128" => GemmVariant.Vector128,
                "VECTOR512" => GemmVariant.Vector512,
                _ => throw new UnrollException($"{VariantEnvironmentVariable}: expected 'reference', 'vector128', 'vector' (256-bit) or 'vector512', got '{forced}'."),
            };
            return supported(named) ? named : throw Unsupported(forced.Trim(), supported);
        }

        return supported(GemmVariant.Vector512) ? GemmVariant.Vector512
            : supported(GemmVariant.Vector) ? GemmVariant.Vector
            : Vector128.IsHardwareAccelerated ? GemmVariant.Vector128
            : GemmVariant.Reference;
    }

    private static UnrollException Unsupported(string name, Func<GemmVariant, bool> supported)
    {
        string widest = supported(GemmVariant.Vector512) ? "vector512" : supported(GemmVariant.Vector) ? "vector" : "vector128";
        return new UnrollException($"GEMM variant: expected one this CPU supports (up to '{widest}'), got '{name}'.");
    }
}

/// <summary>
/// A right-hand GEMM operand op(B) (k x n) packed once into the micro-kernel's panels and reused by many
/// products: the recurrent weight W_hh is packed once per sequence and read at every time step. Packing again
/// with the same sizes reuses the buffer, so it allocates nothing in steady state.
/// </summary>
internal sealed class PackedOperand<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The packed panels (or, for the other variants, op(B) as a plain k x n row-major copy).</summary>
    internal T[] Panels { get; private set; } = [];

    /// <summary>k, the rows of op(B).</summary>
    public int Depth { get; private set; }

    /// <summary>n, the columns of op(B).</summary>
    public int Columns { get; private set; }

    /// <summary>The variant whose layout <see cref="Panels"/> has.</summary>
    public GemmVariant PackedFor { get; private set; }

    /// <summary>Whether <see cref="Panels"/> holds op(B) plainly (a variant other than <see cref="GemmVariant.Vector"/> and <see cref="GemmVariant.Vector512"/>, or a type the vector kernel does not handle).</summary>
    internal bool IsPlain { get; private set; }

    /// <summary>Packs op(B), where B is k x n (<paramref name="transB"/> = No, ldb &gt;= n) or n x k (Yes, ldb &gt;= k).</summary>
    /// <exception cref="ArgumentException">A dimension is negative, ldb is too small, or B is too short.</exception>
    public void Pack(Transpose transB, int k, int n, ReadOnlySpan<T> b, int ldb)
    {
        Gemm.Validate(Transpose.No, transB, 0, n, k, 0, Math.Max(1, k), b.Length, ldb, 0, Math.Max(1, n));
        Depth = k;
        Columns = n;
        PackedFor = Gemm.Variant;
        IsPlain = PackedFor is not (GemmVariant.Vector or GemmVariant.Vector512) || (typeof(T) != typeof(float) && typeof(T) != typeof(double));
        if (IsPlain)
        {
            GrowPanels(k * n);
            for (int p = 0; p < k; p++)
            {
                for (int j = 0; j < n; j++)
                {
                    Panels[(p * n) + j] = transB == Transpose.No ? b[(p * ldb) + j] : b[(j * ldb) + p];
                }
            }

            return;
        }

        GrowPanels(VectorGemm.PackedLength<T>(k, n));
        VectorGemm.PackAll(transB, k, n, b, ldb, Panels);
    }

    private void GrowPanels(int length)
    {
        if (Panels.Length < length)
        {
            Panels = GC.AllocateUninitializedArray<T>(length, pinned: true);
        }
    }
}
