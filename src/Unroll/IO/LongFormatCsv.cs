using System.Globalization;
using System.Text;

namespace Unroll.IO;

/// <summary>
/// Reads and writes sequences as CSV in long format: a header <c>seq,t,&lt;column names&gt;</c>
/// and one row per (sequence, step). <c>seq</c> is any string id; each sequence's rows are
/// contiguous with <c>t = 0, 1, 2, ...</c> in order; sequences may come in any order of ids.
/// </summary>
/// <remarks>
/// The dialect is the plain subset of RFC 4180 that numbers and simple names need: fields are
/// separated by commas and trimmed of surrounding whitespace, a field wrapped in double quotes
/// has them removed (quoted commas and line breaks are not supported), lines end in LF or CRLF,
/// and blank lines at the end of the file are ignored. Numbers use the invariant culture
/// (<c>.</c> as decimal point) and must be finite.
/// </remarks>
internal static class LongFormatCsv
{
    /// <summary>The name of the first header field, the sequence id.</summary>
    public const string SequenceColumn = "seq";

    /// <summary>The name of the second header field, the step index.</summary>
    public const string StepColumn = "t";

    /// <summary>Reads and validates a long-format CSV file.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The value columns and the sequences in the order they first appear.</returns>
    /// <exception cref="UnrollException">
    /// The file is missing, empty or malformed; the message names the file and the line.
    /// </exception>
    public static LongFormatTable Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new UnrollException(Directory.Exists(path)
                ? $"{path}: is a directory; expected a CSV file"
                : $"{path}: file not found");
        }

        try
        {
            using var reader = new StreamReader(InputFile.Open(path, "a CSV file in long format (seq,t,...)"), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return Parse(path, reader);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"{path}: cannot read the file: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes <paramref name="sequences"/> to <paramref name="path"/> (atomically), one row per
    /// step, numbers in shortest round-trip form with the invariant culture.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="columns">The value column names, written after <c>seq,t</c>.</param>
    /// <param name="sequences">The sequences; each must hold <c>Length * columns.Count</c> values.</param>
    /// <exception cref="UnrollException">
    /// A name or id is empty, repeated or contains a comma, quote or line break; a sequence's
    /// value count does not match; a value is NaN or infinite; or the file cannot be written.
    /// </exception>
    public static void Write(string path, IReadOnlyList<string> columns, IReadOnlyList<LongFormatSequence> sequences)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(sequences);
        ValidateForWrite(path, columns, sequences);

        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 16, leaveOpen: true)
            {
                NewLine = "\n",
            };
            writer.Write(SequenceColumn);
            writer.Write(',');
            writer.Write(StepColumn);
            foreach (string column in columns)
            {
                writer.Write(',');
                writer.Write(column);
            }

            writer.WriteLine();
            int width = columns.Count;
            foreach (LongFormatSequence sequence in sequences)
            {
                for (int t = 0; t < sequence.Length; t++)
                {
                    writer.Write(sequence.Id);
                    writer.Write(',');
                    writer.Write(t.ToString(CultureInfo.InvariantCulture));
                    for (int c = 0; c < width; c++)
                    {
                        writer.Write(',');
                        writer.Write(sequence.Values[(t * width) + c].ToString("R", CultureInfo.InvariantCulture));
                    }

                    writer.WriteLine();
                }
            }

            writer.Flush();
        });
    }

    private static void ValidateForWrite(string path, IReadOnlyList<string> columns, IReadOnlyList<LongFormatSequence> sequences)
    {
        if (columns.Count == 0)
        {
            throw new UnrollException($"cannot write '{path}': no value columns; expected at least one");
        }

        var names = new HashSet<string>(StringComparer.Ordinal) { SequenceColumn, StepColumn };
        foreach (string column in columns)
        {
            CheckField(path, "column name", column);
            if (!names.Add(column))
            {
                throw new UnrollException($"cannot write '{path}': column '{column}' appears twice or clashes with seq/t; expected unique names");
            }
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        int width = columns.Count;
        foreach (LongFormatSequence sequence in sequences)
        {
            ArgumentNullException.ThrowIfNull(sequence, nameof(sequences));
            CheckField(path, "sequence id", sequence.Id);
            if (!ids.Add(sequence.Id))
            {
                throw new UnrollException($"cannot write '{path}': sequence '{sequence.Id}' appears twice; expected unique ids");
            }

            if (sequence.Values.Length != (long)sequence.Length * width)
            {
                throw new UnrollException(
                    $"cannot write '{path}': sequence '{sequence.Id}' has {sequence.Values.Length} values; expected {sequence.Length} steps x {width} columns = {(long)sequence.Length * width}");
            }

            for (int i = 0; i < sequence.Values.Length; i++)
            {
                if (!double.IsFinite(sequence.Values[i]))
                {
                    throw new UnrollException(
                        $"cannot write '{path}': sequence '{sequence.Id}' t={i / width} column '{columns[i % width]}' is {sequence.Values[i].ToString(CultureInfo.InvariantCulture)}; expected a finite number");
                }
            }
        }
    }

    private static void CheckField(string path, string what, string value)
    {
        ArgumentNullException.ThrowIfNull(value, what);
        if (value.Length == 0 || value.Trim().Length != value.Length)
        {
            throw new UnrollException($"cannot write '{path}': {what} '{value}' is empty or has surrounding spaces; expected a trimmed, non-empty name");
        }

        if (value.AsSpan().IndexOfAny(",\"\r\n") >= 0)
        {
            throw new UnrollException($"cannot write '{path}': {what} '{value}' contains a comma, quote or line break; expected a plain name");
        }
    }

    private static LongFormatTable Parse(string path, TextReader reader)
    {
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        // Blank lines at the end (an editor's final newline, or several) are not rows.
        int lineCount = lines.Count;
        while (lineCount > 0 && string.IsNullOrWhiteSpace(lines[lineCount - 1]))
        {
            lineCount--;
        }

        if (lineCount == 0)
        {
            throw new UnrollException($"{path}: file is empty; expected a header line 'seq,t,<column names>'");
        }

        string[] header = SplitFields(lines[0]);
        if (header.Length < 2 || header[0] != SequenceColumn || header[1] != StepColumn)
        {
            throw new UnrollException($"{path}:1: header is '{lines[0].Trim()}'; expected it to start with 'seq,t'");
        }

        if (header.Length == 2)
        {
            throw new UnrollException($"{path}:1: header has no value columns after 'seq,t'; expected at least one");
        }

        var columns = new string[header.Length - 2];
        var seenColumns = new HashSet<string>(StringComparer.Ordinal) { SequenceColumn, StepColumn };
        for (int c = 0; c < columns.Length; c++)
        {
            string name = header[c + 2];
            if (name.Length == 0)
            {
                throw new UnrollException($"{path}:1: column {c + 3} of the header is empty; expected a column name");
            }

            if (!seenColumns.Add(name))
            {
                throw new UnrollException($"{path}:1: column '{name}' appears more than once in the header; expected unique names");
            }

            columns[c] = name;
        }

        int width = columns.Length;
        var sequences = new List<LongFormatSequence>();
        // Where each finished sequence started and ended, to report a sequence split apart.
        var finished = new Dictionary<string, (int FirstLine, int LastLine)>(StringComparer.Ordinal);
        string? currentId = null;
        int currentFirstLine = 0, previousStep = -1;
        var currentValues = new List<double>();

        void FinishCurrent(int lastLine)
        {
            if (currentId is not null)
            {
                sequences.Add(new LongFormatSequence(currentId, previousStep + 1, currentValues.ToArray()));
                finished.Add(currentId, (currentFirstLine, lastLine));
                currentValues.Clear();
            }
        }

        for (int index = 1; index < lineCount; index++)
        {
            int lineNumber = index + 1;
            string where = $"{path}:{lineNumber}";
            if (string.IsNullOrWhiteSpace(lines[index]))
            {
                throw new UnrollException($"{where}: line is blank; expected a row (blank lines are allowed only at the end)");
            }

            string[] fields = SplitFields(lines[index]);
            if (fields.Length != header.Length)
            {
                throw new UnrollException($"{where}: row has {fields.Length} fields; expected {header.Length} (seq, t and {width} value column{(width == 1 ? "" : "s")})");
            }

            string id = fields[0];
            if (id.Length == 0)
            {
                throw new UnrollException($"{where}: seq is empty; expected a sequence id");
            }

            if (!int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int step))
            {
                throw new UnrollException($"{where}: t is '{fields[1]}'; expected a non-negative integer step index");
            }

            if (id != currentId)
            {
                if (finished.TryGetValue(id, out (int FirstLine, int LastLine) earlier))
                {
                    string earlierLines = earlier.FirstLine == earlier.LastLine
                        ? $"line {earlier.FirstLine}"
                        : $"lines {earlier.FirstLine}-{earlier.LastLine}";
                    throw new UnrollException(
                        $"{where}: rows of sequence '{id}' are split apart ({earlierLines} and again here); expected each sequence's rows to be contiguous");
                }

                FinishCurrent(lineNumber - 1);
                if (step != 0)
                {
                    throw new UnrollException($"{where}: sequence '{id}' starts at t={step}; expected t=0");
                }

                currentId = id;
                currentFirstLine = lineNumber;
            }
            else if (step != previousStep + 1)
            {
                throw new UnrollException($"{where}: sequence '{id}' has t={step} after t={previousStep}; expected t={previousStep + 1}");
            }

            previousStep = step;
            for (int c = 0; c < width; c++)
            {
                string text = fields[c + 2];
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                {
                    throw new UnrollException($"{where}: column '{columns[c]}' is '{text}'; expected a number");
                }

                if (!double.IsFinite(value))
                {
                    throw new UnrollException($"{where}: column '{columns[c]}' is '{text}'; expected a finite number");
                }

                currentValues.Add(value);
            }
        }

        FinishCurrent(lineCount);
        return new LongFormatTable(columns, sequences, path);
    }

    private static string[] SplitFields(string line)
    {
        string[] fields = line.Split(',');
        for (int i = 0; i < fields.Length; i++)
        {
            string field = fields[i].Trim();
            if (field.Length >= 2 && field[0] == '"' && field[^1] == '"')
            {
                field = field[1..^1].Trim();
            }

            fields[i] = field;
        }

        return fields;
    }
}

