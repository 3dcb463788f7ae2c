using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>The implementations behind <see cref="Gemv.Multiply{T}(GemvMatrix{T}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T})"/>.</summary>
internal enum GemvVariant
{
    /// <summary>One multiply-add at a time over the packed panels: the reference the vector variants are tested against.</summary>
    Scalar,

    /// <summary>A panel as four 256-bit vectors (float) per column, two columns at a time: eight independent accumulators.</summary>
    Vector256,

    /// <summary>A panel as two 512-bit vectors (float) per column, four columns at a time: eight independent accumulators.</summary>
    Vector512,
}

/// <summary>
/// A matrix W [rows, columns] packed once for matrix-vector products <c>y = W x</c>: the rows are cut into panels of
/// <see cref="Gemv.PanelRows{T}"/> rows (128 bytes: 32 floats or 16 doubles, the last panel padded with zeros), and each
/// panel is stored column after column, so the product reads every weight once, front to back, and broadcasts x[k]
/// against one contiguous column of a panel.
/// </summary>
internal sealed class GemvMatrix<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Packs W, row-major with <paramref name="rows"/> rows of <paramref name="columns"/> values.</summary>
    /// <exception cref="ArgumentException">W is not rows x columns.</exception>
    public GemvMatrix(ReadOnlySpan<T> weights, int rows, int columns)
    {
        if (rows < 0 || columns < 0 || weights.Length != rows * columns)
        {
            throw new ArgumentException($"Expected a [{rows}, {columns}] matrix ({rows * columns} values), got {weights.Length} values.");
        }

        int height = Gemv.PanelRows<T>();
        Rows = rows;
        Columns = columns;
        PanelCount = (rows + height - 1) / height;
        Panels = GC.AllocateArray<T>(Math.Max(1, PanelCount * height * columns), pinned: true);
        for (int panel = 0; panel < PanelCount; panel++)
        {
            for (int k = 0; k < columns; k++)
            {
                for (int r = 0; r < height; r++)
                {
                    int row = (panel * height) + r;
                    Panels[(((panel * columns) + k) * height) + r] = row < rows ? weights[(row * columns) + k] : T.Zero;
                }
            }
        }
    }

    /// <summary>Rows of W (entries of y).</summary>
    public int Rows { get; }

    /// <summary>Columns of W (entries of x).</summary>
    public int Columns { get; }

    /// <summary>Panels of <see cref="Gemv.PanelRows{T}"/> rows.</summary>
    public int PanelCount { get; }

    /// <summary>The packed panels: panel p, column k, row r of the panel at ((p * Columns) + k) * PanelRows + r.</summary>
    internal T[] Panels { get; }
}

/// <summary>
/// Matrix-vector products <c>y = W x + a</c> with W packed as a <see cref="GemvMatrix{T}"/>: the batch-1 path of inference,
/// where a GEMM's packing and blocking of x would cost more than the product. The variant is chosen once from the CPU's
/// features (512-bit vectors with AVX-512F, else 256-bit vectors, else scalar); the environment variable
/// <c>UNROLL_GEMV</c> (<c>scalar</c>, <c>vector256</c>, <c>vector512</c>) forces one.
/// </summary>
/// <remarks>
/// Every variant sums each row's products in the same order for a given variant, whatever the range of panels a call
/// covers, so splitting the panels over threads gives the same bits as one call.
/// </remarks>
internal static unsafe class Gemv
{
    /// <summary>The name of the environment variable that forces a variant.</summary>
    public const string VariantEnvironmentVariable = "UNROLL_GEMV";

    private static GemvVariant? variant;

    /// <summary>The variant used when none is named; chosen on first use.</summary>
    /// <exception cref="UnrollException"><c>UNROLL_GEMV</c> names no variant, or one this CPU cannot run.</exception>
    public static GemvVariant Variant => variant ??= Choose(Environment.GetEnvironmentVariable(VariantEnvironmentVariable));

    /// <summary>Rows per panel: 128 bytes of T.</summary>
    public static int PanelRows<T>()
        where T : unmanaged => 128 / sizeof(T);

