namespace Unroll.Plots;

/// <summary>A point in pixel space.</summary>
internal readonly record struct PixelPoint(double X, double Y);

/// <summary>An axis-aligned rectangle in pixel space (y grows downwards).</summary>
internal readonly record struct PixelRect(double Left, double Top, double Width, double Height)
{
    public double Right => Left + Width;

    public double Bottom => Top + Height;

    public bool Contains(PixelPoint p, double tolerance = 0) =>
        p.X >= Left - tolerance && p.X <= Right + tolerance && p.Y >= Top - tolerance && p.Y <= Bottom + tolerance;
}

/// <summary>Geometry on pixel polylines: clipping to the plot area and thinning dense runs.</summary>
internal static class Polylines
{
    /// <summary>
    /// Clips a polyline to <paramref name="rect"/> segment by segment (Liang-Barsky), returning
    /// the visible pieces. A piece continues while consecutive segments stay inside; leaving the
    /// rectangle ends it. This keeps coordinates bounded even for points far outside a fixed range.
    /// </summary>
    public static List<List<PixelPoint>> Clip(IReadOnlyList<PixelPoint> points, PixelRect rect)
    {
        var pieces = new List<List<PixelPoint>>();
        if (points.Count == 1)
        {
            if (rect.Contains(points[0]))
            {
                pieces.Add([points[0]]);
            }
            return pieces;
        }
        List<PixelPoint>? current = null;
        for (int i = 0; i + 1 < points.Count; i++)
        {
            PixelPoint p = points[i], q = points[i + 1];
            if (!ClipSegment(p, q, rect, out double t0, out double t1))
            {
                current = null;
                continue;
            }
            PixelPoint a = t0 == 0 ? p : Lerp(p, q, t0);
            PixelPoint b = t1 == 1 ? q : Lerp(p, q, t1);
            if (current is null || t0 != 0)
            {
                current = [a];
                pieces.Add(current);
            }
            current.Add(b);
            if (t1 != 1)
            {
                current = null;
            }
        }
        return pieces;
    }

    /// <summary>Liang-Barsky: the parameter interval [t0, t1] of p + t (q - p) that lies inside the rectangle.</summary>
    private static bool ClipSegment(PixelPoint p, PixelPoint q, PixelRect rect, out double t0, out double t1)
    {
        t0 = 0;
        t1 = 1;
        double dx = q.X - p.X, dy = q.Y - p.Y;
        return Narrow(-dx, p.X - rect.Left, ref t0, ref t1)
            && Narrow(dx, rect.Right - p.X, ref t0, ref t1)
            && Narrow(-dy, p.Y - rect.Top, ref t0, ref t1)
            && Narrow(dy, rect.Bottom - p.Y, ref t0, ref t1);
    }

    private static bool Narrow(double denominator, double numerator, ref double t0, ref double t1)
    {
        if (denominator == 0)
        {
            return numerator >= 0;
        }
        double t = numerator / denominator;
        if (denominator < 0)
        {
            if (t > t1)
            {
                return false;
            }
            t0 = Math.Max(t0, t);
        }
        else
        {
            if (t < t0)
            {
                return false;
            }
            t1 = Math.Min(t1, t);
        }
        return true;
    }

    private static PixelPoint Lerp(PixelPoint p, PixelPoint q, double t) => new(p.X + (t * (q.X - p.X)), p.Y + (t * (q.Y - p.Y)));

    /// <summary>
    /// Thins a dense run by keeping, for each maximal stretch of consecutive points in the same
    /// pixel column, its first, lowest, highest and last point (the M4 scheme of Jugel et al.,
    /// VLDB 2014), which draws the same pixels as the full run.
    /// </summary>
    public static List<PixelPoint> Thin(List<PixelPoint> points)
    {
        var kept = new List<PixelPoint>();
        int start = 0;
        while (start < points.Count)
        {
            double column = Math.Floor(points[start].X);
            int end = start;
            int lowest = start, highest = start;
            while (end + 1 < points.Count && Math.Floor(points[end + 1].X) == column)
            {
                end++;
                if (points[end].Y < points[lowest].Y)
                {
                    lowest = end;
                }
                if (points[end].Y > points[highest].Y)
                {
                    highest = end;
                }
            }
            // Emit in index order so the drawn path keeps its direction.
            int previous = -1;
            foreach (int index in new[] { start, Math.Min(lowest, highest), Math.Max(lowest, highest), end })
            {
                if (index != previous)
                {
                    kept.Add(points[index]);
                    previous = index;
                }
            }
            start = end + 1;
        }
        return kept;
    }
}
