namespace Unroll.Cli.Reports;

/// <summary>Text encoding for the report's HTML, which is also well-formed XML.</summary>
internal static class Html
{
    /// <summary>
    /// Encodes text for element content and quoted attributes: the five markup characters become
    /// entities that HTML and XML both know, and characters XML 1.0 forbids (control characters,
    /// lone surrogates) become U+FFFD so the page always parses.
    /// </summary>
    public static string Encode(string? text) => Unroll.Plots.XmlText.Escape(text, keepLineBreaks: true);
}
