using System.Numerics;

namespace Unroll.Kernels.Gemm;

/// <summary>SIMD GEMM. Placeholder that defers to the reference until the vector kernel lands.</summary>
internal static class VectorGemm
{
    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
        => ReferenceGemm.Compute(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
