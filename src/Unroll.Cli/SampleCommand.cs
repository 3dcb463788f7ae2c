using System.CommandLine;
using Unroll.Data.Text;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>`unroll sample MODEL`: generate text from a language model trained with `unroll train text`.</summary>
internal static class SampleCommand
{
    /// <summary>The most tokens one call generates (a million characters is a long book; more is a mistyped number).</summary>
    public const int MaxLength = 1_000_000;

    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file of unroll train text, or its run directory (its best.safetensors, else model.safetensors)" };
        var prime = Options.Make("--prime", "Text to start from (default: a line end)", string.Empty);
        var length = Options.Make("--length", $"Characters (or words) to generate, at most {MaxLength}", 500);
        var temperature = Options.Make("--temperature", "Divides the logits before the softmax: > 0 (lower is more conservative), or 0 for greedy decoding", 0.8);
        var seed = Options.Make("--seed", "Seeds the draws: the same seed gives the same text", 1);
        var command = new Command("sample", "Generate text from a language model trained with unroll train text")
        {
            modelPath, prime, length, temperature, seed,
        };
        command.SetAction(parse =>
        {
            Options.RequireFinite(parse, command);
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console);
            int count = parse.GetValue(length);
            if (count < 0 || count > MaxLength)
            {
                throw new UnrollException($"--length: expected 0 to {MaxLength} tokens, got {count}.");
            }

            var loaded = ModelFile.Load(path);
            if (TrainingTask.FromMetadata(loaded.Metadata, path) is not TextTask task)
            {
                throw new UnrollException($"{path}: sample generates text from a language model (unroll train text); this model is not one. Use unroll predict to run it over data.");
            }

            task.CheckModel(loaded.Model.Config, path);
            var vocabulary = task.Vocabulary;
            string start = parse.GetValue(prime)!;
            if (start.Length == 0)
            {
                start = "\n";
                string lineEnd = vocabulary.Level == TextLevel.Char ? "\n" : Vocabulary.EndOfLineToken;
                if (!vocabulary.TryGetId(lineEnd, out _))
                {
                    throw new UnrollException($"--prime: the model's vocabulary has no line end to start from; expected a --prime made of {task.Unit}s seen in training.");
                }
            }

            string text = TextSampler.Sample((SequenceModel<float>)loaded.Model, vocabulary, start, count, parse.GetValue(temperature), parse.GetValue(seed));
            console.Output.WriteLine(text);
            return CliApp.Success;
        });
        return command;
    }
}
