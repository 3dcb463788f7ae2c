using System.CommandLine;
using Unroll.IO;

namespace Unroll.Cli;

/// <summary>`unroll predict MODEL --input in.csv --output out.csv`: one-step predictions for sequences in CSV long format.</summary>
internal static class PredictCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model.safetensors written by unroll train" };
        var input = new Option<string>("--input") { Description = "CSV in long format: seq,t,<the model's input names>", Required = true };
        var output = new Option<string>("--output") { Description = "CSV to write: seq,t,<the model's output names>", Required = true };
        var command = new Command("predict", "Run a trained model over sequences from a CSV file") { modelPath, input, output };
        command.SetAction(parse =>
        {
            var loaded = Models.ModelFile.Load(parse.GetValue(modelPath)!);
            if (DataSourceCommands.TryPredict(console, parse.GetValue(modelPath)!, loaded, parse.GetValue(input)!, parse.GetValue(output)!))
            {
                return CliApp.Success;
            }

            var model = loaded.Model;
            var config = model.Config;
            if (config.VocabularySize > 0 || config.Pooling != Models.Pooling.EveryStep)
            {
                throw new UnrollException(
                    $"{parse.GetValue(modelPath)}: the model {(config.VocabularySize > 0 ? "reads token ids" : "gives one output per sequence (last-step pooling)")}; predict expects a model with dense inputs and one output per step.");
            }

            string inputPath = parse.GetValue(input)!;
            var table = LongFormatCsv.Read(inputPath);
            var inputNames = config.InputNames.Count > 0 ? config.InputNames : Enumerable.Range(0, config.InputSize).Select(i => $"input{i}").ToList();
            var outputNames = config.OutputNames.Count > 0 ? config.OutputNames : Enumerable.Range(0, config.OutputSize).Select(i => $"output{i}").ToList();
            var columns = inputNames.Select(table.ColumnIndex).ToArray();
            var results = new List<LongFormatSequence>(table.Sequences.Count);
            foreach (var sequence in table.Sequences)
            {
                int steps = sequence.Length;
                var x = new float[steps * config.InputSize];
                for (int t = 0; t < steps; t++)
                {
                    for (int i = 0; i < columns.Length; i++)
                    {
                        x[(t * config.InputSize) + i] = (float)sequence.Values[(t * table.Columns.Count) + columns[i]];
                    }
                }

                model.Run(x, ReadOnlySpan<float>.Empty, steps, batch: 1); // a Jordan network runs free on its own outputs
                var y = model.Predictions.ToArray().Select(v => (double)v).ToArray();
                results.Add(new LongFormatSequence(sequence.Id, steps, y));
            }

            string outputPath = parse.GetValue(output)!;
            LongFormatCsv.Write(outputPath, outputNames, results);
            console.Output.WriteLine($"Wrote {results.Count} sequences ({results.Sum(r => r.Length)} steps) to {outputPath}.");
            return CliApp.Success;
        });
        return command;
    }
}
