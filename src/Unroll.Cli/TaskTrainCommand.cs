using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Unroll.Data.Tasks;
using Unroll.Init;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>`unroll train adding|copy|temporal-order`: the long-range benchmark tasks (docs/tasks.md).</summary>
internal static class TaskTrainCommand
{
    /// <summary>Default hyper-parameters of the task runs: Adam at 0.01 as for the oscillator, with which an LSTM of 64 units solves the adding problem at T = 100.</summary>
    public const double DefaultLearningRate = 0.01;

    public const int DefaultHidden = 64;

    public const int DefaultSteps = 4000;

    public const int DefaultValidateEvery = 100;

    /// <summary>Adds one subcommand per task to `train`.</summary>
    public static void AddTo(Command train, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(train);
        foreach (string name in SequenceTask.Names)
        {
            train.Subcommands.Add(Create(console, name));
        }
    }

    private static Command Create(CliConsole console, string taskName)
    {
        var length = Options.Make("--length", "T: sequence length (adding, temporal-order) or the delay between the symbols and their recall (copy)", 100);
        var data = new TaskDataCliOptions();
        var model = new TaskModelCliOptions();
        var training = new TaskTrainingCliOptions();
        var output = Options.Make("--output", "Run directory to write (default runs/<task>-<time>)", string.Empty);
        output.Aliases.Add("-o");
        var overwrite = Options.Make("--overwrite", "Replace the model in an existing run directory", false);
        var checkpointEvery = Options.Make("--checkpoint-every", "Write checkpoint.safetensors every N steps (and at the end)", 500);
        var resume = Options.Make("--resume", "Continue the run in this directory from its checkpoint, with its own options", string.Empty);
        var initFrom = Options.Make("--init-from", "Start from the weights of this model file (same architecture and sizes)", string.Empty);
        var timeLimit = Options.Make("--time-limit", "Stop after this much training time (e.g. 90s, 15m, 1h), saving the model and checkpoint; none by default", string.Empty);
        var command = new Command(taskName, Describe(taskName)) { length, output, overwrite, checkpointEvery, resume, initFrom, timeLimit };
        data.AddTo(command);
        model.AddTo(command);
        training.AddTo(command);
        command.SetAction(parse =>
        {
            int every = parse.GetValue(checkpointEvery);
            if (every < 1)
            {
                throw new UnrollException($"--checkpoint-every: expected at least 1, got {every}.");
            }

            var limit = ParseDuration(parse.GetValue(timeLimit)!, "--time-limit");
            string resumeDirectory = parse.GetValue(resume)!;
            if (resumeDirectory.Length > 0)
            {
                var others = command.Options
                    .Where(option => option != resume && option != checkpointEvery && option != timeLimit && parse.GetResult(option) is { Implicit: false })
                    .Select(option => option.Name)
                    .ToList();
                if (others.Count > 0)
                {
                    throw new UnrollException($"--resume: a resumed run keeps its own options; got {string.Join(", ", others)} as well.");
                }

                return Resume(console, resumeDirectory, every, limit);
            }

            var description = data.Read(parse, taskName, parse.GetValue(length));
            var task = description.Definition;
            var trainingOptions = training.Read(parse, description.Seed);
            var instance = model.Create(parse, task, description.Seed);
            string initialWeights = parse.GetValue(initFrom)!;
            if (initialWeights.Length > 0)
            {
                ModelFile.LoadWeightsInto(initialWeights, instance);
            }

            string directory = PrepareRunDirectory(parse.GetValue(output)!, taskName, parse.GetValue(overwrite));
            var result = TaskRunner.Run(console, new TaskRunPlan(directory, description, instance, trainingOptions, every, null, limit, MonitorTest: false), quiet: false);
            return result.Evaluation is null ? CliApp.UserError : CliApp.Success;
        });
        return command;
    }

