using System.Globalization;

namespace Unroll.Plots;

/// <summary>A labelled tick at <see cref="Position"/>, given in the axis' transformed space (log10 on a log axis).</summary>
internal readonly record struct Tick(double Position, string Label);

/// <summary>
/// One axis: the visible range (in transformed space, i.e. log10 of the value on a log axis),
/// the pixel interval it maps to, and "nice" tick placement.
/// </summary>
internal sealed class Axis
{
    /// <summary>Fraction of the data span added on each side so extreme points do not sit on the frame.</summary>
    private const double Padding = 0.04;

    public Axis(bool log, double low, double high)
    {
        Log = log;
        Low = low;
        High = high;
    }

    public bool Log { get; }

    /// <summary>Lower end of the visible range, transformed.</summary>
    public double Low { get; set; }

    /// <summary>Upper end of the visible range, transformed.</summary>
    public double High { get; set; }

    /// <summary>Pixel coordinate of <see cref="Low"/> (the bottom edge for a vertical axis).</summary>
    public double PixelLow { get; set; }

    /// <summary>Pixel coordinate of <see cref="High"/>.</summary>
    public double PixelHigh { get; set; }

    public double Span => High - Low;

    /// <summary>Whether <paramref name="value"/> can be drawn on this axis at all.</summary>
    public bool Accepts(double value) => double.IsFinite(value) && (!Log || value > 0);

    public double Transform(double value) => Log ? Math.Log10(value) : value;

    /// <summary>Maps a transformed coordinate to pixels.</summary>
    public double MapTransformed(double t) => PixelLow + ((t - Low) / (High - Low) * (PixelHigh - PixelLow));

    /// <summary>Maps a data value to pixels.</summary>
    public double Map(double value) => MapTransformed(Transform(value));

    /// <summary>
    /// Fits a visible range to transformed data values, honouring fixed bounds (also transformed).
    /// Returns null when there is nothing to fit or the span is not representable.
    /// </summary>
    public static Axis? Fit(IReadOnlyList<double> values, double? fixedLow, double? fixedHigh, bool log)
    {
        if (fixedLow is { } fl && fixedHigh is { } fh)
        {
            return new Axis(log, fl, fh);
        }
        if (values.Count == 0)
        {
            return null;
        }
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        double span = max - min;
        if (!double.IsFinite(span))
        {
            return null;
        }
        double magnitude = Math.Max(Math.Abs(min), Math.Abs(max));
        if (span <= magnitude * 1e-12 || span == 0)
        {
            // All values (numerically) equal: show a window around them. On a log axis half a
            // decade either side; on a linear axis 10% of the value, or +-1 around zero.
            double center = min + (span / 2);
            double half = log ? 0.5 : (center == 0 ? 1 : Math.Abs(center) * 0.1);
            min = center - half;
            max = center + half;
        }
        else
        {
            min -= span * Padding;
            max += span * Padding;
        }
        double low = fixedLow ?? min, high = fixedHigh ?? max;
        if (!(high > low))
        {
            // One bound is fixed and all data lie beyond it: keep the fixed bound and the data's extent.
            double extent = max - min;
            if (fixedLow is not null)
            {
                high = low + extent;
            }
            else
            {
                low = high - extent;
            }
        }
        return double.IsFinite(high - low) && high > low ? new Axis(log, low, high) : null;
    }

    /// <summary>Ticks inside the visible range, at most about <paramref name="maxCount"/> of them (at least two).</summary>
    public List<Tick> Ticks(int maxCount)
    {
        maxCount = Math.Max(2, maxCount);
        return Log ? LogTicks(maxCount) : LinearTicks(Low, High, maxCount, transform: false);
    }

    /// <summary>Ticks at multiples of 1, 2 or 5 x 10^k, the largest such step giving at least two ticks within the limit.</summary>
    private static List<Tick> LinearTicks(double low, double high, int maxCount, bool transform)
    {
        double step = NiceAtLeast((high - low) / maxCount);
        List<double> values = TicksWithStep(low, high, step);
        for (int attempt = 0; values.Count < 2 && attempt < 4; attempt++)
        {
            step = NiceBelow(step);
            values = TicksWithStep(low, high, step);
        }
        var ticks = new List<Tick>(values.Count);
        string[] labels = LinearLabels(values, step);
        for (int i = 0; i < values.Count; i++)
        {
            double position = transform ? Math.Log10(values[i]) : values[i];
            if (double.IsFinite(position))
            {
                ticks.Add(new Tick(position, labels[i]));
            }
        }
        return ticks;
    }

    private static List<double> TicksWithStep(double low, double high, double step)
    {
        var values = new List<double>();
        if (!(step > 0) || !double.IsFinite(step))
        {
            return values;
        }
        double first = Math.Ceiling((low / step) - 1e-9), last = Math.Floor((high / step) + 1e-9);
        if (!(last - first < 100))
        {
            return values;
        }
        for (double i = first; i <= last; i++)
        {
            double v = i * step;
            values.Add(Math.Abs(v) < step * 1e-9 ? 0.0 : v);
        }
        return values;
    }

