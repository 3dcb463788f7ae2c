using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>Why a run ended.</summary>
internal enum RunEnd
{
    /// <summary>It took every step.</summary>
    Finished,

    /// <summary>Ctrl-C (or SIGTERM): saved, resumable.</summary>
    Interrupted,

    /// <summary>The time budget ran out: saved, resumable.</summary>
    TimeLimit,

    /// <summary>It diverged: metrics kept, no model written.</summary>
    Diverged,
}

/// <summary>What a run produced; <see cref="Evaluation"/> is null when it diverged.</summary>
internal sealed record RunResult(RunEnd End, Evaluation? Evaluation, IReadOnlyList<StepMetrics> History, double Seconds, string? Failure);

/// <summary>
/// One training run into its run directory, the same for every data source: the loop with its observers
/// (progress, checkpoints every N steps, Ctrl-C and the time limit), then the model, the checkpoint,
/// metrics.csv, loss.svg, evaluation.json, the diagnostic plots, the source's own plots and report.html.
/// </summary>
internal sealed class TrainingRun
{
    /// <summary>The metadata key of the training options.</summary>
    public const string TrainingKey = "unroll.training";

    /// <summary>Everything the run needs.</summary>
    public required RunDirectory Directory { get; init; }

    public required DataSource Source { get; init; }

    public required TrainingTask Task { get; init; }

    public required IRecurrentModel<float> Model { get; init; }

    public required TrainingOptions Options { get; init; }

    public required RunSettings Settings { get; init; }

    /// <summary>The checkpoint's state when resuming, else null.</summary>
    public TrainerState? ResumeFrom { get; init; }

    /// <summary>Print nothing but the failure (the experiment grid prints its own lines).</summary>
    public bool Quiet { get; init; }

    /// <summary>The metadata written into the model file: the task and the training options.</summary>
    private Dictionary<string, string> ModelMetadata()
    {
        var metadata = new Dictionary<string, string>(Task.Metadata, StringComparer.Ordinal) { [TrainingKey] = Options.ToJson() };
        return metadata;
    }

