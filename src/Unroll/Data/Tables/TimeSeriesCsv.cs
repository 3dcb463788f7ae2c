using System.Globalization;
using System.Text;

namespace Unroll.Data.Tables;

/// <summary>Numeric columns of a wide CSV file: one header line of names, then one row per time step.</summary>
/// <param name="Path">The file.</param>
/// <param name="Names">The columns read, in the order asked for.</param>
/// <param name="Values">Row-major [rows, columns] values of those columns.</param>
/// <param name="Rows">Data rows (time steps).</param>
internal sealed record NumericColumns(string Path, IReadOnlyList<string> Names, double[] Values, int Rows)
{
    /// <summary>The value of column <paramref name="column"/> (index into <see cref="Names"/>) at row <paramref name="row"/>.</summary>
    public double this[int row, int column] => Values[(row * Names.Count) + column];
}

/// <summary>
/// Reads time series from CSV in wide format: a header line naming the columns, then one line per
/// time step in order. Only the columns asked for are parsed, so other columns (a date, a label)
/// may hold anything. Fields are trimmed; a field in double quotes loses them (quoted commas are
/// not supported); numbers use '.' and may have an exponent. NaN, infinities, empty and
/// non-numeric cells are refused as <c>file:line:column</c> with the column's name. A UTF-8
/// byte-order mark, CRLF line ends and blank lines at the end are accepted.
/// </summary>
internal static class TimeSeriesCsv
{
    /// <summary>Reads the named columns of <paramref name="path"/>.</summary>
    /// <exception cref="UnrollException">The file is missing or empty, a column is missing or repeated in the header, a row has too few fields, or a cell is not a finite number.</exception>
    public static NumericColumns Read(string path, IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(columns);
        string[] lines = IO.InputFile.ReadAllLines(path, "a CSV file of named columns");

        int count = lines.Length;
        while (count > 0 && lines[count - 1].Trim().Length == 0)
        {
            count--;
        }

        if (count == 0)
        {
            throw new UnrollException($"{path}: the file is empty; expected a header line naming the columns, then one line per time step.");
        }

        var header = Split(lines[0].TrimStart('\uFEFF'));
        var positions = new int[columns.Count];
        for (int c = 0; c < columns.Count; c++)
        {
            var matches = Enumerable.Range(0, header.Length).Where(i => header[i] == columns[c]).ToList();
            if (matches.Count == 0)
            {
                throw new UnrollException(
                    $"{path}:1: no column named '{columns[c]}'; the header has {string.Join(", ", header.Select(h => $"'{h}'"))}.");
            }

            if (matches.Count > 1)
            {
                throw new UnrollException($"{path}:1: the header names '{columns[c]}' {matches.Count} times (columns {string.Join(", ", matches.Select(m => m + 1))}); expected unique names.");
            }

            positions[c] = matches[0];
        }

        int rows = count - 1;
        if (rows < 1)
        {
            throw new UnrollException($"{path}: only a header line; expected one line per time step after it.");
        }

        var values = new double[rows * columns.Count];
        for (int r = 0; r < rows; r++)
        {
            int line = r + 2;
            if (lines[r + 1].Trim().Length == 0)
            {
                throw new UnrollException($"{path}:{line}: blank line inside the data; expected one line per time step.");
            }

            var fields = Split(lines[r + 1]);
            if (fields.Length != header.Length)
            {
                throw new UnrollException($"{path}:{line}: {fields.Length} fields; expected {header.Length} as in the header.");
            }

            for (int c = 0; c < columns.Count; c++)
            {
                string cell = fields[positions[c]];
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
                {
                    string problem = cell.Length == 0 ? "is empty" : $"is '{cell}'";
                    throw new UnrollException($"{path}:{line}:{positions[c] + 1}: column '{columns[c]}' {problem}; expected a finite number.");
                }

                values[(r * columns.Count) + c] = value;
            }
        }

        return new NumericColumns(path, [.. columns], values, rows);
    }

    private static string[] Split(string line) =>
        line.Split(',').Select(field =>
        {
            string trimmed = field.Trim();
            return trimmed.Length >= 2 && trimmed[0] == '"' && trimmed[^1] == '"' ? trimmed[1..^1] : trimmed;
        }).ToArray();
}
