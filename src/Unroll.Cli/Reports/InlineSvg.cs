using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace Unroll.Cli.Reports;

/// <summary>
/// Turns an SVG document into an element that can sit inside the report's HTML beside others:
/// ids are prefixed so two plots never share one (and every <c>url(#id)</c> and <c>href="#id"</c>
/// follows its target), and whatever could run code or reach outside the page is dropped
/// (scripts, event handlers, foreign objects, links and <c>url(...)</c> references that are not
/// fragments of the same SVG), so the report stays self-contained whatever SVG a run directory holds.
/// </summary>
internal static partial class InlineSvg
{
    /// <summary>The SVG namespace.</summary>
    public static readonly XNamespace Namespace = "http://www.w3.org/2000/svg";

    /// <summary>Parses, cleans and re-serialises <paramref name="svgText"/>, prefixing its ids with <paramref name="idPrefix"/>.</summary>
    /// <exception cref="XmlException">The text is not well-formed XML, or its root is not an SVG element.</exception>
    public static string Prepare(string svgText, string idPrefix)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null };
        XDocument document;
        using (var reader = XmlReader.Create(new StringReader(svgText), settings))
        {
            document = XDocument.Load(reader);
        }

        var root = document.Root;
        if (root is null || root.Name != Namespace + "svg")
        {
            throw new XmlException($"expected an <svg> root element in the SVG namespace, got <{root?.Name.LocalName}>.");
        }

        foreach (var unsafeElement in root.DescendantsAndSelf()
                     .Where(e => e.Name.LocalName is "script" or "foreignObject" or "iframe" or "object" or "embed").ToList())
        {
            unsafeElement.Remove();
        }

        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var element in root.DescendantsAndSelf())
        {
            if (element.Attribute("id") is { } id)
            {
                ids[id.Value] = idPrefix + id.Value;
            }
        }

        foreach (var element in root.DescendantsAndSelf())
        {
            foreach (var attribute in element.Attributes().ToList())
            {
                if (attribute.IsNamespaceDeclaration)
                {
                    continue;
                }

                string name = attribute.Name.LocalName;
                if (name.StartsWith("on", StringComparison.OrdinalIgnoreCase))
                {
                    attribute.Remove();
                }
                else if (name == "id" && attribute.Name.Namespace == XNamespace.None)
                {
                    attribute.Value = ids[attribute.Value];
                }
                else if (name == "href" || name == "src")
                {
                    string target = attribute.Value.Trim();
                    if (target.StartsWith('#') && ids.TryGetValue(target[1..], out var renamed))
                    {
                        attribute.Value = "#" + renamed;
                    }
                    else
                    {
                        attribute.Remove();
                    }
                }
                else
                {
                    attribute.Value = RewriteReferences(attribute.Value, ids);
                }
            }

            if (element.Name.LocalName == "style")
            {
                string css = ImportRule().Replace(element.Value, string.Empty);
                element.Value = RewriteReferences(css, ids);
            }
        }

        return root.ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>url(#id) follows the renamed id; any other url(...) (a file, a web address, a data URI) becomes none.</summary>
    private static string RewriteReferences(string text, Dictionary<string, string> ids)
    {
        if (!text.Contains("url(", StringComparison.OrdinalIgnoreCase))
        {
            return text;
        }

        return UrlReference().Replace(text, match =>
        {
            string target = match.Groups["target"].Value.Trim().Trim('\'', '"').Trim();
            return target.StartsWith('#') && ids.TryGetValue(target[1..], out var renamed) ? $"url(#{renamed})" : "none";
        });
    }

    [GeneratedRegex(@"url\((?<target>[^)]*)\)", RegexOptions.IgnoreCase)]
    private static partial Regex UrlReference();

    [GeneratedRegex(@"@import[^;]*;?", RegexOptions.IgnoreCase)]
    private static partial Regex ImportRule();
}
