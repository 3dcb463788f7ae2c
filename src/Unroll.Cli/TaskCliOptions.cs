using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>The model and training options shared by the data-source tasks (text, fashion-mnist, csv).</summary>
internal sealed class TaskCliOptions
{
    private readonly Option<string> _model = Options.Make("--model", "Recurrent network: rnn (Elman), lstm or gru", "lstm");
    private readonly Option<int> _hidden;
    private readonly Option<int> _layers = Options.Make("--layers", "Stacked recurrent layers", 1);
    private readonly Option<double> _dropout = Options.Make("--dropout", "Dropout probability between stacked layers (training only)", 0.0);
    private readonly Option<string> _activation = Options.Make("--activation", "Elman non-linearity: tanh, sigmoid, relu or identity", "tanh");
    private readonly Option<string> _initHh = Options.Make("--init-hh", $"Initialisation of the hidden-to-hidden weights: {InitSettings.Accepted}", "default");
    private readonly Option<string> _initIh = Options.Make("--init-ih", $"Initialisation of the input-to-hidden weights: {InitSettings.Accepted}", "default");
    private readonly Option<double?> _forgetBias = Options.Optional<double>("--forget-bias", "LSTM only: the forget-gate bias b_ih + b_hh (default: PyTorch's uniform draw)");
    private readonly Option<double> _clipNorm = Options.Make("--clip-norm", "Clip the global gradient norm to this value; 0 turns it off", 1.0);
    private readonly Option<double?> _clipValue = Options.Optional<double>("--clip-value", "Clamp every gradient component to [-v, v]");
    private readonly Option<int> _steps;
    private readonly Option<int> _batchSize;
    private readonly Option<int> _seed = Options.Make("--seed", "Seeds the initial weights, the batch order and dropout", 1);
    private readonly Option<string> _output = Options.Make("--output", "Run directory to write (default runs/<task>-<time>)", string.Empty);
    private readonly Option<bool> _overwrite = Options.Make("--overwrite", "Replace the model in an existing run directory", false);
    private readonly Option<int> _validateEvery;
    private readonly Option<string> _timeLimit = Options.Make("--time-limit", "Stop after this much training time (e.g. 90s, 15m, 1h), saving the model as Ctrl-C does; none by default", string.Empty);
    private readonly OptimizerCliOptions _optimizer;

    public TaskCliOptions(int hidden, int steps, int batchSize, int validateEvery, double learningRate)
    {
        _model.AcceptOnlyFromAmong("rnn", "lstm", "gru");
        _output.Aliases.Add("-o");
        _hidden = Options.Make("--hidden", "Hidden units H", hidden);
        _steps = Options.Make("--steps", "Optimiser steps (minibatches or windows)", steps);
        _batchSize = Options.Make("--batch-size", "Sequences (or parallel streams) per minibatch", batchSize);
        _validateEvery = Options.Make("--validate-every", "Measure the validation loss every N steps (and at the last)", validateEvery);
        _optimizer = new OptimizerCliOptions(learningRate);
    }

    public Option<int> Seed => _seed;

