namespace Unroll.Plots;

/// <summary>How a series is drawn.</summary>
public enum SeriesKind
{
    /// <summary>A polyline through the points in order; non-finite points break it.</summary>
    Line,

    /// <summary>A small filled circle per point.</summary>
    Scatter,
}

/// <summary>One named set of points of a <see cref="Chart"/>. The coordinates are copied when added.</summary>
public sealed class ChartSeries
{
    internal ChartSeries(string name, double[] x, double[] y, SeriesKind kind, bool dashed, string color)
    {
        Name = name;
        X = x;
        Y = y;
        Kind = kind;
        Dashed = dashed;
        Color = color;
    }

    /// <summary>The name shown in the legend (an empty name gets no legend entry).</summary>
    public string Name { get; }

    /// <summary>Horizontal coordinates, one per point.</summary>
    public IReadOnlyList<double> X { get; }

    /// <summary>Vertical coordinates, one per point.</summary>
    public IReadOnlyList<double> Y { get; }

    /// <summary>Whether the series is a line or a scatter.</summary>
    public SeriesKind Kind { get; }

    /// <summary>Whether a line series is drawn dashed.</summary>
    public bool Dashed { get; }

    /// <summary>The stroke/fill colour as "#RRGGBB", taken from <see cref="Palette"/>.</summary>
    public string Color { get; }
}