    /// <summary>Continues a task run from its checkpoint (also reached through `unroll train --resume`).</summary>
    public static int Resume(CliConsole console, string directory, int checkpointEvery, TimeSpan? timeLimit)
    {
        string path = Path.Combine(directory, Checkpoint.FileName);
        var checkpoint = Checkpoint.Load(path);
        string Require(string key) => checkpoint.Metadata.TryGetValue(key, out var value)
            ? value
            : throw new UnrollException($"{path}: expected '{key}' in the checkpoint's metadata; it was not written by unroll train {string.Join("|", SequenceTask.Names)}.");
        var description = TaskDataDescription.FromJson(Require(TaskDataDescription.MetadataKey));
        var training = TrainingOptions.FromJson(Require(TaskRunner.TrainingKey));
        var info = JsonSerializer.Deserialize<TaskRunInfo>(Require(TaskRunner.RunKey)) ?? new TaskRunInfo(false);
        console.Output.WriteLine($"Resuming {directory} at step {checkpoint.State.Step} of {training.Steps}.");
        var result = TaskRunner.Run(console, new TaskRunPlan(directory, description, checkpoint.Model, training, checkpointEvery, checkpoint.State, timeLimit, info.MonitorTest), quiet: false);
        return result.Evaluation is null ? CliApp.UserError : CliApp.Success;
    }

    public static string Describe(string taskName) => taskName switch
    {
        AddingProblem.TaskName => "The adding problem: sum the two marked values of a sequence of T (Hochreiter & Schmidhuber 1997; Le et al. 2015)",
        CopyMemory.TaskName => "Copy memory: recall 10 symbols after T blanks (Arjovsky, Shah & Bengio 2016)",
        _ => "Temporal order: classify the order of X/Y at two positions of a sequence of T (Hochreiter & Schmidhuber 1997)",
    };

    /// <summary>Parses 90s, 15m, 1h or 1h30m (an empty text is no limit).</summary>
    public static TimeSpan? ParseDuration(string text, string option)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$");
        if (!match.Success || text.Trim().Length == 0 || !(match.Groups[1].Success || match.Groups[2].Success || match.Groups[3].Success))
        {
            throw new UnrollException($"{option}: expected a duration such as 90s, 15m, 1h or 1h30m, got '{text}'.");
        }

        double Part(int group) => match.Groups[group].Success ? double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
        var duration = TimeSpan.FromHours(Part(1)) + TimeSpan.FromMinutes(Part(2)) + TimeSpan.FromSeconds(Part(3));
        return duration > TimeSpan.Zero ? duration : throw new UnrollException($"{option}: expected a duration above zero, got '{text}'.");
    }

    public static string PrepareRunDirectory(string requested, string taskName, bool overwrite)
    {
        string directory = string.IsNullOrWhiteSpace(requested)
            ? Path.Combine("runs", taskName + "-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture))
            : requested;
        if (File.Exists(directory))
        {
            throw new UnrollException($"--output: expected a directory, got the file '{directory}'.");
        }

        if (!overwrite && File.Exists(Path.Combine(directory, TrainCommand.ModelFileName)))
        {
            throw new UnrollException($"--output: '{directory}' already holds a {TrainCommand.ModelFileName}; choose another directory or pass --overwrite.");
        }

        Directory.CreateDirectory(directory);
        return directory;
    }
}

/// <summary>How many sequences per split, and the seed.</summary>
internal sealed class TaskDataCliOptions
{
    private static readonly TaskDataDescription Defaults = new();

    public Option<int> TrainCount { get; } = Options.Make("--train-count", "Training sequences", Defaults.TrainCount);

    public Option<int> ValidationCount { get; } = Options.Make("--validation-count", "Validation sequences", Defaults.ValidationCount);

    public Option<int> TestCount { get; } = Options.Make("--test-count", "Test sequences", Defaults.TestCount);

    public Option<int> Seed { get; } = Options.Make("--seed", "Seeds the data, the initial weights and the batch order", 1);

    public void AddTo(Command command)
    {
        command.Add(TrainCount);
        command.Add(ValidationCount);
        command.Add(TestCount);
        command.Add(Seed);
    }

    public TaskDataDescription Read(ParseResult parse, string task, int length)
    {
        var description = new TaskDataDescription
        {
            Task = task,
            Length = length,
            TrainCount = parse.GetValue(TrainCount),
            ValidationCount = parse.GetValue(ValidationCount),
            TestCount = parse.GetValue(TestCount),
            Seed = parse.GetValue(Seed),
        };
        description.Validate();
        return description;
    }
}