    /// <summary>Smallest step of the form 1, 2 or 5 x 10^k that is at least <paramref name="rough"/>.</summary>
    internal static double NiceAtLeast(double rough)
    {
        if (!(rough > 0) || !double.IsFinite(rough))
        {
            return 1;
        }
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double fraction = rough / power;
        double mantissa = fraction <= 1 + 1e-9 ? 1 : fraction <= 2 + 1e-9 ? 2 : fraction <= 5 + 1e-9 ? 5 : 10;
        return mantissa * power;
    }

    /// <summary>The next smaller nice step: 5 -> 2 -> 1 -> 0.5 (x 10^k).</summary>
    private static double NiceBelow(double step)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
        double mantissa = Math.Round(step / power);
        return mantissa >= 5 ? 2 * power : mantissa >= 2 ? power : power / 2;
    }

    /// <summary>
    /// Labels with the decimals the step needs (step 0.05 -> two decimals), switching the whole
    /// axis to scientific notation when the values are large or the step very small.
    /// </summary>
    private static string[] LinearLabels(List<double> values, double step)
    {
        int stepExponent = (int)Math.Floor(Math.Log10(step) + 1e-9);
        int decimals = Math.Max(0, -stepExponent);
        double maxAbs = values.Count == 0 ? 0 : values.Max(Math.Abs);
        bool scientific = maxAbs >= 1e6 || decimals > 4;
        var labels = new string[values.Count];
        for (int i = 0; i < values.Count; i++)
        {
            double v = values[i];
            if (v == 0)
            {
                labels[i] = "0";
            }
            else if (scientific)
            {
                int mantissaDigits = Math.Clamp((int)Math.Floor(Math.Log10(Math.Abs(v))) - stepExponent, 0, 15);
                labels[i] = Scientific(v, mantissaDigits);
            }
            else
            {
                labels[i] = v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            }
        }
        return labels;
    }

    /// <summary>Formats like printf's %g exponent style: 1e-06, 2.5e+07.</summary>
    private static string Scientific(double value, int mantissaDigits)
    {
        string format = mantissaDigits == 0 ? "0e+00" : "0." + new string('#', mantissaDigits) + "e+00";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Log-axis ticks: whole decades when the range covers two or more (every n-th decade when
    /// there are too many), 1, 2, 5 x 10^k when that gives more labels, linear ticks for very narrow ranges.
    /// </summary>
    private List<Tick> LogTicks(int maxCount)
    {
        int firstDecade = (int)Math.Ceiling(Low - 1e-9), lastDecade = (int)Math.Floor(High + 1e-9);
        int decades = lastDecade - firstDecade + 1;
        if (decades <= 2)
        {
            // Two decades or fewer would leave only one or two labels: use 1, 2, 5 x 10^k when they fit.
            var fine = new List<(int Mantissa, int Exponent)>();
            for (int k = firstDecade - 2; k <= lastDecade + 1; k++)
            {
                foreach (int mantissa in (ReadOnlySpan<int>)[1, 2, 5])
                {
                    double position = Math.Log10(mantissa) + k;
                    if (position >= Low - 1e-9 && position <= High + 1e-9)
                    {
                        fine.Add((mantissa, k));
                    }
                }
            }
            if (fine.Count >= 2 && fine.Count <= maxCount)
            {
                return PowerTicks(fine);
            }
        }
        if (decades >= 2)
        {
            var powers = new List<(int Mantissa, int Exponent)>();
            int stride = Math.Max(1, (int)Math.Ceiling(decades / (double)maxCount));
            for (int d = firstDecade; d <= lastDecade; d++)
            {
                if (((d % stride) + stride) % stride == 0)
                {
                    powers.Add((1, d));
                }
            }
            return PowerTicks(powers.Count >= 2 ? powers : [(1, firstDecade), (1, lastDecade)]);
        }
        // Less than a factor of ~2.5 between the ends: ordinary linear ticks placed on the log scale.
        return LinearTicks(Math.Pow(10, Low), Math.Pow(10, High), maxCount, transform: true);
    }

    /// <summary>
    /// Ticks at mantissa x 10^exponent, labelled in fixed notation when every tick lies between
    /// 0.001 and 10000 and in 1e-06 style otherwise, so one axis never mixes the two.
    /// </summary>
    private static List<Tick> PowerTicks(List<(int Mantissa, int Exponent)> powers)
    {
        bool scientific = powers.Any(p => p.Exponent is < -3 or > 4);
        var ticks = new List<Tick>(powers.Count);
        foreach (var (mantissa, exponent) in powers)
        {
            double value = mantissa * Math.Pow(10, exponent);
            string label = scientific
                ? Scientific(value, 0)
                : value.ToString("F" + Math.Max(0, -exponent).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            ticks.Add(new Tick(Math.Log10(mantissa) + exponent, label));
        }
        return ticks;
    }
}