/// <summary>A table of sequences read from or to be written to long-format CSV.</summary>
internal sealed class LongFormatTable
{
    /// <summary>Creates a table.</summary>
    /// <param name="columns">The value column names (excluding <c>seq</c> and <c>t</c>).</param>
    /// <param name="sequences">The sequences; each holds <c>Length * columns.Count</c> values.</param>
    /// <param name="source">The file it came from, used in messages; null when built in memory.</param>
    /// <exception cref="UnrollException">A sequence's value count does not match the number of columns.</exception>
    public LongFormatTable(IReadOnlyList<string> columns, IReadOnlyList<LongFormatSequence> sequences, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(sequences);
        foreach (LongFormatSequence sequence in sequences)
        {
            if (sequence.Values.Length != (long)sequence.Length * columns.Count)
            {
                throw new UnrollException(
                    $"{source ?? "table"}: sequence '{sequence.Id}' has {sequence.Values.Length} values; expected {sequence.Length} steps x {columns.Count} columns");
            }
        }

        Columns = columns;
        Sequences = sequences;
        Source = source;
    }

    /// <summary>The value column names, in file order, excluding <c>seq</c> and <c>t</c>.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The sequences in the order they first appear.</summary>
    public IReadOnlyList<LongFormatSequence> Sequences { get; }

