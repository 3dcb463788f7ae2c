using System.Numerics;
using Unroll.Kernels;

namespace Unroll.Training;

/// <summary>The two clipping rules of the notes, over the flat gradient buffer.</summary>
internal static class GradientClipping
{
    /// <summary>
    /// The global L2 norm ||g||_2 of all gradients, accumulated in double over fixed chunks added in order
    /// (vectorised and split over the kernel threads; the same value for any thread count).
    /// </summary>
    public static double GlobalNorm<T>(ReadOnlySpan<T> gradients)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Math.Sqrt(ParallelReductions.SumOfSquares(gradients));

    /// <summary>
    /// Applies the clipping a run asks for: rescale towards <paramref name="clipNorm"/> when the global
    /// <paramref name="norm"/> exceeds it (<see cref="ClipByNorm{T}"/>), then clamp every component to [-clipValue, clipValue].
    /// </summary>
    /// <returns>True when either changed the gradient.</returns>
    public static bool Apply<T>(Span<T> gradients, double norm, double? clipNorm, double? clipValue)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        bool clipped = false;
        if (clipNorm is { } threshold)
        {
            clipped |= ClipByNorm(gradients, norm, threshold);
        }

        if (clipValue is { } limit)
        {
            clipped |= ClipByValue(gradients, limit);
        }

        return clipped;
    }

    /// <summary>
    /// Clipping by norm (Pascanu, Mikolov and Bengio 2013) exactly as torch.nn.utils.clip_grad_norm_:
    /// with c = threshold / (||g||_2 + 1e-6), the gradients are scaled by c when c &lt; 1 and left as they
    /// are otherwise (torch multiplies by min(c, 1)). The 1e-6 guards a zero norm; it also makes a norm a
    /// hair above the threshold come out a hair below it, as in torch. Returns whether the gradients were rescaled.
    /// </summary>
    /// <param name="gradients">The gradients, rescaled in place.</param>
    /// <param name="norm">Their global norm before clipping (from <see cref="GlobalNorm{T}"/>).</param>
    /// <param name="threshold">The largest norm let through (torch's max_norm), &gt; 0.</param>
    public static bool ClipByNorm<T>(Span<T> gradients, double norm, double threshold)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double coefficient = threshold / (norm + 1e-6);
        if (!(coefficient < 1))
        {
            return false;
        }

        ParallelReductions.Scale(gradients, T.CreateChecked(coefficient));
        return true;
    }

    /// <summary>
    /// Clipping by value: every component clamped to [-limit, limit] (the notes' g &lt;- min(g, 100),
    /// applied symmetrically as torch.nn.utils.clip_grad_value_). Returns whether any component changed.
    /// </summary>
    public static bool ClipByValue<T>(Span<T> gradients, double limit)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T upper = T.CreateChecked(limit);
        return ParallelReductions.Clamp(gradients, -upper, upper);
    }
}
