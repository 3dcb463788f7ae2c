using System.Globalization;

namespace Unroll.Forecasts;

/// <summary>
/// Many time series in long format, as a reader gives them to the library: one row per (series, time) with the
/// target and the past covariates, and the file line of every row so that every error names file, line and column.
/// The library reads no file format itself (the command's readers do: CSV with Sep); it gets these arrays.
/// </summary>
/// <param name="Path">The file the rows come from.</param>
/// <param name="Ids">The series id of every row.</param>
/// <param name="Times">The time of every row as written (an integer step, or an ISO date or date-time).</param>
/// <param name="Values">Row-major [rows, 1 + P]: the target, then the P past covariates.</param>
/// <param name="Lines">The 1-based file line of every row.</param>
/// <param name="Columns">The names of the target and covariate columns, as in <paramref name="Values"/>.</param>
internal sealed record SeriesTable(string Path, string[] Ids, string[] Times, double[] Values, int[] Lines, IReadOnlyList<string> Columns)
{
    /// <summary>The rows.</summary>
    public int Rows => Ids.Length;

    /// <summary>
    /// True when <see cref="Lines"/> numbers rows rather than text lines (a columnar file such as Parquet has no lines),
    /// so that messages say "row 3, column 'time'" where a CSV's say "file:3:".
    /// </summary>
    internal bool NumbersRows { get; init; }

    /// <summary>Where row <paramref name="row"/> is, to open a message: "file:3:" or "file: row 3,".</summary>
    internal string Where(int row) => NumbersRows ? $"{Path}: row {Lines[row]}," : $"{Path}:{Lines[row]}:";

    /// <summary>Row <paramref name="row"/> named inside a message: "line 3" or "row 3".</summary>
    internal string Name(int row) => $"{(NumbersRows ? "row" : "line")} {Lines[row]}";
}

/// <summary>One series of a <see cref="SeriesTable"/>, in time order: its values [n, 1 + P] and its time axis.</summary>
/// <param name="Id">The series id.</param>
/// <param name="Values">Row-major [n, 1 + P]: the target, then the past covariates.</param>
/// <param name="Times">The times as written, one per row.</param>
internal sealed record Series(string Id, double[] Values, string[] Times)
{
    /// <summary>The number of time steps.</summary>
    public int Length => Times.Length;

    /// <summary>The times parsed, in ticks (dates and date-times), or null for integer steps.</summary>
    public long[]? Ticks { get; init; }

    /// <summary>The first <paramref name="steps"/> steps of the series (a backtest fold's view of it).</summary>
    public Series Take(int steps) => new(Id, Values[..(steps * (Values.Length / Math.Max(1, Length)))], Times[..steps]) { Ticks = Ticks?[..steps] };

    /// <summary>
    /// The time of step <paramref name="index"/>: parsed from the series, or for a step after its end, the last time
    /// plus whole steps of <paramref name="stepMonths"/> months or <paramref name="stepTicks"/> ticks.
    /// </summary>
    /// <exception cref="UnrollException">The series' times are integer steps, not dates.</exception>
    public DateTime TimeAt(int index, int stepMonths, long stepTicks)
    {
        var ticks = Ticks ?? throw new UnrollException($"series '{Id}': --calendar derives features from dates; expected dates or date-times in the time column, got integer steps such as '{Times[0]}'.");
        if (index < ticks.Length)
        {
            return new DateTime(ticks[index]);
        }

        var last = new DateTime(ticks[^1]);
        int ahead = index - ticks.Length + 1;
        return stepMonths > 0 ? last.AddMonths(stepMonths * ahead) : last.AddTicks(stepTicks * ahead);
    }
}

/// <summary>How far apart two consecutive times of a series are: a number of calendar months, or a fixed span.</summary>
/// <param name="Months">Calendar months per step (1 monthly, 3 quarterly, 12 yearly), or 0.</param>
/// <param name="Ticks">The fixed step in ticks (dates and date-times) or in units (integer times), when Months is 0.</param>
/// <param name="Integer">Whether the times are integers rather than dates.</param>
internal sealed record TimeStep(int Months, long Ticks, bool Integer)
{
    /// <summary>The seasonal period forecasters use for this step: 12 monthly, 4 quarterly, 7 daily, 24 hourly, 48 half-hourly, else 1.</summary>
    public int DefaultSeason => Months switch
    {
        1 => 12,
        3 => 4,
        _ when Integer || Months != 0 => 1,
        _ when Ticks == TimeSpan.TicksPerDay => 7,
        _ when Ticks == TimeSpan.TicksPerHour => 24,
        _ when Ticks == TimeSpan.TicksPerHour / 2 => 48,
        _ => 1,
    };

    /// <summary>In words, for messages: "1 month", "30 minutes", "1".</summary>
    public override string ToString() => Months > 0 ? $"{Months} month{(Months == 1 ? string.Empty : "s")}"
        : Integer ? Ticks.ToString(CultureInfo.InvariantCulture) : TimeSpan.FromTicks(Ticks).ToString();
}

