using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Unroll.Data.Tables;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>`unroll train csv FILE`, and eval and predict for models trained on a CSV time series.</summary>
internal static class CsvCommands
{
    public static Command CreateTrain(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "A CSV file: a header line of column names, then one line per time step" };
        var inputs = new Option<string>("--inputs") { Description = "Comma-separated names of the input columns", Required = true };
        var targets = new Option<string>("--targets") { Description = "Comma-separated names of the target columns", Required = true };
        var window = Options.Make("--window", "Steps per training sequence (the file's training rows cut into windows)", 50);
        var shift = Options.Make("--shift", "Predict the targets this many rows ahead (1: the next step; 0: the same row)", 1);
        var validationFraction = Options.Make("--validation-fraction", "The last fraction of the rows held out for validation", 0.2);
        var common = new TaskCliOptions(hidden: 32, steps: 500, batchSize: 16, validateEvery: 50, learningRate: 0.01);
        var command = new Command("csv", "Train on your own time series: input and target columns of a CSV file, normalised with the training part's mean and std")
        {
            file, inputs, targets, window, shift, validationFraction,
        };
        common.AddTo(command);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            var task = new TimeSeriesTask
            {
                Source = Path.GetFullPath(path),
                Inputs = SplitNames(parse.GetValue(inputs)!),
                Targets = SplitNames(parse.GetValue(targets)!),
                Window = parse.GetValue(window),
                Shift = parse.GetValue(shift),
                ValidationFraction = parse.GetValue(validationFraction),
            };
            task.Validate();
            var training = common.ReadTraining(parse, null);
            var timeLimit = common.ReadTimeLimit(parse);
            var data = task.ReadColumns(path);
            var (prepared, train, validation) = task.Prepare(data);
            var config = common.ReadConfig(parse, new ModelConfig
            {
                InputSize = task.Inputs.Count,
                OutputSize = task.Targets.Count,
                InputNames = task.Inputs,
                OutputNames = task.Targets,
            });
            string directory = common.PrepareRunDirectory(parse, "csv");
            var model = common.CreateModel(parse, config);
            var output = console.Output;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{path}: {data.Rows} rows; inputs {string.Join(", ", task.Inputs)} -> targets {string.Join(", ", task.Targets)} {task.Shift} row(s) later; {train.Count} training windows of {task.Window} steps, {validation.Length} validation steps."));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Normalisation from the training rows: {string.Join(", ", task.Inputs.Select((n, i) => $"{n} mean {prepared.InputMeans[i]:G4} std {prepared.InputStds[i]:G4}"))}."));
            var trainer = new Trainer(model, training);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainingStop stopped;
            try
            {
                stopped = TaskCliOptions.RunWithProgress(console, training.Steps, timeLimit,
                    loss => double.IsNaN(loss) ? "validation -" : string.Create(CultureInfo.InvariantCulture, $"validation MSE {loss:G4} (normalised)"),
                    (progress, token) => trainer.Run(train, validation, progress, token));
            }
            catch (TrainingDivergedException e)
            {
                RunFiles.WriteMetrics(Path.Combine(directory, "metrics.csv"), trainer.History);
                throw new UnrollException($"{e.Message} No model was written; metrics up to the failure are in {Path.Combine(directory, "metrics.csv")}.", e);
            }

            double seconds = clock.Elapsed.TotalSeconds;
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [TimeSeriesTask.MetadataKey] = prepared.ToJson(),
                ["unroll.training"] = training.ToJson(),
            };
            ModelFile.Save(Path.Combine(directory, TrainCommand.ModelFileName), model, metadata);
            RunFiles.WriteMetrics(Path.Combine(directory, "metrics.csv"), trainer.History);
            RunFiles.WriteLossPlot(Path.Combine(directory, "loss.svg"), trainer.History, "Loss (MSE of normalised targets)");
            var (x, y) = prepared.Normalised(data);
            int validationStart = data.Rows - prepared.Shift - validation.Length;
            var evaluation = Score(model, prepared, x.AsSpan(validationStart * task.Inputs.Count), y.AsSpan(validationStart * task.Targets.Count));
            AtomicFile.WriteAllText(Path.Combine(directory, "evaluation.json"), JsonSerializer.Serialize(evaluation, JsonOptions));
            if (TaskCliOptions.StoppedMessage(stopped, trainer.History.Count, training.Steps, timeLimit, directory) is { } stoppedEarly)
            {
                output.WriteLine(stoppedEarly);
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Trained {trainer.History.Count} steps in {seconds:F1} s."));
            Print(output, "Validation part", evaluation);
            output.WriteLine($"Wrote {directory}{Path.DirectorySeparatorChar}: {TrainCommand.ModelFileName}, metrics.csv, evaluation.json, loss.svg");
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>`unroll eval` for a CSV model: the validation part of its training file, or a whole other file.</summary>
    public static void Evaluate(CliConsole console, string path, LoadedModel loaded, string? input, bool json)
    {
        var task = ReadTask(path, loaded);
        string source = string.IsNullOrEmpty(input) ? task.Source : input;
        if (!File.Exists(source))
        {
            throw new UnrollException($"{source}: file not found; pass --input FILE with the columns {string.Join(", ", task.Inputs.Concat(task.Targets).Distinct())}.");
        }

        var data = task.ReadColumns(source);
        var (x, y) = task.Normalised(data);
        int pairs = data.Rows - task.Shift, start = 0;
        string what = source;
        if (string.IsNullOrEmpty(input))
        {
            start = pairs - (int)Math.Round(pairs * task.ValidationFraction);
            what = $"the validation part of {source} (rows from data row {start + 1})";
        }

        var evaluation = Score(loaded.Model, task, x.AsSpan(start * task.Inputs.Count), y.AsSpan(start * task.Targets.Count));
        if (json)
        {
            console.Output.WriteLine(JsonSerializer.Serialize(evaluation, JsonOptions));
        }
        else
        {
            Print(console.Output, what, evaluation);
        }
    }

    /// <summary>`unroll predict` for a CSV model: the targets predicted from every row's inputs, in the targets' units.</summary>
    public static void Predict(CliConsole console, string path, LoadedModel loaded, string input, string outputPath)
    {
        var task = ReadTask(path, loaded);
        var data = TimeSeriesCsv.Read(input, task.Inputs);
        var x = task.NormalisedInputs(data);
        var predictions = Run(loaded.Model, x, data.Rows);
        var text = new StringBuilder("step,target_step," + string.Join(",", task.Targets) + "\n");
        int outputs = task.Targets.Count;
        for (int t = 0; t < data.Rows; t++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{t},{t + task.Shift}");
            for (int o = 0; o < outputs; o++)
            {
                text.Append(',').Append(task.Denormalise(predictions[(t * outputs) + o], o).ToString("R", CultureInfo.InvariantCulture));
            }

            text.Append('\n');
        }

        AtomicFile.WriteAllText(outputPath, text.ToString());
        console.Output.WriteLine($"Wrote {data.Rows} predictions of {string.Join(", ", task.Targets)} ({task.Shift} row(s) ahead) to {outputPath}.");
    }

    private static TimeSeriesTask ReadTask(string path, LoadedModel loaded)
    {
        TimeSeriesTask task;
        try
        {
            task = TimeSeriesTask.FromJson(loaded.Metadata[TimeSeriesTask.MetadataKey]);
        }
        catch (UnrollException e)
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }

        // The metadata and the weights are separate parts of the file: a column list that disagrees with the model would index past its outputs.
        var config = loaded.Model.Config;
        if (task.Inputs.Count != config.InputSize || task.Targets.Count != config.OutputSize)
        {
            throw new UnrollException(
                $"{path}: the metadata names {task.Inputs.Count} input and {task.Targets.Count} target column(s) but the model reads {config.InputSize} and predicts {config.OutputSize}; expected the same.");
        }

        return task;
    }

    // The whole series as one sequence from a zero state: normalised predictions [T, O].
    private static double[] Run(IRecurrentModel<float> model, ReadOnlySpan<double> inputs, int steps)
    {
        var x = new float[inputs.Length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)inputs[i];
        }

        model.Training = false;
        model.Run(x, ReadOnlySpan<float>.Empty, steps, batch: 1);
        return model.Predictions.ToArray().Select(v => (double)v).ToArray();
    }

    private static CsvEvaluation Score(IRecurrentModel<float> model, TimeSeriesTask task, ReadOnlySpan<double> inputs, ReadOnlySpan<double> targets)
    {
        int outputs = task.Targets.Count, steps = targets.Length / outputs;
        var predictions = Run(model, inputs[..(steps * task.Inputs.Count)], steps);
        var mse = new double[outputs];
        var baseline = new double[outputs];
        for (int t = 0; t < steps; t++)
        {
            for (int o = 0; o < outputs; o++)
            {
                double truth = task.Denormalise(targets[(t * outputs) + o], o);
                double error = task.Denormalise(predictions[(t * outputs) + o], o) - truth;
                double meanError = task.TargetMeans[o] - truth;
                mse[o] += error * error / steps;
                baseline[o] += meanError * meanError / steps;
            }
        }

        return new CsvEvaluation(steps, [.. task.Targets], mse, mse.Select(Math.Sqrt).ToArray(), baseline);
    }

    private static void Print(TextWriter output, string what, CsvEvaluation e)
    {
        output.WriteLine($"{what}: {e.Steps} steps, in the targets' own units.");
        output.WriteLine($"{"target",-16}{"model MSE",14}{"model RMSE",14}{"training-mean MSE",20}");
        for (int o = 0; o < e.Targets.Length; o++)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Targets[o],-16}{e.Mse[o],14:G5}{e.Rmse[o],14:G5}{e.MeanBaselineMse[o],20:G5}"));
        }
    }

    private static string[] SplitNames(string text) => text.Split(',', StringSplitOptions.TrimEntries);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Per-target errors over a stretch of the series, in the targets' units, beside always predicting the training mean.</summary>
    private sealed record CsvEvaluation(int Steps, string[] Targets, double[] Mse, double[] Rmse, double[] MeanBaselineMse);
}
