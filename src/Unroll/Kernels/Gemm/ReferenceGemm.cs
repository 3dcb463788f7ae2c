using System.Numerics;

namespace Unroll.Kernels.Gemm;

/// <summary>
/// The reference GEMM: a plain triple loop, accumulating each dot product in order.
/// It is never optimised; every faster variant is tested against it.
/// </summary>
internal static class ReferenceGemm
{
    public static void Compute<T>(
        Transpose transA, Transpose transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T aip = transA == Transpose.No ? a[(i * lda) + p] : a[(p * lda) + i];
                    T bpj = transB == Transpose.No ? b[(p * ldb) + j] : b[(j * ldb) + p];
                    sum += aip * bpj;
                }

                ref T cij = ref c[(i * ldc) + j];
                // beta = 0 overwrites: C may hold NaN or garbage and must not leak through 0 * NaN.
                cij = beta == T.Zero ? alpha * sum : (alpha * sum) + (beta * cij);
            }
        }
    }
}