    /// <summary>Whether this CPU runs <paramref name="candidate"/>.</summary>
    public static bool IsSupported(GemvVariant candidate) => candidate switch
    {
        GemvVariant.Vector512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        GemvVariant.Vector256 => Vector256.IsHardwareAccelerated,
        GemvVariant.Scalar => true,
        _ => false,
    };

    /// <summary>The variant <paramref name="forced"/> names, or the widest this CPU runs.</summary>
    internal static GemvVariant Choose(string? forced)
    {
        if (string.IsNullOrWhiteSpace(forced))
        {
            return IsSupported(GemvVariant.Vector512) ? GemvVariant.Vector512 : IsSupported(GemvVariant.Vector256) ? GemvVariant.Vector256 : GemvVariant.Scalar;
        }

        var named = forced.Trim().ToUpperInvariant() switch
        {
            "SCALAR" => GemvVariant.Scalar,
            "VECTOR256" => GemvVariant.Vector256,
            "VECTOR512" => GemvVariant.Vector512,
            _ => throw new UnrollException($"{VariantEnvironmentVariable}: expected 'scalar', 'vector256' or 'vector512', got '{forced}'."),
        };
        return IsSupported(named) ? named : throw new UnrollException($"{VariantEnvironmentVariable}: expected a variant this CPU runs, got '{forced.Trim()}'.");
    }

    /// <summary><c>y = W x + addend</c> (addend empty: zero; it may be y itself) with the chosen <see cref="Variant"/>.</summary>
    /// <exception cref="ArgumentException">x, y or the addend does not fit W.</exception>
    public static void Multiply<T>(GemvMatrix<T> w, ReadOnlySpan<T> x, ReadOnlySpan<T> addend, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Multiply(Variant, w, x, addend, y, 0, w.PanelCount);

    /// <summary>
    /// The rows of panels [<paramref name="firstPanel"/>, <paramref name="endPanel"/>) of <c>y = W x + addend</c>, with
    /// <paramref name="chosen"/>: one thread's share of a product split by rows.
    /// </summary>
    /// <exception cref="ArgumentException">A length or the panel range does not fit W.</exception>
    public static void Multiply<T>(
        GemvVariant chosen, GemvMatrix<T> w, ReadOnlySpan<T> x, ReadOnlySpan<T> addend, Span<T> y, int firstPanel, int endPanel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        if (x.Length != w.Columns || y.Length != w.Rows || (!addend.IsEmpty && addend.Length != w.Rows)
            || firstPanel < 0 || endPanel > w.PanelCount || firstPanel > endPanel)
        {
            throw new ArgumentException(
                $"GEMV: expected x of {w.Columns}, y and addend of {w.Rows} values and panels in [0, {w.PanelCount}], got {x.Length}, {y.Length}, {addend.Length} and [{firstPanel}, {endPanel}).");
        }

        int height = PanelRows<T>();
        T* tail = stackalloc T[height];
        fixed (T* panels = w.Panels)
        fixed (T* xs = x)
        fixed (T* adds = addend)
        fixed (T* ys = y)
        {
            for (int panel = firstPanel; panel < endPanel; panel++)
            {
                int first = panel * height, count = Math.Min(height, w.Rows - first);
                T* weights = panels + ((long)panel * w.Columns * height);

                // A full panel is written in place; the last, partial one through a panel-sized scratch.
                T* target = count == height ? ys + first : tail;
                T* add = adds == null ? null : adds + first;
                if (count < height && add != null)
                {
                    for (int r = 0; r < height; r++)
                    {
                        tail[r] = r < count ? add[r] : T.Zero;
                    }

                    add = tail;
                }

                switch (chosen)
                {
                    case GemvVariant.Vector512 when IsSupported(GemvVariant.Vector512):
                        Panel512(weights, xs, w.Columns, add, target);
                        break;
                    case GemvVariant.Vector256 when IsSupported(GemvVariant.Vector256):
                        Panel256(weights, xs, w.Columns, add, target);
                        break;
                    case GemvVariant.Scalar:
                        PanelScalar(weights, xs, w.Columns, height, add, target);
                        break;
                    default:
                        throw new UnrollException($"GEMV variant: expected one this CPU runs, got {chosen}.");
                }

                if (count < height)
                {
                    new ReadOnlySpan<T>(tail, count).CopyTo(y.Slice(first, count));
                }
            }
        }
    }

    private static void PanelScalar<T>(T* weights, T* x, int columns, int height, T* add, T* y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int r = 0; r < height; r++)
        {
            T sum = T.Zero;
            for (int k = 0; k < columns; k++)
            {
                sum += weights[(k * height) + r] * x[k];
            }

            y[r] = add == null ? sum : sum + add[r];
        }
    }

