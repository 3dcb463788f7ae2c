using System.Text;

namespace Unroll.Plots;

/// <summary>Text escaping shared by the SVG charts and the HTML pages that inline them.</summary>
public static class XmlText
{
    /// <summary>
    /// Escapes text for element content and single- or double-quoted attributes: the five markup
    /// characters become entities that HTML and XML both know, and characters XML 1.0 forbids
    /// (control characters, lone surrogates) become U+FFFD, so the output always parses.
    /// </summary>
    /// <param name="text">The text; null reads as empty.</param>
    /// <param name="keepLineBreaks">Keep tabs and line breaks (HTML text) instead of turning them into spaces (SVG labels).</param>
    public static string Escape(string? text, bool keepLineBreaks)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }
        var builder = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            switch (c)
            {
                case '&': builder.Append("&amp;"); break;
                case '<': builder.Append("&lt;"); break;
                case '>': builder.Append("&gt;"); break;
                case '"': builder.Append("&quot;"); break;
                case '\'': builder.Append("&#39;"); break;
                case '\t' or '\n' or '\r': builder.Append(keepLineBreaks ? c : ' '); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                    {
                        builder.Append(c).Append(text[i + 1]);
                        i++;
                    }
                    else if (c < ' ' || char.IsSurrogate(c) || c == '\uFFFE' || c == '\uFFFF')
                    {
                        builder.Append('\uFFFD');
                    }
                    else
                    {
                        builder.Append(c);
                    }
                    break;
            }
        }
        return builder.ToString();
    }
}
