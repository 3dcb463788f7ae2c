using System.Globalization;

namespace Unroll.Cli.Reports;

/// <summary>
/// metrics.csv as written by <c>unroll train</c>: a header naming the columns (at least
/// <c>step</c> and <c>train_loss</c>), then one row of numbers per step; an empty cell (a step
/// where a column was not measured) reads as NaN.
/// </summary>
internal sealed class MetricsTable
{
    private readonly Dictionary<string, int> _index;

    private MetricsTable(string path, IReadOnlyList<string> columns, IReadOnlyList<double[]> rows)
    {
        Path = path;
        Columns = columns;
        Rows = rows;
        _index = columns.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>The file it was read from.</summary>
    public string Path { get; }

    /// <summary>Column names in file order.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>One array per data row, in column order.</summary>
    public IReadOnlyList<double[]> Rows { get; }

    /// <summary>Whether the header has this column.</summary>
    public bool Has(string column) => _index.ContainsKey(column);

    /// <summary>The values of a column, one per row (NaN where empty), or null when the header lacks it.</summary>
    public double[]? Column(string column) =>
        _index.TryGetValue(column, out int i) ? Rows.Select(row => row[i]).ToArray() : null;

    /// <summary>Reads and checks the file.</summary>
    /// <exception cref="UnrollException">The file is empty, lacks the required columns, or a row is malformed (named by line).</exception>
    public static MetricsTable Read(string path)
    {
        var lines = IO.InputFile.ReadAllLines(path, "a metrics.csv written by unroll train");
        if (lines.Length == 0 || lines[0].Trim().Length == 0)
        {
            throw new UnrollException($"{path}: expected a header line such as 'step,train_loss,validation_loss,gradient_norm,clipped', got an empty first line.");
        }

        var columns = lines[0].Split(',').Select(c => c.Trim()).ToArray();
        var duplicate = columns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null || columns.Any(c => c.Length == 0))
        {
            throw new UnrollException($"{path}:1: expected distinct, non-empty column names, got '{lines[0]}'.");
        }

        if (!columns.Contains("step", StringComparer.Ordinal) || !columns.Contains("train_loss", StringComparer.Ordinal))
        {
            throw new UnrollException($"{path}:1: expected a header with the columns 'step' and 'train_loss' (as unroll train writes), got '{lines[0]}'.");
        }

        int stepColumn = Array.IndexOf(columns, "step");
        int lossColumn = Array.IndexOf(columns, "train_loss");
        var rows = new List<double[]>(lines.Length);
        for (int n = 1; n < lines.Length; n++)
        {
            string line = lines[n];
            int lineNumber = n + 1;
            if (line.Trim().Length == 0)
            {
                // Only a trailing blank line is harmless; a blank line between rows means a damaged file.
                if (lines.Skip(n).All(rest => rest.Trim().Length == 0))
                {
                    break;
                }

                throw new UnrollException($"{path}:{lineNumber}: expected a row of {columns.Length} comma-separated values, got an empty line.");
            }

            var cells = line.Split(',');
            if (cells.Length != columns.Length)
            {
                throw new UnrollException($"{path}:{lineNumber}: expected {columns.Length} comma-separated values as in the header, got {cells.Length}.");
            }

            var row = new double[columns.Length];
            for (int c = 0; c < cells.Length; c++)
            {
                string cell = cells[c].Trim();
                if (cell.Length == 0 && c != stepColumn && c != lossColumn)
                {
                    row[c] = double.NaN;
                }
                else if (c == stepColumn)
                {
                    row[c] = int.TryParse(cell, NumberStyles.None, CultureInfo.InvariantCulture, out int step)
                        ? step
                        : throw new UnrollException($"{path}:{lineNumber}: column 'step' is '{cell}'; expected a step number (a non-negative integer).");
                }
                else
                {
                    // "NaN" and "Infinity" are legitimate: a diverged run records the loss that ended it.
                    row[c] = double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                        ? value
                        : throw new UnrollException($"{path}:{lineNumber}: column '{columns[c]}' is '{cell}'; expected a number{(c == lossColumn ? string.Empty : " or an empty cell")}.");
                }
            }

            if (rows.Count > 0 && row[stepColumn] <= rows[^1][stepColumn])
            {
                throw new UnrollException($"{path}:{lineNumber}: step {row[stepColumn]} does not follow step {rows[^1][stepColumn]}; expected increasing steps.");
            }

            rows.Add(row);
        }

        return new MetricsTable(path, columns, rows);
    }
}
