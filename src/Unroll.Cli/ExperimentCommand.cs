using System.CommandLine;
using System.Globalization;
using System.Text;
using Unroll.Cli.Training;
using Unroll.Data.Tasks;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>
/// `unroll experiment TASK --lengths ... --models ...`: trains every (length, model) pair with the
/// model's preset, then writes results.md and one plot per length of the test metric over training.
/// </summary>
internal static class ExperimentCommand
{
    /// <summary>A model of the grid: its cell, initialisation and learning rate.</summary>
    public sealed record Preset(string Name, string Architecture, Activation Activation, InitSettings HiddenInit, double? ForgetBias, bool ZeroBiases, double LearningRate, string Description);

    /// <summary>
    /// The presets. tanh: the Elman RNN with PyTorch's initialisation. irnn: ReLU with W_hh = I and
    /// the recurrent biases 0 (Le, Jaitly and Hinton 2015), with Adam's usual small rate 1e-3 and
    /// clipping. lstm: forget-gate bias 1 (Gers, Schmidhuber and Cummins 2000; Jozefowicz, Zaremba
    /// and Sutskever 2015). gru: PyTorch's initialisation. All use Adam and clip the gradient norm
    /// at 1; the irnn and lstm rates are those that solved the adding problem at T = 100 (docs/results.md).
    /// lru, mingru, minlstm: the scan-trained cells, initialised as in their papers (<see cref="ScanCellInitializers"/>:
    /// the LRU's eigenvalues on the ring 0.9 &lt;= |lambda| &lt;= 0.999 with phase up to pi/10), at Adam's 3e-3.
    /// </summary>
    public static IReadOnlyList<Preset> Presets { get; } =
    [
        new("tanh", "rnn", Activation.Tanh, InitSettings.Default, null, false, 1e-3, "tanh RNN, PyTorch's initialisation"),
        new("irnn", "rnn", Activation.Relu, new InitSettings(InitKind.Identity), null, true, 1e-3, "ReLU RNN, W_hh = I, recurrent biases 0 (IRNN)"),
        new("lstm", "lstm", Activation.Tanh, InitSettings.Default, 1.0, false, 1e-2, "LSTM, forget-gate bias 1"),
        new("gru", "gru", Activation.Tanh, InitSettings.Default, null, false, 1e-2, "GRU, PyTorch's initialisation"),
        new("lru", "lru", Activation.Tanh, InitSettings.Default, null, false, 3e-3, "LRU, eigenvalues on the ring 0.9 <= |lambda| <= 0.999"),
        new("mingru", "mingru", Activation.Tanh, InitSettings.Default, null, false, 3e-3, "minGRU, nn.Linear's initialisation"),
        new("minlstm", "minlstm", Activation.Tanh, InitSettings.Default, null, false, 3e-3, "minLSTM, nn.Linear's initialisation"),
    ];

    public static Command Create(CliConsole console)
    {
        var experiment = new Command("experiment", "Run a grid of sequence lengths and models on a long-range task and write a Markdown table and plots against the baseline");
        foreach (string name in SequenceTask.Names)
        {
            experiment.Subcommands.Add(CreateTask(console, name));
        }

        return experiment;
    }

