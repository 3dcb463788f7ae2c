using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Unroll.Plots;

namespace Unroll.Tests;

public class PlotsTests
{
    private static readonly XNamespace Ns = "http://www.w3.org/2000/svg";

    private static XElement Parse(string svg)
    {
        XElement root = XDocument.Parse(svg).Root!;
        Assert.Equal(Ns + "svg", root.Name);
        return root;
    }

    private static double Attr(XElement element, string name) =>
        double.Parse(element.Attribute(name)!.Value, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>The nested &lt;svg&gt; that holds (and clips) the data, with its pixel rectangle.</summary>
    private static (XElement Element, double Left, double Top, double Right, double Bottom) PlotArea(XElement root)
    {
        XElement plot = Assert.Single(root.Elements(Ns + "svg"));
        double left = Attr(plot, "x"), top = Attr(plot, "y");
        return (plot, left, top, left + Attr(plot, "width"), top + Attr(plot, "height"));
    }

    private static List<(double X, double Y)> Points(XElement polyline) =>
        polyline.Attribute("points")!.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split(','))
            .Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>Centres of the scatter circles of the series drawn in <paramref name="color"/>.</summary>
    private static List<(double X, double Y)> ScatterCenters(XElement root, string color) =>
        PlotArea(root).Element.Elements(Ns + "g")
            .Where(g => (string?)g.Attribute("fill") == color)
            .SelectMany(g => g.Elements(Ns + "circle"))
            .Select(c => (Attr(c, "cx"), Attr(c, "cy")))
            .ToList();

    private static List<XElement> Polylines(XElement root) => root.Descendants(Ns + "polyline").ToList();

    private static double[] Range(int n) => Enumerable.Range(0, n).Select(i => (double)i).ToArray();

