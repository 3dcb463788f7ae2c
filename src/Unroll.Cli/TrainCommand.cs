using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Unroll.Data;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>`unroll train [oscillator]`: generate the data, train by BPTT, write the run directory.</summary>
internal static class TrainCommand
{
    public const string ModelFileName = "model.safetensors";

    public static Command Create(CliConsole console)
    {
        var defaults = new TrainingOptions();
        var task = new Argument<string>("task") { Description = "What to train on: oscillator (the damped, driven oscillator)", DefaultValueFactory = _ => "oscillator" };
        task.AcceptOnlyFromAmong("oscillator");
        var modelKind = Options.Make("--model", "Recurrent network: rnn (Elman), lstm, gru, or jordan (the previous output fed back, trained with teacher forcing)", "rnn");
        modelKind.AcceptOnlyFromAmong("rnn", "lstm", "gru", "jordan");
        var initHh = Options.Make("--init-hh", $"Initialisation of the hidden-to-hidden weights: {InitSettings.Accepted}", "default");
        var initIh = Options.Make("--init-ih", $"Initialisation of the input-to-hidden weights: {InitSettings.Accepted}", "default");
        var layers = Options.Make("--layers", "Stacked recurrent layers", 1);
        var bidirectional = Options.Make("--bidirectional", "Run every layer in both directions (not for forecasting: the backward direction would see the future)", false);
        var dropout = Options.Make("--dropout", "Dropout probability between stacked layers (training only)", 0.0);
        var hidden = Options.Make("--hidden", "Hidden units H", 64);
        var activation = Options.Make("--activation", "Recurrent non-linearity: tanh, sigmoid, relu or identity", "tanh");
        var optimization = new OptimizerCliOptions();
        var clipNorm = Options.Make("--clip-norm", "Clip the global gradient norm to this value (if ||g|| >= eps then g <- eps g/||g||); 0 turns it off", 1.0);
        var clipValue = Options.Optional<double>("--clip-value", "Clamp every gradient component to [-v, v]");
        var steps = Options.Optional<int>("--steps", $"Optimiser steps (minibatches); default {defaults.Steps}");
        var epochs = Options.Optional<int>("--epochs", "Passes over the training sequences (instead of --steps)");
        var batchSize = Options.Make("--batch-size", "Sequences per minibatch", defaults.BatchSize);
        var seed = Options.Make("--seed", "Seeds the data, the initial weights and the batch order", 1);
        var output = Options.Make("--output", "Run directory to write (default runs/<task>-<time>)", string.Empty);
        output.Aliases.Add("-o");
        var overwrite = Options.Make("--overwrite", "Replace the model in an existing run directory", false);
        var validateEvery = Options.Make("--validate-every", "Measure the validation loss every N steps", defaults.ValidateEvery);
        var horizon = Options.Optional<int>("--horizon", "Free-running forecast horizon in steps (default: the whole sequence)");
        var oscillator = new OscillatorCliOptions();

        var command = new Command("train", "Train a recurrent network by backpropagation through time and write a run directory")
        {
            task, modelKind, initHh, initIh, layers, bidirectional, dropout, hidden, activation, clipNorm, clipValue, steps, epochs, batchSize, seed, output, overwrite, validateEvery, horizon,
        };
        optimization.AddTo(command);
        oscillator.AddTo(command);

        command.SetAction(parse =>
        {
            var dataOptions = oscillator.Read(parse);
            int dataSeed = parse.GetValue(seed);
            int hiddenSize = parse.GetValue(hidden);
            if (hiddenSize < 1)
            {
                throw new UnrollException($"--hidden: expected a positive number of hidden units, got {hiddenSize}.");
            }

            int batch = parse.GetValue(batchSize);
            int? stepCount = parse.GetValue(steps);
            int? epochCount = parse.GetValue(epochs);
            if (stepCount is not null && epochCount is not null)
            {
                throw new UnrollException("--steps and --epochs: expected at most one of them, got both.");
            }

            if (epochCount is < 1)
            {
                throw new UnrollException($"--epochs: expected at least 1, got {epochCount}.");
            }

            if (batch < 1)
            {
                throw new UnrollException($"--batch-size: expected at least 1, got {batch}.");
            }

            int batchesPerEpoch = (dataOptions.TrainCount + Math.Min(batch, dataOptions.TrainCount) - 1) / Math.Min(batch, dataOptions.TrainCount);
            var trainingOptions = new TrainingOptions
            {
                Optimizer = optimization.ReadOptimizer(parse),
                Schedule = optimization.ReadSchedule(parse),
                ClipNorm = parse.GetValue(clipNorm) is var norm && norm == 0 ? null : norm,
                ClipValue = parse.GetValue(clipValue),
                Steps = epochCount is { } e ? e * batchesPerEpoch : stepCount ?? defaults.Steps,
                BatchSize = batch,
                Seed = dataSeed,
                ValidateEvery = parse.GetValue(validateEvery),
            };
            trainingOptions.Validate();
            if (parse.GetValue(bidirectional))
            {
                throw new UnrollException("--bidirectional: the oscillator task forecasts x_{t+1}, which a backward-running direction would read from the next input; expected a unidirectional model.");
            }

            var config = new ModelConfig
            {
                Architecture = parse.GetValue(modelKind)!,
                Layers = parse.GetValue(layers),
                Dropout = parse.GetValue(dropout),
                InputSize = 2,
                HiddenSize = hiddenSize,
                OutputSize = 1,
                Activation = Activations.Parse(parse.GetValue(activation)!),
                InputNames = [OscillatorDataset.PositionColumn, OscillatorDataset.ForceColumn],
                OutputNames = [OscillatorDataset.NextPositionColumn],
            };
            int? forecastHorizon = parse.GetValue(horizon);
            if (forecastHorizon is { } h && (h < 1 || h > dataOptions.Steps))
            {
                throw new UnrollException($"--horizon: expected 1 to {dataOptions.Steps} steps (the sequence length), got {h}.");
            }

            var hiddenInit = InitSettings.Parse(parse.GetValue(initHh)!, "--init-hh");
            var inputInit = InitSettings.Parse(parse.GetValue(initIh)!, "--init-ih");
            string runDirectory = PrepareRunDirectory(parse.GetValue(output)!, parse.GetValue(overwrite));
            return Train(console, runDirectory, dataOptions, dataSeed, config, trainingOptions, forecastHorizon, hiddenInit, inputInit);
        });
        return command;
    }

