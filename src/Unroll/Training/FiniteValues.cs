using System.Numerics;
using System.Runtime.InteropServices;

namespace Unroll.Training;

/// <summary>Whether buffers hold only finite numbers, checked a vector at a time.</summary>
internal static class FiniteValues
{
    /// <summary>True when no value is NaN or infinite.</summary>
    public static bool All<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // x - x is 0 for every finite x and NaN for NaN and the infinities, so one subtraction and one
        // comparison test a whole vector.
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && values.Length >= Vector<T>.Count)
        {
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            foreach (var v in vectors)
            {
                if (!Vector.EqualsAll(v - v, Vector<T>.Zero))
                {
                    return false;
                }
            }

            i = vectors.Length * Vector<T>.Count;
        }

        for (; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
            {
                return false;
            }
        }

        return true;
    }
}
