using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Unroll.Data.Text;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>`unroll train text FILE`, `unroll sample MODEL` and the evaluation of text models.</summary>
internal static class TextCommands
{
    public static Command CreateTrain(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "A UTF-8 text file" };
        var level = Options.Make("--level", "Tokens: char (every Unicode character) or word (whitespace-separated, <eos> at line ends)", "char");
        level.AcceptOnlyFromAmong("char", "word");
        var validationFraction = Options.Make("--validation-fraction", "The last fraction of the text held out for validation", 0.1);
        var maxVocabulary = Options.Optional<int>("--max-vocab", "Keep at most this many tokens (<unk> included), the most frequent; others read as <unk>");
        var minCount = Options.Make("--min-count", "Tokens seen fewer times in the training part read as <unk>", 1);
        var embedding = Options.Make("--embedding", "Width of the token embedding (the recurrent layer's input size)", 64);
        var bptt = Options.Make("--bptt", "Truncated BPTT window K: the stream is read K tokens at a time, the state carried across windows", TokenStreamTrainer.DefaultWindow);
        var common = new TaskCliOptions(hidden: 128, steps: 1000, batchSize: 32, validateEvery: 100, learningRate: 0.002);
        var command = new Command("text", "Train a character- or word-level language model on a UTF-8 text file (truncated BPTT over contiguous streams)")
        {
            file, level, validationFraction, maxVocabulary, minCount, embedding, bptt,
        };
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var corpusOptions = new TextCorpusOptions
            {
                Level = parse.GetValue(level) == "word" ? TextLevel.Word : TextLevel.Char,
                ValidationFraction = parse.GetValue(validationFraction),
                MaxVocabulary = parse.GetValue(maxVocabulary),
                MinCount = parse.GetValue(minCount),
            };
            corpusOptions.Validate();
            int window = parse.GetValue(bptt);
            if (window < 1)
            {
                throw new UnrollException($"--bptt: expected a window of at least 1 token, got {window}.");
            }

            int embeddingWidth = parse.GetValue(embedding);
            if (embeddingWidth < 1)
            {
                throw new UnrollException($"--embedding: expected a positive width, got {embeddingWidth}.");
            }

            var training = common.ReadTraining(parse, [window, window]);
            var timeLimit = common.ReadTimeLimit(parse);
            string path = parse.GetValue(file)!;
            var corpus = TextCorpus.Load(path, corpusOptions);
            var config = common.ReadConfig(parse, new ModelConfig
            {
                InputSize = embeddingWidth,
                VocabularySize = corpus.Vocabulary.Count,
                OutputSize = corpus.Vocabulary.Count,
                Head = HeadKind.Classification,
                Pooling = Pooling.EveryStep,
            });
            if (corpus.Train.Length - 1 < training.BatchSize)
            {
                throw new UnrollException($"--batch-size: the training part has {corpus.Train.Length} tokens; expected a batch size of at most {corpus.Train.Length - 1} parallel streams.");
            }