    /// <summary>Runs and writes everything; a divergence is returned (quiet) or thrown as one error line.</summary>
    public RunResult Execute(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        var trainer = new Trainer(Model, Options);
        var source = Task.TrainingBatches(Options);
        var validation = Task.Validation(Options);
        if (ResumeFrom is not null)
        {
            // Everything in the checkpoint is checked before anything in the directory is rewritten.
            trainer.Restore(ResumeFrom);
            source.Position = new BatchPosition(ResumeFrom.Order, ResumeFrom.Position, ResumeFrom.ShuffleState);
        }

        var metadata = ModelMetadata();
        var clock = Stopwatch.StartNew();
        double priorSeconds = Settings.TrainingSeconds;
        trainer.Clock = () => priorSeconds + clock.Elapsed.TotalSeconds;
        var timeLimit = Settings.TimeLimitSeconds is { } limit ? TimeSpan.FromSeconds(Math.Max(0, limit - priorSeconds)) : (TimeSpan?)null;
        bool budgeted = Options.TimeBudgetSeconds is not null;
        Dictionary<string, string> CheckpointMetadata() => new(metadata, StringComparer.Ordinal)
        {
            [RunSettings.MetadataKey] = (Settings with { TrainingSeconds = priorSeconds + clock.Elapsed.TotalSeconds }).ToJson(),
        };

        if (timeLimit is { } remaining && remaining <= TimeSpan.Zero)
        {
            throw new UnrollException(string.Create(CultureInfo.InvariantCulture,
                $"--resume: the run's time budget of {TimeSpan.FromSeconds(Settings.TimeLimitSeconds!.Value)} is spent; pass --time-limit to continue it for longer."));
        }

        if (!Quiet)
        {
            console.Output.WriteLine(Header(source));
        }

        int startStep = trainer.CompletedSteps;
        // A budgeted run ends itself when its time is up (the schedule needs the last steps); otherwise the clock stops it.
        using var stop = new StopSignal(budgeted ? null : timeLimit);
        var checkpoints = new CheckpointObserver(Directory.CheckpointPath, Model, Settings.CheckpointEvery, Options.Steps, CheckpointMetadata);
        var best = new BestModelObserver(Directory.File(RunDirectory.BestModelFileName), Model, metadata);
        string lambdaPath = Directory.File(LambdaHistory.FileName);
        LambdaHistory.Start(lambdaPath, Model, ResumeFrom);
        ITrainingObserver[] observers = Model.Config.Architecture == Architecture.Lru
            ? [stop, checkpoints, best, new LambdaObserver(lambdaPath, Model)]
            : [stop, checkpoints, best];
        TrainingDivergedException? diverged = null;
        try
        {
            Progress.Run(console, Quiet, Options, trainer, Task, (progress, token) =>
                trainer.Run(source, validation, [.. observers, progress], token), stop.Token);
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
        RunFiles.WriteMetrics(Directory.MetricsPath, history);
        RunFiles.WriteLossPlot(Directory.File("loss.svg"), history, Task);
        if (diverged is not null)
        {
            bool kept = File.Exists(Directory.CheckpointPath);
            if (kept)
            {
                // The report shows where the loss blew up, with the settings of the last good checkpoint.
                Reports.RunReport.Write(Directory.Path);
            }

            string failure = $"{diverged.Message} No model was written{(kept ? $"; the last good checkpoint ({Directory.CheckpointPath}) is kept" : string.Empty)}; metrics up to the failure are in {Directory.MetricsPath}.";
            return Quiet ? new RunResult(RunEnd.Diverged, null, history, seconds, failure) : throw new UnrollException(failure, diverged);
        }

        if (Model.Config.Architecture == Architecture.Lru && history.Count > 0 && !history[^1].HasDiagnostics)
        {
            // The final eigenvalues, when the last step was not a diagnostic one (a resumed run drops this row).
            LambdaHistory.Record(lambdaPath, history[^1].Step, Model);
        }

        Checkpoint.Save(Directory.CheckpointPath, Model, trainer.CaptureState(), CheckpointMetadata());
        ModelFile.Save(Directory.ModelPath, Model, metadata);
        var end = !stop.StopRequested || history.Count >= Options.Steps ? RunEnd.Finished : stop.UserStopped ? RunEnd.Interrupted : RunEnd.TimeLimit;
        var (bestStep, bestLoss) = trainer.Best;
        if (!Quiet)
        {
            // Said before the evaluations and plots below, which take a while for a large model.
            PrintEnd(console.Output, end, trainer.PatienceExhausted, history, startStep, seconds, bestStep, bestLoss);
        }

        var evaluation = Task.Evaluate(Model, new EvaluationOptions());
        AtomicFile.WriteAllText(Directory.File(RunDirectory.EvaluationFileName), evaluation.ToJson());
        var written = new List<string> { RunDirectory.ModelFileName, Checkpoint.FileName, RunDirectory.MetricsFileName, RunDirectory.EvaluationFileName, "loss.svg" };
        Evaluation? bestEvaluation = null;
        if (bestStep > 0 && File.Exists(Directory.File(RunDirectory.BestModelFileName)))
        {
            // The kept model: the weights of the step with the lowest validation loss, scored as the last model is
            // (when that step is the last, they are the last model's weights, already scored).
            bestEvaluation = bestStep == history.Count
                ? evaluation
                : Task.Evaluate(ModelFile.Load(Directory.File(RunDirectory.BestModelFileName)).Model, new EvaluationOptions());
            AtomicFile.WriteAllText(Directory.File(RunDirectory.BestEvaluationFileName), bestEvaluation.ToJson());
            written.InsertRange(1, [RunDirectory.BestModelFileName, RunDirectory.BestEvaluationFileName]);
        }

        written.AddRange(Source.WritePlots(Directory.Path, Task, Model, evaluation));
        written.AddRange(DiagnoseCommand.WriteRunPlots(Directory.Path, Model, Task));
        Reports.RunReport.Write(Directory.Path);
        written.Add(Reports.RunReport.FileName);

        if (!Quiet)
        {
            var output = console.Output;
            if (bestEvaluation is not null)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"The last model (model.safetensors, step {history.Count}):"));
            }