    [Fact]
    public void OutputIsStandaloneSvgWithViewBox()
    {
        var chart = new Chart { Title = "t" }.AddLine("a", [0, 1, 2], [1, 3, 2]);
        string svg = chart.ToSvg(640, 300);
        XElement root = Parse(svg);
        Assert.Equal("0 0 640 300", root.Attribute("viewBox")!.Value);
        Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("<style", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void EachFiniteSegmentBecomesOnePolyline()
    {
        double[] y = [1, 2, 3, double.NaN, 5, 6, 7, double.PositiveInfinity, 9, 10];
        XElement root = Parse(new Chart().AddLine("a", Range(10), y).ToSvg());
        List<XElement> lines = Polylines(root);
        Assert.Equal(3, lines.Count);
        Assert.Equal([3, 3, 2], lines.Select(l => Points(l).Count));
    }

    [Fact]
    public void NaNInTheMiddleSplitsALineInTwo()
    {
        double[] x = Range(8);
        double[] y = [0, 1, 4, 9, double.NaN, 25, 36, 49];
        XElement root = Parse(new Chart().AddLine("squares", x, y).ToSvg());
        List<XElement> lines = Polylines(root);
        Assert.Equal(2, lines.Count);
        // The gap must be where the NaN is: the first piece ends left of where the second starts.
        Assert.True(Points(lines[0])[^1].X < Points(lines[1])[0].X);
        Assert.Equal(4, Points(lines[0]).Count);
        Assert.Equal(3, Points(lines[1]).Count);
    }

    [Fact]
    public void LegendContainsEverySeriesAndReferenceLabel()
    {
        var chart = new Chart()
            .AddLine("train loss", [0, 1], [1, 0.5])
            .AddLine("validation loss", [0, 1], [1.1, 0.6], dashed: true)
            .AddScatter("checkpoints", [0.5], [0.7])
            .AddHorizontalLine(0.55, "baseline");
        XElement root = Parse(chart.ToSvg());
        var texts = root.Descendants(Ns + "text").Select(t => t.Value).ToHashSet();
        Assert.Contains("train loss", texts);
        Assert.Contains("validation loss", texts);
        Assert.Contains("checkpoints", texts);
        Assert.Contains("baseline", texts);
    }

    [Fact]
    public void SeriesTakePaletteColoursInOrder()
    {
        var chart = new Chart().AddLine("a", [0, 1], [0, 1]).AddScatter("b", [0], [0]).AddLine("c", [0, 1], [1, 0]);
        Assert.Equal(Palette.Colors.Take(3), chart.Series.Select(s => s.Color));
        Assert.Equal(3, Palette.Colors.Take(3).Distinct().Count());
    }

    [Fact]
    public void TextIsXmlEscaped()
    {
        const string Nasty = "a<b & \"c\" 'd' >e";
        var chart = new Chart { Title = Nasty, XLabel = Nasty + "x", YLabel = Nasty + "y" }.AddLine(Nasty + "s", [0, 1], [0, 1]);
        string svg = chart.ToSvg();
        XElement root = Parse(svg);
        var texts = root.Descendants(Ns + "text").Select(t => t.Value).ToList();
        Assert.Contains(Nasty, texts);
        Assert.Contains(Nasty + "x", texts);
        Assert.Contains(Nasty + "y", texts);
        Assert.Contains(Nasty + "s", texts);
        Assert.DoesNotContain("a<b", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("& ", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void ControlCharactersDoNotBreakTheXml()
    {
        var chart = new Chart { Title = "bell\u0007 and lone \uD800 surrogate" }.AddLine("x\u0001", [0, 1], [0, 1]);
        Parse(chart.ToSvg());
    }

    [Fact]
    public void LogAxisSpacesDecadesEqually()
    {
        var chart = new Chart { LogY = true }.AddScatter("p", [0, 1, 2], [1, 10, 100]);
        XElement root = Parse(chart.ToSvg());
        var centers = ScatterCenters(root, chart.Series[0].Color);
        Assert.Equal(3, centers.Count);
        double lowerGap = centers[0].Y - centers[1].Y, upperGap = centers[1].Y - centers[2].Y;
        Assert.True(lowerGap > 20, $"10 should sit well above 1 (gap {lowerGap})");
        Assert.Equal(lowerGap, upperGap, 0.02);

        // Tick labels 1, 10, 100 sit at the same heights as the points (labels are drawn 4 px below the tick).
        var labels = root.Descendants(Ns + "text").Where(t => t.Value is "1" or "10" or "100")
            .ToDictionary(t => t.Value, t => Attr(t, "y") - 4);
        Assert.Equal(centers[0].Y, labels["1"], 0.02);
        Assert.Equal(centers[1].Y, labels["10"], 0.02);
        Assert.Equal(centers[2].Y, labels["100"], 0.02);
    }

    [Fact]
    public void LogAxisSkipsNonPositiveValues()
    {
        var chart = new Chart { LogY = true }.AddLine("a", Range(5), [1, 0, -1, 10, 100]);
        string svg = chart.ToSvg();
        XElement root = Parse(svg);
        XElement line = Assert.Single(Polylines(root));
        Assert.Equal(2, Points(line).Count);
        Assert.DoesNotContain("NaN", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void MappingIsLinearAndKeepsExtremesInsideThePlot()
    {
        var random = new Random(7);
        double[] x = Enumerable.Range(0, 50).Select(i => (i * 0.37) - 4).ToArray();
        double[] y = x.Select(_ => (random.NextDouble() * 200) - 50).ToArray();
        XElement root = Parse(new Chart().AddLine("r", x, y).ToSvg());
        var (_, left, top, right, bottom) = PlotArea(root);
        List<(double X, double Y)> points = Points(Assert.Single(Polylines(root)));
        Assert.Equal(x.Length, points.Count);
        foreach (var (px, py) in points)
        {
            Assert.InRange(px, left, right);
            Assert.InRange(py, top, bottom);
        }
        // The extremes use most of the plot (padding is a few percent), i.e. the fit is not degenerate.
        Assert.True(points.Max(p => p.X) - points.Min(p => p.X) > 0.85 * (right - left));
        Assert.True(points.Max(p => p.Y) - points.Min(p => p.Y) > 0.85 * (bottom - top));

        // Pixel = a + b * value on each axis (y flipped): check every point against the line through two of them.
        int iMin = Array.IndexOf(y, y.Min()), iMax = Array.IndexOf(y, y.Max());
        double bx = (points[^1].X - points[0].X) / (x[^1] - x[0]);
        double by = (points[iMax].Y - points[iMin].Y) / (y[iMax] - y[iMin]);
        Assert.True(by < 0, "larger values must be drawn higher");
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(points[0].X + (bx * (x[i] - x[0])), points[i].X, 0.02);
            Assert.Equal(points[iMin].Y + (by * (y[i] - y[iMin])), points[i].Y, 0.02);
        }
    }

    [Fact]
    public void FixedRangesClipTheDataToThePlot()
    {
        double[] x = Range(21);
        double[] y = x.Select(v => Math.Sin(v) * 1e6).ToArray();
        var chart = new Chart { XMin = 2, XMax = 8, YMin = -1, YMax = 1 }.AddLine("a", x, y).AddScatter("b", x, y);
        string svg = chart.ToSvg();
        XElement root = Parse(svg);
        var (_, left, top, right, bottom) = PlotArea(root);
        List<XElement> lines = Polylines(root);
        Assert.NotEmpty(lines);
        foreach (var (px, py) in lines.SelectMany(Points))
        {
            Assert.InRange(px, left - 0.01, right + 0.01);
            Assert.InRange(py, top - 0.01, bottom + 0.01);
        }
        // For integers 2..8, |sin x| >= sin 3 > 0.14, so every y is beyond +-1: no scatter point is visible.
        Assert.Empty(ScatterCenters(root, chart.Series[1].Color));
    }

    public static TheoryData<string, Chart, bool> DegenerateCharts() => new()
    {
        { "empty", new Chart(), true },
        { "empty with title and labels", new Chart { Title = "T", XLabel = "x", YLabel = "y", LogY = true }, true },
        { "series without points", new Chart().AddLine("a", [], []), true },
        { "one point line", new Chart().AddLine("a", [3], [4]), false },
        { "one point scatter", new Chart().AddScatter("a", [3], [4]), false },
        { "one point log", new Chart { LogY = true }.AddLine("a", [3], [4]), false },
        { "all equal", new Chart().AddLine("a", [1, 1, 1], [2, 2, 2]), false },
        { "all zero", new Chart { EqualAspect = true }.AddScatter("a", [0, 0], [0, 0]), false },
        { "all NaN", new Chart().AddLine("a", [double.NaN, double.NaN], [double.NaN, double.NaN]), true },
        { "all infinite", new Chart().AddScatter("a", [double.PositiveInfinity], [double.NegativeInfinity]), true },
        { "log of non-positive", new Chart { LogY = true }.AddLine("a", [1, 2], [0, -3]), true },
        { "extreme magnitudes", new Chart().AddLine("a", [-double.MaxValue, double.MaxValue], [double.MaxValue, -double.MaxValue]), true },
        { "tiny span", new Chart().AddLine("a", [0, 1e-300], [1, 1 + 1e-15]), false },
        { "circle only", new Chart().AddCircle(0, 0, 1, "unit"), true },
    };

    [Theory]
    [MemberData(nameof(DegenerateCharts))]
    public void DegenerateInputGivesValidSvgWithoutNaN(string name, Chart chart, bool expectNoData)
    {
        string svg = chart.ToSvg();
        XElement root = Parse(svg);
        Assert.DoesNotContain("NaN", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("Infinity", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("∞", svg, StringComparison.Ordinal);
        bool saysNoData = root.Descendants(Ns + "text").Any(t => t.Value == "no data");
        Assert.True(expectNoData == saysNoData, $"{name}: expected 'no data' = {expectNoData}");
        if (!expectNoData)
        {
            Assert.NotEmpty(root.Descendants(Ns + "polyline").Concat(root.Descendants(Ns + "circle")));
        }
    }

    [Fact]
    public void OnePointIsDrawnInsideThePlot()
    {
        var chart = new Chart().AddLine("a", [3], [4]);
        XElement root = Parse(chart.ToSvg());
        var (plot, left, top, right, bottom) = PlotArea(root);
        XElement dot = Assert.Single(plot.Descendants(Ns + "circle"));
        Assert.InRange(Attr(dot, "cx"), left, right);
        Assert.InRange(Attr(dot, "cy"), top, bottom);
    }

    private static Chart SampleChart()
    {
        double[] x = Enumerable.Range(0, 200).Select(i => i * 0.05).ToArray();
        return new Chart { Title = "loss", XLabel = "step", YLabel = "mse", LogY = true }
            .AddLine("train", x, x.Select(v => Math.Exp(-v) + 1e-3).ToArray())
            .AddLine("valid", x, x.Select(v => (1.2 * Math.Exp(-v)) + 2e-3).ToArray(), dashed: true)
            .AddHorizontalLine(0.01, "baseline");
    }

    [Fact]
    public void OutputIsDeterministicAndCultureIndependent()
    {
        string first = SampleChart().ToSvg();
        Assert.Equal(first, SampleChart().ToSvg());
        Chart chart = SampleChart();
        Assert.Equal(chart.ToSvg(), chart.ToSvg());

        CultureInfo saved = CultureInfo.CurrentCulture;
        var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        comma.NumberFormat.NumberDecimalSeparator = ",";
        comma.NumberFormat.NegativeSign = "~";
        try
        {
            CultureInfo.CurrentCulture = comma;
            Assert.Equal(first, SampleChart().ToSvg());
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void AttributeNumbersHaveAtMostTwoDecimals()
    {
        var random = new Random(3);
        double[] x = Enumerable.Range(0, 100).Select(_ => random.NextDouble() / 3).ToArray();
        double[] y = x.Select(_ => random.NextDouble() * 1e-3).ToArray();
        XElement root = Parse(new Chart { EqualAspect = true }.AddScatter("s", x, y).AddCircle(0.1, 0, 0.05, "c").ToSvg());
        var longDecimal = new Regex(@"\d\.\d{3}");
        foreach (XAttribute attribute in root.DescendantsAndSelf().SelectMany(e => e.Attributes()))
        {
            Assert.False(longDecimal.IsMatch(attribute.Value), $"{attribute.Name}=\"{attribute.Value}\"");
        }
    }

    [Theory]
    [InlineData(4.0, 0.5)]
    [InlineData(0.2, 4.0)]
    public void EqualAspectUsesTheSameScaleOnBothAxes(double xExtent, double yExtent)
    {
        var chart = new Chart { EqualAspect = true }
            .AddScatter("p", [-xExtent / 2, xExtent / 2, 0], [-yExtent / 2, yExtent / 2, 0])
            .AddCircle(0, 0, 0.1, "circle");
        XElement root = Parse(chart.ToSvg());
        var c = ScatterCenters(root, chart.Series[0].Color);
        Assert.Equal(3, c.Count);
        double xPixelsPerUnit = (c[1].X - c[0].X) / xExtent;
        double yPixelsPerUnit = (c[0].Y - c[1].Y) / yExtent;
        Assert.True(xPixelsPerUnit > 0);
        Assert.Equal(1.0, yPixelsPerUnit / xPixelsPerUnit, 0.01);
        XElement circle = Assert.Single(root.Descendants(Ns + "ellipse"));
        Assert.Equal(Attr(circle, "rx"), Attr(circle, "ry"), 0.011);
    }

    [Fact]
    public void EqualAspectWithFixedRangesShrinksThePlotInstead()
    {
        var chart = new Chart { EqualAspect = true, XMin = -1, XMax = 1, YMin = -1, YMax = 1 }.AddScatter("p", [-1, 1], [-1, 1]);
        XElement root = Parse(chart.ToSvg(720, 420));
        var (_, left, top, right, bottom) = PlotArea(root);
        Assert.Equal(right - left, bottom - top, 0.02);
    }

    [Fact]
    public void DenseLinesAreThinnedWithoutLeavingThePlot()
    {
        double[] x = Range(100_000);
        double[] y = x.Select(v => Math.Sin(v / 1000)).ToArray();
        string svg = new Chart().AddLine("dense", x, y).ToSvg();
        XElement root = Parse(svg);
        var points = Points(Assert.Single(Polylines(root)));
        Assert.True(points.Count < 5_000, $"{points.Count} points");
        var (_, left, top, right, bottom) = PlotArea(root);
        Assert.All(points, p => Assert.True(p.X >= left && p.X <= right && p.Y >= top && p.Y <= bottom));
        // Thinning keeps each column's extremes, so the wave still spans (almost) the full height.
        Assert.True(points.Max(p => p.Y) - points.Min(p => p.Y) > 0.9 * (bottom - top));
    }

    [Fact]
    public void LinearTicksAreNiceAndInsideTheRange()
    {
        foreach (var (low, high) in new[] { (0.0, 1.0), (-3.7, 12.2), (0.001, 0.0047), (1e6, 3.5e6), (-1e-7, 1e-7), (99.0, 101.0) })
        {
            List<Tick> ticks = new Axis(log: false, low, high).Ticks(6);
            Assert.InRange(ticks.Count, 2, 12);
            Assert.All(ticks, t => Assert.InRange(t.Position, low, high));
            double step = ticks[1].Position - ticks[0].Position;
            double mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
            Assert.Contains(Math.Round(mantissa, 6), new[] { 1.0, 2.0, 5.0 });
            // Distinct labels that parse back to the tick values.
            Assert.Equal(ticks.Count, ticks.Select(t => t.Label).Distinct().Count());
            Assert.All(ticks, t => Assert.Equal(t.Position, double.Parse(t.Label, CultureInfo.InvariantCulture), Math.Abs(step) * 1e-6));
        }
    }

    [Fact]
    public void TickLabelsAreShort()
    {
        Assert.Equal(["0", "0.2", "0.4"], new Axis(false, 0, 0.45).Ticks(3).Select(t => t.Label));
        Assert.Equal(["0.001", "0.01", "0.1", "1", "10"], new Axis(true, -3.2, 1.1).Ticks(8).Select(t => t.Label));
        // An axis that needs exponents uses them for every label rather than mixing styles.
        Assert.Equal(["1e-06", "1e-04", "1e-02", "1e+00"], new Axis(true, -6.2, 0.1).Ticks(4).Select(t => t.Label));
        Assert.Equal(["0.2", "0.5", "1", "2"], new Axis(true, Math.Log10(0.15), Math.Log10(2.5)).Ticks(8).Select(t => t.Label));
    }

    [Fact]
    public void ClippingSplitsAPolylineThatLeavesTheRectangle()
    {
        var rect = new PixelRect(0, 0, 10, 10);
        List<PixelPoint> path = [new(2, 5), new(20, 5), new(8, 8)];
        List<List<PixelPoint>> pieces = Unroll.Plots.Polylines.Clip(path, rect);
        Assert.Equal(2, pieces.Count);
        Assert.Equal([new PixelPoint(2, 5), new PixelPoint(10, 5)], pieces[0]);
        // From (20,5) to (8,8): x = 10 at t = 10/12, y = 5 + 3 * 10/12 = 7.5.
        Assert.Equal(10, pieces[1][0].X, 1e-9);
        Assert.Equal(7.5, pieces[1][0].Y, 1e-9);
        Assert.Equal(new PixelPoint(8, 8), pieces[1][1]);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => new Chart().AddLine("a", [1, 2], [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Chart().ToSvg(10, 10));
        Assert.Throws<ArgumentException>(() => new Chart { XMin = 2, XMax = 1 }.ToSvg());
        Assert.Throws<ArgumentException>(() => new Chart { LogY = true, YMin = 0 }.ToSvg());
    }
}
