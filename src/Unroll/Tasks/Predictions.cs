using System.Globalization;
using System.Text;
using Unroll.Data.Images;
using Unroll.Data.Text;
using Unroll.IO;
using Unroll.Models;

namespace Unroll.Tasks;

/// <summary>
/// A trained model run over new data, as CSV text with a one-line summary: the input's format and the rows
/// follow the model (docs/cli.md, <c>unroll predict</c>).
/// </summary>
internal static class Predictions
{
    // CSV long format in, one row per step (per-step heads) or per sequence (last-step heads) out.
    public static (string Csv, string Summary) Sequences(IRecurrentModel<float> model, string inputPath)
    {
        var config = model.Config;
        var table = LongFormatCsv.Read(inputPath);
        var inputNames = LongFormatData.InputNames(config);
        var columns = inputNames.Select(name => LongFormatData.Column(table, name, inputPath, inputNames)).ToArray();
        bool classification = config.Head == HeadKind.Classification, perStep = config.Pooling == Pooling.EveryStep;
        var outputNames = config.OutputNames.Count > 0 ? config.OutputNames : [.. Enumerable.Range(0, config.OutputSize).Select(i => classification ? $"class{i}" : $"output{i}")];
        var text = new StringBuilder("seq,");
        text.Append(perStep ? "t," : string.Empty).Append(classification ? "class," + string.Join(",", outputNames.Select(n => "p_" + n)) : string.Join(",", outputNames)).Append('\n');
        int rows = 0;
        foreach (var sequence in table.Sequences)
        {
            int steps = sequence.Length;
            var x = new float[steps * columns.Length];
            for (int t = 0; t < steps; t++)
            {
                for (int i = 0; i < columns.Length; i++)
                {
                    x[(t * columns.Length) + i] = (float)sequence.Values[(t * table.Columns.Count) + columns[i]];
                }
            }

            model.Training = false;
            model.Run(x, ReadOnlySpan<float>.Empty, steps, batch: 1); // a Jordan network runs free on its own outputs
            var y = model.Predictions;
            int answers = perStep ? steps : 1;
            for (int r = 0; r < answers; r++)
            {
                text.Append(sequence.Id).Append(',');
                if (perStep)
                {
                    text.Append(r.ToString(CultureInfo.InvariantCulture)).Append(',');
                }

                AppendAnswer(text, y.Slice(r * config.OutputSize, config.OutputSize), classification);
                rows++;
            }
        }

        return (text.ToString(), $"Predicted {rows} {(perStep ? "steps" : "sequences")} of {table.Sequences.Count} sequences.");
    }

    // A language model: the log-probability of every token of a text given the ones before it.
    public static (string Csv, string Summary) Text(IRecurrentModel<float> model, TextTask task, string inputPath)
    {
        var sequenceModel = (SequenceModel<float>)model;
        var vocabulary = task.Vocabulary;
        var tokens = TextCorpus.Encode(Utf8Text.ReadFile(inputPath), vocabulary, out int unknown);
        if (tokens.Length < 2)
        {
            throw new UnrollException($"{inputPath}: expected at least 2 {task.Unit}s (one to predict from and one to predict), got {tokens.Length}.");
        }

        var text = new StringBuilder("position,token,log_prob,bits\n");
        var state = Array.Empty<float>();
        var cell = Array.Empty<float>();
        const int window = 256;
        int classes = vocabulary.Count;
        double totalNats = 0;
        sequenceModel.Training = false;
        for (int start = 0; start + 1 < tokens.Length; start += window)
        {
            int steps = Math.Min(window, tokens.Length - 1 - start);
            sequenceModel.ForwardTokens(tokens.AsSpan(start, steps), steps, 1, state, default, cell);
            var logits = sequenceModel.Predictions;
            for (int t = 0; t < steps; t++)
            {
                var row = logits.Slice(t * classes, classes);
                int next = tokens[start + t + 1];
                double logProbability = LogSoftmax(row, next);
                totalNats -= logProbability;
                text.Append(CultureInfo.InvariantCulture, $"{start + t + 1},{Csv.Quote(TextSampler.Show(vocabulary.Tokens[next]))},{logProbability:R},{-logProbability / Math.Log(2):R}\n");
            }

            state = sequenceModel.FinalState.ToArray();
            cell = sequenceModel.FinalCell.ToArray();
        }

        int scored = tokens.Length - 1;
        return (text.ToString(), string.Create(CultureInfo.InvariantCulture,
            $"{scored} {task.Unit}s after the first: {totalNats / Math.Log(2):F1} bits in all, {totalNats / scored / Math.Log(2):F4} bits per {task.Unit} ({unknown} read as {Vocabulary.UnknownToken})."));
    }

    // An image classifier: IDX images (as the dataset ships them) or a CSV of one image's pixels (0-255) per line.
    public static (string Csv, string Summary) Images(IRecurrentModel<float> model, ImageTask task, string inputPath)
    {
        var description = task.Description;
        var images = ReadImages(inputPath, description.Rows, description.Columns).WithOrder(description.Order, description.Permutation);
        var names = FashionMnist.ClassNames;
        var text = new StringBuilder("index,class,name," + string.Join(",", names.Select(n => Csv.Quote("p_" + n))) + "\n");
        const int batch = 256;
        var inputs = new float[images.Steps * batch * images.InputSize];
        var labels = new int[batch];
        model.Training = false;
        for (int start = 0; start < images.Count; start += batch)
        {
            int count = Math.Min(batch, images.Count - start);
            var indices = Enumerable.Range(start, count).ToArray();
            var x = inputs.AsSpan(0, images.Steps * count * images.InputSize);
            images.CopyBatch(indices, x, labels.AsSpan(0, count));
            model.Run(x, ReadOnlySpan<float>.Empty, images.Steps, count);
            for (int b = 0; b < count; b++)
            {
                var row = model.Predictions.Slice(b * names.Count, names.Count);
                text.Append((start + b).ToString(CultureInfo.InvariantCulture)).Append(',');
                AppendAnswer(text, row, classification: true, names);
            }
        }

        return (text.ToString(), $"Classified {images.Count} images of {description.Rows} x {description.Columns}.");
    }

