using System.CommandLine;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>
/// `unroll eval MODEL`: the model's figures on its task's held-out data beside the task's baselines (the same
/// table as after training), or on a long-format CSV of inputs and targets for a model that names no task.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var json = Options.Make("--json", "Print the figures as JSON (as evaluation.json)", false);
        var horizon = Options.Optional<int>("--horizon", "Oscillator models: free-running forecast horizon in steps (default: as in training)");
        var testSequences = Options.Optional<int>("--test-count", "Generated tasks: regenerate the test split with this many sequences; Fashion-MNIST: score the first N test images");
        var input = Options.Make("--input", "Score this file instead: a text (text models), a CSV with the training columns (CSV models), or seq,t,<inputs>,<targets> in long format (any other model)", string.Empty);
        var dataDirectory = Options.Make("--data-dir", "Fashion-MNIST models: the directory holding the IDX files (default: where training found them)", string.Empty);
        var command = new Command("eval", "Score a trained model on its held-out data beside the task's baselines (the oscillator's persistence and Euler, the tasks' memoryless baseline, ...)")
        {
            modelPath, json, horizon, testSequences, input, dataDirectory,
        };
        command.SetAction(parse =>
        {
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console);
            var loaded = ModelFile.Load(path);
            var options = new EvaluationOptions(parse.GetValue(horizon), parse.GetValue(testSequences), NullIfEmpty(parse.GetValue(input)), NullIfEmpty(parse.GetValue(dataDirectory)));
            var task = TrainingTask.FromMetadata(loaded.Metadata, path);
            Evaluation evaluation;
            if (task is null)
            {
                if (options.Input is null || options.Horizon is not null || options.TestCount is not null || options.DataDirectory is not null)
                {
                    throw new UnrollException(
                        $"{path}: names no data it was trained on (an imported model); pass --input FILE, a CSV in long format with the columns seq,t,{string.Join(",", LongFormatData.InputNames(loaded.Model.Config).Concat(LongFormatData.TargetNames(loaded.Model.Config)))}, " +
                        "or import it with --like a model trained by unroll train.");
                }

                evaluation = LongFormatData.Evaluate(loaded.Model, options.Input);
            }
            else
            {
                task.CheckModel(loaded.Model.Config, path);
                evaluation = task.Evaluate(loaded.Model, options);
            }

            if (parse.GetValue(json))
            {
                console.Output.WriteLine(evaluation.ToJson());
            }
            else
            {
                EvaluationPrinter.Print(console.Output, evaluation);
            }

            return CliApp.Success;
        });
        return command;
    }

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}

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
