namespace Unroll.Plots;

/// <summary>
/// A two-dimensional chart of line and scatter series that renders to a standalone SVG document.
/// </summary>
/// <remarks>
/// Rendering never throws for bad data: non-finite points are skipped (they break lines into
/// segments), non-positive values are skipped on a log axis, and a chart without any drawable
/// point renders a frame with the text "no data". The output depends only on the chart's
/// contents and the requested size, so equal charts give byte-identical SVG.
/// </remarks>
public sealed class Chart
{
    private readonly List<ChartSeries> _series = [];
    private readonly List<ReferenceShape> _references = [];

    /// <summary>Title drawn above the plot, or null for none.</summary>
    public string? Title { get; set; }

    /// <summary>Label of the horizontal axis, or null for none.</summary>
    public string? XLabel { get; set; }

    /// <summary>Label of the vertical axis, or null for none.</summary>
    public string? YLabel { get; set; }

    /// <summary>Whether the vertical axis is logarithmic (base 10); non-positive values are then skipped.</summary>
    public bool LogY { get; set; }

    /// <summary>
    /// Whether one unit spans the same number of pixels on both axes, as needed for points in
    /// the complex plane. The axis with the smaller extent is widened to fill the plot; when
    /// that axis has fixed bounds the plot area shrinks instead. Ignored when <see cref="LogY"/> is set.
    /// </summary>
    public bool EqualAspect { get; set; }

    /// <summary>Fixed lower bound of the horizontal axis, or null to fit the data.</summary>
    public double? XMin { get; set; }

    /// <summary>Fixed upper bound of the horizontal axis, or null to fit the data.</summary>
    public double? XMax { get; set; }

    /// <summary>Fixed lower bound of the vertical axis, or null to fit the data (must be positive when <see cref="LogY"/> is set).</summary>
    public double? YMin { get; set; }

    /// <summary>Fixed upper bound of the vertical axis, or null to fit the data.</summary>
    public double? YMax { get; set; }

    /// <summary>The series in the order they were added (which is also their colour order).</summary>
    public IReadOnlyList<ChartSeries> Series => _series;

    internal IReadOnlyList<ReferenceShape> References => _references;

    /// <summary>Adds a polyline through (x[i], y[i]); a non-finite point ends one segment and the next finite point starts another.</summary>
    /// <param name="name">Legend text.</param>
    /// <param name="x">Horizontal coordinates.</param>
    /// <param name="y">Vertical coordinates; must have as many entries as <paramref name="x"/>.</param>
    /// <param name="dashed">Draw the line dashed (e.g. for a validation curve next to a training curve).</param>
    /// <returns>This chart, for chaining.</returns>
    public Chart AddLine(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, bool dashed = false)
    {
        _series.Add(CreateSeries(name, x, y, SeriesKind.Line, dashed));
        return this;
    }

    /// <summary>Adds one small filled circle per point (x[i], y[i]); non-finite points are skipped.</summary>
    /// <param name="name">Legend text.</param>
    /// <param name="x">Horizontal coordinates.</param>
    /// <param name="y">Vertical coordinates; must have as many entries as <paramref name="x"/>.</param>
    /// <returns>This chart, for chaining.</returns>
    public Chart AddScatter(string name, IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        _series.Add(CreateSeries(name, x, y, SeriesKind.Scatter, dashed: false));
        return this;
    }

    /// <summary>
    /// Adds a grey dashed reference circle of radius <paramref name="radius"/> around
    /// (<paramref name="centerX"/>, <paramref name="centerY"/>), e.g. the unit circle under
    /// eigenvalues. It is included in the fitted axis ranges. Skipped on a log axis or when
    /// not finite and positive.
    /// </summary>
    /// <param name="centerX">Centre, horizontal coordinate.</param>
    /// <param name="centerY">Centre, vertical coordinate.</param>
    /// <param name="radius">Radius in data units.</param>
    /// <param name="label">Legend text, or null for no legend entry.</param>
    /// <returns>This chart, for chaining.</returns>
    public Chart AddCircle(double centerX, double centerY, double radius, string? label = null)
    {
        _references.Add(new ReferenceShape(ReferenceKind.Circle, centerX, centerY, radius, label));
        return this;
    }

    /// <summary>
    /// Adds a grey dashed horizontal reference line at height <paramref name="y"/> across the
    /// whole plot, e.g. a baseline loss. It is included in the fitted vertical range.
    /// </summary>
    /// <param name="y">Height in data units.</param>
    /// <param name="label">Legend text, or null for no legend entry.</param>
    /// <returns>This chart, for chaining.</returns>
    public Chart AddHorizontalLine(double y, string? label = null)
    {
        _references.Add(new ReferenceShape(ReferenceKind.HorizontalLine, 0, y, 0, label));
        return this;
    }

    /// <summary>Renders the chart as a standalone SVG document with inline presentation attributes.</summary>
    /// <param name="width">Width in pixels, at least 160.</param>
    /// <param name="height">Height in pixels, at least 120.</param>
    /// <returns>An <c>&lt;svg xmlns="http://www.w3.org/2000/svg"&gt;</c> element, also suitable for inlining in HTML.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The size is too small to lay out a chart.</exception>
    /// <exception cref="ArgumentException">Both bounds of an axis are fixed and not increasing, or a fixed log-axis bound is not positive.</exception>
    public string ToSvg(int width = 720, int height = 420)
    {
        if (width < 160)
        {
            throw new ArgumentOutOfRangeException(nameof(width), width, $"Chart width: expected at least 160 pixels, got {width}.");
        }
        if (height < 120)
        {
            throw new ArgumentOutOfRangeException(nameof(height), height, $"Chart height: expected at least 120 pixels, got {height}.");
        }
        ValidateBounds(XMin, XMax, "XMin", "XMax", log: false);
        ValidateBounds(YMin, YMax, "YMin", "YMax", LogY);
        return new ChartRenderer(this, width, height).Render();
    }

    private static void ValidateBounds(double? min, double? max, string minName, string maxName, bool log)
    {
        if (min is { } lo && (!double.IsFinite(lo) || (log && lo <= 0)))
        {
            throw new ArgumentException($"{minName}: expected a finite{(log ? " positive" : "")} number, got {lo}.", minName);
        }
        if (max is { } hi && (!double.IsFinite(hi) || (log && hi <= 0)))
        {
            throw new ArgumentException($"{maxName}: expected a finite{(log ? " positive" : "")} number, got {hi}.", maxName);
        }
        if (min is { } a && max is { } b && !(a < b))
        {
            throw new ArgumentException($"{minName}/{maxName}: expected {minName} < {maxName}, got {a} and {b}.", minName);
        }
    }

    private ChartSeries CreateSeries(string name, IReadOnlyList<double> x, IReadOnlyList<double> y, SeriesKind kind, bool dashed)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
        {
            throw new ArgumentException($"Series '{name}': expected as many y values as x values ({x.Count}), got {y.Count}.", nameof(y));
        }
        return new ChartSeries(name, [.. x], [.. y], kind, dashed, Palette.ColorAt(_series.Count));
    }
}

/// <summary>Kinds of grey reference shapes drawn under the series.</summary>
internal enum ReferenceKind
{
    Circle,
    HorizontalLine,
}

/// <summary>A reference circle (centre, radius) or horizontal line (at <see cref="Y"/>).</summary>
internal sealed record ReferenceShape(ReferenceKind Kind, double X, double Y, double Radius, string? Label);