/// <summary>Splits a long table into series, checking every time axis: parsed, increasing, no duplicates, no gaps.</summary>
internal static class SeriesSplitter
{
    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy-MM-ddTHH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM"];

    /// <summary>
    /// The series of <paramref name="table"/> in order of first appearance, each sorted by time, and the step between
    /// times (one for the whole file: the smallest difference between consecutive times).
    /// </summary>
    /// <exception cref="UnrollException">A time does not parse, mixes integers and dates, repeats within a series, or leaves a gap.</exception>
    public static (IReadOnlyList<Series> Series, TimeStep Step) Split(SeriesTable table, string timeColumn)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Rows == 0)
        {
            throw new UnrollException($"{table.Path}: holds no data rows; expected a header line, then one line per series and time.");
        }

        bool integer = long.TryParse(table.Times[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _);
        var stamps = new long[table.Rows];
        for (int r = 0; r < table.Rows; r++)
        {
            string text = table.Times[r];
            bool parsed = integer
                ? long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out stamps[r])
                : TryParseDate(text, out stamps[r]);
            if (!parsed)
            {
                throw new UnrollException(
                    $"{table.Where(r)} column '{timeColumn}' is '{text}'; expected {(integer ? "an integer step, as in the first row" : "a date or date-time such as 2024-01-31 or 2024-01-31T13:30, as in the first row")}.");
            }
        }

        var rowsById = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int r = 0; r < table.Rows; r++)
        {
            if (!rowsById.TryGetValue(table.Ids[r], out var rows))
            {
                rowsById[table.Ids[r]] = rows = [];
                order.Add(table.Ids[r]);
            }

            rows.Add(r);
        }

        foreach (var rows in rowsById.Values)
        {
            rows.Sort((a, b) => stamps[a] != stamps[b] ? stamps[a].CompareTo(stamps[b]) : a.CompareTo(b));
            for (int i = 1; i < rows.Count; i++)
            {
                if (stamps[rows[i]] == stamps[rows[i - 1]])
                {
                    throw new UnrollException(
                        $"{table.Where(rows[i])} column '{timeColumn}' is '{table.Times[rows[i]]}', the same time as {table.Name(rows[i - 1])} of series '{table.Ids[rows[i]]}'; expected each time once per series.");
                }
            }
        }

        var step = Step(rowsById.Values, stamps, integer);
        var series = new List<Series>(order.Count);
        int width = table.Columns.Count;
        foreach (string id in order)
        {
            var rows = rowsById[id];
            for (int i = 1; i < rows.Count; i++)
            {
                if (!Follows(stamps[rows[i - 1]], stamps[rows[i]], step))
                {
                    throw new UnrollException(
                        $"{table.Where(rows[i])} column '{timeColumn}' is '{table.Times[rows[i]]}' after '{table.Times[rows[i - 1]]}' ({table.Name(rows[i - 1])}) in series '{id}'; expected the next time one step of {step} later: the series has a gap (fill it, e.g. by interpolation, or split the series).");
                }
            }

            var values = new double[rows.Count * width];
            for (int i = 0; i < rows.Count; i++)
            {
                table.Values.AsSpan(rows[i] * width, width).CopyTo(values.AsSpan(i * width));
            }

            series.Add(new Series(id, values, [.. rows.Select(r => table.Times[r])]) { Ticks = integer ? null : [.. rows.Select(r => stamps[r])] });
        }

        return (series, step);
    }

    private static bool TryParseDate(string text, out long ticks)
    {
        bool ok = DateTime.TryParseExact(text, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var date);
        ticks = ok ? date.Ticks : 0;
        return ok;
    }

    // Whole months when every consecutive pair is the same day of a month at the same time; else the smallest difference.
    private static TimeStep Step(IEnumerable<List<int>> series, long[] stamps, bool integer)
    {
        long smallest = long.MaxValue;
        int months = int.MaxValue;
        bool monthly = !integer;
        foreach (var rows in series)
        {
            for (int i = 1; i < rows.Count; i++)
            {
                long a = stamps[rows[i - 1]], b = stamps[rows[i]];
                smallest = Math.Min(smallest, b - a);
                if (monthly)
                {
                    var (from, to) = (new DateTime(a), new DateTime(b));
                    int difference = ((to.Year - from.Year) * 12) + to.Month - from.Month;
                    monthly = from.Day == to.Day && from.TimeOfDay == to.TimeOfDay;
                    months = Math.Min(months, difference);
                }
            }
        }

        if (smallest == long.MaxValue)
        {
            return new TimeStep(0, 1, integer);
        }

        return monthly && months is > 0 and < int.MaxValue ? new TimeStep(months, 0, false) : new TimeStep(0, smallest, integer);
    }

    private static bool Follows(long previous, long next, TimeStep step)
    {
        if (step.Months == 0)
        {
            return next - previous == step.Ticks;
        }

        var (from, to) = (new DateTime(previous), new DateTime(next));
        return from.AddMonths(step.Months) == to;
    }
}
