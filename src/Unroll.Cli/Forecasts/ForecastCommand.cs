using System.CommandLine;
using System.Globalization;
using System.Text;
using Unroll.Forecasts;
using Unroll.IO;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Tasks;

namespace Unroll.Cli.Forecasts;

/// <summary>
/// `unroll forecast MODEL --input FILE --horizon H`: the H steps after the end of every series of a long-format file,
/// the point forecast and every quantile level, as CSV.
/// </summary>
internal static class ForecastCommand
{
    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A forecasting model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var input = new Option<string>("--input") { Description = "Series in long format with the training file's columns; each is forecast from its last row with a target (rows after it, target empty, give the future covariates)", Required = true };
        var horizon = Options.Optional<int>("--horizon", "Steps to forecast, at most the model's horizon (default: the model's)");
        var output = Options.Make("--output", "Where to write the forecasts as CSV; - writes them to standard output", "-");
        output.Aliases.Add("-o");
        var command = new Command("forecast", "Forecast the steps after the end of every series of a file: point forecasts and quantiles") { modelPath, input, horizon, output };
        command.SetAction(parse =>
        {
            ForecastTask.Reader ??= ForecastFiles.Read;
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console), inputPath = parse.GetValue(input)!, outputPath = parse.GetValue(output)!;
            OutputPaths.RefuseOverwritingInputs(outputPath, "--output", path, inputPath);
            var loaded = ModelFile.Load(path);
            if (TrainingTask.FromMetadata(loaded.Metadata, path) is not ForecastTask task)
            {
                throw new UnrollException($"{path}: is not a forecasting model (unroll train forecast); for other models use unroll predict.");
            }

            task.CheckModel(loaded.Model.Config, path);
            var (csv, summary) = Csv(loaded.Model, task, inputPath, parse.GetValue(horizon));
            OutputPaths.Write(console, outputPath, csv);
            (outputPath == "-" ? console.Error : console.Output).WriteLine(outputPath == "-" ? summary : $"{summary} Wrote {outputPath}.");
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>The forecasts of the steps after every series of <paramref name="inputPath"/>: series,step,forecast[,q...] (also what predict writes for a forecasting model).</summary>
    public static (string Csv, string Summary) Csv(IRecurrentModel<float> model, ForecastTask task, string inputPath, int? horizon = null)
    {
        var spec = task.Spec;
        int steps = horizon ?? spec.Horizon;
        if (steps < 1 || steps > spec.Horizon)
        {
            throw new UnrollException($"--horizon: expected 1 to {spec.Horizon} steps (the model forecasts {spec.Horizon}), got {steps}.");
        }

        var (series, origins) = task.ReadToForecast(inputPath);
        var forecasts = Forecaster.Forecast(model, spec, series, origins);
        bool probabilistic = spec.Distribution != OutputDistribution.Point;
        var text = new StringBuilder("series,step,forecast");
        if (probabilistic)
        {
            text.Append(string.Concat(spec.Quantiles.Select(q => ",q" + q.ToString("R", CultureInfo.InvariantCulture))));
        }

        text.Append('\n');
        for (int i = 0; i < series.Count; i++)
        {
            for (int h = 0; h < steps; h++)
            {
                text.Append(Tasks.Csv.Quote(series[i].Id)).Append(CultureInfo.InvariantCulture, $",{h + 1},{forecasts[i].Point[h]:R}");
                for (int k = 0; probabilistic && k < spec.Quantiles.Count; k++)
                {
                    text.Append(CultureInfo.InvariantCulture, $",{forecasts[i].Quantiles[(h * spec.Quantiles.Count) + k]:R}");
                }

                text.Append('\n');
            }
        }

        return (text.ToString(), $"Forecast {steps} steps after the last observed step of {series.Count} series.");
    }
}

/// <summary>The run report's forecast plot: the first series' end, its held-out steps, the forecast and its interval.</summary>
internal static class ForecastPlot
{
    public static string Svg(ForecastTask task, IRecurrentModel<float> model)
    {
        var spec = task.Spec;
        var s = task.Series[0];
        int origin = s.Length - spec.Horizon, width = spec.RowWidth, shown = Math.Min(origin, 3 * spec.Horizon);
        var f = Forecaster.Forecast(model, spec, [s], [origin])[0];
        var history = Enumerable.Range(origin - shown, shown + spec.Horizon).ToList();
        var future = Enumerable.Range(origin, spec.Horizon).Select(t => (double)t).ToList();
        var chart = new Chart { Title = $"Series '{s.Id}': the held-out {spec.Horizon} steps", XLabel = "step", YLabel = spec.Target }
            .AddLine("actual", [.. history.Select(t => (double)t)], [.. history.Select(t => s.Values[t * width])])
            .AddLine("forecast", future, f.Point);
        if (f.Quantiles.Length > 0)
        {
            int q = spec.Quantiles.Count;
            chart.AddLine($"q{spec.Quantiles[0]}", future, [.. Enumerable.Range(0, spec.Horizon).Select(h => f.Quantiles[h * q])], dashed: true)
                .AddLine($"q{spec.Quantiles[^1]}", future, [.. Enumerable.Range(0, spec.Horizon).Select(h => f.Quantiles[(h * q) + q - 1])], dashed: true);
        }

        return chart.ToSvg();
    }
}
