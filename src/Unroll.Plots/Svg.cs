using System.Globalization;
using System.Text;

namespace Unroll.Plots;

/// <summary>Number formatting and text escaping shared by every SVG element the charts write.</summary>
internal static class Svg
{
    /// <summary>The SVG namespace URI of the root element.</summary>
    public const string Namespace = "http://www.w3.org/2000/svg";

    /// <summary>
    /// Formats a coordinate with at most two decimals in the invariant culture. Negative zero is
    /// folded to "0" so equal geometry always gives equal bytes; a non-finite value (which the
    /// renderer filters out before it gets here) is written as "0" rather than "NaN".
    /// </summary>
    public static string Num(double value)
    {
        if (!double.IsFinite(value))
        {
            return "0";
        }
        // Adding +0.0 turns -0.0 (e.g. from rounding -0.001) into +0.0.
        double rounded = Math.Round(value, 2, MidpointRounding.AwayFromZero) + 0.0;
        return rounded.ToString("0.##", CultureInfo.InvariantCulture);
    }

    /// <summary>Escapes text for element content and quoted attributes (see <see cref="XmlText.Escape"/>); line breaks become spaces.</summary>
    public static string Escape(string? text) => XmlText.Escape(text, keepLineBreaks: false);

    /// <summary>Rough rendered width of <paramref name="text"/> in a sans-serif font, used for layout.</summary>
    /// <remarks>0.6 em per character over-estimates the average Helvetica/Arial glyph (about 0.55 em),
    /// so labels sized with it do not collide.</remarks>
    public static double TextWidth(string? text, double fontSize) => (text?.Length ?? 0) * fontSize * 0.6;
}
