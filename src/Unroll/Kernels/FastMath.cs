using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>Which implementation <see cref="FastMath"/> runs; tests force each one to check they agree bit for bit.</summary>
internal enum FastMathPath
{
    /// <summary>The widest path the CPU runs natively (AVX-512F, else AVX2 + FMA, else 128-bit SIMD with FMA, else scalar).</summary>
    Auto,

    /// <summary>16 floats per step in <see cref="Vector512{T}"/>, then the <see cref="Vector256"/> path for the rest.</summary>
    Vector512,

    /// <summary>8 floats per step in <see cref="Vector256{T}"/>, the tail in scalar.</summary>
    Vector256,

    /// <summary>4 floats per step in <see cref="Vector128{T}"/>, the tail in scalar.</summary>
    Vector128,

    /// <summary>One float at a time.</summary>
    Scalar,
}

/// <summary>
/// Fast single-precision tanh and logistic sigmoid for the gate non-linearities of the recurrent cells.
/// </summary>
/// <remarks>
/// <para>
/// tanh is the clamped 13/6-degree rational approximation Eigen uses for float
/// (<c>generic_fast_tanh_float</c>, also XLA's and MLIR's fast tanh):
/// <c>tanh(x) ~ x P(x^2) / Q(x^2)</c> with P of degree 6 in x^2 (odd degree 13 in x) and Q of degree 3
/// in x^2 (even degree 6 in x), and x clamped to +-7.99881172180175781: XLA's clamp for the fused
/// multiply-add evaluation, the point where it reaches exactly 1 (Eigen's 7.90531110763549805 is chosen
/// for unfused evaluation and gives 0.99999976 with FMA). Past the clamp the true tanh is within 2.3e-7 of
/// +-1. For |x| &lt; 0.0004 the result is x (there x^3/3 is below half an ulp of x, and it keeps denormal inputs exact).
/// The result is then clamped to [-1, 1], which the rounded rational function could otherwise overshoot
/// by an ulp near the clamp point. The result is not monotone at the ulp scale for |x| &gt; ~3.7, where
/// tanh rises by less than the rounding noise between neighbouring floats.
/// </para>
/// <para>
/// sigmoid(x) = 1 / (1 + e^-x) = 0.5 tanh(x / 2) + 0.5, evaluated as one fused multiply-add, so it stays in [0, 1].
/// </para>
/// <para>
/// Measured maximum absolute error against the exact functions in double (see the tests and docs/kernels.md):
/// tanh 2.57e-7 and sigmoid 1.45e-7 on [-10, 10] at a step of 1e-4; 2.92e-7 and 1.69e-7 over every float
/// with |x| &lt;= 20 (a few ulp of results near +-1; the rational function alone is within 3.5e-8 of tanh
/// inside the clamp). The error is absolute, not relative: for sigmoid(x) with
/// x &lt; -17.1 the true value is below 3.8e-8 and the result may be 0.
/// </para>
/// <para>
/// Every path evaluates the same operations in the same order with fused multiply-adds
/// (correctly rounded in scalar and SIMD alike) and an IEEE division, so the Vector512, Vector256, Vector128
/// and scalar paths give identical bits for the same input, whatever the span length.
/// NaN propagates; +-infinity give +-1 for tanh and 1 / 0 for sigmoid; tanh(-0) = -0.
/// </para>
/// </remarks>
internal static class FastMath
{
    /// <summary>Inputs beyond +-this give +-1: the fused evaluation of the rational function reaches exactly 1 here (XLA's FMA clamp).</summary>
    private const float ClampBound = 7.99881172180175781f;

    /// <summary>Below this |x|, tanh(x) = x to within half an ulp (x^3/3 &lt; 2^-24 x).</summary>
    private const float IdentityBound = 0.0004f;