/// <summary>The network's options, as for the oscillator (without the Jordan network), plus the embedding width.</summary>
internal sealed class TaskModelCliOptions
{
    public Option<string> Model { get; } = Options.Make("--model", "Recurrent network: rnn (Elman), lstm or gru", "lstm");

    public Option<string> Activation { get; } = Options.Make("--activation", "Recurrent non-linearity of the rnn: tanh, sigmoid, relu or identity", "tanh");

    public Option<string> InitHh { get; } = Options.Make("--init-hh", $"Initialisation of the hidden-to-hidden weights: {InitSettings.Accepted}", "default");

    public Option<string> InitIh { get; } = Options.Make("--init-ih", $"Initialisation of the input-to-hidden weights: {InitSettings.Accepted}", "default");

    public Option<double?> ForgetBias { get; } = Options.Optional<double>("--forget-bias", "LSTM only: set the forget-gate bias (b_ih + b_hh) to this value, e.g. 1");

    public Option<int> Layers { get; } = Options.Make("--layers", "Stacked recurrent layers", 1);

    public Option<bool> Bidirectional { get; } = Options.Make("--bidirectional", "Run every layer in both directions (adding and temporal-order only: copy answers per step)", false);

    public Option<double> Dropout { get; } = Options.Make("--dropout", "Dropout probability between stacked layers (training only)", 0.0);

    public Option<int> Hidden { get; } = Options.Make("--hidden", "Hidden units H", TaskTrainCommand.DefaultHidden);

    public Option<int?> Embedding { get; } = Options.Optional<int>("--embedding", "Token tasks (copy, temporal-order): embedding width (default: the vocabulary size)");

    public TaskModelCliOptions()
    {
        Model.AcceptOnlyFromAmong("rnn", "lstm", "gru");
    }

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Model, Activation, InitHh, InitIh, ForgetBias, Layers, Bidirectional, Dropout, Hidden, Embedding })
        {
            command.Add(option);
        }
    }

    public IRecurrentModel<float> Create(ParseResult parse, SequenceTask task, int seed)
    {
        int hidden = parse.GetValue(Hidden);
        if (hidden < 1)
        {
            throw new UnrollException($"--hidden: expected a positive number of hidden units, got {hidden}.");
        }

        int? embedding = parse.GetValue(Embedding);
        if (embedding is { } width && (width < 1 || task.VocabularySize == 0))
        {
            throw new UnrollException(task.VocabularySize == 0
                ? $"--embedding: the {task.Name} task reads dense inputs; expected no --embedding."
                : $"--embedding: expected a positive width, got {width}.");
        }

        bool bidirectional = parse.GetValue(Bidirectional);
        if (bidirectional && task.Pooling == Pooling.EveryStep)
        {
            throw new UnrollException($"--bidirectional: the {task.Name} task answers at every step, which a backward-running direction would read from the future; expected a unidirectional model.");
        }

        var config = task.ModelConfig(parse.GetValue(Model)!, hidden, embedding ?? 0) with
        {
            Layers = parse.GetValue(Layers),
            Bidirectional = bidirectional,
            Dropout = parse.GetValue(Dropout),
            Activation = Activations.Parse(parse.GetValue(Activation)!),
        };
        return TaskRunner.CreateModel(
            config, InitSettings.Parse(parse.GetValue(InitHh)!, "--init-hh"), InitSettings.Parse(parse.GetValue(InitIh)!, "--init-ih"), parse.GetValue(ForgetBias), seed);
    }
}

/// <summary>Optimiser, clipping, steps, batch and validation options.</summary>
internal sealed class TaskTrainingCliOptions
{
    private readonly OptimizerCliOptions _optimizer = new();

    public Option<double> ClipNorm { get; } = Options.Make("--clip-norm", "Clip the global gradient norm to this value; 0 turns it off", 1.0);

    public Option<double?> ClipValue { get; } = Options.Optional<double>("--clip-value", "Clamp every gradient component to [-v, v]");

    public Option<int> Steps { get; } = Options.Make("--steps", "Optimiser steps (minibatches)", TaskTrainCommand.DefaultSteps);

