using System.Globalization;
using System.Text;

namespace Unroll.Plots;

/// <summary>Lays out and writes one <see cref="Chart"/> as SVG text.</summary>
internal sealed class ChartRenderer
{
    private const double TickFontSize = 12;
    private const double LabelFontSize = 13;
    private const double TitleFontSize = 15;
    private const double LegendRowHeight = 18;
    private const double LegendSampleWidth = 26;
    private const double ScatterRadius = 3;
    private const string FontFamily = "Helvetica, Arial, sans-serif";
    private const string ReferenceColor = "#666666";
    private const string ReferenceDash = "5 4";
    private const string SeriesDash = "7 4";

    private readonly Chart _chart;
    private readonly int _width;
    private readonly int _height;
    private readonly StringBuilder _svg = new();

    public ChartRenderer(Chart chart, int width, int height)
    {
        _chart = chart;
        _width = width;
        _height = height;
    }

    private enum LegendMark
    {
        Line,
        Dot,
        Ring,
    }

    private sealed record LegendEntry(string Label, string Color, LegendMark Mark, bool Dashed);

    public string Render()
    {
        bool logY = _chart.LogY;
        var xs = new List<double>();
        var ys = new List<double>();
        var probeX = new Axis(log: false, 0, 1);
        var probeY = new Axis(logY, 0, 1);
        foreach (ChartSeries series in _chart.Series)
        {
            for (int i = 0; i < series.X.Count; i++)
            {
                if (probeX.Accepts(series.X[i]) && probeY.Accepts(series.Y[i]))
                {
                    xs.Add(series.X[i]);
                    ys.Add(probeY.Transform(series.Y[i]));
                }
            }
        }
        if (xs.Count == 0)
        {
            return RenderNoData();
        }
        foreach (ReferenceShape shape in VisibleReferences())
        {
            if (shape.Kind == ReferenceKind.Circle)
            {
                xs.Add(shape.X - shape.Radius);
                xs.Add(shape.X + shape.Radius);
                ys.Add(shape.Y - shape.Radius);
                ys.Add(shape.Y + shape.Radius);
            }
            else
            {
                ys.Add(probeY.Transform(shape.Y));
            }
        }
        double? yMin = _chart.YMin is { } lo ? probeY.Transform(lo) : null;
        double? yMax = _chart.YMax is { } hi ? probeY.Transform(hi) : null;
        Axis? xAxis = Axis.Fit(xs, _chart.XMin, _chart.XMax, log: false);
        Axis? yAxis = Axis.Fit(ys, yMin, yMax, logY);
        if (xAxis is null || yAxis is null)
        {
            return RenderNoData();
        }
        return RenderPlot(xAxis, yAxis);
    }

    /// <summary>Reference shapes that can be drawn on this chart's axes.</summary>
    private IEnumerable<ReferenceShape> VisibleReferences()
    {
        foreach (ReferenceShape shape in _chart.References)
        {
            bool drawable = shape.Kind == ReferenceKind.Circle
                ? !_chart.LogY && double.IsFinite(shape.X) && double.IsFinite(shape.Y) && double.IsFinite(shape.Radius) && shape.Radius > 0
                : double.IsFinite(shape.Y) && (!_chart.LogY || shape.Y > 0);
            if (drawable)
            {
                yield return shape;
            }
        }
    }

    private List<LegendEntry> LegendEntries()
    {
        var entries = new List<LegendEntry>();
        foreach (ChartSeries series in _chart.Series)
        {
            if (series.Name.Length > 0)
            {
                entries.Add(new LegendEntry(series.Name, series.Color, series.Kind == SeriesKind.Line ? LegendMark.Line : LegendMark.Dot, series.Dashed));
            }
        }
        foreach (ReferenceShape shape in VisibleReferences())
        {
            if (!string.IsNullOrEmpty(shape.Label))
            {
                entries.Add(new LegendEntry(shape.Label, ReferenceColor, shape.Kind == ReferenceKind.Circle ? LegendMark.Ring : LegendMark.Line, Dashed: true));
            }
        }
        return entries;
    }

