namespace Unroll.Plots;

/// <summary>The colours given to series in the order they are added.</summary>
/// <remarks>
/// Okabe and Ito's colour-blind-safe palette (Okabe &amp; Ito 2008, "Color Universal Design"),
/// without its yellow, which is too faint on white. Series beyond the last colour start again
/// from the first.
/// </remarks>
public static class Palette
{
    /// <summary>Hex colours: blue, vermillion, bluish green, reddish purple, orange, sky blue, black.</summary>
    public static IReadOnlyList<string> Colors { get; } =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

    /// <summary>The colour of the series at zero-based position <paramref name="index"/>.</summary>
    public static string ColorAt(int index) => Colors[((index % Colors.Count) + Colors.Count) % Colors.Count];
}
