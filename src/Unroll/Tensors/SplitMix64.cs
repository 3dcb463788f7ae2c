namespace Unroll.Tensors;

/// <summary>
/// A small random-number generator whose whole state is one 64-bit word (SplitMix64, Steele,
/// Lea and Flood 2014), so a checkpoint can store it and a resumed run draws exactly the numbers
/// the uninterrupted run would have drawn. Used for the batch order and dropout masks.
/// </summary>
internal sealed class SplitMix64
{
    /// <summary>Starts the sequence for <paramref name="seed"/>.</summary>
    public SplitMix64(long seed) => State = unchecked((ulong)seed);

    /// <summary>The generator's whole state; assigning it resumes a sequence.</summary>
    public ulong State { get; set; }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        unchecked
        {
            ulong z = State += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform integer in [0, <paramref name="exclusiveMaximum"/>), without modulo bias.</summary>
    public int Next(int exclusiveMaximum)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(exclusiveMaximum);
        ulong range = (ulong)exclusiveMaximum;
        ulong limit = ulong.MaxValue - (ulong.MaxValue % range);
        ulong draw;
        do
        {
            draw = NextUInt64();
        }
        while (draw >= limit);

        return (int)(draw % range);
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<TItem>(Span<TItem> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