    public Option<int> BatchSize { get; } = Options.Make("--batch-size", "Sequences per minibatch", 32);

    public Option<int> ValidateEvery { get; } = Options.Make("--validate-every", "Measure the validation loss every N steps", TaskTrainCommand.DefaultValidateEvery);

    public void AddTo(Command command)
    {
        _optimizer.AddTo(command);
        command.Add(ClipNorm);
        command.Add(ClipValue);
        command.Add(Steps);
        command.Add(BatchSize);
        command.Add(ValidateEvery);
    }

    public TrainingOptions Read(ParseResult parse, int seed)
    {
        var options = new TrainingOptions
        {
            Optimizer = _optimizer.ReadOptimizer(parse),
            Schedule = _optimizer.ReadSchedule(parse),
            ClipNorm = parse.GetValue(ClipNorm) is var norm && norm == 0 ? null : norm,
            ClipValue = parse.GetValue(ClipValue),
            Steps = parse.GetValue(Steps),
            BatchSize = parse.GetValue(BatchSize),
            Seed = seed,
            ValidateEvery = parse.GetValue(ValidateEvery),
        };
        options.Validate();
        return options;
    }
}

/// <summary>What a task run needs: where it writes, its data, model, options, the state it resumes from, its time budget.</summary>
internal sealed record TaskRunPlan(
    string Directory, TaskDataDescription Data, IRecurrentModel<float> Model, TrainingOptions Training,
    int CheckpointEvery, TrainerState? ResumeFrom, TimeSpan? TimeLimit, bool MonitorTest);

/// <summary>How a task run was monitored (stored with the checkpoint so a resumed run does the same).</summary>
internal sealed record TaskRunInfo(bool MonitorTest);

/// <summary>What a finished (or stopped) task run produced; <see cref="Evaluation"/> is null when training diverged.</summary>
internal sealed record TaskRunResult(TaskEvaluation? Evaluation, IReadOnlyList<StepMetrics> History, double Seconds, string? Failure, bool UserStopped);

/// <summary>Trains a task model and writes its run directory (shared by `train TASK` and `experiment`).</summary>
internal static class TaskRunner
{
    public const string TrainingKey = "unroll.training";

    public const string RunKey = "unroll.task-run";

    public const string EvaluationFileName = "evaluation.json";

    public static IRecurrentModel<float> CreateModel(ModelConfig config, InitSettings hiddenInit, InitSettings inputInit, double? forgetBias, int seed, bool zeroRecurrentBiases = false)
    {
        var model = RecurrentModels.Create<float>(config);
        Initializers.Initialize(model, hiddenInit, inputInit, new Random(seed));
        if (zeroRecurrentBiases)
        {
            foreach (var view in model.Parameters.Views.Where(v => v.Name.StartsWith("rnn.bias_", StringComparison.Ordinal)))
            {
                model.Parameters.Values.AsSpan(view.Offset, view.Length).Clear();
            }
        }
        if (forgetBias is { } bias)
        {
            Initializers.SetForgetGateBias(model, bias);
        }

        return model;
    }