    /// <summary>The file the table was read from, or null when built in memory.</summary>
    public string? Source { get; }

    /// <summary>The position of column <paramref name="name"/> among <see cref="Columns"/>.</summary>
    /// <param name="name">The column name.</param>
    /// <returns>Its zero-based index within each row of <see cref="LongFormatSequence.Values"/>.</returns>
    /// <exception cref="UnrollException">There is no such column; the message lists the available ones.</exception>
    public int ColumnIndex(string name)
    {
        for (int i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new UnrollException($"{Source ?? "table"}: no column '{name}'; available columns: {string.Join(", ", Columns)}");
    }
}

/// <summary>One sequence: its id and its values, one row of columns per step.</summary>
internal sealed class LongFormatSequence
{
    /// <summary>Creates a sequence. <paramref name="values"/> is kept, not copied.</summary>
    /// <param name="id">The sequence id (the <c>seq</c> field).</param>
    /// <param name="length">The number of steps.</param>
    /// <param name="values">The values, <c>[t, column]</c> row-major: <c>length</c> rows of equal width.</param>
    /// <exception cref="UnrollException">The length is negative or the values do not form <paramref name="length"/> equal rows.</exception>
    public LongFormatSequence(string id, int length, double[] values)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(values);
        if (length < 0 || (length == 0 ? values.Length != 0 : values.Length % length != 0))
        {
            throw new UnrollException($"sequence '{id}' has {values.Length} values; expected a whole number of rows for {length} steps");
        }

        Id = id;
        Length = length;
        Values = values;
    }

    /// <summary>The sequence id (the <c>seq</c> field).</summary>
    public string Id { get; }

    /// <summary>The number of steps.</summary>
    public int Length { get; }

    /// <summary>The values, <c>[t, column]</c> row-major.</summary>
    public double[] Values { get; }
}