    private string RenderPlot(Axis xAxis, Axis yAxis)
    {
        // Vertical layout: title band, plot, tick labels, axis label, legend rows below (if any).
        double top = HasText(_chart.Title) ? 40 : 16;
        List<LegendEntry> legend = LegendEntries();
        double legendTextWidth = legend.Count == 0 ? 0 : legend.Max(e => Svg.TextWidth(e.Label, TickFontSize));
        double legendBoxWidth = legendTextWidth + LegendSampleWidth + 22;
        double legendBoxHeight = (legend.Count * LegendRowHeight) + 8;
        bool legendRight = legend.Count > 0 && legendBoxWidth <= 0.3 * _width && legendBoxHeight <= _height - top - 40;
        double right = legendRight ? legendBoxWidth + 26 : 20;
        List<List<LegendEntry>> legendRows = legend.Count > 0 && !legendRight ? FlowLegend(legend, _width - 32) : [];
        double bottom = 30 + (HasText(_chart.XLabel) ? 20 : 0) + (legendRows.Count > 0 ? (legendRows.Count * LegendRowHeight) + 10 : 0);
        double yLabelBand = HasText(_chart.YLabel) ? 22 : 0;

        double fittedXLow = xAxis.Low, fittedXHigh = xAxis.High, fittedYLow = yAxis.Low, fittedYHigh = yAxis.High;
        double left = 12 + yLabelBand + 30;
        PixelRect plot = default;
        List<Tick> yTicks = [];
        // The left margin depends on the y tick labels, which (with equal aspect) depend on the
        // plot width, which depends on the left margin: widen until the labels fit.
        for (int pass = 0; pass < 3; pass++)
        {
            xAxis.Low = fittedXLow;
            xAxis.High = fittedXHigh;
            yAxis.Low = fittedYLow;
            yAxis.High = fittedYHigh;
            plot = new PixelRect(left, top, Math.Max(20, _width - right - left), Math.Max(20, _height - bottom - top));
            if (_chart.EqualAspect && !_chart.LogY)
            {
                plot = EqualizeScales(xAxis, yAxis, plot);
            }
            yTicks = yAxis.Ticks((int)(plot.Height / 45));
            double labelWidth = yTicks.Count == 0 ? 0 : yTicks.Max(t => Svg.TextWidth(t.Label, TickFontSize));
            double needed = 12 + yLabelBand + labelWidth + 8;
            if (needed <= left)
            {
                break;
            }
            left = needed;
        }
        xAxis.PixelLow = plot.Left;
        xAxis.PixelHigh = plot.Right;
        yAxis.PixelLow = plot.Bottom;
        yAxis.PixelHigh = plot.Top;
        List<Tick> xTicks = FittingXTicks(xAxis, plot.Width);

        OpenRoot();
        WriteTitle();
        WriteGridAndTicks(plot, xAxis, yAxis, xTicks, yTicks);
        WriteAxisLabels(plot, yLabelBand);
        _svg.Append("<svg x=\"").Append(Svg.Num(plot.Left)).Append("\" y=\"").Append(Svg.Num(plot.Top))
            .Append("\" width=\"").Append(Svg.Num(plot.Width)).Append("\" height=\"").Append(Svg.Num(plot.Height))
            .Append("\" viewBox=\"").Append(Svg.Num(plot.Left)).Append(' ').Append(Svg.Num(plot.Top)).Append(' ')
            .Append(Svg.Num(plot.Width)).Append(' ').Append(Svg.Num(plot.Height)).Append("\" overflow=\"hidden\">\n");
        WriteReferences(plot, xAxis, yAxis);
        foreach (ChartSeries series in _chart.Series)
        {
            if (series.Kind == SeriesKind.Line)
            {
                WriteLine(series, plot, xAxis, yAxis);
            }
            else
            {
                WriteScatter(series, plot, xAxis, yAxis);
            }
        }
        _svg.Append("</svg>\n");
        _svg.Append("<rect x=\"").Append(Svg.Num(plot.Left)).Append("\" y=\"").Append(Svg.Num(plot.Top))
            .Append("\" width=\"").Append(Svg.Num(plot.Width)).Append("\" height=\"").Append(Svg.Num(plot.Height))
            .Append("\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1\"/>\n");
        if (legendRight)
        {
            WriteLegendBox(legend, _width - right + 14, top, legendBoxWidth);
        }
        else if (legendRows.Count > 0)
        {
            WriteLegendRows(legendRows, _height - (legendRows.Count * LegendRowHeight) - 6);
        }
        _svg.Append("</svg>\n");
        return _svg.ToString();
    }