            string directory = common.PrepareRunDirectory(parse, "text");
            var model = common.CreateModel(parse, config);
            string unit = Unit(corpus.Vocabulary.Level);
            var output = console.Output;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Corpus {path}: {corpus.Train.Length + corpus.Validation.Length} {unit}s, vocabulary of {corpus.Vocabulary.Count} tokens (with {Vocabulary.UnknownToken}); training {corpus.Train.Length}, validation {corpus.Validation.Length} {unit}s."));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Read as {Vocabulary.UnknownToken}: {corpus.TrainUnknown} training and {corpus.ValidationUnknown} validation {unit}s (not in the training part's vocabulary)."));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Training a {config.Layers}-layer {config.Architecture} (H={config.HiddenSize}, embedding {embeddingWidth}, {model.Parameters.Count} parameters): {training.Steps} windows of {window} {unit}s x {training.BatchSize} streams, {Optimizers.Name(training.Optimizer.Kind)} lr={Options.Format(training.LearningRate)}."));

            var trainer = new TokenStreamTrainer(model, training);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainingStop stopped;
            try
            {
                stopped = TaskCliOptions.RunWithProgress(console, training.Steps, timeLimit,
                    nats => double.IsNaN(nats) ? "validation -" : string.Create(CultureInfo.InvariantCulture, $"validation {nats:F4} nats ({TextMetrics.BitsPerToken(nats):F3} bits/{unit})"),
                    (progress, token) => trainer.Run(corpus.Train, corpus.Validation, progress, token));
            }
            catch (TrainingDivergedException e)
            {
                RunFiles.WriteMetrics(Path.Combine(directory, "metrics.csv"), trainer.History);
                throw new UnrollException($"{e.Message} No model was written; metrics up to the failure are in {Path.Combine(directory, "metrics.csv")}.", e);
            }

            double seconds = clock.Elapsed.TotalSeconds;
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [Vocabulary.MetadataKey] = corpus.Vocabulary.ToJson(),
                [TextCorpusOptions.MetadataKey] = corpusOptions.ToJson(Path.GetFullPath(path)),
                ["unroll.training"] = training.ToJson(),
            };
            ModelFile.Save(Path.Combine(directory, TrainCommand.ModelFileName), model, metadata);
            RunFiles.WriteMetrics(Path.Combine(directory, "metrics.csv"), trainer.History);
            RunFiles.WriteLossPlot(Path.Combine(directory, "loss.svg"), trainer.History, "Loss (cross-entropy, nats per token)");
            var (nats, tokens) = TokenStreamTrainer.Evaluate(model, corpus.Validation);
            var evaluation = new TextEvaluation(Unit(corpus.Vocabulary.Level), tokens, nats, TextMetrics.BitsPerToken(nats), TextMetrics.Perplexity(nats), corpus.ValidationUnknown);
            AtomicFile.WriteAllText(Path.Combine(directory, "evaluation.json"), evaluation.ToJson());
            if (TaskCliOptions.StoppedMessage(stopped, trainer.History.Count, training.Steps, timeLimit, directory) is { } stoppedEarly)
            {
                output.WriteLine(stoppedEarly);
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Trained {trainer.History.Count} steps in {seconds:F1} s."));
            evaluation.Print(output, "Validation");
            output.WriteLine($"Wrote {directory}{Path.DirectorySeparatorChar}: {TrainCommand.ModelFileName}, metrics.csv, evaluation.json, loss.svg");
            return CliApp.Success;
        });
        return command;
    }

    public static Command CreateSample(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model.safetensors written by unroll train text" };
        var prime = Options.Make("--prime", "Text to start from (default: a line end)", string.Empty);
        var length = Options.Make("--length", "Characters (or words) to generate", 500);
        var temperature = Options.Make("--temperature", "Divides the logits before the softmax: > 0 (lower is more conservative), or 0 for greedy decoding", 0.8);
        var seed = Options.Make("--seed", "Seeds the draws: the same seed gives the same text", 1);
        var command = new Command("sample", "Generate text from a language model trained with unroll train text")
        {
            modelPath, prime, length, temperature, seed,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(modelPath)!;
            var (model, vocabulary) = LoadTextModel(path);
            string start = parse.GetValue(prime)!;
            if (start.Length == 0)
            {
                start = "\n";
                string lineEnd = vocabulary.Level == TextLevel.Char ? "\n" : Vocabulary.EndOfLineToken;
                if (!vocabulary.TryGetId(lineEnd, out _))
                {
                    throw new UnrollException($"--prime: the model's vocabulary has no line end to start from; expected a --prime made of {Unit(vocabulary.Level)}s seen in training.");
                }
            }

            string text = TextSampler.Sample(model, vocabulary, start, parse.GetValue(length), parse.GetValue(temperature), parse.GetValue(seed));
            console.Output.WriteLine(text);
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>`unroll eval` for a text model: the validation part of its corpus, or a whole other file (<paramref name="input"/>).</summary>
    public static void Evaluate(CliConsole console, string path, LoadedModel loaded, string? input, bool json)
    {
        var (model, vocabulary) = TextModel(path, loaded);
        var metadata = loaded.Metadata;
        int[] tokens;
        int unknown;
        string what;
        if (!string.IsNullOrEmpty(input))
        {
            tokens = TextCorpus.Encode(Utf8Text.ReadFile(input), vocabulary, out unknown);
            what = input;
        }
        else
        {
            if (!metadata.TryGetValue(TextCorpusOptions.MetadataKey, out var corpusJson))
            {
                throw new UnrollException($"{path}: expected '{TextCorpusOptions.MetadataKey}' in the metadata naming the training text; pass --input FILE to evaluate on a text file.");
            }

            var (source, options) = TextCorpusOptions.FromJson(corpusJson);
            if (!File.Exists(source))
            {
                throw new UnrollException($"{path}: the training text '{source}' no longer exists; pass --input FILE to evaluate on a text file.");
            }

            var corpus = TextCorpus.Load(source, options);
            if (corpus.Vocabulary.Count != vocabulary.Count || !corpus.Vocabulary.Tokens.SequenceEqual(vocabulary.Tokens))
            {
                throw new UnrollException($"{source}: its training part no longer gives the model's vocabulary (the file changed); pass --input FILE to evaluate on a text file.");
            }

            tokens = corpus.Validation;
            unknown = corpus.ValidationUnknown;
            what = $"the validation part of {source}";
        }

        if (tokens.Length < 2)
        {
            throw new UnrollException($"{what}: expected at least 2 {Unit(vocabulary.Level)}s to score, got {tokens.Length}.");
        }

        var (nats, count) = TokenStreamTrainer.Evaluate(model, tokens);
        var evaluation = new TextEvaluation(Unit(vocabulary.Level), count, nats, TextMetrics.BitsPerToken(nats), TextMetrics.Perplexity(nats), unknown);
        if (json)
        {
            console.Output.WriteLine(evaluation.ToJson());
        }
        else
        {
            console.Output.WriteLine($"Evaluated on {what}.");
            evaluation.Print(console.Output, "Result");
        }
    }

    private static (SequenceModel<float> Model, Vocabulary Vocabulary) LoadTextModel(string path) => TextModel(path, ModelFile.Load(path));

    private static (SequenceModel<float> Model, Vocabulary Vocabulary) TextModel(string path, LoadedModel loaded)
    {
        if (!loaded.Metadata.TryGetValue(Vocabulary.MetadataKey, out var vocabularyJson))
        {
            throw new UnrollException($"{path}: expected a text model with a vocabulary ('{Vocabulary.MetadataKey}' in its metadata), got a model without one; train one with unroll train text.");
        }

        Vocabulary vocabulary;
        try
        {
            vocabulary = Vocabulary.FromJson(vocabularyJson);
        }
        catch (UnrollException e)
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }

        if (loaded.Model is not SequenceModel<float> model || model.Config.VocabularySize != vocabulary.Count)
        {
            throw new UnrollException($"{path}: its vocabulary has {vocabulary.Count} tokens but the model reads {loaded.Model.Config.VocabularySize}; expected the same.");
        }

        return (model, vocabulary);
    }

    private static string Unit(TextLevel level) => level == TextLevel.Char ? "character" : "word";

    /// <summary>Cross-entropy figures of a text model over a stream.</summary>
    private sealed record TextEvaluation(string Unit, long Tokens, double Nats, double BitsPerToken, double Perplexity, int Unknown)
    {
        public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase });

        public void Print(TextWriter output, string label) => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label}: {Nats:F4} nats per {Unit}, {BitsPerToken:F4} bits per {Unit}, perplexity {Perplexity:F3} over {Tokens} predicted {Unit}s ({Unknown} read as <unk>)."));
    }
}
