using System.CommandLine;
using Unroll.Models;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>
/// `unroll train [SOURCE]`: one command per data source, every one with the same model, training and run
/// options (<see cref="TrainOptions"/>), the same run directory and the same loop. `unroll train` alone
/// trains on the oscillator; `unroll train --resume DIR` continues any run.
/// </summary>
internal static class TrainCommand
{
    /// <summary>Exit code after Ctrl-C: the run is saved and resumable, but did not finish.</summary>
    public const int Interrupted = 130;

    public static Command Create(CliConsole console)
    {
        var sources = DataSource.All().ToList();
        var command = Build(console, "train", "Train a recurrent network by backpropagation through time and write a run directory", sources[0], anySource: true);
        foreach (var source in DataSource.All())
        {
            command.Subcommands.Add(Build(console, source.Name, source.Description, source, anySource: false));
        }

        return command;
    }

    private static Command Build(CliConsole console, string name, string description, DataSource source, bool anySource)
    {
        var options = new TrainOptions(source.Defaults);
        var command = new Command(name, description);
        source.AddTo(command);
        options.AddTo(command);
        command.SetAction(parse =>
        {
            Options.RequireFinite(parse, command);
            string resume = parse.GetValue(options.Resume)!;
            if (parse.GetResult(options.Resume) is { Implicit: false } && string.IsNullOrWhiteSpace(resume))
            {
                throw new UnrollException("--resume: expected a run directory, got an empty value.");
            }

            if (resume.Length > 0)
            {
                var others = command.Options.Concat<Symbol>(command.Arguments)
                    .Where(symbol => !options.ResumeOptions.Contains(symbol) && IsGiven(parse, symbol))
                    .Select(symbol => symbol is Option option ? option.Name : $"the argument {symbol.Name}")
                    .ToList();
                if (others.Count > 0)
                {
                    throw new UnrollException($"--resume: a resumed run keeps its own data, model and training options; got {string.Join(", ", others)} as well (only --checkpoint-every and --time-limit may change).");
                }

                return Finish(Resume(console, parse, options, resume, anySource ? null : source));
            }

            if (parse.GetResult(options.InitFrom) is { Implicit: false } && string.IsNullOrWhiteSpace(parse.GetValue(options.InitFrom)))
            {
                throw new UnrollException("--init-from: expected a model file, got an empty value.");
            }

            // Everything is read and checked before the run directory is touched.
            var task = source.CreateTask(parse, options);
            var config = task.ModelConfig(options.ReadArchitecture(parse), parse.GetValue(options.Embedding));
            var training = options.ReadTraining(parse, o => task.TrainingBatches(o).BatchesPerEpoch);
            var settings = options.ReadRun(parse);
            var batches = task.TrainingBatches(training);
            MemoryBudget.Check(config.TrainingBytes(batches.MaxSteps, batches.BatchSize),
                $"training: batches of {batches.BatchSize} sequences of {batches.MaxSteps} steps through {config.Layers} layer(s) of {config.HiddenSize} units");
            var model = options.CreateModel(parse, config, console);
            using var directory = RunDirectory.CreateNew(parse.GetValue(options.Output)!, source.Name, parse.GetValue(options.Overwrite));
            return Finish(new TrainingRun
            {
                Directory = directory,
                Source = source,
                Task = task,
                Model = model,
                Options = training,
                Settings = settings,
            }.Execute(console));
        });
        return command;
    }

    private static bool IsGiven(ParseResult parse, Symbol symbol) => parse.GetResult(symbol) switch
    {
        System.CommandLine.Parsing.OptionResult option => !option.Implicit,
        System.CommandLine.Parsing.ArgumentResult argument => argument.Tokens.Count > 0,
        _ => false,
    };

    private static int Finish(RunResult result) => result.End == RunEnd.Interrupted ? Interrupted : CliApp.Success;