    /// <summary>
    /// Makes one data unit span the same number of pixels on both axes: the axis with fewer
    /// units per pixel is widened about its centre, or, when its bounds are fixed, the plot
    /// area shrinks along it instead.
    /// </summary>
    private PixelRect EqualizeScales(Axis xAxis, Axis yAxis, PixelRect plot)
    {
        double xUnitsPerPixel = xAxis.Span / plot.Width, yUnitsPerPixel = yAxis.Span / plot.Height;
        bool xFixed = _chart.XMin is not null || _chart.XMax is not null;
        bool yFixed = _chart.YMin is not null || _chart.YMax is not null;
        if (xUnitsPerPixel > yUnitsPerPixel)
        {
            if (!yFixed)
            {
                double extra = (xUnitsPerPixel * plot.Height) - yAxis.Span;
                yAxis.Low -= extra / 2;
                yAxis.High += extra / 2;
            }
            else
            {
                double height = yAxis.Span / xUnitsPerPixel;
                plot = plot with { Top = plot.Top + ((plot.Height - height) / 2), Height = height };
            }
        }
        else if (yUnitsPerPixel > xUnitsPerPixel)
        {
            if (!xFixed)
            {
                double extra = (yUnitsPerPixel * plot.Width) - xAxis.Span;
                xAxis.Low -= extra / 2;
                xAxis.High += extra / 2;
            }
            else
            {
                double width = xAxis.Span / yUnitsPerPixel;
                plot = plot with { Left = plot.Left + ((plot.Width - width) / 2), Width = width };
            }
        }
        return plot;
    }

    /// <summary>As many x ticks as fit without their labels touching (about one per 70 px at most).</summary>
    private static List<Tick> FittingXTicks(Axis xAxis, double plotWidth)
    {
        List<Tick> ticks = [];
        for (int count = Math.Max(2, (int)(plotWidth / 70)); count >= 2; count--)
        {
            ticks = xAxis.Ticks(count);
            double needed = ticks.Sum(t => Svg.TextWidth(t.Label, TickFontSize) + 14);
            if (needed <= plotWidth)
            {
                break;
            }
        }
        return ticks;
    }

    private static List<List<LegendEntry>> FlowLegend(List<LegendEntry> legend, double available)
    {
        var rows = new List<List<LegendEntry>>();
        List<LegendEntry>? row = null;
        double used = 0;
        foreach (LegendEntry entry in legend)
        {
            double width = LegendItemWidth(entry);
            if (row is null || used + width > available)
            {
                row = [];
                rows.Add(row);
                used = 0;
            }
            row.Add(entry);
            used += width;
        }
        return rows;
    }

    private static double LegendItemWidth(LegendEntry entry) => LegendSampleWidth + 6 + Svg.TextWidth(entry.Label, TickFontSize) + 18;

    private static bool HasText(string? text) => !string.IsNullOrWhiteSpace(text);

    private void OpenRoot()
    {
        string w = _width.ToString(CultureInfo.InvariantCulture), h = _height.ToString(CultureInfo.InvariantCulture);
        _svg.Append("<svg xmlns=\"").Append(Svg.Namespace).Append("\" viewBox=\"0 0 ").Append(w).Append(' ').Append(h)
            .Append("\" width=\"").Append(w).Append("\" height=\"").Append(h)
            .Append("\" font-family=\"").Append(FontFamily).Append("\" font-size=\"").Append(Svg.Num(TickFontSize))
            .Append("\" role=\"img\">\n");
        if (HasText(_chart.Title))
        {
            _svg.Append("<title>").Append(Svg.Escape(_chart.Title)).Append("</title>\n");
        }
        _svg.Append("<rect width=\"").Append(w).Append("\" height=\"").Append(h).Append("\" fill=\"#ffffff\"/>\n");
    }

    private void WriteTitle()
    {
        if (HasText(_chart.Title))
        {
            _svg.Append("<text x=\"").Append(Svg.Num(_width / 2.0)).Append("\" y=\"25\" text-anchor=\"middle\" font-size=\"")
                .Append(Svg.Num(TitleFontSize)).Append("\" font-weight=\"600\" fill=\"#222222\">")
                .Append(Svg.Escape(_chart.Title)).Append("</text>\n");
        }
    }

