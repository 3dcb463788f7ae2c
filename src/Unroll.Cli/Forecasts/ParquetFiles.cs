using System.Globalization;
using Parquet;
using Parquet.Schema;
using Unroll.Forecasts;
using Unroll.IO;

namespace Unroll.Cli.Forecasts;

/// <summary>
/// Reads long-format forecasting data from Parquet through Parquet.Net (fully managed), into the same table the CSV
/// reader gives, with the same checks. A row is named by its number (1 = the first row of the file, across row groups)
/// where the CSV reader names a line. Ids may be text or integers; times text (as in CSV), integers, dates or
/// timestamps; values any numeric column, or text holding a number. A null is an empty value.
/// </summary>
internal static class ParquetFiles
{
    /// <summary>Reads the columns <paramref name="spec"/> names from <paramref name="path"/> (see <see cref="ForecastFiles.Read"/>).</summary>
    /// <exception cref="UnrollException">The file is not readable Parquet with those columns and finite numbers.</exception>
    public static SeriesTable Read(string path, ForecastSpec spec, bool futureRows)
    {
        ArgumentNullException.ThrowIfNull(spec);
        try
        {
            return ReadAsync(path, spec, futureRows).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not UnrollException && (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException
            or IndexOutOfRangeException or OverflowException or FormatException || e.GetType().Namespace?.StartsWith("Parquet", StringComparison.Ordinal) == true))
        {
            // A damaged or unusual file: one line naming it, never a stack trace.
            throw new UnrollException($"{path}: is not a readable Parquet file ({e.Message}); expected Parquet with the columns {spec.SeriesColumn}, {spec.TimeColumn}, {string.Join(", ", spec.ValueColumns)}.", e);
        }
    }

    private static async Task<SeriesTable> ReadAsync(string path, ForecastSpec spec, bool futureRows)
    {
        using var stream = InputFile.Open(path, "a Parquet file of series in long format");
        var reader = await ParquetReader.CreateAsync(stream).ConfigureAwait(false);

        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.GetDataFields();
            DataField Field(string name) => fields.FirstOrDefault(f => f.Name == name && !f.IsArray)
                ?? throw new UnrollException($"{path}: no column named '{name}'; the file has {string.Join(", ", fields.Select(f => $"'{f.Name}'"))}.");
            var (idField, timeField) = (Field(spec.SeriesColumn), Field(spec.TimeColumn));
            var valueNames = spec.ValueColumns;
            var valueFields = valueNames.Select(Field).ToArray();
            long total = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                total += group.RowCount;
            }

            if (total == 0)
            {
                throw new UnrollException($"{path}: holds no rows; expected one row per series and time.");
            }

            MemoryBudget.Check(total * ((8.0 * valueFields.Length) + 64), $"{path}: {total} rows");
            int rows = checked((int)total);
            var ids = new string[rows];
            var times = new string[rows];
            var values = new double[rows * valueFields.Length];
            int first = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                int count = checked((int)group.RowCount);
                var idTexts = await Texts(group, idField, count, path, first).ConfigureAwait(false);
                var timeTexts = await Texts(group, timeField, count, path, first).ConfigureAwait(false);
                for (int r = 0; r < count; r++)
                {
                    ids[first + r] = idTexts[r] is { Length: > 0 } id ? id.Trim() : throw new UnrollException($"{path}: row {first + r + 1}, column '{spec.SeriesColumn}' is empty; expected a series id.");
                    times[first + r] = timeTexts[r]?.Trim() ?? throw new UnrollException($"{path}: row {first + r + 1}, column '{spec.TimeColumn}' is empty; expected a time.");
                }

                for (int c = 0; c < valueFields.Length; c++)
                {
                    var column = await Numbers(group, valueFields[c], count, path, first).ConfigureAwait(false);
                    for (int r = 0; r < count; r++)
                    {
                        double value = column[r];
                        if (double.IsNaN(value) && futureRows && c <= spec.PastCovariates.Count && column.IsEmpty(r))
                        {
                            values[((first + r) * valueFields.Length) + c] = double.NaN;
                            continue;
                        }

                        if (!double.IsFinite(value))
                        {
                            throw new UnrollException($"{path}: row {first + r + 1}, column '{valueNames[c]}' {(column.IsEmpty(r) ? "is empty" : $"is {value.ToString(CultureInfo.InvariantCulture)}")}; expected a finite number.");
                        }

                        values[((first + r) * valueFields.Length) + c] = value;
                    }
                }