            EvaluationPrinter.Print(output, evaluation);
            if (bestEvaluation is not null)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"The best model (best.safetensors, step {bestStep}, validation loss {Evaluation.Format(bestLoss)}), which eval, predict and sample use when given the run directory:"));
                EvaluationPrinter.Print(output, bestEvaluation);
            }

            output.WriteLine($"Wrote {Directory.Path}{Path.DirectorySeparatorChar}: {string.Join(", ", written)}");
        }

        return new RunResult(end, evaluation, history, seconds, null);
    }

    private void PrintEnd(TextWriter output, RunEnd end, bool patienceExhausted, IReadOnlyList<StepMetrics> history, int startStep, double seconds, int bestStep, double bestLoss)
    {
        if (end != RunEnd.Finished)
        {
            string why = end == RunEnd.Interrupted ? "by the user" : string.Create(CultureInfo.InvariantCulture, $"at the time limit ({TimeSpan.FromSeconds(Settings.TimeLimitSeconds!.Value)})");
            output.WriteLine($"Stopped {why} after step {history.Count} of {Options.Steps}; the model so far and a checkpoint are saved (continue with unroll train --resume {Directory.Path}).");
        }
        else if (patienceExhausted)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Stopped early at step {history.Count}: {Options.Patience} validations in a row did not improve on the best validation loss, {Evaluation.Format(bestLoss)} at step {bestStep}."));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {history.Count - startStep} steps in {seconds:F1} s; final training loss {Evaluation.Format(history.Count > 0 ? history[^1].TrainLoss : double.NaN)}."));
    }

    private string Header(IBatchSource source)
    {
        var config = Model.Config;
        string budget = Options.TimeBudgetSeconds is { } time
            ? string.Create(CultureInfo.InvariantCulture, $", the schedule laid over {TimeSpan.FromSeconds(time)}")
            : Settings.TimeLimitSeconds is { } limit ? string.Create(CultureInfo.InvariantCulture, $", at most {TimeSpan.FromSeconds(limit)}") : string.Empty;
        string length = Options.TimeBudgetSeconds is { } seconds ? string.Create(CultureInfo.InvariantCulture, $"{TimeSpan.FromSeconds(seconds)}") : string.Create(CultureInfo.InvariantCulture, $"{Options.Steps} step{(Options.Steps == 1 ? string.Empty : "s")}");
        string batches = source.CarriesState
            ? $"windows of {source.MaxSteps} steps x {source.BatchSize} streams"
            : $"batches of {source.BatchSize}";
        string resumed = ResumeFrom is { } state ? string.Create(CultureInfo.InvariantCulture, $"Resuming {Directory.Path} at step {state.Step} of {Options.Steps}.\n") : string.Empty;
        return resumed + $"Data: {Task.Describe()}.\n" + string.Create(CultureInfo.InvariantCulture,
            $"Training {ModelDescription.Of(config)} ({Model.Parameters.Count} parameters) for {length}: {batches}, {Optimizers.Name(Options.Optimizer.Kind)} lr={Cli.Options.Format(Options.LearningRate)}, {Parallelism.ThreadCount} thread{(Parallelism.ThreadCount == 1 ? string.Empty : "s")} ({Unroll.Kernels.Gemm.Gemm.VariantDescription}){budget}.");
    }

    /// <summary>Writes a checkpoint every N steps (the last step's is written by the run itself, with the model).</summary>
    private sealed class CheckpointObserver(string path, IRecurrentModel<float> model, int every, int steps, Func<Dictionary<string, string>> metadata) : ITrainingObserver
    {
        public void OnStep(Trainer trainer, StepMetrics metrics)
        {
            if (metrics.Step % every == 0 && metrics.Step < steps)
            {
                Checkpoint.Save(path, model, trainer.CaptureState(), metadata());
            }
        }
    }
}

/// <summary>
/// Keeps the best model: after a step whose validation loss is the lowest so far, writes the weights to
/// best.safetensors with the step and the loss in its metadata (<see cref="BestKey"/>). On resume the best so far
/// comes from the checkpoint's metrics, so the file ends as it would have without the interruption.
/// </summary>
internal sealed class BestModelObserver(string path, IRecurrentModel<float> model, IReadOnlyDictionary<string, string> metadata) : ITrainingObserver
{
    /// <summary>The metadata key of the best model's step and validation loss.</summary>
    public const string BestKey = "unroll.best";

    public void OnStep(Trainer trainer, StepMetrics metrics)
    {
        if (!double.IsNaN(metrics.ValidationLoss) && trainer.Best.Step == metrics.Step)
        {
            ModelFile.Save(path, model, new Dictionary<string, string>(metadata, StringComparer.Ordinal)
            {
                [BestKey] = System.Text.Json.JsonSerializer.Serialize(new BestStep(metrics.Step, metrics.ValidationLoss), CliJsonContext.Default.BestStep),
            });
        }
    }
}

/// <summary>The best model's step and validation loss, as best.safetensors records them: <c>{"step":N,"validationLoss":X}</c>.</summary>
internal sealed record BestStep(
    [property: System.Text.Json.Serialization.JsonPropertyName("step")] int Step,
    [property: System.Text.Json.Serialization.JsonPropertyName("validationLoss")] double ValidationLoss);

