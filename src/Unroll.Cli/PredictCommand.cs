using System.CommandLine;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// `unroll predict MODEL --input FILE [--output FILE|-]`: run a trained model of any kind over new data.
/// The input format follows the model: CSV long format (seq,t,&lt;inputs&gt;) for sequence models, the training
/// CSV's columns for a CSV model, a text for a language model, IDX images or a CSV of pixels for an image classifier.
/// </summary>
internal static class PredictCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var input = new Option<string>("--input") { Description = "The data to predict for (its format follows the model: see docs/cli.md)", Required = true };
        var output = Options.Make("--output", "Where to write the predictions as CSV; - writes them to standard output", "-");
        var command = new Command("predict", "Run a trained model over new data: per-step values or classes, one answer per sequence, token log-probabilities, image classes")
        {
            modelPath, input, output,
        };
        command.SetAction(parse =>
        {
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console), inputPath = parse.GetValue(input)!, outputPath = parse.GetValue(output)!;
            OutputPaths.RefuseOverwritingInputs(outputPath, "--output", path, inputPath);
            var loaded = ModelFile.Load(path);
            ForecastTask.Reader ??= Forecasts.ForecastFiles.Read;
            var task = TrainingTask.FromMetadata(loaded.Metadata, path);
            task?.CheckModel(loaded.Model.Config, path);
            var (csv, summary) = task switch
            {
                TextTask text => Predictions.Text(loaded.Model, text, inputPath),
                ImageTask images => Predictions.Images(loaded.Model, images, inputPath),
                CsvTask series => Predictions.Series(loaded.Model, series, inputPath),
                ForecastTask forecast => Forecasts.ForecastCommand.Csv(loaded.Model, forecast, inputPath),
                _ => Predictions.Sequences(loaded.Model, inputPath),
            };
            OutputPaths.Write(console, outputPath, csv);
            // With the predictions on standard output, the summary goes to standard error so a pipe gets only the CSV.
            (outputPath == "-" ? console.Error : console.Output).WriteLine(outputPath == "-" ? summary : $"{summary} Wrote {outputPath}.");
            return CliApp.Success;
        });
        return command;
    }
}

/// <summary>Where commands write: a file (atomically) or standard output, and never over one of their inputs.</summary>
internal static class OutputPaths
{
    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/>, or to standard output for "-".</summary>
    public static void Write(CliConsole console, string path, string text)
    {
        ArgumentNullException.ThrowIfNull(console);
        if (path == "-")
        {
            console.Output.Write(text);
        }
        else
        {
            AtomicFile.WriteAllText(path, text);
        }
    }

    /// <summary>Refuses an output path that names one of the command's inputs (which the write would replace).</summary>
    /// <exception cref="UnrollException">It does.</exception>
    public static void RefuseOverwritingInputs(string output, string option, params string[] inputs)
    {
        if (output == "-" || string.IsNullOrEmpty(output))
        {
            return;
        }

        string full = Path.GetFullPath(output);
        foreach (string input in inputs)
        {
            if (!string.IsNullOrEmpty(input) && input != "-" && string.Equals(Path.GetFullPath(input), full, StringComparison.Ordinal))
            {
                throw new UnrollException($"{option}: '{output}' is also an input of this command ({input}); writing it would destroy that input. Choose another output file.");
            }
        }
    }
}
