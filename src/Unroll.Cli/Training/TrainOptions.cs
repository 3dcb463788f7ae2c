using System.CommandLine;
using System.Globalization;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>The defaults that differ between data sources (what trains well on each), and nothing else.</summary>
/// <param name="Model">The default cell.</param>
/// <param name="Hidden">The default hidden units.</param>
/// <param name="Steps">The default optimiser steps.</param>
/// <param name="BatchSize">The default sequences (or streams) per batch.</param>
/// <param name="LearningRate">The default base learning rate.</param>
/// <param name="ValidateEvery">The default validation interval.</param>
internal sealed record SourceDefaults(string Model, int Hidden, int Steps, int BatchSize, double LearningRate, int ValidateEvery);

/// <summary>
/// Every option `unroll train` takes whatever the data source, declared once: the model, the training and
/// the run directory. Each subcommand gets its own instances, built here with its source's defaults.
/// </summary>
internal sealed class TrainOptions
{
    /// <summary>The cells --model accepts.</summary>
    public static readonly string[] Architectures = ["rnn", "lstm", "gru", "jordan", "lru", "mingru", "minlstm"];

    /// <summary>Whether <paramref name="architecture"/> is one of the scan-trained cells, which <see cref="ScanCellInitializers"/> initialises.</summary>
    public static bool IsScanCell(Architecture architecture) => architecture is Architecture.Lru or Architecture.MinGru or Architecture.MinLstm;

    /// <summary>Creates the options with <paramref name="defaults"/>.</summary>
    public TrainOptions(SourceDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        Model = Options.Make("--model", "Recurrent network: rnn (Elman), lstm, gru, jordan (the previous output fed back; per-step regression only), or a cell trained by a parallel scan: lru (Linear Recurrent Unit, even --hidden), mingru or minlstm", defaults.Model);
        Model.AcceptOnlyFromAmong(Architectures);
        Hidden = Options.Make("--hidden", "Hidden units H", defaults.Hidden);
        Optimizer = new OptimizerCliOptions(defaults.LearningRate);
        Steps = Options.Optional<int>("--steps", $"Optimiser steps (minibatches, or stream windows); default {defaults.Steps}");
        DefaultSteps = defaults.Steps;
        BatchSize = Options.Make("--batch-size", "Sequences (or parallel streams) per minibatch", defaults.BatchSize);
        ValidateEvery = Options.Make("--validate-every", "Measure the validation loss every N steps (and at the last)", defaults.ValidateEvery);
        Output.Aliases.Add("-o");
    }

    public Option<string> Model { get; }

    public Option<int> Hidden { get; }

    public Option<int> Layers { get; } = Options.Make("--layers", "Stacked recurrent layers", 1);

    public Option<bool> Bidirectional { get; } = Options.Make("--bidirectional", "Run every layer in both directions (only for tasks that answer once per sequence)", false);

    public Option<double> Dropout { get; } = Options.Make("--dropout", "Dropout probability between stacked layers (training only)", 0.0);

    public Option<double> HeadDropout { get; } = Options.Make("--head-dropout", "Dropout probability on the last layer's outputs before the head (training only; nn.Dropout before nn.Linear)", 0.0);

    public Option<string> Activation { get; } = Options.Make("--activation", "Recurrent non-linearity of the rnn and jordan cells: tanh, sigmoid, relu or identity", "tanh");

    public Option<string> InitHh { get; } = Options.Make("--init-hh", $"Initialisation of the hidden-to-hidden weights: {InitSettings.Accepted}", "default");

    public Option<string> InitIh { get; } = Options.Make("--init-ih", $"Initialisation of the input-to-hidden weights: {InitSettings.Accepted}", "default");

    public Option<double?> RingMin { get; } = Options.Optional<double>("--ring-min", $"LRU only: the smallest initial eigenvalue modulus |lambda| (default {ScanCellInitializers.DefaultRingMin})");

    public Option<double?> RingMax { get; } = Options.Optional<double>("--ring-max", $"LRU only: the largest initial eigenvalue modulus |lambda|, below 1 (default {ScanCellInitializers.DefaultRingMax}: a time constant of 1000 steps)");