                first += count;
            }

            return new SeriesTable(path, ids, times, values, [.. Enumerable.Range(1, rows)], valueNames) { NumbersRows = true };
        }
    }

    // A column as text: strings as they are, integers in invariant digits, dates as yyyy-MM-dd, timestamps as
    // yyyy-MM-ddTHH:mm:ss (UTC), the forms the CSV reader's time parser reads; null for a null.
    private static async Task<string?[]> Texts(ParquetRowGroupReader group, DataField field, int count, string path, int first)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (IsText(type))
        {
            var texts = new string?[count];
            await group.ReadAsync(field, texts.AsMemory()).ConfigureAwait(false);
            return texts;
        }

        if (type == typeof(DateTime))
        {
            return [.. (await Read<DateTime>(group, field, count).ConfigureAwait(false)).Select(d => d is { } t ? Format(t) : null)];
        }

        if (type == typeof(DateTimeOffset))
        {
            return [.. (await Read<DateTimeOffset>(group, field, count).ConfigureAwait(false)).Select(d => d is { } t ? Format(t.UtcDateTime) : null)];
        }

        if (type == typeof(DateOnly))
        {
            return [.. (await Read<DateOnly>(group, field, count).ConfigureAwait(false)).Select(d => d?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))];
        }

        if (type == typeof(int))
        {
            return [.. (await Read<int>(group, field, count).ConfigureAwait(false)).Select(v => v?.ToString(CultureInfo.InvariantCulture))];
        }

        if (type == typeof(long))
        {
            return [.. (await Read<long>(group, field, count).ConfigureAwait(false)).Select(v => v?.ToString(CultureInfo.InvariantCulture))];
        }

        throw new UnrollException($"{path}: row {first + 1}, column '{field.Name}' holds {type.Name} values; expected text, integers, dates or timestamps.");
    }

    // Parquet.Net 6 gives a text column read from a file the type ReadOnlyMemory<char>, a declared one string; both read as strings.
    private static bool IsText(Type type) => type == typeof(string) || type == typeof(ReadOnlyMemory<char>);

    private static string Format(DateTime time) => time.TimeOfDay == TimeSpan.Zero
        ? time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
        : time.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);

    // A column as numbers; a null is NaN and marked empty; text is parsed as the CSV reader parses it.
    private static async Task<NumberColumn> Numbers(ParquetRowGroupReader group, DataField field, int count, string path, int first)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (type == typeof(double))
        {
            return NumberColumn.Of(await Read<double>(group, field, count).ConfigureAwait(false), v => v);
        }

        if (type == typeof(float))
        {
            return NumberColumn.Of(await Read<float>(group, field, count).ConfigureAwait(false), v => v);
        }

        if (type == typeof(int))
        {
            return NumberColumn.Of(await Read<int>(group, field, count).ConfigureAwait(false), v => v);
        }

        if (type == typeof(long))
        {
            return NumberColumn.Of(await Read<long>(group, field, count).ConfigureAwait(false), v => v);
        }

        if (type == typeof(short))
        {
            return NumberColumn.Of(await Read<short>(group, field, count).ConfigureAwait(false), v => v);
        }

        if (type == typeof(decimal))
        {
            return NumberColumn.Of(await Read<decimal>(group, field, count).ConfigureAwait(false), v => (double)v);
        }

        if (IsText(type))
        {
            var texts = new string?[count];
            await group.ReadAsync(field, texts.AsMemory()).ConfigureAwait(false);
            var numbers = new double[count];
            var empty = new bool[count];
            for (int r = 0; r < count; r++)
            {
                string cell = texts[r]?.Trim() ?? string.Empty;
                empty[r] = cell.Length == 0;
                if (empty[r])
                {
                    numbers[r] = double.NaN;
                }
                else if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[r]))
                {
                    throw new UnrollException($"{path}: row {first + r + 1}, column '{field.Name}' is '{cell}'; expected a finite number.");
                }
            }

            return new NumberColumn(numbers, empty);
        }

        throw new UnrollException($"{path}: row {first + 1}, column '{field.Name}' holds {type.Name} values; expected numbers.");
    }

    private static async Task<T?[]> Read<T>(ParquetRowGroupReader group, DataField field, int count)
        where T : struct
    {
        if (field.IsNullable)
        {
            var nullable = new T?[count];
            await group.ReadAsync(field, nullable.AsMemory()).ConfigureAwait(false);
            return nullable;
        }

        var plain = new T[count];
        await group.ReadAsync(field, plain.AsMemory()).ConfigureAwait(false);
        return [.. plain.Select(v => (T?)v)];
    }

    private sealed record NumberColumn(double[] Values, bool[] Empty)
    {
        public double this[int row] => Values[row];

        public bool IsEmpty(int row) => Empty[row];

        public static NumberColumn Of<T>(T?[] values, Func<T, double> convert)
            where T : struct => new([.. values.Select(v => v is { } x ? convert(x) : double.NaN)], [.. values.Select(v => v is null)]);
    }
}
