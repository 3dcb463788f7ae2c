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

    /// <summary>
    /// <c>train</c> itself trains on the oscillator; its subcommands are <c>oscillator</c> (the same, named) and the
    /// other data sources and tasks. The oscillator is a subcommand rather than an optional positional argument so
    /// that the other subcommands' usage and help do not show an argument that belongs to the oscillator alone.
    /// </summary>
    public static Command Create(CliConsole console)
    {
        var command = Build(console, "train", "Train a recurrent network by backpropagation through time and write a run directory");
        command.Subcommands.Add(Build(console, "oscillator", "Train on the damped, driven oscillator (what `unroll train` does when no data source is named)"));
        foreach (var dataSource in DataSourceCommands.CreateTrain(console))
        {
            command.Subcommands.Add(dataSource);
        }

        return command;
    }

    private static Command Build(CliConsole console, string name, string description)
    {
        var defaults = new TrainingOptions();
        var modelKind = Options.Make("--model", "Recurrent network: rnn (Elman), lstm, gru, or jordan (the previous output fed back, trained with teacher forcing)", "rnn");
        modelKind.AcceptOnlyFromAmong("rnn", "lstm", "gru", "jordan");
        var initHh = Options.Make("--init-hh", $"Initialisation of the hidden-to-hidden weights: {InitSettings.Accepted}", "default");
        var initIh = Options.Make("--init-ih", $"Initialisation of the input-to-hidden weights: {InitSettings.Accepted}", "default");
        var forgetBias = Options.Optional<double>("--forget-bias", "LSTM only: set the forget-gate bias (b_ih + b_hh) to this value, e.g. 1 as in Keras and char-rnn (default: PyTorch's uniform draw)");
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
        var diagnoseEvery = Options.Make("--diagnose-every", "Record spectral_radius, largest_singular_value, clipped_share and gradient_ratio in metrics.csv every N steps (and at the first and last); 0 turns it off", defaults.DiagnoseEvery);
        var horizon = Options.Optional<int>("--horizon", "Free-running forecast horizon in steps (default: the whole sequence)");
        var bptt = Options.Make("--bptt", "Truncated BPTT: K (windows of K steps, state carried across) or K1,K2 (update every K1 steps, back-propagate K2)", string.Empty);
        var checkpointEvery = Options.Make("--checkpoint-every", "Write checkpoint.safetensors every N steps (and at the end)", 500);
        var resume = Options.Make("--resume", "Continue the run in this directory from its checkpoint, with its own options", string.Empty);
        var initFrom = Options.Make("--init-from", "Start from the weights of this model file (same architecture and sizes)", string.Empty);
        var oscillator = new OscillatorCliOptions();
        var threads = Options.Optional<int>("--threads", "Threads for the matrix products (default: every core, or UNROLL_THREADS); does not change the results");

        var command = new Command(name, description)
        {
            modelKind, initHh, initIh, forgetBias, layers, bidirectional, dropout, hidden, activation, clipNorm, clipValue, steps, epochs, batchSize, seed, output, overwrite, validateEvery, diagnoseEvery, horizon, bptt, checkpointEvery, resume, initFrom, threads,
        };
        optimization.AddTo(command);
        oscillator.AddTo(command);

        command.SetAction(parse =>
        {
            if (parse.GetValue(threads) is { } threadCount)
            {
                if (threadCount < 1)
                {
                    throw new UnrollException($"--threads: expected at least 1, got {threadCount}.");
                }

                Unroll.Kernels.Parallelism.ThreadCount = threadCount;
            }

            int every = parse.GetValue(checkpointEvery);
            if (every < 1)
            {
                throw new UnrollException($"--checkpoint-every: expected at least 1, got {every}.");
            }

            // An explicit empty value would otherwise read as "not given" and start a default run.
            foreach (var pathOption in new[] { resume, initFrom })
            {
                if (parse.GetResult(pathOption) is { Implicit: false } && string.IsNullOrWhiteSpace(parse.GetValue(pathOption)))
                {
                    throw new UnrollException($"{pathOption.Name}: expected a {(pathOption == resume ? "run directory" : "model file")}, got an empty value.");
                }
            }

            string resumeDirectory = parse.GetValue(resume)!;
            if (resumeDirectory.Length > 0)
            {
                var others = command.Options
                    .Where(option => option != resume && option != checkpointEvery && option != threads && parse.GetResult(option) is { Implicit: false })
                    .Select(option => option.Name)
                    .ToList();
                if (others.Count > 0)
                {
                    throw new UnrollException($"--resume: a resumed run keeps its own options; got {string.Join(", ", others)} as well.");
                }

                return Resume(console, resumeDirectory, every);
            }

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
                DiagnoseEvery = parse.GetValue(diagnoseEvery),
                Bptt = ParseBptt(parse.GetValue(bptt)!),
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
            var model = RecurrentModels.Create<float>(config);
            Initializers.Initialize(model, hiddenInit, inputInit, new Random(dataSeed));
            if (parse.GetValue(forgetBias) is { } bias)
            {
                Initializers.SetForgetGateBias(model, bias);
            }
            string initialWeights = parse.GetValue(initFrom)!;
            if (initialWeights.Length > 0)
            {
                Models.ModelFile.LoadWeightsInto(initialWeights, model);
            }

            var plan = new RunPlan(runDirectory, dataOptions, dataSeed, model, trainingOptions, forecastHorizon, every, null);
            return Train(console, plan);
        });
        return command;
    }

    private static int[]? ParseBptt(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[2];
        for (int i = 0; i < parts.Length && i < 2; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                throw new UnrollException($"--bptt: expected K or K1,K2 (positive integers), got '{text}'.");
            }
        }

        if (parts.Length > 2)
        {
            throw new UnrollException($"--bptt: expected K or K1,K2 (positive integers), got '{text}'.");
        }

        return parts.Length == 1 ? [values[0], values[0]] : values;
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

    /// <summary>Everything a run needs: where it writes, its data, model, options, and the state it resumes from.</summary>
    private sealed record RunPlan(
        string Directory, OscillatorDatasetOptions Data, int Seed, IRecurrentModel<float> Model,
        TrainingOptions Training, int? Horizon, int CheckpointEvery, TrainerState? ResumeFrom, double PriorSeconds = 0);

    private const string RunKey = "unroll.run";

    private static int Resume(CliConsole console, string directory, int checkpointEvery)
    {
        string path = Path.Combine(directory, Checkpoint.FileName);
        var checkpoint = Checkpoint.Load(path);
        if (checkpoint.Metadata.ContainsKey(Unroll.Data.Tasks.TaskDataDescription.MetadataKey))
        {
            return TaskTrainCommand.Resume(console, directory, checkpointEvery, timeLimit: null);
        }

        string Require(string key) => checkpoint.Metadata.TryGetValue(key, out var value)
            ? value
            : throw new UnrollException($"{path}: expected '{key}' in the checkpoint's metadata; it was not written by unroll train.");
        var data = OscillatorDataDescription.FromJson(Require(OscillatorDataDescription.MetadataKey));
        var training = TrainingOptions.FromJson(Require("unroll.training"));
        var runInfo = JsonSerializer.Deserialize<RunInfo>(Require(RunKey));
        console.Output.WriteLine($"Resuming {directory} at step {checkpoint.State.Step} of {training.Steps}.");
        return Train(console, new RunPlan(directory, data.Options, data.Seed, checkpoint.Model, training, runInfo?.Horizon, checkpointEvery, checkpoint.State, runInfo?.TrainingSeconds ?? 0));
    }

    /// <summary>The run's own settings; the wall-clock training time goes only into checkpoints, so equal seeds still give byte-identical model files.</summary>
    private sealed record RunInfo(int? Horizon, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] double? TrainingSeconds = null);

    private static int Train(CliConsole console, RunPlan plan)
    {
        var (runDirectory, dataOptions, seed, model, trainingOptions, horizon, checkpointEvery, resumeFrom, priorSeconds) = plan;
        var config = model.Config;
        var dataset = OscillatorDataset.Generate(dataOptions, seed);
        var trainer = new Trainer(model, trainingOptions);
        if (resumeFrom is not null)
        {
            trainer.Restore(resumeFrom);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [OscillatorDataDescription.MetadataKey] = new OscillatorDataDescription(dataOptions, seed).ToJson(),
            ["unroll.training"] = trainingOptions.ToJson(),
            [RunKey] = JsonSerializer.Serialize(new RunInfo(horizon)),
        };
        string checkpointPath = Path.Combine(runDirectory, Checkpoint.FileName);

        console.Output.WriteLine(
            $"Training {Describe(config)} (H={config.HiddenSize}, {model.Parameters.Count} parameters) on {dataOptions.TrainCount} oscillator sequences of {dataOptions.Steps} steps; " +
            $"{trainingOptions.Steps} steps of {Optimizers.Name(trainingOptions.Optimizer.Kind)} lr={Options.Format(trainingOptions.LearningRate)}, batch {trainingOptions.BatchSize}.");

        using var stop = new StopSignal();
        var clock = Stopwatch.StartNew();
        Dictionary<string, string> CheckpointMetadata() => new(metadata, StringComparer.Ordinal)
        {
            [RunKey] = JsonSerializer.Serialize(new RunInfo(horizon, priorSeconds + clock.Elapsed.TotalSeconds)),
        };
        int startStep = trainer.CompletedSteps;
        TrainingDivergedException? diverged = null;
        void OnStep(StepMetrics metrics)
        {
            if (metrics.Step % checkpointEvery == 0 && metrics.Step < trainingOptions.Steps)
            {
                Checkpoint.Save(checkpointPath, model, trainer.CaptureState(), CheckpointMetadata());
            }
        }

        try
        {
            RunWithProgress(console, trainer, dataset, trainingOptions, OnStep, stop.Token);
        }
        catch (TrainingDivergedException e)
        {
            diverged = e;
        }
        finally
        {
            stop.Release();
        }

        double seconds = clock.Elapsed.TotalSeconds;
        var history = trainer.History;
        RunFiles.WriteMetrics(Path.Combine(runDirectory, "metrics.csv"), history);
        if (diverged is not null)
        {
            RunFiles.WriteLossPlot(Path.Combine(runDirectory, "loss.svg"), history);
            string kept = File.Exists(checkpointPath) ? $"; the last good checkpoint ({checkpointPath}) is kept" : string.Empty;
            if (File.Exists(checkpointPath))
            {
                // The report shows where the loss blew up, with the settings from the last good checkpoint.
                Reports.RunReport.Write(runDirectory);
            }

            throw new UnrollException($"{diverged.Message} No model was written{kept}; metrics up to the failure are in {Path.Combine(runDirectory, "metrics.csv")}.", diverged);
        }

        Checkpoint.Save(checkpointPath, model, trainer.CaptureState(), CheckpointMetadata());
        string modelPath = Path.Combine(runDirectory, ModelFileName);
        Models.ModelFile.Save(modelPath, model, metadata);

        var evaluation = OscillatorEvaluation.Evaluate(model, dataset, horizon);
        RunFiles.WriteLossPlot(Path.Combine(runDirectory, "loss.svg"), history);
        RunFiles.WriteForecastPlot(Path.Combine(runDirectory, "forecast.svg"), model, dataset, evaluation.Horizon);
        var diagnosticPlots = DiagnoseCommand.WriteRunPlots(runDirectory, model, dataset);
        Unroll.IO.AtomicFile.WriteAllText(Path.Combine(runDirectory, "evaluation.json"), evaluation.ToJson());
        Reports.RunReport.Write(runDirectory);

        if (stop.StopRequested)
        {
            console.Output.WriteLine($"Stopped by the user after {history.Count} of {trainingOptions.Steps} steps; the model so far and a checkpoint are saved (continue with --resume {runDirectory}).");
        }

        console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {history.Count - startStep} steps in {seconds:F1} s; final training loss {Options.Format(history.Count > 0 ? history[^1].TrainLoss : double.NaN)}."));
        EvalCommand.PrintEvaluation(console.Output, evaluation);
        console.Output.WriteLine($"Wrote {runDirectory}{Path.DirectorySeparatorChar}: {ModelFileName}, {Checkpoint.FileName}, metrics.csv, evaluation.json, loss.svg, forecast.svg{string.Concat(diagnosticPlots.Select(name => ", " + name))}, {Reports.RunReport.FileName}");
        return CliApp.Success;
    }

    private static string Describe(ModelConfig config)
    {
        string layers = config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty;
        string name = config.Architecture switch
        {
            "jordan" => $"{Activations.Name(config.Activation)} Jordan network",
            "lstm" => $"{layers}LSTM",
            "gru" => $"{layers}GRU",
            _ => $"{layers}{Activations.Name(config.Activation)} RNN",
        };
        return (name[0] is 'L' or 'i' or 'e' or 'a' or 'o' or 'u' ? "an " : "a ") + name;
    }

    private static void RunWithProgress(
        CliConsole console, Trainer trainer, OscillatorDataset dataset, TrainingOptions options,
        Action<StepMetrics> onStep, CancellationToken cancellation)
    {
        double lastValidation = double.NaN;
        if (console.Interactive)
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var bar = context.AddTask("training", maxValue: options.Steps);
                    bar.Value = trainer.CompletedSteps;
                    trainer.Run(dataset.Train, dataset.Validation, metrics =>
                    {
                        onStep(metrics);
                        if (!double.IsNaN(metrics.ValidationLoss))
                        {
                            lastValidation = metrics.ValidationLoss;
                        }

                        bar.Description = $"step {metrics.Step} loss {metrics.TrainLoss:G3} val {lastValidation:G3}";
                        bar.Value = metrics.Step;
                    }, cancellation);
                });
            return;
        }

        int every = Math.Max(1, options.Steps / 10);
        trainer.Run(dataset.Train, dataset.Validation, metrics =>
        {
            onStep(metrics);
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