    public Option<double?> ForgetBias { get; } = Options.Optional<double>("--forget-bias", "LSTM only: set the forget-gate bias (b_ih + b_hh) to this value, e.g. 1 as in Keras and char-rnn (default: PyTorch's uniform draw)");

    public Option<int?> Embedding { get; } = Options.Optional<int>("--embedding", "Token inputs (text, copy, temporal-order): embedding width (default: 64 for text, the vocabulary size for the tasks)");

    public OptimizerCliOptions Optimizer { get; }

    public Option<double> ClipNorm { get; } = Options.Make("--clip-norm", "Clip the global gradient norm as torch's clip_grad_norm_ (scale by max/(norm + 1e-6) when below 1); 0 turns it off", 1.0);

    public Option<double?> ClipValue { get; } = Options.Optional<double>("--clip-value", "Clamp every gradient component to [-v, v]");

    public Option<int?> Steps { get; }

    public int DefaultSteps { get; }

    public Option<int?> Epochs { get; } = Options.Optional<int>("--epochs", "Passes over the training data (instead of --steps)");

    public Option<int> BatchSize { get; }

    public Option<int> Seed { get; } = Options.Make("--seed", "Seeds the generated data, the initial weights, the batch order and dropout", 1);

    public Option<int> ValidateEvery { get; }

    public Option<int?> DiagnoseEvery { get; } = Options.Optional<int>("--diagnose-every", "Record spectral_radius, largest_singular_value, clipped_share and gradient_ratio in metrics.csv every N steps (and at the first and last); 0 turns it off. Default: every 100 steps, fewer for large recurrent weights, so that they cost about 5% of the time");

    public Option<string> Bptt { get; } = Options.Make("--bptt", "Truncated BPTT: K (windows of K steps, state carried across) or K1,K2 (update every K1 steps, back-propagate K2); text reads its streams in windows of K (default 50)", string.Empty);

    public Option<int?> Patience { get; } = Options.Optional<int>("--patience", "Early stopping: end the run once N validations in a row have not lowered the best validation loss (the best model is kept either way)");

    public Option<double> MaxLossGrowth { get; } = Options.Make("--max-loss-growth", "Stop as diverged when the training loss exceeds this multiple of the first step's; 0 turns the check off", TrainingOptions.DefaultMaxLossGrowth);

    public Option<string> Output { get; } = Options.Make("--output", "Run directory to write (default runs/<source>-<time>)", string.Empty);

    public Option<bool> Overwrite { get; } = Options.Make("--overwrite", "Replace the run in an existing run directory (finished or not)", false);

    public Option<int?> CheckpointEvery { get; } = Options.Optional<int>("--checkpoint-every", $"Write checkpoint.safetensors every N steps (and at the end); default {RunSettings.DefaultCheckpointEvery}, kept on --resume");

    public Option<string> Resume { get; } = Options.Make("--resume", "Continue the run in this directory from its checkpoint, with its own options", string.Empty);

    public Option<string> InitFrom { get; } = Options.Make("--init-from", "Start from the weights of this model file, or of a run directory's model (its best.safetensors, else its model.safetensors); same architecture and sizes", string.Empty);

    public Option<string> TimeLimit { get; } = Options.Make("--time-limit", "Train for this much time (e.g. 90s, 15m, 1h30m): without --steps the run lasts exactly this long and the learning-rate schedule is laid over it; with --steps it stops the run early, saving the model and a checkpoint", string.Empty);

    /// <summary>The options a resumed run still takes: they change how it runs, not what it computes.</summary>
    public IEnumerable<Option> ResumeOptions => [Resume, CheckpointEvery, TimeLimit];

