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
