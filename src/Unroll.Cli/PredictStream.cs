using System.Globalization;
using System.Text;
using Unroll.Inference;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// `unroll predict MODEL --stream`: one step per input line (the model's inputs, comma-separated, or a token id), one
/// prediction per output line, written and flushed as soon as its line is read, the state carried from line to line
/// by a <see cref="Predictor{T}"/> session. An empty line starts a new sequence (the state goes back to zero).
/// </summary>
internal static class PredictStream
{
    /// <summary>The longest input line read (a million characters is far beyond any row of numbers).</summary>
    private const int MaxLineLength = 1 << 20;

    /// <summary>Streams <paramref name="input"/> through the model at <paramref name="path"/>; returns the steps predicted.</summary>
    /// <exception cref="UnrollException">The model cannot stream, or a line is malformed (named by its number).</exception>
    public static long Run(string path, LoadedModel<float> loaded, TextReader input, TextWriter output)
    {
        var task = TrainingTask.FromMetadata(loaded.Metadata, path);
        if (task is TextTask or ImageTask or ForecastTask)
        {
            string kind = task switch { TextTask => "a text", ImageTask => "an image", _ => "a forecasting" };
            throw new UnrollException(
                $"--stream: expected a model that reads its inputs as rows of numbers (a sequence model, an oscillator, a long-range or a CSV task), got a model of {kind} task, whose inputs are encoded first; use --input FILE.");
        }

        // A CSV model reads its columns in their own units: each is normalised as in training, and the targets come back in theirs.
        var series = (task as CsvTask)?.Series;

        task?.CheckModel(loaded.Model.Config, path);
        if (loaded.Model is not SequenceModel<float> model)
        {
            throw new UnrollException($"--stream: expected an rnn, lstm or gru model, got {loaded.Model.Config.Architecture.Name()}; use --input FILE.");
        }

        var config = model.Config;
        var session = new Predictor<float>(model).CreateSession();
        bool tokens = config.VocabularySize > 0, classification = config.Head == HeadKind.Classification;
        IReadOnlyList<string> inputNames = series?.Inputs ?? LongFormatData.InputNames(config);
        var inputs = new float[config.InputSize];
        var token = new int[1];
        var outputs = new float[config.OutputSize];
        var line = new StringBuilder();
        var answer = new StringBuilder();
        long number = 0, steps = 0;
        while (ReadLine(input, line, number + 1) is { } text)
        {
            number++;
            if (text.Trim().Length == 0)
            {
                session.Reset();
                continue;
            }

            var fields = text.Split(',');
            if (number == 1 && !double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                // A header: it must name the model's inputs, and the output gets one too.
                var names = fields.Select(f => f.Trim()).ToArray();
                if (!names.SequenceEqual(inputNames, StringComparer.Ordinal))
                {
                    throw new UnrollException($"--stream: line 1 is a header '{text.Trim()}'; expected the model's inputs '{string.Join(",", inputNames)}' (or no header).");
                }

                output.Write((series is null ? Header(config) : string.Join(",", series.Targets)) + "\n");
                output.Flush();
                continue;
            }

            if (fields.Length != inputNames.Count)
            {
                throw new UnrollException($"--stream: line {number} has {fields.Length} values; expected {inputNames.Count} ({string.Join(",", inputNames)}).");
            }

            if (tokens)
            {
                if (!int.TryParse(fields[0].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out token[0]) || (uint)token[0] >= (uint)config.VocabularySize)
                {
                    throw new UnrollException($"--stream: line {number} is '{fields[0].Trim()}'; expected a token id in [0, {config.VocabularySize}).");
                }

                session.Step(token, outputs);
            }
            else
            {
                for (int i = 0; i < fields.Length; i++)
                {
                    if (!double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || !float.IsFinite((float)value))
                    {
                        throw new UnrollException($"--stream: line {number}, column {i + 1} ({inputNames[i]}) is '{fields[i].Trim()}'; expected a finite number.");
                    }

                    inputs[i] = (float)(series is null ? value : series.Normalise(value, i));
                }

                session.Step(inputs, outputs);
            }

            if (series is not null)
            {
                // In the targets' own units, as `predict --input` writes them.
                answer.Clear();
                for (int o = 0; o < outputs.Length; o++)
                {
                    answer.Append(o > 0 ? "," : string.Empty).Append(series.Denormalise(outputs[o], o).ToString("R", CultureInfo.InvariantCulture));
                }

                output.Write(answer.Append('\n').ToString());
                output.Flush();
                steps++;
                continue;
            }

            answer.Clear();
            Predictions.AppendAnswer(answer, outputs, classification);
            output.Write(answer.ToString());
            output.Flush();
            steps++;
        }

        return steps;
    }

    /// <summary>The output header: the outputs' names, or for a classifier the class and each class's probability.</summary>
    private static string Header(ModelConfig config)
    {
        bool classification = config.Head == HeadKind.Classification;
        var names = config.OutputNames.Count > 0 ? config.OutputNames : [.. Enumerable.Range(0, config.OutputSize).Select(i => classification ? $"class{i}" : $"output{i}")];
        return classification ? "class," + string.Join(",", names.Select(n => "p_" + n)) : string.Join(",", names);
    }

    private static string? ReadLine(TextReader input, StringBuilder line, long number)
    {
        line.Clear();
        while (true)
        {
            int c = input.Read();
            if (c < 0)
            {
                return line.Length == 0 ? null : line.ToString();
            }

            if (c == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            if (line.Length >= MaxLineLength)
            {
                throw new UnrollException($"--stream: line {number} is longer than {MaxLineLength} characters; expected one step's inputs per line.");
            }

            line.Append((char)c);
        }
    }
}