    private void WriteGridAndTicks(PixelRect plot, Axis xAxis, Axis yAxis, List<Tick> xTicks, List<Tick> yTicks)
    {
        _svg.Append("<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n");
        foreach (Tick tick in xTicks)
        {
            string x = Svg.Num(xAxis.MapTransformed(tick.Position));
            _svg.Append("<line x1=\"").Append(x).Append("\" y1=\"").Append(Svg.Num(plot.Top)).Append("\" x2=\"").Append(x)
                .Append("\" y2=\"").Append(Svg.Num(plot.Bottom)).Append("\"/>\n");
        }
        foreach (Tick tick in yTicks)
        {
            string y = Svg.Num(yAxis.MapTransformed(tick.Position));
            _svg.Append("<line x1=\"").Append(Svg.Num(plot.Left)).Append("\" y1=\"").Append(y).Append("\" x2=\"")
                .Append(Svg.Num(plot.Right)).Append("\" y2=\"").Append(y).Append("\"/>\n");
        }
        _svg.Append("</g>\n<g fill=\"#444444\">\n");
        foreach (Tick tick in xTicks)
        {
            _svg.Append("<text x=\"").Append(Svg.Num(xAxis.MapTransformed(tick.Position))).Append("\" y=\"")
                .Append(Svg.Num(plot.Bottom + 17)).Append("\" text-anchor=\"middle\">").Append(Svg.Escape(tick.Label)).Append("</text>\n");
        }
        foreach (Tick tick in yTicks)
        {
            _svg.Append("<text x=\"").Append(Svg.Num(plot.Left - 6)).Append("\" y=\"")
                .Append(Svg.Num(yAxis.MapTransformed(tick.Position) + 4)).Append("\" text-anchor=\"end\">")
                .Append(Svg.Escape(tick.Label)).Append("</text>\n");
        }
        _svg.Append("</g>\n");
    }

    private void WriteAxisLabels(PixelRect plot, double yLabelBand)
    {
        if (HasText(_chart.XLabel))
        {
            _svg.Append("<text x=\"").Append(Svg.Num(plot.Left + (plot.Width / 2))).Append("\" y=\"").Append(Svg.Num(plot.Bottom + 38))
                .Append("\" text-anchor=\"middle\" font-size=\"").Append(Svg.Num(LabelFontSize)).Append("\" fill=\"#222222\">")
                .Append(Svg.Escape(_chart.XLabel)).Append("</text>\n");
        }
        if (HasText(_chart.YLabel))
        {
            string x = Svg.Num(12 + yLabelBand - 6), y = Svg.Num(plot.Top + (plot.Height / 2));
            _svg.Append("<text x=\"").Append(x).Append("\" y=\"").Append(y).Append("\" transform=\"rotate(-90 ").Append(x).Append(' ').Append(y)
                .Append(")\" text-anchor=\"middle\" font-size=\"").Append(Svg.Num(LabelFontSize)).Append("\" fill=\"#222222\">")
                .Append(Svg.Escape(_chart.YLabel)).Append("</text>\n");
        }
    }

    private void WriteReferences(PixelRect plot, Axis xAxis, Axis yAxis)
    {
        // Shapes whose pixel geometry is absurdly far out (tiny fixed ranges) are skipped to keep numbers short.
        const double Far = 1e6;
        foreach (ReferenceShape shape in VisibleReferences())
        {
            if (shape.Kind == ReferenceKind.Circle)
            {
                double cx = xAxis.Map(shape.X), cy = yAxis.Map(shape.Y);
                double rx = shape.Radius / xAxis.Span * plot.Width, ry = shape.Radius / yAxis.Span * plot.Height;
                if (Math.Abs(cx) < Far && Math.Abs(cy) < Far && rx < Far && ry < Far)
                {
                    _svg.Append("<ellipse cx=\"").Append(Svg.Num(cx)).Append("\" cy=\"").Append(Svg.Num(cy)).Append("\" rx=\"").Append(Svg.Num(rx))
                        .Append("\" ry=\"").Append(Svg.Num(ry)).Append("\" fill=\"none\" stroke=\"").Append(ReferenceColor)
                        .Append("\" stroke-width=\"1\" stroke-dasharray=\"").Append(ReferenceDash).Append("\"/>\n");
                }
            }
            else
            {
                double y = yAxis.Map(shape.Y);
                if (y >= plot.Top && y <= plot.Bottom)
                {
                    _svg.Append("<line x1=\"").Append(Svg.Num(plot.Left)).Append("\" y1=\"").Append(Svg.Num(y)).Append("\" x2=\"")
                        .Append(Svg.Num(plot.Right)).Append("\" y2=\"").Append(Svg.Num(y)).Append("\" stroke=\"").Append(ReferenceColor)
                        .Append("\" stroke-width=\"1\" stroke-dasharray=\"").Append(ReferenceDash).Append("\"/>\n");
                }
            }
        }
    }

