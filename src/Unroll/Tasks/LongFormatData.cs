using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>Sequences in CSV long format (seq,t,&lt;inputs&gt;,&lt;targets&gt;) for a model that names no task.</summary>
internal static class LongFormatData
{
    /// <summary>The input columns such a file holds: the model's input names, "token" for token ids, or input0, input1, ...</summary>
    public static IReadOnlyList<string> InputNames(ModelConfig config) => config.VocabularySize > 0
        ? ["token"]
        : config.InputNames.Count > 0 ? config.InputNames : [.. Enumerable.Range(0, config.InputSize).Select(i => $"input{i}")];

    /// <summary>The target columns: the output names, "class" for a classifier, or target0, target1, ...</summary>
    public static IReadOnlyList<string> TargetNames(ModelConfig config) => config.Head == HeadKind.Classification
        ? ["class"]
        : config.OutputNames.Count > 0 ? config.OutputNames : [.. Enumerable.Range(0, config.OutputSize).Select(i => $"target{i}")];

    /// <summary>The model's loss (and accuracy) over every sequence of the file, each run from a zero state.</summary>
    public static Evaluation Evaluate(IRecurrentModel<float> model, string path)
    {
        var config = model.Config;
        var table = LongFormatCsv.Read(path);
        var names = InputNames(config).Concat(TargetNames(config)).ToList();
        var columns = names.Select(name => Column(table, name, path, names)).ToArray();
        int inputs = InputNames(config).Count, targets = columns.Length - inputs;
        double lossSum = 0;
        long rows = 0, correct = 0;
        foreach (var sequence in table.Sequences)
        {
            int steps = sequence.Length;
            var x = new float[steps * inputs];
            var y = new float[steps * targets];
            for (int t = 0; t < steps; t++)
            {
                for (int c = 0; c < columns.Length; c++)
                {
                    float value = (float)sequence.Values[(t * table.Columns.Count) + columns[c]];
                    if (c < inputs)
                    {
                        x[(t * inputs) + c] = value;
                    }
                    else
                    {
                        y[(t * targets) + c - inputs] = value;
                    }
                }
            }

            model.Training = false;
            model.Run(x, y, steps, 1);
            var result = HeadLoss.Compute<float>(config, model.Predictions, y, steps, 1, Span<float>.Empty);
            lossSum += result.Loss * result.Rows;
            rows += result.Rows;
            correct += result.Correct;
        }

        bool classification = config.Head == HeadKind.Classification;
        double loss = rows > 0 ? lossSum / rows : double.NaN, accuracy = classification && rows > 0 ? (double)correct / rows : double.NaN;
        var figures = new Dictionary<string, double>(StringComparer.Ordinal) { ["loss"] = loss, ["rows"] = rows };
        if (classification)
        {
            figures["accuracy"] = accuracy;
        }

        return new Evaluation
        {
            Task = "input",
            Split = "input",
            Data = $"{path}: {table.Sequences.Count} sequences, {rows} scored {(config.Pooling == Pooling.LastStep ? "sequences" : "steps")}",
            Summary = classification
                ? new EvaluationTable("Loss on the file", ["cross-entropy", "accuracy"], [new("model", [loss, accuracy])])
                : new EvaluationTable("Loss on the file", ["MSE"], [new("model", [loss])]),
            Figures = figures,
        };
    }

    /// <summary>The index of column <paramref name="name"/>, or an error naming the columns expected.</summary>
    public static int Column(LongFormatTable table, string name, string path, IReadOnlyList<string> expected)
    {
        for (int i = 0; i < table.Columns.Count; i++)
        {
            if (table.Columns[i] == name)
            {
                return i;
            }
        }

        throw new UnrollException($"{path}: has no column '{name}'; expected the columns seq,t,{string.Join(",", expected)}.");
    }
}