    /// <summary>
    /// Trains, then writes model.safetensors, checkpoint.safetensors, metrics.csv, evaluation.json and
    /// loss.svg. Ctrl-C or the time limit stop after the current step and still write everything.
    /// A diverged run writes its metrics and returns the failure (or throws unless <paramref name="quiet"/>).
    /// </summary>
    public static TaskRunResult Run(CliConsole console, TaskRunPlan plan, bool quiet)
    {
        var (directory, description, model, options, checkpointEvery, resumeFrom, timeLimit, monitorTest) = plan;
        var task = description.Definition;
        var (train, validation, test) = description.Generate();
        var monitor = monitorTest ? test : validation;
        var trainer = new Trainer(model, options);
        if (resumeFrom is not null)
        {
            trainer.Restore(resumeFrom);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [TaskDataDescription.MetadataKey] = description.ToJson(),
            [TrainingKey] = options.ToJson(),
            [RunKey] = JsonSerializer.Serialize(new TaskRunInfo(monitorTest)),
        };
        string checkpointPath = Path.Combine(directory, Checkpoint.FileName);
        if (!quiet)
        {
            console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Training {Name(model.Config)} (H={model.Config.HiddenSize}, {model.Parameters.Count} parameters) on {description.TrainCount} {task.Name} sequences of {task.SequenceLength} steps (T={task.Length}); " +
                $"{options.Steps} steps of {Optimizers.Name(options.Optimizer.Kind)} lr={Options.Format(options.LearningRate)}, batch {options.BatchSize}{(timeLimit is { } l ? $", at most {l}" : string.Empty)}. " +
                $"Baseline ({task.BaselineDescription}): {MetricName(task)} {task.BaselineLoss:G4}."));
        }

        using var stop = new StopSignal(timeLimit);
        var clock = Stopwatch.StartNew();
        int startStep = trainer.CompletedSteps;
        TrainingDivergedException? diverged = null;
        void OnStep(StepMetrics metrics)
        {
            stop.Poll();
            if (metrics.Step % checkpointEvery == 0 && metrics.Step < options.Steps)
            {
                Checkpoint.Save(checkpointPath, model, trainer.CaptureState(), metadata);
            }
        }

        try
        {
            RunWithProgress(console, trainer, train, monitor, options, quiet, OnStep, stop.Token);
        }
        catch (TrainingDivergedException e)
        {
            diverged = e;
        }
        finally
        {
            stop.Release();
        }

        bool userStopped = stop.UserStopped;
        double seconds = clock.Elapsed.TotalSeconds;
        var history = trainer.History;
        RunFiles.WriteMetrics(Path.Combine(directory, "metrics.csv"), history);
        WriteLossPlot(Path.Combine(directory, "loss.svg"), history, task, monitorTest ? "test" : "validation");
        if (diverged is not null)
        {
            string kept = File.Exists(checkpointPath) ? $"; the last good checkpoint ({checkpointPath}) is kept" : string.Empty;
            string failure = $"{diverged.Message} No model was written{kept}; metrics up to the failure are in {Path.Combine(directory, "metrics.csv")}.";
            return quiet ? new TaskRunResult(null, history, seconds, failure, userStopped) : throw new UnrollException(failure, diverged);
        }

        Checkpoint.Save(checkpointPath, model, trainer.CaptureState(), metadata);
        ModelFile.Save(Path.Combine(directory, TrainCommand.ModelFileName), model, metadata);
        var evaluation = TaskEvaluation.Evaluate(model, task, test);
        AtomicFile.WriteAllText(Path.Combine(directory, EvaluationFileName), evaluation.ToJson());
        Reports.RunReport.Write(directory);
        if (!quiet)
        {
            if (history.Count < options.Steps)
            {
                string why = userStopped ? "by the user" : $"at the time limit ({timeLimit})";
                console.Output.WriteLine($"Stopped {why} after {history.Count} of {options.Steps} steps; the model so far and a checkpoint are saved (continue with unroll train --resume {directory}).");
            }

            console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Trained {history.Count - startStep} steps in {seconds:F1} s; final training loss {Options.Format(history.Count > 0 ? history[^1].TrainLoss : double.NaN)}."));
            TaskEvalPrinter.Print(console.Output, evaluation);
            console.Output.WriteLine($"Wrote {directory}{Path.DirectorySeparatorChar}: {TrainCommand.ModelFileName}, {Checkpoint.FileName}, metrics.csv, {EvaluationFileName}, loss.svg, {Reports.RunReport.FileName}");
        }

        return new TaskRunResult(evaluation, history, seconds, null, userStopped);
    }

    public static string MetricName(SequenceTask task) => task.Head == HeadKind.Classification ? "cross-entropy" : "MSE";

    public static string Name(ModelConfig config)
    {
        string layers = config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty;
        string name = config.Architecture switch
        {
            "lstm" => $"{layers}LSTM",
            "gru" => $"{layers}GRU",
            _ => $"{layers}{Activations.Name(config.Activation)} RNN",
        };
        return (name[0] is 'L' or 'i' or 'e' or 'a' or 'o' or 'u' ? "an " : "a ") + name;
    }

    private static void WriteLossPlot(string path, IReadOnlyList<StepMetrics> history, SequenceTask task, string monitorName)
    {
        var measured = history.Where(m => !double.IsNaN(m.ValidationLoss)).ToList();
        var chart = new Chart { Title = $"{task.Name}, T = {task.Length}: {MetricName(task)}", XLabel = "step", YLabel = MetricName(task), LogY = true }
            .AddLine("training (minibatch)", history.Select(m => (double)m.Step).ToList(), history.Select(m => m.TrainLoss).ToList())
            .AddLine(monitorName, measured.Select(m => (double)m.Step).ToList(), measured.Select(m => m.ValidationLoss).ToList())
            .AddHorizontalLine(task.BaselineLoss, "baseline");
        AtomicFile.WriteAllText(path, chart.ToSvg());
    }

    private static void RunWithProgress(
        CliConsole console, Trainer trainer, Data.SequenceSet train, Data.SequenceSet monitor, TrainingOptions options, bool quiet,
        Action<StepMetrics> onStep, CancellationToken cancellation)
    {
        double lastMeasured = double.NaN;
        var validation = monitor.Count > 0 ? monitor : null;
        if (console.Interactive)
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var bar = context.AddTask("training", maxValue: options.Steps);
                    bar.Value = trainer.CompletedSteps;
                    trainer.Run(train, validation, metrics =>
                    {
                        onStep(metrics);
                        lastMeasured = double.IsNaN(metrics.ValidationLoss) ? lastMeasured : metrics.ValidationLoss;
                        bar.Description = string.Create(CultureInfo.InvariantCulture, $"step {metrics.Step} loss {metrics.TrainLoss:G3} val {lastMeasured:G3}");
                        bar.Value = metrics.Step;
                    }, cancellation);
                });
            return;
        }

        int every = Math.Max(1, options.Steps / 10);
        trainer.Run(train, validation, metrics =>
        {
            onStep(metrics);
            lastMeasured = double.IsNaN(metrics.ValidationLoss) ? lastMeasured : metrics.ValidationLoss;
            if (!quiet && (metrics.Step % every == 0 || metrics.Step == options.Steps))
            {
                console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {metrics.Step,6}/{options.Steps}  loss {metrics.TrainLoss:G4}  validation {lastMeasured:G4}  grad norm {metrics.GradientNorm:G3}{(metrics.Clipped ? " (clipped)" : string.Empty)}"));
            }
        }, cancellation);
    }
}