    // Numerator x (A1 + A3 x^2 + ... + A13 x^12) and denominator B0 + B2 x^2 + B4 x^4 + B6 x^6 (Eigen's coefficients).
    private const float A1 = 4.89352455891786e-03f;
    private const float A3 = 6.37261928875436e-04f;
    private const float A5 = 1.48572235717979e-05f;
    private const float A7 = 5.12229709037114e-08f;
    private const float A9 = -8.60467152213735e-11f;
    private const float A11 = 2.00018790482477e-13f;
    private const float A13 = -2.76076847742355e-16f;
    private const float B0 = 4.89352518554385e-03f;
    private const float B2 = 2.26843463243900e-03f;
    private const float B4 = 1.18534705686654e-04f;
    private const float B6 = 1.19825839466702e-06f;

    /// <summary>Whether the 512-bit path runs natively (AVX-512F has fused multiply-add).</summary>
    internal static bool UseVector512 => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>Whether the 256-bit path runs natively: it needs hardware fused multiply-add to be fast.</summary>
    private static bool UseVector256 => Vector256.IsHardwareAccelerated && Fma.IsSupported;

    /// <summary>Whether the 128-bit path runs natively (x86 FMA3 or Arm AdvSimd, both with fused multiply-add).</summary>
    private static bool UseVector128 => Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.IsSupported);

    /// <summary>y[i] = tanh(x[i]). <paramref name="x"/> and <paramref name="y"/> may be the same span (in place).</summary>
    /// <exception cref="ArgumentException">The lengths differ, or the spans overlap other than exactly.</exception>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Tanh(x, y, FastMathPath.Auto);

    /// <summary>y[i] = sigmoid(x[i]) = 1 / (1 + e^-x[i]). <paramref name="x"/> and <paramref name="y"/> may be the same span.</summary>
    /// <exception cref="ArgumentException">The lengths differ, or the spans overlap other than exactly.</exception>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Sigmoid(x, y, FastMathPath.Auto);

    /// <summary>tanh(x) by the same rational approximation as the span version, bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Tanh(float x)
    {
        // The same operations as TanhVector: max then min (maxps/minps agree with these for non-NaN x).
        float clamped = x < -ClampBound ? -ClampBound : x;
        clamped = clamped > ClampBound ? ClampBound : clamped;
        float x2 = clamped * clamped;
        float p = MathF.FusedMultiplyAdd(x2, A13, A11);
        p = MathF.FusedMultiplyAdd(x2, p, A9);
        p = MathF.FusedMultiplyAdd(x2, p, A7);
        p = MathF.FusedMultiplyAdd(x2, p, A5);
        p = MathF.FusedMultiplyAdd(x2, p, A3);
        p = MathF.FusedMultiplyAdd(x2, p, A1);
        p *= clamped;
        float q = MathF.FusedMultiplyAdd(x2, B6, B4);
        q = MathF.FusedMultiplyAdd(x2, q, B2);
        q = MathF.FusedMultiplyAdd(x2, q, B0);
        float r = p / q;
        r = r < -1f ? -1f : r;
        r = r > 1f ? 1f : r;
        r = MathF.Abs(x) < IdentityBound ? x : r;
        return float.IsNaN(x) ? x : r;
    }

    /// <summary>sigmoid(x) = 0.5 tanh(x / 2) + 0.5, bit for bit as the span version.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => MathF.FusedMultiplyAdd(0.5f, Tanh(x * 0.5f), 0.5f);

    /// <summary><see cref="Tanh(ReadOnlySpan{float}, Span{float})"/> on a chosen path (a path the CPU lacks falls back to scalar).</summary>
    internal static void Tanh(ReadOnlySpan<float> x, Span<float> y, FastMathPath path) => Apply(x, y, path, sigmoid: false);

    /// <summary><see cref="Sigmoid(ReadOnlySpan{float}, Span{float})"/> on a chosen path (a path the CPU lacks falls back to scalar).</summary>
    internal static void Sigmoid(ReadOnlySpan<float> x, Span<float> y, FastMathPath path) => Apply(x, y, path, sigmoid: true);

    private static void Apply(ReadOnlySpan<float> x, Span<float> y, FastMathPath path, bool sigmoid)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"FastMath: expected y.Length == x.Length, got {y.Length} and {x.Length}.", nameof(y));
        }

        if (x.Overlaps(y, out int offset) && offset != 0)
        {
            throw new ArgumentException($"FastMath: expected x and y to be the same span or disjoint, got y offset by {offset} elements into x.", nameof(y));
        }

        if (path == FastMathPath.Auto)
        {
            path = UseVector512 ? FastMathPath.Vector512 : UseVector256 ? FastMathPath.Vector256 : UseVector128 ? FastMathPath.Vector128 : FastMathPath.Scalar;
        }

        ref float source = ref MemoryMarshal.GetReference(x);
        ref float target = ref MemoryMarshal.GetReference(y);
        int n = x.Length;
        int i = 0;
        Vector256<float> half256 = Vector256.Create(0.5f);
        Vector128<float> half128 = Vector128.Create(0.5f);

        // Each element is loaded before its own slot is stored, so x == y (in place) is safe.
        if (path == FastMathPath.Vector512 && UseVector512)
        {
            // Two independent vectors per iteration (and out-of-order execution across iterations) overlap the chains.
            Vector512<float> half512 = Vector512.Create(0.5f);
            for (; i <= n - (2 * Vector512<float>.Count); i += 2 * Vector512<float>.Count)
            {
                Vector512<float> v0 = Vector512.LoadUnsafe(ref source, (nuint)i);
                Vector512<float> v1 = Vector512.LoadUnsafe(ref source, (nuint)(i + Vector512<float>.Count));
                Vector512<float> r0 = sigmoid ? Vector512.FusedMultiplyAdd(half512, TanhVector(v0 * half512), half512) : TanhVector(v0);
                Vector512<float> r1 = sigmoid ? Vector512.FusedMultiplyAdd(half512, TanhVector(v1 * half512), half512) : TanhVector(v1);
                r0.StoreUnsafe(ref target, (nuint)i);
                r1.StoreUnsafe(ref target, (nuint)(i + Vector512<float>.Count));
            }

            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512<float> v = Vector512.LoadUnsafe(ref source, (nuint)i);
                Vector512<float> r = sigmoid ? Vector512.FusedMultiplyAdd(half512, TanhVector(v * half512), half512) : TanhVector(v);
                r.StoreUnsafe(ref target, (nuint)i);
            }

            // Fewer than 16 left: the 256-bit and scalar loops below finish them.
            path = FastMathPath.Vector256;
        }

        if (path == FastMathPath.Vector256 && UseVector256)
        {
            // Four independent vectors per iteration: one evaluation is a ~50-cycle dependency chain
            // (eleven FMAs and a division), so interleaving chains keeps the FMA ports busy.
            for (; i <= n - (4 * Vector256<float>.Count); i += 4 * Vector256<float>.Count)
            {
                Vector256<float> v0 = Vector256.LoadUnsafe(ref source, (nuint)i);
                Vector256<float> v1 = Vector256.LoadUnsafe(ref source, (nuint)(i + Vector256<float>.Count));
                Vector256<float> v2 = Vector256.LoadUnsafe(ref source, (nuint)(i + (2 * Vector256<float>.Count)));
                Vector256<float> v3 = Vector256.LoadUnsafe(ref source, (nuint)(i + (3 * Vector256<float>.Count)));
                if (sigmoid)
                {
                    (v0, v1, v2, v3) = TanhVector4(v0 * half256, v1 * half256, v2 * half256, v3 * half256);
                    v0 = Vector256.FusedMultiplyAdd(half256, v0, half256);
                    v1 = Vector256.FusedMultiplyAdd(half256, v1, half256);
                    v2 = Vector256.FusedMultiplyAdd(half256, v2, half256);
                    v3 = Vector256.FusedMultiplyAdd(half256, v3, half256);
                }
                else
                {
                    (v0, v1, v2, v3) = TanhVector4(v0, v1, v2, v3);
                }

                v0.StoreUnsafe(ref target, (nuint)i);
                v1.StoreUnsafe(ref target, (nuint)(i + Vector256<float>.Count));
                v2.StoreUnsafe(ref target, (nuint)(i + (2 * Vector256<float>.Count)));
                v3.StoreUnsafe(ref target, (nuint)(i + (3 * Vector256<float>.Count)));
            }

            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256<float> v = Vector256.LoadUnsafe(ref source, (nuint)i);
                Vector256<float> r = sigmoid
                    ? Vector256.FusedMultiplyAdd(half256, TanhVector(v * half256), half256)
                    : TanhVector(v);
                r.StoreUnsafe(ref target, (nuint)i);
            }
        }
        else if ((path == FastMathPath.Vector128 && UseVector128) || (path == FastMathPath.Vector256 && UseVector128))
        {
            for (; i <= n - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                Vector128<float> v = Vector128.LoadUnsafe(ref source, (nuint)i);
                Vector128<float> r = sigmoid
                    ? Vector128.FusedMultiplyAdd(half128, TanhVector(v * half128), half128)
                    : TanhVector(v);
                r.StoreUnsafe(ref target, (nuint)i);
            }
        }

        // The remainder (and the whole span on the scalar path) with the identical scalar function.
        for (; i < n; i++)
        {
            float v = Unsafe.Add(ref source, i);
            Unsafe.Add(ref target, i) = sigmoid ? Sigmoid(v) : Tanh(v);
        }
    }

    /// <summary>Four <see cref="TanhVector(Vector256{float})"/> written out side by side so their chains interleave.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) TanhVector4(
        Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3)
    {
        Vector256<float> lower = Vector256.Create(-ClampBound);
        Vector256<float> upper = Vector256.Create(ClampBound);
        Vector256<float> c0 = Vector256.MinNative(Vector256.MaxNative(x0, lower), upper);
        Vector256<float> c1 = Vector256.MinNative(Vector256.MaxNative(x1, lower), upper);
        Vector256<float> c2 = Vector256.MinNative(Vector256.MaxNative(x2, lower), upper);
        Vector256<float> c3 = Vector256.MinNative(Vector256.MaxNative(x3, lower), upper);
        Vector256<float> s0 = c0 * c0, s1 = c1 * c1, s2 = c2 * c2, s3 = c3 * c3;
        Vector256<float> a13 = Vector256.Create(A13), a11 = Vector256.Create(A11);
        Vector256<float> p0 = Vector256.FusedMultiplyAdd(s0, a13, a11);
        Vector256<float> p1 = Vector256.FusedMultiplyAdd(s1, a13, a11);
        Vector256<float> p2 = Vector256.FusedMultiplyAdd(s2, a13, a11);
        Vector256<float> p3 = Vector256.FusedMultiplyAdd(s3, a13, a11);
        Vector256<float> b6 = Vector256.Create(B6), b4 = Vector256.Create(B4);
        Vector256<float> q0 = Vector256.FusedMultiplyAdd(s0, b6, b4);
        Vector256<float> q1 = Vector256.FusedMultiplyAdd(s1, b6, b4);
        Vector256<float> q2 = Vector256.FusedMultiplyAdd(s2, b6, b4);
        Vector256<float> q3 = Vector256.FusedMultiplyAdd(s3, b6, b4);
        // The Horner steps written out: a loop over a span of the coefficients allocated an array per call in a Debug build.
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A9);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A7);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A5);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A3);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A1);
        HornerStep(s0, s1, s2, s3, ref q0, ref q1, ref q2, ref q3, B2);
        HornerStep(s0, s1, s2, s3, ref q0, ref q1, ref q2, ref q3, B0);

        return (Finish(x0, c0 * p0 / q0), Finish(x1, c1 * p1 / q1), Finish(x2, c2 * p2 / q2), Finish(x3, c3 * p3 / q3));
    }

    /// <summary>Clamps a quotient to [-1, 1], returns x itself where |x| &lt; 0.0004 or x is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(Vector256<float> x, Vector256<float> r)
    {
        r = Vector256.MinNative(Vector256.MaxNative(r, Vector256.Create(-1f)), Vector256.Create(1f));
        r = Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(IdentityBound)), x, r);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), r, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> TanhVector(Vector256<float> x)
    {
        Vector256<float> clamped = Vector256.MinNative(Vector256.MaxNative(x, Vector256.Create(-ClampBound)), Vector256.Create(ClampBound));
        Vector256<float> x2 = clamped * clamped;
        Vector256<float> p = Vector256.FusedMultiplyAdd(x2, Vector256.Create(A13), Vector256.Create(A11));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A9));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A7));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A5));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A3));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A1));
        p *= clamped;
        Vector256<float> q = Vector256.FusedMultiplyAdd(x2, Vector256.Create(B6), Vector256.Create(B4));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B2));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B0));
        Vector256<float> r = p / q;
        r = Vector256.MinNative(Vector256.MaxNative(r, Vector256.Create(-1f)), Vector256.Create(1f));
        r = Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(x), Vector256.Create(IdentityBound)), x, r);

        // x != x only for NaN: pass it through (min/max above would have replaced it).
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), r, x);
    }

    /// <summary>
    /// An LSTM's four gate activations for 16 units, in place: sigmoid of <paramref name="input"/>, <paramref name="forget"/>
    /// and <paramref name="output"/>, tanh of <paramref name="candidate"/>, the same bits as <see cref="Sigmoid(float)"/> and
    /// <see cref="Tanh(float)"/>. The four evaluations are written out side by side so that their chains (about 50 cycles
    /// each, eleven FMAs and a division) interleave; a call per activation was not inlined into the cell's loop.
    /// </summary>
    internal static void LstmGates(ref Vector512<float> input, ref Vector512<float> forget, ref Vector512<float> candidate, ref Vector512<float> output)
    {
        Vector512<float> half = Vector512.Create(0.5f);
        Vector512<float> x0 = input * half, x1 = forget * half, x2 = candidate, x3 = output * half;
        Vector512<float> lower = Vector512.Create(-ClampBound), upper = Vector512.Create(ClampBound);
        Vector512<float> c0 = Vector512.MinNative(Vector512.MaxNative(x0, lower), upper);
        Vector512<float> c1 = Vector512.MinNative(Vector512.MaxNative(x1, lower), upper);
        Vector512<float> c2 = Vector512.MinNative(Vector512.MaxNative(x2, lower), upper);
        Vector512<float> c3 = Vector512.MinNative(Vector512.MaxNative(x3, lower), upper);
        Vector512<float> s0 = c0 * c0, s1 = c1 * c1, s2 = c2 * c2, s3 = c3 * c3;
        Vector512<float> a13 = Vector512.Create(A13), a11 = Vector512.Create(A11);
        Vector512<float> p0 = Vector512.FusedMultiplyAdd(s0, a13, a11);
        Vector512<float> p1 = Vector512.FusedMultiplyAdd(s1, a13, a11);
        Vector512<float> p2 = Vector512.FusedMultiplyAdd(s2, a13, a11);
        Vector512<float> p3 = Vector512.FusedMultiplyAdd(s3, a13, a11);
        Vector512<float> b6 = Vector512.Create(B6), b4 = Vector512.Create(B4);
        Vector512<float> q0 = Vector512.FusedMultiplyAdd(s0, b6, b4);
        Vector512<float> q1 = Vector512.FusedMultiplyAdd(s1, b6, b4);
        Vector512<float> q2 = Vector512.FusedMultiplyAdd(s2, b6, b4);
        Vector512<float> q3 = Vector512.FusedMultiplyAdd(s3, b6, b4);
        // The Horner steps written out: a loop over a span of the coefficients allocated an array per call in a Debug build.
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A9);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A7);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A5);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A3);
        HornerStep(s0, s1, s2, s3, ref p0, ref p1, ref p2, ref p3, A1);
        HornerStep(s0, s1, s2, s3, ref q0, ref q1, ref q2, ref q3, B2);
        HornerStep(s0, s1, s2, s3, ref q0, ref q1, ref q2, ref q3, B0);

        input = Vector512.FusedMultiplyAdd(half, Finish(x0, c0 * p0 / q0), half);
        forget = Vector512.FusedMultiplyAdd(half, Finish(x1, c1 * p1 / q1), half);
        candidate = Finish(x2, c2 * p2 / q2);
        output = Vector512.FusedMultiplyAdd(half, Finish(x3, c3 * p3 / q3), half);
    }

    /// <summary>y_k = s_k y_k + coefficient for four chains (one fused multiply-add each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HornerStep(
        Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3,
        ref Vector256<float> y0, ref Vector256<float> y1, ref Vector256<float> y2, ref Vector256<float> y3, float coefficient)
    {
        Vector256<float> c = Vector256.Create(coefficient);
        y0 = Vector256.FusedMultiplyAdd(s0, y0, c);
        y1 = Vector256.FusedMultiplyAdd(s1, y1, c);
        y2 = Vector256.FusedMultiplyAdd(s2, y2, c);
        y3 = Vector256.FusedMultiplyAdd(s3, y3, c);
    }

    /// <summary>y_k = s_k y_k + coefficient for four chains (one fused multiply-add each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HornerStep(
        Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3,
        ref Vector512<float> y0, ref Vector512<float> y1, ref Vector512<float> y2, ref Vector512<float> y3, float coefficient)
    {
        Vector512<float> c = Vector512.Create(coefficient);
        y0 = Vector512.FusedMultiplyAdd(s0, y0, c);
        y1 = Vector512.FusedMultiplyAdd(s1, y1, c);
        y2 = Vector512.FusedMultiplyAdd(s2, y2, c);
        y3 = Vector512.FusedMultiplyAdd(s3, y3, c);
    }

    /// <summary>The 512-bit <see cref="Finish(Vector256{float}, Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Finish(Vector512<float> x, Vector512<float> r)
    {
        r = Vector512.MinNative(Vector512.MaxNative(r, Vector512.Create(-1f)), Vector512.Create(1f));
        r = Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(IdentityBound)), x, r);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), r, x);
    }

    /// <summary>16 tanh at once, the same bits as <see cref="Tanh(float)"/> (for fused cell loops; needs <see cref="UseVector512"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> TanhVector(Vector512<float> x)
    {
        Vector512<float> clamped = Vector512.MinNative(Vector512.MaxNative(x, Vector512.Create(-ClampBound)), Vector512.Create(ClampBound));
        Vector512<float> x2 = clamped * clamped;
        Vector512<float> p = Vector512.FusedMultiplyAdd(x2, Vector512.Create(A13), Vector512.Create(A11));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A9));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A7));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A5));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A3));
        p = Vector512.FusedMultiplyAdd(x2, p, Vector512.Create(A1));
        p *= clamped;
        Vector512<float> q = Vector512.FusedMultiplyAdd(x2, Vector512.Create(B6), Vector512.Create(B4));
        q = Vector512.FusedMultiplyAdd(x2, q, Vector512.Create(B2));
        q = Vector512.FusedMultiplyAdd(x2, q, Vector512.Create(B0));
        Vector512<float> r = p / q;
        r = Vector512.MinNative(Vector512.MaxNative(r, Vector512.Create(-1f)), Vector512.Create(1f));
        r = Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Abs(x), Vector512.Create(IdentityBound)), x, r);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), r, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> TanhVector(Vector128<float> x)
    {
        Vector128<float> clamped = Vector128.MinNative(Vector128.MaxNative(x, Vector128.Create(-ClampBound)), Vector128.Create(ClampBound));
        Vector128<float> x2 = clamped * clamped;
        Vector128<float> p = Vector128.FusedMultiplyAdd(x2, Vector128.Create(A13), Vector128.Create(A11));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A9));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A7));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A5));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A3));
        p = Vector128.FusedMultiplyAdd(x2, p, Vector128.Create(A1));
        p *= clamped;
        Vector128<float> q = Vector128.FusedMultiplyAdd(x2, Vector128.Create(B6), Vector128.Create(B4));
        q = Vector128.FusedMultiplyAdd(x2, q, Vector128.Create(B2));
        q = Vector128.FusedMultiplyAdd(x2, q, Vector128.Create(B0));
        Vector128<float> r = p / q;
        r = Vector128.MinNative(Vector128.MaxNative(r, Vector128.Create(-1f)), Vector128.Create(1f));
        r = Vector128.ConditionalSelect(Vector128.LessThan(Vector128.Abs(x), Vector128.Create(IdentityBound)), x, r);
        return Vector128.ConditionalSelect(Vector128.Equals(x, x), r, x);
    }
}