    /// <summary>Adds every option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (Option option in new Option[]
        {
            Model, Hidden, Layers, Bidirectional, Dropout, HeadDropout, Activation, InitHh, InitIh, RingMin, RingMax, ForgetBias, Embedding,
            ClipNorm, ClipValue, Steps, Epochs, BatchSize, Seed, ValidateEvery, DiagnoseEvery, Bptt, Patience, MaxLossGrowth,
            Output, Overwrite, CheckpointEvery, Resume, InitFrom, TimeLimit,
        })
        {
            command.Add(option);
        }

        Optimizer.AddTo(command);
    }

    /// <summary>The cell, sizes, layers and activation; the task fills in what the model reads and predicts.</summary>
    public ModelConfig ReadArchitecture(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        int hidden = parse.GetValue(Hidden);
        if (hidden < 1)
        {
            throw new UnrollException($"--hidden: expected a positive number of hidden units, got {hidden}.");
        }

        foreach (var probability in new[] { Dropout, HeadDropout })
        {
            double p = parse.GetValue(probability);
            if (!(p >= 0 && p < 1))
            {
                throw new UnrollException($"{probability.Name}: expected a probability in [0, 1), got {p.ToString(CultureInfo.InvariantCulture)}.");
            }
        }

        return new ModelConfig
        {
            Architecture = Unroll.Models.Architectures.Parse(parse.GetValue(Model), "--model"),
            HiddenSize = hidden,
            Layers = parse.GetValue(Layers),
            Bidirectional = parse.GetValue(Bidirectional),
            Dropout = parse.GetValue(Dropout),
            HeadDropout = parse.GetValue(HeadDropout),
            Activation = Activations.Parse(parse.GetValue(Activation)!),
            InputSize = 1,
            OutputSize = 1,
        };
    }

    /// <summary>
    /// A model for <paramref name="config"/>, initialised from the seed and the --init-*, --forget-bias and --init-from
    /// options (a model file, or a run directory read as every model command reads it, saying which on <paramref name="console"/>).
    /// </summary>
    public IRecurrentModel<float> CreateModel(ParseResult parse, ModelConfig config, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var hiddenInit = InitSettings.Parse(parse.GetValue(InitHh)!, "--init-hh");
        var inputInit = InitSettings.Parse(parse.GetValue(InitIh)!, "--init-ih");
        var model = RecurrentModels.Create<float>(config);
        double? ringMin = parse.GetValue(RingMin), ringMax = parse.GetValue(RingMax);
        if ((ringMin ?? ringMax) is not null && config.Architecture != Architecture.Lru)
        {
            throw new UnrollException($"{(ringMin is not null ? "--ring-min" : "--ring-max")}: applies to the LRU's eigenvalues; the {config.Architecture.Name()} model has none.");
        }

        if (IsScanCell(config.Architecture))
        {
            // The scan cells have no weight_hh and initialise as their papers do (the LRU's eigenvalues on a ring).
            if (hiddenInit.Kind != InitKind.Default || inputInit.Kind != InitKind.Default)
            {
                throw new UnrollException(
                    $"{(hiddenInit.Kind != InitKind.Default ? "--init-hh" : "--init-ih")}: the {config.Architecture.Name()} model is initialised as in its paper (--ring-min and --ring-max set the LRU's eigenvalues); expected default, got {(hiddenInit.Kind != InitKind.Default ? parse.GetValue(InitHh) : parse.GetValue(InitIh))}.");
            }

            double low = ringMin ?? ScanCellInitializers.DefaultRingMin, high = ringMax ?? ScanCellInitializers.DefaultRingMax;
            if (!(low >= 0 && low <= high && high > 0 && high < 1))
            {
                throw new UnrollException(string.Create(CultureInfo.InvariantCulture,
                    $"--ring-min, --ring-max: expected 0 <= ring-min <= ring-max < 1 and ring-max > 0, got ring-min {low} and ring-max {high}."));
            }

            ScanCellInitializers.Initialize(model, new Random(parse.GetValue(Seed)), low, high);
        }
        else
        {
            Initializers.Initialize(model, hiddenInit, inputInit, new Random(parse.GetValue(Seed)));
        }

        if (parse.GetValue(ForgetBias) is { } bias)
        {
            if (config.Architecture != Architecture.Lstm)
            {
                throw new UnrollException($"--forget-bias: applies to the LSTM's forget gate; the {config.Architecture.Name()} model has none.");
            }

            Initializers.SetForgetGateBias(model, bias);
        }

        string initFrom = parse.GetValue(InitFrom)!;
        if (initFrom.Length > 0)
        {
            ModelFile.LoadWeightsInto(ModelPaths.Resolve(initFrom, console), model);
        }

        return model;
    }

    /// <summary>The training options; <paramref name="batchesPerEpoch"/> (the batches one pass over the data takes with given options) turns --epochs into steps.</summary>
    public TrainingOptions ReadTraining(ParseResult parse, Func<TrainingOptions, int> batchesPerEpoch)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(batchesPerEpoch);
        int? steps = parse.GetValue(Steps), epochs = parse.GetValue(Epochs);
        int batch = parse.GetValue(BatchSize);
        if (steps is not null && epochs is not null)
        {
            throw new UnrollException("--steps and --epochs: expected at most one of them, got both.");
        }

        if (batch < 1)
        {
            throw new UnrollException($"--batch-size: expected at least 1, got {batch}.");
        }

        if (epochs is < 1)
        {
            throw new UnrollException($"--epochs: expected at least 1, got {epochs}.");
        }

        double norm = parse.GetValue(ClipNorm), growth = parse.GetValue(MaxLossGrowth);
        // --time-limit without --steps or --epochs: the budget is the run's length, and the schedule is laid over it.
        double? budget = steps is null && epochs is null ? ParseDuration(parse.GetValue(TimeLimit)!, "--time-limit")?.TotalSeconds : null;
        var options = new TrainingOptions
        {
            TimeBudgetSeconds = budget,
            Patience = parse.GetValue(Patience),
            Optimizer = Optimizer.ReadOptimizer(parse),
            Schedule = Optimizer.ReadSchedule(parse),
            ClipNorm = norm == 0 ? null : norm,
            ClipValue = parse.GetValue(ClipValue),
            Steps = steps ?? (budget is null ? DefaultSteps : int.MaxValue),
            BatchSize = batch,
            Seed = parse.GetValue(Seed),
            ValidateEvery = parse.GetValue(ValidateEvery),
            DiagnoseEvery = parse.GetValue(DiagnoseEvery),
            Bptt = ParseBptt(parse.GetValue(Bptt)!),
            MaxLossGrowth = growth == 0 ? null : growth,
        };
        options.Validate();
        if (epochs is { } e)
        {
            int perEpoch = batchesPerEpoch(options);
            long total = (long)e * perEpoch;
            options = options with
            {
                Steps = total <= int.MaxValue
                    ? (int)total
                    : throw new UnrollException($"--epochs: {e} passes of {perEpoch} batches make {total} steps; expected at most {int.MaxValue}."),
            };
            options.Validate();
        }

        return options;
    }

    /// <summary>How the run directory is written: checkpoint interval and time limit.</summary>
    public RunSettings ReadRun(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var settings = new RunSettings
        {
            CheckpointEvery = parse.GetValue(CheckpointEvery) ?? RunSettings.DefaultCheckpointEvery,
            TimeLimitSeconds = ParseDuration(parse.GetValue(TimeLimit)!, "--time-limit")?.TotalSeconds,
        };
        settings.Validate();
        return settings;
    }

    /// <summary>Parses K or K1,K2 (null for an empty text).</summary>
    public static int[]? ParseBptt(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts.Length > 2 || !int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                throw new UnrollException($"--bptt: expected K or K1,K2 (positive integers), got '{text}'.");
            }
        }

        int[] bptt = parts.Length == 1 ? [values[0], values[0]] : values;
        return bptt[0] >= 1 && bptt[1] >= bptt[0]
            ? bptt
            : throw new UnrollException($"--bptt: expected K or K1,K2 with 1 <= K1 <= K2, got '{text}'.");
    }

    /// <summary>Parses 90s, 15m, 1h or 1h30m (an empty text is no limit); at most 1000 days.</summary>
    public static TimeSpan? ParseDuration(string text, string option)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$");
        if (!match.Success || !(match.Groups[1].Success || match.Groups[2].Success || match.Groups[3].Success))
        {
            throw new UnrollException($"{option}: expected a duration such as 90s, 15m, 1h or 1h30m, got '{text}'.");
        }

        double Part(int group) => match.Groups[group].Success ? double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0;
        double seconds = (Part(1) * 3600) + (Part(2) * 60) + Part(3);
        const double MaxSeconds = 1000 * 86400.0;
        if (!(seconds > 0) || seconds > MaxSeconds)
        {
            throw new UnrollException($"{option}: expected a duration above zero and at most 1000 days, got '{text}'.");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