    private void WriteLine(ChartSeries series, PixelRect plot, Axis xAxis, Axis yAxis)
    {
        _svg.Append("<g fill=\"none\" stroke=\"").Append(series.Color)
            .Append("\" stroke-width=\"1.8\" stroke-linejoin=\"round\" stroke-linecap=\"round\"");
        if (series.Dashed)
        {
            _svg.Append(" stroke-dasharray=\"").Append(SeriesDash).Append('"');
        }
        _svg.Append(">\n");
        var run = new List<PixelPoint>();
        for (int i = 0; i <= series.X.Count; i++)
        {
            bool drawable = false;
            if (i < series.X.Count && xAxis.Accepts(series.X[i]) && yAxis.Accepts(series.Y[i]))
            {
                var point = new PixelPoint(xAxis.Map(series.X[i]), yAxis.Map(series.Y[i]));
                drawable = double.IsFinite(point.X) && double.IsFinite(point.Y);
                if (drawable)
                {
                    run.Add(point);
                }
            }
            if (!drawable && run.Count > 0)
            {
                WriteRun(run, plot, series.Color);
                run.Clear();
            }
        }
        _svg.Append("</g>\n");
    }

    /// <summary>Writes one unbroken run of finite points: clipped polylines, or a dot for a lone point.</summary>
    private void WriteRun(List<PixelPoint> run, PixelRect plot, string color)
    {
        List<PixelPoint> points = run.Count > 4 * plot.Width ? Polylines.Thin(run) : run;
        foreach (List<PixelPoint> piece in Polylines.Clip(points, plot))
        {
            if (piece.Count == 1)
            {
                _svg.Append("<circle cx=\"").Append(Svg.Num(piece[0].X)).Append("\" cy=\"").Append(Svg.Num(piece[0].Y))
                    .Append("\" r=\"2.5\" fill=\"").Append(color).Append("\" stroke=\"none\"/>\n");
                continue;
            }
            _svg.Append("<polyline points=\"");
            for (int i = 0; i < piece.Count; i++)
            {
                if (i > 0)
                {
                    _svg.Append(' ');
                }
                _svg.Append(Svg.Num(piece[i].X)).Append(',').Append(Svg.Num(piece[i].Y));
            }
            _svg.Append("\"/>\n");
        }
    }

    private void WriteScatter(ChartSeries series, PixelRect plot, Axis xAxis, Axis yAxis)
    {
        _svg.Append("<g fill=\"").Append(series.Color).Append("\" fill-opacity=\"0.85\" stroke=\"none\">\n");
        string radius = Svg.Num(ScatterRadius);
        for (int i = 0; i < series.X.Count; i++)
        {
            if (!xAxis.Accepts(series.X[i]) || !yAxis.Accepts(series.Y[i]))
            {
                continue;
            }
            var point = new PixelPoint(xAxis.Map(series.X[i]), yAxis.Map(series.Y[i]));
            if (plot.Contains(point, ScatterRadius))
            {
                _svg.Append("<circle cx=\"").Append(Svg.Num(point.X)).Append("\" cy=\"").Append(Svg.Num(point.Y))
                    .Append("\" r=\"").Append(radius).Append("\"/>\n");
            }
        }
        _svg.Append("</g>\n");
    }