    private static RunResult Resume(CliConsole console, ParseResult parse, TrainOptions options, string path, DataSource? expected)
    {
        using var directory = RunDirectory.OpenForResume(path);
        string checkpointPath = directory.CheckpointPath;
        if (!File.Exists(checkpointPath))
        {
            throw new UnrollException(File.Exists(directory.ModelPath)
                ? $"--resume: '{path}' holds a finished run's {RunDirectory.ModelFileName} but no {Checkpoint.FileName}; there is nothing to continue from."
                : $"--resume: '{path}' holds no {Checkpoint.FileName}: the run stopped before its first checkpoint (written every --checkpoint-every steps, 500 by default), so there is nothing to continue from; start it again with --output {path} --overwrite.");
        }

        var checkpoint = Checkpoint.Load(checkpointPath);
        string Require(string key) => checkpoint.Metadata.TryGetValue(key, out var value)
            ? value
            : throw new UnrollException($"{checkpointPath}: expected '{key}' in the checkpoint's metadata; it was not written by unroll train.");
        var task = TrainingTask.FromMetadata(checkpoint.Metadata, checkpointPath)
            ?? throw new UnrollException($"{checkpointPath}: names no data source in its metadata; it was not written by unroll train.");
        var source = DataSource.All().FirstOrDefault(s => s.Owns(task))
            ?? throw new UnrollException($"{checkpointPath}: a run of '{task.Name}', which this release does not train.");
        if (expected is not null && !expected.Owns(task))
        {
            throw new UnrollException($"--resume: {path} holds a run of {task.Name}; expected a run of {expected.Name} (resume it with unroll train {task.Name} --resume {path}, or unroll train --resume {path}).");
        }

        task.CheckModel(checkpoint.Model.Config, checkpointPath);
        task.CheckUnchanged();
        var training = TrainingOptions.FromJson(Require(TrainingRun.TrainingKey));
        var settings = RunSettings.FromJson(Require(RunSettings.MetadataKey), checkpointPath);
        if (parse.GetValue(options.CheckpointEvery) is { } every)
        {
            settings = settings with { CheckpointEvery = every };
        }

        if (parse.GetResult(options.TimeLimit) is { Implicit: false })
        {
            // A new budget for the rest of the run, counted from now; a budgeted run's schedule is laid over the new total.
            double total = settings.TrainingSeconds + options.ReadRun(parse).TimeLimitSeconds!.Value;
            settings = settings with { TimeLimitSeconds = total };
            if (training.TimeBudgetSeconds is not null)
            {
                training = training with { TimeBudgetSeconds = total };
            }
        }

        settings.Validate();
        if (File.Exists(directory.ModelPath) && !ModelFile.Load(directory.ModelPath).Model.Parameters.Values.AsSpan().SequenceEqual(checkpoint.Model.Parameters.Values))
        {
            // A run that stopped writes its model and its checkpoint with the same weights; different weights mean
            // the two files are not of the same run, and continuing would replace the other run's model.
            throw new UnrollException(
                $"--resume: {path} holds a model.safetensors whose weights are not those of its checkpoint (step {checkpoint.State.Step} of {training.Steps}): they are not from the same run. Move one of them away.");
        }

        if (checkpoint.State.Step >= training.Steps && File.Exists(directory.ModelPath))
        {
            // Resuming a finished run is a no-op, so scripts may resume unconditionally.
            console.Output.WriteLine(
                $"{path} holds a finished run ({training.Steps} of {training.Steps} steps); nothing to continue. To train it further, start a new run " +
                $"from its weights: the command that made it, with --init-from {directory.ModelPath}, a new --output and the steps or --time-limit to add.");
            return new RunResult(RunEnd.Finished, null, checkpoint.State.History, 0, null);
        }

        return new TrainingRun
        {
            Directory = directory,
            Source = source,
            Task = task,
            Model = checkpoint.Model,
            Options = training,
            Settings = settings,
            ResumeFrom = checkpoint.State,
        }.Execute(console);
    }
}