    private static Command CreateTask(CliConsole console, string taskName)
    {
        var lengths = Options.Make("--lengths", "Comma-separated lengths T", "100");
        var models = Options.Make("--models", $"Comma-separated models: {string.Join(", ", Presets.Select(p => p.Name))}", "tanh,irnn,lstm");
        var steps = Options.Optional<int>("--steps", "Optimiser steps per run (default 4000, or as many as --time-limit holds when it is given alone)");
        var timeLimit = Options.Make("--time-limit", "Training time per run (e.g. 90s, 15m): alone, every run lasts exactly this long with the schedule laid over it; with --steps, it stops a run early", string.Empty);
        var hidden = Options.Make("--hidden", "Hidden units H of every model", 64);
        var layers = Options.Make("--layers", "Stacked recurrent layers of every model", 1);
        var batchSize = Options.Make("--batch-size", "Sequences per minibatch", 32);
        var learningRate = Options.Optional<double>("--lr", "Use this learning rate for every model instead of each preset's");
        var clipNorm = Options.Make("--clip-norm", "Clip the global gradient norm to this value; 0 turns it off", 1.0);
        var validateEvery = Options.Make("--validate-every", "Measure the test metric every N steps (the plotted curve)", 100);
        var counts = new TaskDataDescription();
        var trainCount = Options.Make("--train-count", "Training sequences", counts.TrainCount);
        var validationCount = Options.Make("--validation-count", "Validation sequences", counts.ValidationCount);
        var testCount = Options.Make("--test-count", "Test sequences", counts.TestCount);
        var seed = Options.Make("--seed", "Seeds the data, the initial weights and the batch order", 1);
        var output = Options.Make("--output", "Directory for results.md, the plots and one run directory per pair (default runs/experiment-<task>-<time>)", string.Empty);
        output.Aliases.Add("-o");
        var command = new Command(taskName, new SyntheticSource(taskName).Description)
        {
            lengths, models, steps, timeLimit, hidden, layers, batchSize, learningRate, clipNorm, validateEvery, trainCount, validationCount, testCount, seed, output,
        };
        command.SetAction(parse =>
        {
            Options.RequireFinite(parse, command);
            var lengthList = ParseList(parse.GetValue(lengths)!, "--lengths", text =>
                int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : throw new UnrollException($"--lengths: expected comma-separated positive integers, got '{text}'."));
            var presetList = ParseList(parse.GetValue(models)!, "--models", text =>
                Presets.FirstOrDefault(p => p.Name == text) ?? throw new UnrollException($"--models: expected names among {string.Join(", ", Presets.Select(p => p.Name))}, got '{text}'."));
            var descriptions = lengthList.Select(length =>
            {
                var description = new TaskDataDescription
                {
                    Task = taskName,
                    Length = length,
                    TrainCount = parse.GetValue(trainCount),
                    ValidationCount = parse.GetValue(validationCount),
                    TestCount = parse.GetValue(testCount),
                    Seed = parse.GetValue(seed),
                };
                description.Validate();
                return description;
            }).ToList();
            var limit = TrainOptions.ParseDuration(parse.GetValue(timeLimit)!, "--time-limit");
            int? stepCount = parse.GetValue(steps);
            // --time-limit alone is every run's budget: the same training time for every model, whatever its speed.
            double? budget = stepCount is null ? limit?.TotalSeconds : null;
            int hiddenSize = parse.GetValue(hidden);
            if (hiddenSize < 1)
            {
                throw new UnrollException($"--hidden: expected a positive number of hidden units, got {hiddenSize}.");
            }

            if (descriptions.Any(d => d.TestCount < 1))
            {
                throw new UnrollException("--test-count: the experiment measures the test set; expected at least 1.");
            }

            var baseOptions = new TrainingOptions
            {
                Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 },
                ClipNorm = parse.GetValue(clipNorm) is var norm && norm == 0 ? null : norm,
                Steps = stepCount ?? (budget is null ? 4000 : int.MaxValue),
                TimeBudgetSeconds = budget,
                BatchSize = parse.GetValue(batchSize),
                Seed = parse.GetValue(seed),
                ValidateEvery = parse.GetValue(validateEvery),
            };
            baseOptions.Validate();
            double? sharedRate = parse.GetValue(learningRate);
            string directory = parse.GetValue(output)!;
            directory = string.IsNullOrWhiteSpace(directory)
                ? Path.Combine("runs", $"experiment-{taskName}-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture))
                : directory;
            if (File.Exists(directory))
            {
                throw new UnrollException($"--output: expected a directory, got the file '{directory}'.");
            }

            Directory.CreateDirectory(directory);
            var rows = new List<Row>();
            bool stopped = false;
            foreach (var description in descriptions)
            {
                var task = description.Definition;
                foreach (var preset in presetList)
                {
                    if (stopped)
                    {
                        break;
                    }

                    var options = baseOptions with { Optimizer = baseOptions.Optimizer with { LearningRate = sharedRate ?? preset.LearningRate } };
                    options.Validate();
                    var config = task.ModelConfig(Architectures.Parse(preset.Architecture), hiddenSize) with { Activation = preset.Activation, Layers = parse.GetValue(layers) };
                    config.Validate();
                    var model = CreateModel(config, preset, description.Seed);
                    string length = budget is { } seconds ? $"{TimeSpan.FromSeconds(seconds)}" : $"up to {options.Steps} steps{(limit is { } l ? $" or {l}" : string.Empty)}";
                    string runDirectory = Path.Combine(directory, $"{task.Name}-T{task.Length}-{preset.Name}");
                    console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"T = {task.Length}, {preset.Name} ({preset.Description}, H={hiddenSize}{(config.Layers > 1 ? $", {config.Layers} layers" : string.Empty)}, lr {Options.Format(options.LearningRate)}, {Kernels.Parallelism.ThreadCount} thread{(Kernels.Parallelism.ThreadCount == 1 ? string.Empty : "s")}): {length} ..."));
                    RunResult result;
                    using (var run = RunDirectory.CreateNew(runDirectory, task.Name, overwrite: false))
                    {
                        result = new TrainingRun
                        {
                            Directory = run,
                            Source = new SyntheticSource(task.Name),
                            Task = new SyntheticTask(description, monitorTest: true),
                            Model = model,
                            Options = options,
                            Settings = new RunSettings { CheckpointEvery = budget is null ? Math.Max(options.Steps / 4, 1) : RunSettings.DefaultCheckpointEvery, TimeLimitSeconds = limit?.TotalSeconds },
                            Quiet = true,
                        }.Execute(console);
                    }

                    var row = new Row(task, preset, options, result);
                    rows.Add(row);
                    console.Output.WriteLine("  " + row.Summary());
                    stopped = result.End == RunEnd.Interrupted;
                }

                WritePlot(Path.Combine(directory, $"{task.Name}-T{task.Length}.svg"), task, rows.Where(r => r.Task.Length == task.Length).ToList());
            }

            string table = Table(taskName, rows, hiddenSize, parse.GetValue(layers), baseOptions, sharedRate, limit);
            AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), table);
            console.Output.WriteLine();
            console.Output.Write(table);
            console.Output.WriteLine($"Wrote {Path.Combine(directory, "results.md")}, {string.Join(", ", descriptions.Select(d => $"{taskName}-T{d.Length}.svg"))} and one run directory per pair.");
            return stopped ? CliApp.UserError : CliApp.Success;
        });
        return command;
    }

    private sealed record Row(SequenceTask Task, Preset Preset, TrainingOptions Options, RunResult Result)
    {
        public double Loss => Result.Evaluation?["loss"] ?? double.NaN;

        public double? Accuracy => Result.Evaluation?.Figures.TryGetValue("accuracy", out double a) == true ? a : null;

        public string Summary() => Result.Evaluation is null
            ? $"diverged after {Result.History.Count} steps"
            : string.Create(CultureInfo.InvariantCulture,
                $"test {MetricName(Task)} {Loss:G4} (baseline {Task.BaselineLoss:G4}){(Accuracy is { } a ? $", accuracy {a:P1}" : string.Empty)}, {Result.History.Count} steps in {Result.Seconds:F0} s");
    }

    private static string MetricName(SequenceTask task) => task.Head == HeadKind.Classification ? "cross-entropy" : "MSE";

    // The preset's initialisation: PyTorch's default, its W_hh initialiser, zero recurrent biases (IRNN) and the forget-gate bias.
    private static IRecurrentModel<float> CreateModel(ModelConfig config, Preset preset, int seed)
    {
        var model = RecurrentModels.Create<float>(config);
        if (TrainOptions.IsScanCell(config.Architecture))
        {
            ScanCellInitializers.Initialize(model, new Random(seed));
            return model;
        }

        Initializers.Initialize(model, preset.HiddenInit, InitSettings.Default, new Random(seed));
        if (preset.ZeroBiases)
        {
            foreach (var view in model.Parameters.Views.Where(v => v.Name.StartsWith("rnn.bias_", StringComparison.Ordinal)))
            {
                model.Parameters.Values.AsSpan(view.Offset, view.Length).Clear();
            }
        }

        if (preset.ForgetBias is { } bias)
        {
            Initializers.SetForgetGateBias(model, bias);
        }

        return model;
    }

    private static List<T> ParseList<T>(string text, string option, Func<string, T> parse)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new UnrollException($"{option}: expected a comma-separated list, got '{text}'.");
        }

        var values = parts.Select(parse).ToList();
        if (values.Distinct().Count() != values.Count)
        {
            throw new UnrollException($"{option}: expected each value once, got '{text}'.");
        }

        return values;
    }

    private static string Table(string taskName, List<Row> rows, int hidden, int layers, TrainingOptions options, double? sharedRate, TimeSpan? limit)
    {
        bool classification = rows.Count > 0 && rows[0].Task.Head == HeadKind.Classification;
        string metric = classification ? "cross-entropy" : "MSE";
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# {taskName}: test {metric} after training\n\n");
        text.Append(CultureInfo.InvariantCulture,
            $"H = {hidden}{(layers > 1 ? $", {layers} layers" : string.Empty)}, Adam, batch {options.BatchSize}, clip-norm {(options.ClipNorm is { } c ? Options.Format(c) : "off")}, cosine schedule over {(options.TimeBudgetSeconds is { } b ? $"{TimeSpan.FromSeconds(b)} of training per run" : $"{options.Steps} steps")}, ");
        text.Append(CultureInfo.InvariantCulture,
            $"learning rate {(sharedRate is { } r ? Options.Format(r) : "per preset")}{(limit is { } l && options.TimeBudgetSeconds is null ? $", at most {l} per run" : string.Empty)}, seed {options.Seed}, {Kernels.Parallelism.ThreadCount} thread{(Kernels.Parallelism.ThreadCount == 1 ? string.Empty : "s")}. ");
        text.Append("The baseline is the best predictor without memory of the relevant inputs (docs/tasks.md).\n\n");
        text.Append(classification
            ? "| T | model | lr | test cross-entropy | baseline | ratio | test accuracy | baseline accuracy | steps | time (s) |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            : "| T | model | lr | test MSE | baseline | ratio | steps | time (s) |\n|---:|---|---:|---:|---:|---:|---:|---:|\n");
        foreach (var row in rows)
        {
            var e = row.Result.Evaluation;
            string loss = e is null ? "diverged" : row.Loss.ToString("G4", CultureInfo.InvariantCulture);
            string ratio = e is null ? "" : (row.Loss / row.Task.BaselineLoss).ToString("G3", CultureInfo.InvariantCulture);
            string steps = row.Result.History.Count < row.Options.Steps && e is not null && row.Options.TimeBudgetSeconds is null ? $"{row.Result.History.Count} (stopped)" : row.Result.History.Count.ToString(CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"| {row.Task.Length} | {row.Preset.Name} | {Options.Format(row.Options.LearningRate)} | {loss} | {row.Task.BaselineLoss:G4} | {ratio} | ");
            if (classification)
            {
                text.Append(CultureInfo.InvariantCulture, $"{(row.Accuracy is { } a ? a.ToString("P1", CultureInfo.InvariantCulture) : "")} | {row.Task.BaselineAccuracy.ToString("P1", CultureInfo.InvariantCulture)} | ");
            }

            text.Append(CultureInfo.InvariantCulture, $"{steps} | {row.Result.Seconds:F0} |\n");
        }

        return text.ToString();
    }

    private static void WritePlot(string path, SequenceTask task, List<Row> rows)
    {
        var chart = new Chart { Title = $"{task.Name}, T = {task.Length}: test {MetricName(task)} during training", XLabel = "step", YLabel = $"test {MetricName(task)}", LogY = true };
        foreach (var row in rows)
        {
            var measured = row.Result.History.Where(m => !double.IsNaN(m.ValidationLoss) && m.ValidationLoss > 0).ToList();
            if (measured.Count > 0)
            {
                chart.AddLine(row.Preset.Name, measured.Select(m => (double)m.Step).ToList(), measured.Select(m => m.ValidationLoss).ToList());
            }
        }

        chart.AddHorizontalLine(task.BaselineLoss, "baseline");
        AtomicFile.WriteAllText(path, chart.ToSvg());
    }
}
