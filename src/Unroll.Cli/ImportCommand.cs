using System.CommandLine;
using System.Text.Json;
using Unroll.Data;
using Unroll.Kernels;
using Unroll.Models;

namespace Unroll.Cli;

/// <summary>`unroll import FILE --from pytorch|keras -o model.safetensors`: weights trained elsewhere as an Unroll model file.</summary>
internal static class ImportCommand
{
    /// <summary>The metadata key recording where an imported model came from.</summary>
    public const string ImportKey = "unroll.import";

    public static Command Create(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "A PyTorch state_dict as .safetensors, or Keras weights as .npz (key names in docs/interop.md)" };
        var from = new Option<string>("--from") { Description = "The framework the weights come from: pytorch or keras", Required = true };
        from.AcceptOnlyFromAmong("pytorch", "keras");
        var modelKind = new Option<string>("--model") { Description = "rnn, lstm or gru (default: inferred from the gate rows, 1, 4 or 3 blocks)" };
        modelKind.Validators.Add(result =>
        {
            string? kind = result.GetValueOrDefault<string>();
            if (kind is "lru" or "mingru" or "minlstm" or "jordan")
            {
                // Unroll trains these cells, but neither framework has a module whose weights they could be read from.
                result.AddError($"--model: PyTorch and Keras have no {kind} module to import weights from; expected rnn, lstm or gru, got {kind} (train one with unroll train --model {kind}).");
            }
            else if (kind is not (null or "rnn" or "lstm" or "gru"))
            {
                result.AddError($"--model: expected rnn, lstm or gru, got '{kind}'.");
            }
        });
        var activation = Options.Make("--activation", "The Elman cell's non-linearity (not stored in the weights): tanh, sigmoid, relu or identity", "tanh");
        var rnnPrefix = new Option<string>("--rnn-prefix") { Description = "The recurrent module's prefix: PyTorch e.g. lstm. (default: the one module with weight_ih_l0); Keras the key stem (default: layer)" };
        var headPrefix = new Option<string>("--head-prefix") { Description = "The linear head's prefix: PyTorch e.g. fc. (default: head., else the one other Linear); Keras (default: dense)" };
        var embeddingPrefix = new Option<string>("--embedding-prefix") { Description = "The embedding's prefix: PyTorch (default: embedding.); Keras (default: embedding)" };
        var headKind = new Option<string>("--head-kind") { Description = "regression (default) or classification (the head's outputs are class logits)" };
        headKind.AcceptOnlyFromAmong("regression", "classification");
        var pooling = new Option<string>("--pooling") { Description = "every-step (default: one output per step) or last-step (one per sequence, from its last state)" };
        pooling.AcceptOnlyFromAmong("every-step", "last-step");
        var inputNames = new Option<string>("--input-names") { Description = "Comma-separated names of the inputs, the CSV columns predict reads (default: input0, input1, ...)" };
        var outputNames = new Option<string>("--output-names") { Description = "Comma-separated names of the outputs (default: output0, output1, ...)" };
        var like = new Option<string>("--like") { Description = "An Unroll model file whose names, head kind, pooling and oscillator data description to copy (so eval can test the import)" };
        var output = new Option<string>("--output") { Description = "The Unroll model file to write", Required = true };
        output.Aliases.Add("-o");
        var overwrite = Options.Make("--overwrite", "Replace the output file if it exists", false);
        var command = new Command("import", "Convert PyTorch (safetensors) or Keras (.npz) recurrent weights into an Unroll model file")
        {
            file, from, modelKind, activation, rnnPrefix, headPrefix, embeddingPrefix, headKind, pooling, inputNames, outputNames, like, output, overwrite,
        };
        command.SetAction(parse =>
        {
            string outputPath = parse.GetValue(output)!;
            if (!parse.GetValue(overwrite) && File.Exists(outputPath))
            {
                throw new UnrollException($"--output: '{outputPath}' exists; choose another file or pass --overwrite.");
            }

            string inputPath = parse.GetValue(file)!;
            var source = parse.GetValue(from) == "keras" ? WeightSource.Keras : WeightSource.PyTorch;
            var options = new ImportOptions
            {
                Architecture = parse.GetValue(modelKind),
                Activation = Activations.Parse(parse.GetValue(activation)!),
                RecurrentPrefix = parse.GetValue(rnnPrefix),
                HeadPrefix = parse.GetValue(headPrefix),
                EmbeddingPrefix = parse.GetValue(embeddingPrefix),
            };
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (parse.GetValue(like) is { } likePath)
            {
                var template = ModelFile.Load(likePath);
                var config = template.Model.Config;
                options = options with { InputNames = config.InputNames, OutputNames = config.OutputNames, Head = config.Head, Pooling = config.Pooling };
                // The template's data source, so that eval, diagnose and predict work on the imported weights as on the template.
                if (Tasks.TrainingTask.FromMetadata(template.Metadata, likePath) is { } task)
                {
                    foreach (var (key, value) in task.Metadata)
                    {
                        metadata[key] = value;
                    }
                }
            }

            if (parse.GetValue(headKind) is { } kind)
            {
                options = options with { Head = kind == "classification" ? HeadKind.Classification : HeadKind.Regression };
            }

            if (parse.GetValue(pooling) is { } pool)
            {
                options = options with { Pooling = pool == "last-step" ? Pooling.LastStep : Pooling.EveryStep };
            }

            if (parse.GetValue(inputNames) is { } inputs)
            {
                options = options with { InputNames = SplitNames("--input-names", inputs) };
            }

            if (parse.GetValue(outputNames) is { } outputs)
            {
                options = options with { OutputNames = SplitNames("--output-names", outputs) };
            }

            var model = WeightImport.Import(inputPath, source, options);
            metadata[ImportKey] = JsonSerializer.Serialize(
                new Dictionary<string, string>
                {
                    ["from"] = source == WeightSource.Keras ? "keras" : "pytorch",
                    ["file"] = Path.GetFileName(inputPath),
                },
                CliJsonContext.Default.DictionaryStringString);
            ModelFile.Save(outputPath, model, metadata);
            var c = model.Config;
            console.Output.WriteLine(
                $"Imported a {(c.Layers > 1 ? $"{c.Layers}-layer " : string.Empty)}{(c.Bidirectional ? "bidirectional " : string.Empty)}{c.Architecture.Name()} "
                + $"(input {c.InputSize}, hidden {c.HiddenSize}, output {c.OutputSize}{(c.VocabularySize > 0 ? $", vocabulary {c.VocabularySize}" : string.Empty)}) "
                + $"with {model.Parameters.Count} parameters to {outputPath}.");
            return CliApp.Success;
        });
        return command;
    }

    private static string[] SplitNames(string option, string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries);
        if (names.Any(n => n.Length == 0) || names.Distinct(StringComparer.Ordinal).Count() != names.Length)
        {
            throw new UnrollException($"{option}: expected distinct non-empty comma-separated names, got '{text}'.");
        }

        return names;
    }
}
