using System.CommandLine;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// `unroll predict MODEL --input FILE [--output FILE|-]`: run a trained model of any kind over new data.
/// The input format follows the model: CSV long format (seq,t,&lt;inputs&gt;) for sequence models, the training
/// CSV's columns for a CSV model, a text for a language model, IDX images or a CSV of pixels for an image classifier.
/// `unroll predict MODEL --stream [--input FILE|-]`: one step per line, from standard input by default, each prediction
/// written as soon as its line is read (<see cref="PredictStream"/>).
/// </summary>
internal static class PredictCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var input = new Option<string>("--input") { Description = "The data to predict for (its format follows the model: see docs/cli.md); with --stream, - (the default) reads standard input" };
        var output = Options.Make("--output", "Where to write the predictions as CSV; - writes them to standard output", "-");
        output.Aliases.Add("-o");
        var stream = new Option<bool>("--stream") { Description = "Read one step's inputs per line and write each prediction as soon as its line is read, the state carried from line to line (an empty line starts a new sequence)" };
        var command = new Command("predict", "Run a trained model over new data: per-step values or classes, one answer per sequence, token log-probabilities, image classes")
        {
            modelPath, input, output, stream,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(input) is null && result.GetResult(stream) is null)
            {
                result.AddError("predict: expected --input FILE (the data to predict for), or --stream to read steps from standard input.");
            }
        });
        command.SetAction(parse =>
        {
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console), inputPath = parse.GetValue(input) ?? "-", outputPath = parse.GetValue(output)!;
            OutputPaths.RefuseOverwritingInputs(outputPath, "--output", path, inputPath);
            var loaded = ModelFile.Load(path);
            if (parse.GetValue(stream))
            {
                if (outputPath != "-")
                {
                    throw new UnrollException($"--stream writes each prediction to standard output as it comes; expected --output - (the default), got '{outputPath}'.");
                }

                using var reader = inputPath == "-" ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(IO.InputFile.Open(inputPath, "the steps to predict for, one per line"));
                long steps = PredictStream.Run(path, loaded, reader, console.Output);
                console.Error.WriteLine($"Predicted {steps} steps.");
                return CliApp.Success;
            }

            if (inputPath == "-")
            {
                throw new UnrollException("--input: expected a file (standard input is read with --stream), got '-'.");
            }

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
