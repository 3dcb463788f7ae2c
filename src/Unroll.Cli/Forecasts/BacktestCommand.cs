using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Unroll.Forecasts;
using Unroll.Models;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli.Forecasts;

/// <summary>
/// `unroll backtest MODEL --horizon H --folds K`: rolling-origin evaluation of a forecasting run's recipe. Every fold
/// refits a fresh model (the run's architecture and training options, PyTorch's default initialisation from its seed)
/// on the steps before its origin only, keeps its best-validation weights, and scores the H steps after it beside the
/// seasonal naive.
/// </summary>
internal static class BacktestCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A forecasting model file or run directory: its recipe is refitted at every origin" };
        var horizon = Options.Optional<int>("--horizon", "H: steps forecast from every origin (default: the model's)");
        var folds = Options.Make("--folds", "K: origins, H steps apart, the last H steps before the end of every series", 3);
        var input = Options.Make("--input", "Backtest on this file (the training file's columns) instead of the training file", string.Empty);
        var json = Options.Make("--json", "Print the folds' figures as JSON", false);
        var command = new Command("backtest", "Rolling-origin backtest of a forecasting run's recipe: refit before every origin, forecast H steps, score by MASE beside the seasonal naive")
        {
            modelPath, horizon, folds, input, json,
        };
        command.SetAction(parse =>
        {
            ForecastTask.Reader ??= ForecastFiles.Read;
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console);
            var loaded = ModelFile.Load(path);
            if (TrainingTask.FromMetadata(loaded.Metadata, path) is not ForecastTask task)
            {
                throw new UnrollException($"{path}: is not a forecasting model (unroll train forecast); backtests refit a forecasting recipe.");
            }

            task.CheckModel(loaded.Model.Config, path);
            var training = TrainingOptions.FromJson(loaded.Metadata.TryGetValue(Cli.Training.TrainingRun.TrainingKey, out var text)
                ? text
                : throw new UnrollException($"{path}: holds no training options (unroll.training); expected a model written by unroll train."));
            var spec = task.Spec with { Horizon = parse.GetValue(horizon) ?? task.Spec.Horizon };
            spec.Validate();
            string data = parse.GetValue(input)!;
            var series = task.Read(data.Length > 0 ? data : spec.Source);
            var architecture = loaded.Model.Config;
            var results = ForecastBacktest.Run(spec, series, parse.GetValue(folds), fold => ForecastBacktest.TrainFold(fold, architecture, training));
            if (parse.GetValue(json))
            {
                console.Output.WriteLine(BacktestJson(results));
                return CliApp.Success;
            }

            console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Rolling-origin backtest: {results.Count} folds of {spec.Horizon} steps over {series.Count} series, a model refitted before every origin (the weights of its best validation step on the H steps before the origin, as a run keeps its best model)."));
            console.Output.WriteLine($"{"fold",-6}{"MASE",10}{"sMAPE",10}{"RMSSE",10}{"snaive MASE",14}{"best step",11}");
            foreach (var r in results)
            {
                var f = r.Evaluation.Figures;
                console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Fold,-6}{Evaluation.Format(f["mase"]),10}{Evaluation.Format(f["smape"]),10}{Evaluation.Format(f["rmsse"]),10}{Evaluation.Format(f["baseline_mase"]),14}{r.BestStep,11}"));
            }

            console.Output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{"mean",-6}{Evaluation.Format(results.Average(r => r.Evaluation["mase"])),10}{Evaluation.Format(results.Average(r => r.Evaluation["smape"])),10}{Evaluation.Format(results.Average(r => r.Evaluation["rmsse"])),10}{Evaluation.Format(results.Average(r => r.Evaluation["baseline_mase"])),14}"));
            return CliApp.Success;
        });
        return command;
    }

    // [{"fold": k, "bestStep": s, "origins": [...], "figures": {...}}, ...], written directly (no reflection, so the native build stays clean).
    private static string BacktestJson(IReadOnlyList<BacktestFold> results)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartArray();
            foreach (var r in results)
            {
                writer.WriteStartObject();
                writer.WriteNumber("fold", r.Fold);
                writer.WriteNumber("bestStep", r.BestStep);
                writer.WriteStartArray("origins");
                foreach (int origin in r.Origins)
                {
                    writer.WriteNumberValue(origin);
                }

                writer.WriteEndArray();
                writer.WriteStartObject("figures");
                foreach (var (name, value) in r.Evaluation.Figures)
                {
                    writer.WritePropertyName(name);
                    if (double.IsFinite(value))
                    {
                        writer.WriteNumberValue(value);
                    }
                    else
                    {
                        writer.WriteNullValue();
                    }
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