/// <summary>`unroll eval` of a task model, and the table it prints.</summary>
internal static class TaskEvalPrinter
{
    /// <summary>Regenerates the test split from the model's stored description and prints (or writes as JSON) the evaluation.</summary>
    public static int Evaluate(CliConsole console, LoadedModel loaded, string descriptionJson, int? testCount, int? horizon, bool json)
    {
        if (horizon is not null)
        {
            throw new UnrollException("--horizon: applies to oscillator models; this model was trained on a task, which has no free-running forecast.");
        }

        var description = TaskDataDescription.FromJson(descriptionJson);
        if (testCount is { } count)
        {
            description = description with { TestCount = count };
            description.Validate();
        }

        var evaluation = TaskEvaluation.Evaluate(loaded.Model, description.Definition, description.GenerateTest());
        if (json)
        {
            console.Output.WriteLine(evaluation.ToJson());
        }
        else
        {
            Print(console.Output, evaluation);
        }

        return CliApp.Success;
    }

    public static void Print(TextWriter output, TaskEvaluation e)
    {
        bool classification = e.Accuracy is not null;
        string metric = classification ? "cross-entropy" : "MSE";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test set: {e.Sequences} {e.Task} sequences, T = {e.Length}."));
        output.WriteLine(classification ? $"{"",-24}{metric,16}{"accuracy",12}" : $"{"",-24}{metric,16}");
        Row(output, "model", e.Loss, e.Accuracy);
        Row(output, "memoryless baseline", e.BaselineLoss, e.BaselineAccuracy);
        output.WriteLine($"The baseline predicts: {e.Baseline}.");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"The model's {metric} is {e.Loss / e.BaselineLoss:G3} of the baseline's."));
    }

    private static void Row(TextWriter output, string name, double loss, double? accuracy) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-24}{loss,16:G4}{(accuracy is { } a ? $"{a,12:P2}" : string.Empty)}"));
}