    // A CSV time-series model: the targets predicted from every row's inputs, in the targets' own units.
    public static (string Csv, string Summary) Series(IRecurrentModel<float> model, CsvTask task, string inputPath)
    {
        var series = task.Series;
        var data = Data.Tables.TimeSeriesCsv.Read(inputPath, series.Inputs);
        var predictions = CsvTask.Predict(model, series.NormalisedInputs(data), data.Rows);
        var text = new StringBuilder("step,target_step," + string.Join(",", series.Targets) + "\n");
        int outputs = series.Targets.Count;
        for (int t = 0; t < data.Rows; t++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{t},{t + series.Shift}");
            for (int o = 0; o < outputs; o++)
            {
                text.Append(',').Append(series.Denormalise(predictions[(t * outputs) + o], o).ToString("R", CultureInfo.InvariantCulture));
            }

            text.Append('\n');
        }

        return (text.ToString(), $"Predicted {string.Join(", ", series.Targets)} {series.Shift} row{(series.Shift == 1 ? string.Empty : "s")} ahead for {data.Rows} row{(data.Rows == 1 ? string.Empty : "s")}.");
    }

    /// <summary>One line of answers: a regression head's values (round-trip precision), or a classifier's most likely class (and its name) and its softmax.</summary>
    internal static void AppendAnswer(StringBuilder text, ReadOnlySpan<float> row, bool classification, IReadOnlyList<string>? names = null)
    {
        if (!classification)
        {
            for (int o = 0; o < row.Length; o++)
            {
                text.Append(o > 0 ? "," : string.Empty).Append(((double)row[o]).ToString("R", CultureInfo.InvariantCulture));
            }

            text.Append('\n');
            return;
        }

        // Softmax with the largest logit subtracted, as the loss computes it.
        float max = float.NegativeInfinity;
        int best = 0;
        for (int c = 0; c < row.Length; c++)
        {
            (max, best) = row[c] > max ? (row[c], c) : (max, best);
        }

        double sum = 0;
        for (int c = 0; c < row.Length; c++)
        {
            sum += Math.Exp(row[c] - max);
        }

        text.Append(best.ToString(CultureInfo.InvariantCulture));
        if (names is not null)
        {
            text.Append(',').Append(Csv.Quote(names[best]));
        }

        for (int c = 0; c < row.Length; c++)
        {
            text.Append(',').Append((Math.Exp(row[c] - max) / sum).ToString("G9", CultureInfo.InvariantCulture));
        }

        text.Append('\n');
    }

    private static double LogSoftmax(ReadOnlySpan<float> logits, int index)
    {
        double max = double.NegativeInfinity;
        foreach (float z in logits)
        {
            max = Math.Max(max, z);
        }

        double sum = 0;
        foreach (float z in logits)
        {
            sum += Math.Exp(z - max);
        }

        return logits[index] - max - Math.Log(sum);
    }

    private static SequentialImages ReadImages(string path, int rows, int columns)
    {
        if (!File.Exists(path))
        {
            throw new UnrollException($"{path}: file not found; expected IDX images or a CSV of {rows * columns} pixel values per line.");
        }

        if (IdxFile.LooksLikeIdx(path))
        {
            var idx = IdxFile.Read(path, 3);
            if (idx.Dimensions[1] != rows || idx.Dimensions[2] != columns)
            {
                throw new UnrollException($"{path}: holds images of {idx.Dimensions[1]} x {idx.Dimensions[2]}; the model reads {rows} x {columns}.");
            }

            return new SequentialImages(idx.Values, new byte[idx.Dimensions[0]], rows, columns, FashionMnist.ClassNames.Count, PixelOrder.Rows, null, path);
        }

        var pixels = new List<byte>();
        int count = 0, pixelCount = rows * columns;
        int lineNumber = 0;
        foreach (string line in IO.InputFile.ReadAllLines(path, "a CSV of pixel values"))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var fields = line.Split(',');
            if (fields.Length != pixelCount)
            {
                throw new UnrollException($"{path}, line {lineNumber}: expected {pixelCount} comma-separated pixel values (0-255), got {fields.Length}.");
            }

            foreach (string field in fields)
            {
                if (!byte.TryParse(field.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out byte value))
                {
                    throw new UnrollException($"{path}, line {lineNumber}: expected pixel values from 0 to 255, got '{field}'.");
                }

                pixels.Add(value);
            }

            count++;
        }

        return count > 0
            ? new SequentialImages([.. pixels], new byte[count], rows, columns, FashionMnist.ClassNames.Count, PixelOrder.Rows, null, path)
            : throw new UnrollException($"{path}: holds no image; expected IDX images or a CSV of {pixelCount} pixel values per line.");
    }
}

/// <summary>CSV fields.</summary>
internal static class Csv
{
    /// <summary>A field quoted when it holds a comma, quote or line break.</summary>
    public static string Quote(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return field.AsSpan().IndexOfAny(",\"\n\r") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
