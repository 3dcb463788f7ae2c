using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Unroll.Data.Images;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>`unroll train fashion-mnist` and the evaluation of image models.</summary>
internal static class ImageCommands
{
    private const string DatasetName = "fashion-mnist";

    public static Command CreateTrain(CliConsole console)
    {
        var order = Options.Make("--order", "How an image becomes a sequence: rows (28 steps of 28 pixels), pixels (784 steps of 1) or permuted (784 steps in a fixed seeded order)", "rows");
        order.AcceptOnlyFromAmong("rows", "pixels", "permuted");
        var dataDirectory = Options.Make("--data-dir", "Directory of the four IDX files (train-images-idx3-ubyte.gz, ...)", FashionMnist.DefaultDirectory);
        var permutationSeed = Options.Make("--permutation-seed", "Seeds the pixel permutation of --order permuted (stored in the model)", 1L);
        var trainCount = Options.Optional<int>("--train-count", "Use only the first N training images (quick runs); default all but the validation images");
        var validationCount = Options.Make("--validation-count", "The last N training images held out for validation", 5000);
        var testCount = Options.Optional<int>("--test-count", "Evaluate on the first N test images (default all 10000)");
        var common = new TaskCliOptions(hidden: 128, steps: 1000, batchSize: 64, validateEvery: 100, learningRate: 0.002);
        var command = new Command(DatasetName, "Classify Fashion-MNIST images read as sequences (rows, pixels or permuted pixels); reports test accuracy")
        {
            order, dataDirectory, permutationSeed, trainCount, validationCount, testCount,
        };
        common.AddTo(command);
        command.SetAction(parse =>
        {
            var pixelOrder = Enum.Parse<PixelOrder>(parse.GetValue(order)!, ignoreCase: true);
            string directory = parse.GetValue(dataDirectory)!;
            long seed = parse.GetValue(permutationSeed);
            int held = parse.GetValue(validationCount);
            var training = common.ReadTraining(parse, null);
            var timeLimit = common.ReadTimeLimit(parse);
            var all = FashionMnist.Load(directory, train: true, PixelOrder.Rows, null);
            int[]? permutation = pixelOrder == PixelOrder.Permuted ? SequentialImages.Permutation(all.Rows * all.Columns, seed) : null;
            all = all.WithOrder(pixelOrder, permutation);

            if (held < 1 || held >= all.Count)
            {
                throw new UnrollException($"--validation-count: expected 1 to {all.Count - 1} of the {all.Count} training images, got {held}.");
            }

            int available = all.Count - held;
            int used = parse.GetValue(trainCount) ?? available;
            if (used < 1 || used > available)
            {
                throw new UnrollException($"--train-count: expected 1 to {available} images (the training images before the {held} held out), got {used}.");
            }

            var train = all.Slice(0, used);
            var validation = all.Slice(all.Count - held, held);
            var test = LoadTest(directory, pixelOrder, permutation, parse.GetValue(testCount));
            var config = common.ReadConfig(parse, new ModelConfig
            {
                InputSize = train.InputSize,
                OutputSize = train.ClassCount,
                Head = HeadKind.Classification,
                Pooling = Pooling.LastStep,
                OutputNames = FashionMnist.ClassNames,
            });
            string runDirectory = common.PrepareRunDirectory(parse, DatasetName);
            var model = common.CreateModel(parse, config);
            var output = console.Output;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Fashion-MNIST from {directory}: {train.Count} training, {validation.Count} validation, {test.Count} test images as {train.Steps} steps of {train.InputSize} ({pixelOrder.ToString().ToLowerInvariant()})."));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Training a {config.Layers}-layer {config.Architecture} (H={config.HiddenSize}, {model.Parameters.Count} parameters): {training.Steps} minibatches of {training.BatchSize}, {Optimizers.Name(training.Optimizer.Kind)} lr={Options.Format(training.LearningRate)}."));
            var trainer = new SequenceClassifierTrainer(model, training);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainingStop stopped;
            try
            {
                stopped = TaskCliOptions.RunWithProgress(console, training.Steps, timeLimit, loss => double.IsNaN(loss)
                    ? "validation -"
                    : string.Create(CultureInfo.InvariantCulture, $"validation loss {loss:G4} accuracy {trainer.ValidationAccuracy[^1].Accuracy:P2}"),
                    (progress, token) => trainer.Run(train, validation, progress, token));
            }
            catch (TrainingDivergedException e)
            {
                RunFiles.WriteMetrics(Path.Combine(runDirectory, "metrics.csv"), trainer.History);
                throw new UnrollException($"{e.Message} No model was written; metrics up to the failure are in {Path.Combine(runDirectory, "metrics.csv")}.", e);
            }

            double seconds = clock.Elapsed.TotalSeconds;
            var description = new ImageSequenceDescription(DatasetName, pixelOrder, train.Rows, train.Columns, seed, permutation, Path.GetFullPath(directory));
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [ImageSequenceDescription.MetadataKey] = description.ToJson(),
                ["unroll.training"] = training.ToJson(),
            };
            ModelFile.Save(Path.Combine(runDirectory, TrainCommand.ModelFileName), model, metadata);
            RunFiles.WriteMetrics(Path.Combine(runDirectory, "metrics.csv"), trainer.History);
            RunFiles.WriteLossPlot(Path.Combine(runDirectory, "loss.svg"), trainer.History, "Loss (cross-entropy, nats)");
            var result = SequenceClassifierTrainer.Evaluate(model, test);
            AtomicFile.WriteAllText(Path.Combine(runDirectory, "evaluation.json"), ToJson(result));
            if (TaskCliOptions.StoppedMessage(stopped, trainer.History.Count, training.Steps, timeLimit, runDirectory) is { } stoppedEarly)
            {
                output.WriteLine(stoppedEarly);
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Trained {trainer.History.Count} steps in {seconds:F1} s."));
            Print(output, result);
            output.WriteLine($"Wrote {runDirectory}{Path.DirectorySeparatorChar}: {TrainCommand.ModelFileName}, metrics.csv, evaluation.json, loss.svg");
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>`unroll eval` for an image model: accuracy on the test images.</summary>
    public static void Evaluate(CliConsole console, string path, LoadedModel loaded, string dataDirectory, bool json)
    {
        var description = ImageSequenceDescription.FromJson(loaded.Metadata[ImageSequenceDescription.MetadataKey]);
        if (loaded.Model is not SequenceModel<float> model)
        {
            throw new UnrollException($"{path}: expected a recurrent classifier, got a {loaded.Model.Config.Architecture} model.");
        }

        string directory = string.IsNullOrEmpty(dataDirectory) ? description.DataDirectory : dataDirectory;
        var test = LoadTest(directory, description.Order, description.Permutation, null);
        if (test.Rows != description.Rows || test.Columns != description.Columns)
        {
            throw new UnrollException($"{directory}: test images are {test.Rows} x {test.Columns}; the model was trained on {description.Rows} x {description.Columns}.");
        }

        var result = SequenceClassifierTrainer.Evaluate(model, test);
        if (json)
        {
            console.Output.WriteLine(ToJson(result));
            return;
        }

        console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Fashion-MNIST test images from {directory}, read as {test.Steps} steps of {test.InputSize} ({description.Order.ToString().ToLowerInvariant()})."));
        Print(console.Output, result);
    }

    private static SequentialImages LoadTest(string directory, PixelOrder order, int[]? permutation, int? count)
    {
        var test = FashionMnist.Load(directory, train: false, PixelOrder.Rows, null);
        if (order == PixelOrder.Permuted && permutation?.Length != test.Rows * test.Columns)
        {
            throw new UnrollException($"{directory}: test images of {test.Rows} x {test.Columns} pixels; the model's permutation covers {permutation?.Length ?? 0}.");
        }

        test = test.WithOrder(order, permutation);
        if (count is { } n)
        {
            if (n < 1 || n > test.Count)
            {
                throw new UnrollException($"--test-count: expected 1 to {test.Count} test images, got {n}.");
            }

            test = test.Slice(0, n);
        }

        return test;
    }

    private static void Print(TextWriter output, ClassificationResult result)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Test accuracy {result.Accuracy:P2} ({Math.Round(result.Accuracy * result.Count)} of {result.Count}), cross-entropy {result.Loss:F4} nats."));
        for (int c = 0; c < result.PerClassAccuracy.Length; c++)
        {
            string name = c < FashionMnist.ClassNames.Count ? FashionMnist.ClassNames[c] : c.ToString(CultureInfo.InvariantCulture);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {c} {name,-12} {result.PerClassAccuracy[c]:P1}"));
        }
    }

    private static string ToJson(ClassificationResult result) => JsonSerializer.Serialize(
        new { accuracy = result.Accuracy, loss = result.Loss, count = result.Count, perClassAccuracy = result.PerClassAccuracy.Select(a => double.IsNaN(a) ? (double?)null : a) });
}