    private static string PrepareRunDirectory(string requested, bool overwrite)
    {
        string directory = string.IsNullOrWhiteSpace(requested)
            ? Path.Combine("runs", "oscillator-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture))
            : requested;
        if (File.Exists(directory))
        {
            throw new UnrollException($"--output: expected a directory, got the file '{directory}'.");
        }

        if (!overwrite && File.Exists(Path.Combine(directory, ModelFileName)))
        {
            throw new UnrollException($"--output: '{directory}' already holds a {ModelFileName}; choose another directory or pass --overwrite.");
        }

        Directory.CreateDirectory(directory);
        return directory;
    }

    private static int Train(
        CliConsole console, string runDirectory, OscillatorDatasetOptions dataOptions, int seed,
        ModelConfig config, TrainingOptions trainingOptions, int? horizon, InitSettings hiddenInit, InitSettings inputInit)
    {
        var dataset = OscillatorDataset.Generate(dataOptions, seed);
        var model = RecurrentModels.Create<float>(config);
        Initializers.Initialize(model, hiddenInit, inputInit, new Random(seed));
        var trainer = new Trainer(model, trainingOptions);

        console.Output.WriteLine(
            $"Training {Describe(config)} (H={config.HiddenSize}, {model.Parameters.Count} parameters) on {dataOptions.TrainCount} oscillator sequences of {dataOptions.Steps} steps; " +
            $"{trainingOptions.Steps} steps of {Optimizers.Name(trainingOptions.Optimizer.Kind)} lr={Options.Format(trainingOptions.LearningRate)}, batch {trainingOptions.BatchSize}.");

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        var clock = Stopwatch.StartNew();
        IReadOnlyList<StepMetrics> history;
        TrainingDivergedException? diverged = null;
        var recorded = new List<StepMetrics>();
        try
        {
            history = RunWithProgress(console, trainer, dataset, trainingOptions, recorded, cancellation.Token);
        }
        catch (TrainingDivergedException e)
        {
            diverged = e;
            history = recorded;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }

        double seconds = clock.Elapsed.TotalSeconds;
        RunFiles.WriteMetrics(Path.Combine(runDirectory, "metrics.csv"), history);
        if (diverged is not null)
        {
            RunFiles.WriteLossPlot(Path.Combine(runDirectory, "loss.svg"), history);
            throw new UnrollException($"{diverged.Message} No model was written; metrics up to the failure are in {Path.Combine(runDirectory, "metrics.csv")}.", diverged);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [OscillatorDataDescription.MetadataKey] = new OscillatorDataDescription(dataOptions, seed).ToJson(),
            ["unroll.training"] = JsonSerializer.Serialize(new { trainingOptions.Optimizer, trainingOptions.Schedule, trainingOptions.ClipNorm, trainingOptions.ClipValue, trainingOptions.Steps, trainingOptions.BatchSize, trainingOptions.Seed, StepsTaken = history.Count }),
        };
        string modelPath = Path.Combine(runDirectory, ModelFileName);
        Models.ModelFile.Save(modelPath, model, metadata);

        var evaluation = OscillatorEvaluation.Evaluate(model, dataset, horizon);
        RunFiles.WriteLossPlot(Path.Combine(runDirectory, "loss.svg"), history);
        RunFiles.WriteForecastPlot(Path.Combine(runDirectory, "forecast.svg"), model, dataset, evaluation.Horizon);
        Unroll.IO.AtomicFile.WriteAllText(Path.Combine(runDirectory, "evaluation.json"), evaluation.ToJson());

        if (cancellation.IsCancellationRequested)
        {
            console.Output.WriteLine($"Stopped by the user after {history.Count} of {trainingOptions.Steps} steps; the model so far is saved.");
        }

        console.Output.WriteLine($"Trained {history.Count} steps in {seconds:F1} s; final training loss {Options.Format(history.Count > 0 ? history[^1].TrainLoss : double.NaN)}.");
        EvalCommand.PrintEvaluation(console.Output, evaluation);
        console.Output.WriteLine($"Wrote {runDirectory}{Path.DirectorySeparatorChar}: {ModelFileName}, metrics.csv, evaluation.json, loss.svg, forecast.svg");
        return CliApp.Success;
    }

    private static string Describe(ModelConfig config)
    {
        string layers = config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty;
        return config.Cell switch
        {
            _ when config.Architecture == "jordan" => $"a {Activations.Name(config.Activation)} Jordan network",
            Cells.CellKind.Rnn => $"a {layers}{Activations.Name(config.Activation)} RNN",
            Cells.CellKind.Lstm => $"a {layers}LSTM",
            _ => $"a {layers}GRU",
        };
    }

    private static IReadOnlyList<StepMetrics> RunWithProgress(
        CliConsole console, Trainer trainer, OscillatorDataset dataset, TrainingOptions options,
        List<StepMetrics> recorded, CancellationToken cancellation)
    {
        double lastValidation = double.NaN;
        if (console.Interactive)
        {
            IReadOnlyList<StepMetrics> result = [];
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var bar = context.AddTask("training", maxValue: options.Steps);
                    result = trainer.Run(dataset.Train, dataset.Validation, metrics =>
                    {
                        recorded.Add(metrics);
                        if (!double.IsNaN(metrics.ValidationLoss))
                        {
                            lastValidation = metrics.ValidationLoss;
                        }

                        bar.Description = $"step {metrics.Step} loss {metrics.TrainLoss:G3} val {lastValidation:G3}";
                        bar.Value = metrics.Step;
                    }, cancellation);
                });
            return result;
        }

        int every = Math.Max(1, options.Steps / 10);
        return trainer.Run(dataset.Train, dataset.Validation, metrics =>
        {
            recorded.Add(metrics);
            if (!double.IsNaN(metrics.ValidationLoss))
            {
                lastValidation = metrics.ValidationLoss;
            }

            if (metrics.Step % every == 0 || metrics.Step == options.Steps)
            {
                console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {metrics.Step,6}/{options.Steps}  loss {metrics.TrainLoss:G4}  validation {lastValidation:G4}  grad norm {metrics.GradientNorm:G3}{(metrics.Clipped ? " (clipped)" : string.Empty)}"));
            }
        }, cancellation);
    }
}