/// <summary>How a model is named in sentences: "a 2-layer LSTM (H=64)".</summary>
internal static class ModelDescription
{
    public static string Of(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string layers = config.Layers > 1 ? $"{config.Layers}-layer " : string.Empty;
        string direction = config.Bidirectional ? "bidirectional " : string.Empty;
        string name = config.Architecture == Architecture.Jordan ? CellName(config) : $"{layers}{direction}{CellName(config)}";
        string article = name[0] is 'L' or 'i' or 'e' or 'a' or 'o' or 'u' ? "an" : "a";
        return string.Create(CultureInfo.InvariantCulture, $"{article} {name} (H={config.HiddenSize})");
    }

    /// <summary>The cell as the papers name it: "LSTM", "GRU", "tanh RNN", "relu Jordan network", "LRU", "minGRU", "minLSTM".</summary>
    public static string CellName(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Architecture switch
        {
            Architecture.Jordan => $"{Activations.Name(config.Activation)} Jordan network",
            Architecture.Lstm => "LSTM",
            Architecture.Gru => "GRU",
            Architecture.Lru => "LRU",
            Architecture.MinGru => "minGRU",
            Architecture.MinLstm => "minLSTM",
            _ => $"{Activations.Name(config.Activation)} RNN",
        };
    }
}

/// <summary>The progress display: a bar on a terminal, a plain line every 10% of the steps otherwise.</summary>
internal sealed class Progress : ITrainingObserver
{
    private readonly Action<StepMetrics> _show;

    private Progress(Action<StepMetrics> show) => _show = show;

    /// <inheritdoc/>
    public void OnStep(Trainer trainer, StepMetrics metrics) => _show(metrics);

    /// <summary>Runs <paramref name="train"/> with a progress observer suited to the console.</summary>
    public static void Run(CliConsole console, bool quiet, TrainingOptions options, Trainer trainer, TrainingTask task, Action<ITrainingObserver, CancellationToken> train, CancellationToken cancellation)
    {
        // A budgeted run's progress is its time; any other run's, its steps.
        var budget = options.TimeBudgetSeconds;
        double total = budget ?? options.Steps;
        double Done(StepMetrics metrics) => budget is null ? metrics.Step : Math.Min(trainer.Clock?.Invoke() ?? 0, total);
        string Of() => budget is { } seconds ? string.Create(CultureInfo.InvariantCulture, $"{TimeSpan.FromSeconds(seconds)}") : options.Steps.ToString(CultureInfo.InvariantCulture);
        double lastValidation = double.NaN, lastAccuracy = double.NaN;
        void Remember(StepMetrics metrics)
        {
            if (!double.IsNaN(metrics.ValidationLoss))
            {
                lastValidation = metrics.ValidationLoss;
                lastAccuracy = metrics.ValidationAccuracy;
            }
        }

        string Validation() => double.IsNaN(lastValidation)
            ? "validation -"
            : string.Create(CultureInfo.InvariantCulture, $"validation {task.LossName} {lastValidation:G4}{(double.IsNaN(lastAccuracy) ? string.Empty : $" ({100 * lastAccuracy:F1}% right)")}");

        if (quiet)
        {
            train(new Progress(_ => { }), cancellation);
        }
        else if (console.Interactive)
        {
            AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var bar = context.AddTask("training", maxValue: total);
                    bar.Value = budget is null ? trainer.CompletedSteps : Math.Min(trainer.Clock?.Invoke() ?? 0, total);
                    train(new Progress(metrics =>
                    {
                        Remember(metrics);
                        bar.Description = string.Create(CultureInfo.InvariantCulture, $"step {metrics.Step} loss {metrics.TrainLoss:G3} {Validation()}");
                        bar.Value = Done(metrics);
                    }), cancellation);
                });
        }
        else
        {
            // A plain line every tenth of the run (of its steps, or of its time).
            double next = total / 10;
            train(new Progress(metrics =>
            {
                Remember(metrics);
                double done = Done(metrics);
                if (done >= next || metrics.Step == options.Steps)
                {
                    next = (Math.Floor(done / (total / 10)) + 1) * (total / 10);
                    string where = budget is null ? string.Create(CultureInfo.InvariantCulture, $"{metrics.Step,6}/{Of()}") : string.Create(CultureInfo.InvariantCulture, $"{metrics.Step,6} ({TimeSpan.FromSeconds(Math.Round(done))}/{Of()})");
                    console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"step {where}  loss {metrics.TrainLoss:G4}  {Validation()}  grad norm {metrics.GradientNorm:G3}{(metrics.Clipped ? " (clipped)" : string.Empty)}"));
                }
            }), cancellation);
        }
    }
}
