using System.Globalization;

namespace Unroll.Forecasts;

/// <summary>A feature derived from a step's time, known for every step ahead.</summary>
internal enum CalendarFeature
{
    /// <summary>The month of the year, 12 positions (January first).</summary>
    Month,

    /// <summary>The quarter of the year, 4 positions.</summary>
    Quarter,

    /// <summary>The day of the week, 7 positions (Monday first).</summary>
    DayOfWeek,

    /// <summary>The hour of the day, 24 positions.</summary>
    Hour,

    /// <summary>The half-hour of the day, 48 positions (00:00-00:29 first).</summary>
    HalfHour,
}

/// <summary>How a calendar feature's position k of P is given to the network.</summary>
internal enum CalendarEncoding
{
    /// <summary>Two inputs, sin(2 pi k / P) and cos(2 pi k / P): neighbouring positions are close, the last next to the first.</summary>
    SinCos,

    /// <summary>P inputs, 1 at position k and 0 elsewhere: every position learns its own effect.</summary>
    OneHot,
}

/// <summary>The calendar features: their names on the command line, their periods and their values at a time.</summary>
internal static class CalendarFeatures
{
    /// <summary>The names the command line accepts, in <see cref="CalendarFeature"/> order.</summary>
    public static readonly IReadOnlyList<string> All = ["month", "quarter", "day-of-week", "hour", "half-hour"];

    /// <summary>P, the positions of a feature.</summary>
    public static int Period(CalendarFeature feature) => feature switch
    {
        CalendarFeature.Month => 12,
        CalendarFeature.Quarter => 4,
        CalendarFeature.DayOfWeek => 7,
        CalendarFeature.Hour => 24,
        _ => 48,
    };

    /// <summary>k, the position of <paramref name="time"/> in [0, P).</summary>
    public static int Position(CalendarFeature feature, DateTime time) => feature switch
    {
        CalendarFeature.Month => time.Month - 1,
        CalendarFeature.Quarter => (time.Month - 1) / 3,
        CalendarFeature.DayOfWeek => ((int)time.DayOfWeek + 6) % 7,
        CalendarFeature.Hour => time.Hour,
        _ => (2 * time.Hour) + (time.Minute / 30),
    };

    /// <summary>Parses a comma-separated list of feature names (empty: none).</summary>
    /// <exception cref="UnrollException">A name is not one of <see cref="All"/>.</exception>
    public static CalendarFeature[] Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Trim().Length == 0 ? [] : [.. text.Split(',', StringSplitOptions.TrimEntries).Select(name =>
        {
            int index = All.ToList().IndexOf(name);
            return index >= 0 ? (CalendarFeature)index : throw new UnrollException($"--calendar: expected comma-separated features among {string.Join(", ", All)}, got '{name}'.");
        })];
    }

    /// <summary>The input names of the features: month_sin, month_cos, ... or month_1 .. month_12, ...</summary>
    public static IEnumerable<string> Names(IReadOnlyList<CalendarFeature> features, CalendarEncoding encoding)
    {
        ArgumentNullException.ThrowIfNull(features);
        foreach (var feature in features)
        {
            string name = All[(int)feature];
            if (encoding == CalendarEncoding.SinCos)
            {
                yield return name + "_sin";
                yield return name + "_cos";
            }
            else
            {
                for (int k = 1; k <= Period(feature); k++)
                {
                    yield return string.Create(CultureInfo.InvariantCulture, $"{name}_{k}");
                }
            }
        }
    }

    /// <summary>Writes the features of <paramref name="time"/> into <paramref name="destination"/> (their total width).</summary>
    public static void Write(IReadOnlyList<CalendarFeature> features, CalendarEncoding encoding, DateTime time, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(features);
        int offset = 0;
        foreach (var feature in features)
        {
            int period = Period(feature), k = Position(feature, time);
            if (encoding == CalendarEncoding.SinCos)
            {
                double angle = 2 * Math.PI * k / period;
                destination[offset++] = (float)Math.Sin(angle);
                destination[offset++] = (float)Math.Cos(angle);
            }
            else
            {
                destination.Slice(offset, period).Clear();
                destination[offset + k] = 1;
                offset += period;
            }
        }
    }
}
