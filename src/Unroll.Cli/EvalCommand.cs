using System.CommandLine;
using System.Globalization;
using Unroll.Data;
using Unroll.Models;

namespace Unroll.Cli;

/// <summary>`unroll eval MODEL`: test metrics beside the persistence and Euler baselines.</summary>
internal static class EvalCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model.safetensors written by unroll train" };
        var horizon = Options.Optional<int>("--horizon", "Free-running forecast horizon in steps (default: the whole sequence)");
        var json = Options.Make("--json", "Print the figures as JSON", false);
        var testSequences = Options.Optional<int>("--test-count", "Evaluate on this many test sequences (default: as in training)");
        var command = new Command("eval", "Test a trained model: one-step and free-running MSE beside the baselines (oscillator), or the test MSE / cross-entropy and accuracy beside the memoryless baseline (tasks)")
        {
            modelPath, horizon, json, testSequences,
        };
        var dataSource = DataSourceCommands.AddEvalOptions(command);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(modelPath)!;
            if (parse.GetValue(testSequences) is < 1 and var tooFew)
            {
                throw new UnrollException($"--test-count: expected at least 1 test sequence, got {tooFew}.");
            }

            var loaded = Models.ModelFile.Load(path);
            if (loaded.Metadata.TryGetValue(Data.Tasks.TaskDataDescription.MetadataKey, out var taskJson))
            {
                return TaskEvalPrinter.Evaluate(console, loaded, taskJson, parse.GetValue(testSequences), parse.GetValue(horizon), parse.GetValue(json));
            }

            if (DataSourceCommands.TryEvaluate(console, parse, dataSource, path, loaded, parse.GetValue(json)))
            {
                return CliApp.Success;
            }

            if (!loaded.Metadata.TryGetValue(OscillatorDataDescription.MetadataKey, out var dataJson))
            {
                throw new UnrollException($"{path}: expected a model trained on the oscillator (metadata '{OscillatorDataDescription.MetadataKey}'), got a model without a data description.");
            }

            var description = OscillatorDataDescription.FromJson(dataJson);
            var options = description.Options;
            if (parse.GetValue(testSequences) is { } count)
            {
                options = options with { TestCount = count };
                options.Validate();
            }

            var dataset = OscillatorDataset.Generate(options, description.Seed);
            int? steps = parse.GetValue(horizon);
            if (steps is { } h && (h < 1 || h > options.Steps))
            {
                throw new UnrollException($"--horizon: expected 1 to {options.Steps} steps (the sequence length), got {h}.");
            }

            var evaluation = OscillatorEvaluation.Evaluate(loaded.Model, dataset, steps);
            if (parse.GetValue(json))
            {
                console.Output.WriteLine(evaluation.ToJson());
            }
            else
            {
                PrintEvaluation(console.Output, evaluation);
            }

            return CliApp.Success;
        });
        return command;
    }

    public static void PrintEvaluation(TextWriter output, OscillatorEvaluation e)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Test set: {e.Sequences} sequences of {e.Steps} steps; free-running horizon {e.Horizon} steps."));
        output.WriteLine($"{"",-28}{"one-step MSE",16}{"free-running MSE",20}");
        Row(output, "model", e.OneStepMse, e.FreeRunMse);
        Row(output, "persistence (x_t+1 = x_t)", e.PersistenceOneStepMse, e.PersistenceFreeRunMse);
        Row(output, "Euler, true m and eta", e.EulerOneStepMse, e.EulerFreeRunMse);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"One-step MSE is {e.OneStepGainOverPersistence:G3}x lower than persistence."));
    }

    private static void Row(TextWriter output, string name, double oneStep, double freeRun) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-28}{oneStep,16:G4}{freeRun,20:G4}"));
}