    // A 128-byte panel is two 512-bit vectors per column; four columns per iteration keep eight sums in flight, enough to
    // cover the multiply-add latency (4 cycles, 2 per cycle). The sums of columns k = 0, 1, 2, 3 (mod 4) are added last.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel512<T>(T* weights, T* x, int columns, T* add, T* y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector512<T>.Count, height = 2 * lanes;
        Vector512<T> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        int k = 0;
        for (; k + 4 <= columns; k += 4)
        {
            T* w = weights + (k * height);
            var x0 = Vector512.Create(x[k]);
            var x1 = Vector512.Create(x[k + 1]);
            var x2 = Vector512.Create(x[k + 2]);
            var x3 = Vector512.Create(x[k + 3]);
            a0 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w), x0, a0);
            a1 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + lanes), x0, a1);
            b0 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + height), x1, b0);
            b1 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + height + lanes), x1, b1);
            c0 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + (2 * height)), x2, c0);
            c1 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + (2 * height) + lanes), x2, c1);
            d0 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + (3 * height)), x3, d0);
            d1 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + (3 * height) + lanes), x3, d1);
        }

        for (; k < columns; k++)
        {
            T* w = weights + (k * height);
            var xk = Vector512.Create(x[k]);
            a0 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w), xk, a0);
            a1 = Gemm.VectorGemm.MultiplyAdd(Vector512.Load(w + lanes), xk, a1);
        }

        var s0 = (a0 + b0) + (c0 + d0);
        var s1 = (a1 + b1) + (c1 + d1);
        if (add != null)
        {
            s0 += Vector512.Load(add);
            s1 += Vector512.Load(add + lanes);
        }

        s0.Store(y);
        s1.Store(y + lanes);
    }

    // Four 256-bit vectors per column, two columns per iteration: eight sums in flight.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel256<T>(T* weights, T* x, int columns, T* add, T* y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector256<T>.Count, height = 4 * lanes;
        Vector256<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        int k = 0;
        for (; k + 2 <= columns; k += 2)
        {
            T* w = weights + (k * height);
            var x0 = Vector256.Create(x[k]);
            var x1 = Vector256.Create(x[k + 1]);
            a0 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w), x0, a0);
            a1 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + lanes), x0, a1);
            a2 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + (2 * lanes)), x0, a2);
            a3 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + (3 * lanes)), x0, a3);
            b0 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + height), x1, b0);
            b1 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + height + lanes), x1, b1);
            b2 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + height + (2 * lanes)), x1, b2);
            b3 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + height + (3 * lanes)), x1, b3);
        }

        for (; k < columns; k++)
        {
            T* w = weights + (k * height);
            var xk = Vector256.Create(x[k]);
            a0 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w), xk, a0);
            a1 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + lanes), xk, a1);
            a2 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + (2 * lanes)), xk, a2);
            a3 = Gemm.VectorGemm.MultiplyAdd(Vector256.Load(w + (3 * lanes)), xk, a3);
        }

        a0 += b0;
        a1 += b1;
        a2 += b2;
        a3 += b3;
        if (add != null)
        {
            a0 += Vector256.Load(add);
            a1 += Vector256.Load(add + lanes);
            a2 += Vector256.Load(add + (2 * lanes));
            a3 += Vector256.Load(add + (3 * lanes));
        }

        a0.Store(y);
        a1.Store(y + lanes);
        a2.Store(y + (2 * lanes));
        a3.Store(y + (3 * lanes));
    }
}