    private void WriteLegendBox(List<LegendEntry> legend, double x, double y, double width)
    {
        _svg.Append("<g>\n<rect x=\"").Append(Svg.Num(x)).Append("\" y=\"").Append(Svg.Num(y)).Append("\" width=\"").Append(Svg.Num(width))
            .Append("\" height=\"").Append(Svg.Num((legend.Count * LegendRowHeight) + 8))
            .Append("\" rx=\"3\" fill=\"#ffffff\" stroke=\"#cccccc\" stroke-width=\"1\"/>\n");
        for (int i = 0; i < legend.Count; i++)
        {
            WriteLegendItem(legend[i], x + 8, y + 4 + (LegendRowHeight / 2) + (i * LegendRowHeight));
        }
        _svg.Append("</g>\n");
    }

    private void WriteLegendRows(List<List<LegendEntry>> rows, double top)
    {
        _svg.Append("<g>\n");
        for (int r = 0; r < rows.Count; r++)
        {
            double x = 16, centerY = top + (LegendRowHeight / 2) + (r * LegendRowHeight);
            foreach (LegendEntry entry in rows[r])
            {
                WriteLegendItem(entry, x, centerY);
                x += LegendItemWidth(entry);
            }
        }
        _svg.Append("</g>\n");
    }

    /// <summary>A sample mark (line, dot or ring) in the entry's colour followed by its label, centred on <paramref name="centerY"/>.</summary>
    private void WriteLegendItem(LegendEntry entry, double x, double centerY)
    {
        string cy = Svg.Num(centerY);
        switch (entry.Mark)
        {
            case LegendMark.Line:
                _svg.Append("<line x1=\"").Append(Svg.Num(x)).Append("\" y1=\"").Append(cy).Append("\" x2=\"").Append(Svg.Num(x + LegendSampleWidth))
                    .Append("\" y2=\"").Append(cy).Append("\" stroke=\"").Append(entry.Color).Append("\" stroke-width=\"")
                    .Append(entry.Color == ReferenceColor ? "1" : "1.8").Append('"');
                if (entry.Dashed)
                {
                    _svg.Append(" stroke-dasharray=\"").Append(entry.Color == ReferenceColor ? ReferenceDash : SeriesDash).Append('"');
                }
                _svg.Append("/>\n");
                break;
            case LegendMark.Dot:
                _svg.Append("<circle cx=\"").Append(Svg.Num(x + (LegendSampleWidth / 2))).Append("\" cy=\"").Append(cy).Append("\" r=\"")
                    .Append(Svg.Num(ScatterRadius + 0.5)).Append("\" fill=\"").Append(entry.Color).Append("\"/>\n");
                break;
            default:
                _svg.Append("<circle cx=\"").Append(Svg.Num(x + (LegendSampleWidth / 2))).Append("\" cy=\"").Append(cy)
                    .Append("\" r=\"6\" fill=\"none\" stroke=\"").Append(entry.Color).Append("\" stroke-width=\"1\" stroke-dasharray=\"3 2\"/>\n");
                break;
        }
        _svg.Append("<text x=\"").Append(Svg.Num(x + LegendSampleWidth + 6)).Append("\" y=\"").Append(Svg.Num(centerY + 4))
            .Append("\" fill=\"#222222\">").Append(Svg.Escape(entry.Label)).Append("</text>\n");
    }

    /// <summary>A framed empty plot with the title and a centred "no data" notice.</summary>
    private string RenderNoData()
    {
        double top = HasText(_chart.Title) ? 40 : 16;
        var plot = new PixelRect(20, top, _width - 40, _height - top - 20);
        OpenRoot();
        WriteTitle();
        _svg.Append("<rect x=\"").Append(Svg.Num(plot.Left)).Append("\" y=\"").Append(Svg.Num(plot.Top))
            .Append("\" width=\"").Append(Svg.Num(plot.Width)).Append("\" height=\"").Append(Svg.Num(plot.Height))
            .Append("\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1\"/>\n");
        _svg.Append("<text x=\"").Append(Svg.Num(plot.Left + (plot.Width / 2))).Append("\" y=\"").Append(Svg.Num(plot.Top + (plot.Height / 2)))
            .Append("\" text-anchor=\"middle\" font-size=\"").Append(Svg.Num(LabelFontSize)).Append("\" fill=\"#888888\">no data</text>\n");
        _svg.Append("</svg>\n");
        return _svg.ToString();
    }
}