    public Option<int> BatchSize => _batchSize;

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[]
        {
            _model, _hidden, _layers, _dropout, _activation, _initHh, _initIh, _forgetBias, _clipNorm, _clipValue, _steps, _batchSize, _seed,
            _output, _overwrite, _validateEvery, _timeLimit,
        })
        {
            command.Add(option);
        }

        _optimizer.AddTo(command);
    }

    /// <summary>The config with the architecture and sizes from the command line and the task's own inputs and head.</summary>
    public ModelConfig ReadConfig(ParseResult parse, ModelConfig task)
    {
        int hidden = parse.GetValue(_hidden);
        if (hidden < 1)
        {
            throw new UnrollException($"--hidden: expected a positive number of hidden units, got {hidden}.");
        }

        var config = task with
        {
            Architecture = parse.GetValue(_model)!,
            HiddenSize = hidden,
            Layers = parse.GetValue(_layers),
            Dropout = parse.GetValue(_dropout),
            Activation = Activations.Parse(parse.GetValue(_activation)!),
        };
        config.Validate();
        return config;
    }

    public TrainingOptions ReadTraining(ParseResult parse, int[]? bptt)
    {
        double norm = parse.GetValue(_clipNorm);
        var options = new TrainingOptions
        {
            Optimizer = _optimizer.ReadOptimizer(parse),
            Schedule = _optimizer.ReadSchedule(parse),
            ClipNorm = norm == 0 ? null : norm,
            ClipValue = parse.GetValue(_clipValue),
            Steps = parse.GetValue(_steps),
            BatchSize = parse.GetValue(_batchSize),
            Seed = parse.GetValue(_seed),
            ValidateEvery = parse.GetValue(_validateEvery),
            Bptt = bptt,
        };
        options.Validate();
        return options;
    }

    /// <summary>A model with PyTorch's default initialisation and the --init-* and --forget-bias settings.</summary>
    public SequenceModel<float> CreateModel(ParseResult parse, ModelConfig config)
    {
        var model = new SequenceModel<float>(config);
        var hiddenInit = InitSettings.Parse(parse.GetValue(_initHh)!, "--init-hh");
        var inputInit = InitSettings.Parse(parse.GetValue(_initIh)!, "--init-ih");
        Initializers.Initialize(model, hiddenInit, inputInit, new Random(parse.GetValue(_seed)));
        if (parse.GetValue(_forgetBias) is { } bias)
        {
            Initializers.SetForgetGateBias(model, bias);
        }

        return model;
    }

    /// <summary>The run directory: created if needed; one holding a model is refused without --overwrite.</summary>
    public string PrepareRunDirectory(ParseResult parse, string task)
    {
        string requested = parse.GetValue(_output)!;
        string directory = string.IsNullOrWhiteSpace(requested)
            ? Path.Combine("runs", task + "-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture))
            : requested;
        if (File.Exists(directory))
        {
            throw new UnrollException($"--output: expected a directory, got the file '{directory}'.");
        }

        if (!parse.GetValue(_overwrite) && File.Exists(Path.Combine(directory, TrainCommand.ModelFileName)))
        {
            throw new UnrollException($"--output: '{directory}' already holds a {TrainCommand.ModelFileName}; choose another directory or pass --overwrite.");
        }

        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>The --time-limit budget (null: none).</summary>
    public TimeSpan? ReadTimeLimit(ParseResult parse) => TaskTrainCommand.ParseDuration(parse.GetValue(_timeLimit)!, "--time-limit");

    /// <summary>
    /// Runs <paramref name="train"/> (given the per-step callback and the stop token) with the same progress display as
    /// `unroll train`: a bar with the loss and the time left on a terminal, a plain line every 10% of the steps otherwise.
    /// Ctrl-C or the time limit stop it after the current step; the result says which, if either.
    /// </summary>
    public static TrainingStop RunWithProgress(
        CliConsole console, int totalSteps, TimeSpan? timeLimit, Func<double, string> describeValidation, Action<Action<StepMetrics>, CancellationToken> train)
    {
        using var stop = new StopSignal(timeLimit);
        try
        {
            if (console.Interactive)
            {
                double lastValidation = double.NaN;
                AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(context =>
                    {
                        var bar = context.AddTask("training", maxValue: totalSteps);
                        train(metrics =>
                        {
                            stop.Poll();
                            lastValidation = double.IsNaN(metrics.ValidationLoss) ? lastValidation : metrics.ValidationLoss;
                            bar.Description = string.Create(CultureInfo.InvariantCulture, $"step {metrics.Step} loss {metrics.TrainLoss:G3} val {lastValidation:G3}");
                            bar.Value = metrics.Step;
                        }, stop.Token);
                    });
            }
            else
            {
                var plain = PlainProgress(console.Output, totalSteps, describeValidation);
                train(metrics =>
                {
                    stop.Poll();
                    plain(metrics);
                }, stop.Token);
            }
        }
        finally
        {
            stop.Release();
        }

        return !stop.StopRequested ? TrainingStop.None : stop.UserStopped ? TrainingStop.User : TrainingStop.TimeLimit;
    }

    /// <summary>The line saying a run stopped early, at which step, and that it cannot be resumed; null when it ran to the end.</summary>
    public static string? StoppedMessage(TrainingStop stop, int completedSteps, int totalSteps, TimeSpan? timeLimit, string directory) => stop == TrainingStop.None || completedSteps >= totalSteps
        ? null
        : $"Stopped early {(stop == TrainingStop.User ? "by the user (Ctrl-C)" : $"at the time limit ({timeLimit})")} after step {completedSteps} of {totalSteps}; " +
          $"the model so far is saved in {directory}. These runs have no --resume: running the command again starts from scratch.";

    // A plain progress line every 10% of the steps.
    private static Action<StepMetrics> PlainProgress(TextWriter output, int totalSteps, Func<double, string> describeValidation)
    {
        int every = Math.Max(1, totalSteps / 10);
        double lastValidation = double.NaN;
        return metrics =>
        {
            if (!double.IsNaN(metrics.ValidationLoss))
            {
                lastValidation = metrics.ValidationLoss;
            }

            if (metrics.Step % every == 0 || metrics.Step == totalSteps)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {metrics.Step,6}/{totalSteps}  loss {metrics.TrainLoss:G4}  {describeValidation(lastValidation)}  grad norm {metrics.GradientNorm:G3}{(metrics.Clipped ? " (clipped)" : string.Empty)}"));
            }
        };
    }
}

/// <summary>Why a data-source run stopped before its last step, if it did.</summary>
internal enum TrainingStop
{
    /// <summary>It ran all its steps.</summary>
    None,

    /// <summary>Ctrl-C.</summary>
    User,

    /// <summary>--time-limit ran out.</summary>
    TimeLimit,
}
