using System.Globalization;
using nietras.SeparatedValues;
using Unroll.Forecasts;
using Unroll.IO;

namespace Unroll.Cli.Forecasts;

/// <summary>
/// Reads long-format forecasting data for the library (which reads no tabular format itself): CSV through Sep, an
/// RFC 4180 parser (quoted fields, commas inside quotes), and files ending in .parquet through Parquet.Net
/// (ParquetFiles; left out of the Native AOT build, see Unroll.Cli.csproj). Only the named columns are parsed; every
/// error names the file, the line (or row) and the column.
/// </summary>
internal static class ForecastFiles
{
    /// <summary>
    /// Reads the columns <paramref name="spec"/> names from <paramref name="path"/>. With <paramref name="futureRows"/>
    /// an empty target or past covariate is read as NaN (the steps to forecast); every other value must be a finite number.
    /// </summary>
    /// <exception cref="UnrollException">The file is not a readable CSV with those columns and finite numbers.</exception>
    public static SeriesTable Read(string path, ForecastSpec spec, bool futureRows)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase))
        {
#if PARQUET
            return ParquetFiles.Read(path, spec, futureRows);
#else
            throw new UnrollException($"{path}: this unroll is a native (ahead-of-time) build, which reads no Parquet; expected a CSV file (convert it, e.g. with pandas: pd.read_parquet(p).to_csv(c, index=False)), or use the unroll .NET tool (dotnet tool install -g Unroll.Cli), which reads Parquet.");
#endif
        }

        using var stream = InputFile.Open(path, "a CSV file of series in long format");
        using var text = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        string content = text.ReadToEnd();
        if (content.Trim().Length == 0)
        {
            throw new UnrollException($"{path}: the file is empty; expected a header line naming the columns {spec.SeriesColumn}, {spec.TimeColumn}, {string.Join(", ", spec.ValueColumns)}, then one line per series and time.");
        }

        using var reader = Sep.Reader(o => o with { Sep = new Sep(','), Unescape = true, DisableColCountCheck = true }).FromText(content);
        var header = reader.Header.ColNames;
        int Column(string name)
        {
            int index = -1;
            for (int i = 0; i < header.Count; i++)
            {
                if (header[i].Trim() == name)
                {
                    index = index < 0 ? i : throw new UnrollException($"{path}:1: the header names '{name}' twice; expected unique names.");
                }
            }

            return index >= 0 ? index : throw new UnrollException($"{path}:1: no column named '{name}'; the header has {string.Join(", ", header.Select(h => $"'{h}'"))}.");
        }

        int idColumn = Column(spec.SeriesColumn), timeColumn = Column(spec.TimeColumn);
        var valueNames = spec.ValueColumns;
        var valueColumns = valueNames.Select(Column).ToArray();
        var ids = new List<string>();
        var times = new List<string>();
        var values = new List<double>();
        var lines = new List<int>();
        foreach (var row in reader)
        {
            int line = row.LineNumberFrom;
            if (row.ColCount != header.Count)
            {
                if (row.ColCount == 1 && row[0].Span.Trim().Length == 0)
                {
                    continue; // a blank line (at the end, typically)
                }

                throw new UnrollException($"{path}:{line}: {row.ColCount} fields; expected {header.Count} as in the header.");
            }

            string id = row[idColumn].ToString().Trim();
            if (id.Length == 0)
            {
                throw new UnrollException($"{path}:{line}:{idColumn + 1}: column '{spec.SeriesColumn}' is empty; expected a series id.");
            }

            ids.Add(id);
            times.Add(row[timeColumn].ToString().Trim());
            for (int c = 0; c < valueColumns.Length; c++)
            {
                string cell = row[valueColumns[c]].ToString().Trim();
                if (futureRows && cell.Length == 0 && c <= spec.PastCovariates.Count)
                {
                    values.Add(double.NaN);
                    continue;
                }

                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                {
                    throw new UnrollException($"{path}:{line}:{valueColumns[c] + 1}: column '{valueNames[c]}' {(cell.Length == 0 ? "is empty" : $"is '{cell}'")}; expected a finite number.");
                }

                values.Add(value);
            }

            lines.Add(line);
            if ((ids.Count & 0xFFFF) == 0)
            {
                MemoryBudget.Check(values.Count * 8.0 * 4, $"{path}: {ids.Count} rows");
            }
        }

        return new SeriesTable(path, [.. ids], [.. times], [.. values], [.. lines], valueNames);
    }
}
