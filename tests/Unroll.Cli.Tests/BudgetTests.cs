using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Unroll.IO;

namespace Unroll.Cli.Tests;

/// <summary>Runs that keep their best model and spend a time budget: best.safetensors, early stopping, the budget across a kill.</summary>
public class BudgetTests
{
    private static string[] Text(TempDirectory temp, string run, params string[] extra)
    {
        File.WriteAllText(temp.File("corpus.txt"), DataSourceCommandTests.Grammar(300));
        return ["train", "text", temp.File("corpus.txt"), "--hidden", "12", "--embedding", "6", "--bptt", "10", "--batch-size", "4", "--validate-every", "5", "-o", run, .. extra];
    }

    // The steps and validation losses of metrics.csv's validated rows.
    private static List<(int Step, double Loss)> Validations(string run) => File.ReadAllLines(Path.Combine(run, "metrics.csv")).Skip(1)
        .Select(line => line.Split(','))
        .Where(cells => cells[2].Length > 0)
        .Select(cells => (int.Parse(cells[0], CultureInfo.InvariantCulture), double.Parse(cells[2], CultureInfo.InvariantCulture)))
        .ToList();

    private static (int Step, double Loss) BestOf(string path)
    {
        using var json = JsonDocument.Parse(SafeTensors.Read(path).Metadata["unroll.best"]);
        return (json.RootElement.GetProperty("step").GetInt32(), json.RootElement.GetProperty("validationLoss").GetDouble());
    }

    [Fact]
    public void TheBestModelIsTheLowestValidationLossAndCommandsGivenTheRunDirectoryUseIt()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run(Text(temp, run, "--steps", "60", "--lr", "0.02"));
        Assert.True(code == 0, error);
        var lowest = Validations(run).MinBy(v => v.Loss);
        Assert.Equal(lowest, BestOf(Path.Combine(run, "best.safetensors")));
        Assert.Contains($"The best model (best.safetensors, step {lowest.Step}", output, StringComparison.Ordinal);

        // eval of the run directory scores the best model and says so on standard error; its validation figure is the lowest recorded.
        var evaluation = CliRunner.Run("eval", run, "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Contains("best.safetensors, the best model of the run", evaluation.Error, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(evaluation.Output);
        Assert.Equal(lowest.Loss, json.RootElement.GetProperty("figures").GetProperty("nats").GetDouble(), 12);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "best-evaluation.json")).Trim(), evaluation.Output.Trim());

        var sample = CliRunner.Run("sample", run, "--prime", "the ", "--length", "10");
        Assert.True(sample.ExitCode == 0, sample.Error);
        Assert.Contains("best.safetensors", sample.Error, StringComparison.Ordinal);
        Assert.Contains("The best model (best.safetensors", File.ReadAllText(Path.Combine(run, "report.html")), StringComparison.Ordinal);
    }

    [Fact]
    public void PatienceStopsTheRunAndResumingItDoesNothingMore()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        // A learning rate of zero: nothing improves after the first validation.
        var (code, output, error) = CliRunner.Run(Text(temp, run, "--steps", "500", "--optimizer", "sgd", "--lr", "0", "--patience", "2"));
        Assert.True(code == 0, error);
        Assert.Contains("Stopped early at step 15: 2 validations in a row did not improve", output, StringComparison.Ordinal);
        Assert.Equal(16, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
        var model = File.ReadAllBytes(Path.Combine(run, "model.safetensors"));
        (code, _, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, error);
        Assert.Equal(16, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
        Assert.Equal(model, File.ReadAllBytes(Path.Combine(run, "model.safetensors")));
    }

    [Fact]
    public async Task ABudgetedRunKilledAndResumedSpendsItsWholeBudgetOnceAndKeepsItsBestModel()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        const double Budget = 4;
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli }.Concat(Text(temp, run, "--time-limit", "4s", "--checkpoint-every", "10")))
        {
            start.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(start)!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            string checkpoint = Path.Combine(run, "checkpoint.safetensors");
            var clock = Stopwatch.StartNew();
            while (!(File.Exists(checkpoint) && clock.Elapsed > TimeSpan.FromSeconds(1.5)) && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(10);
            }

            Assert.False(process.HasExited, $"the run ended before it was killed: {(process.HasExited ? await stderr : string.Empty)}");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        double spentBefore = Unroll.Cli.Training.RunSettings.FromJson(SafeTensors.Read(Path.Combine(run, "checkpoint.safetensors")).Metadata["unroll.run"], run).TrainingSeconds;
        Assert.InRange(spentBefore, 0, Budget);
        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, error);
        Assert.Contains("Resuming", output, StringComparison.Ordinal);
        // The resumed run spent what was left of the budget, not a new one.
        double spent = Unroll.Cli.Training.RunSettings.FromJson(SafeTensors.Read(Path.Combine(run, "checkpoint.safetensors")).Metadata["unroll.run"], run).TrainingSeconds;
        Assert.InRange(spent, Budget, Budget + 2);
        Assert.Equal(Validations(run).MinBy(v => v.Loss), BestOf(Path.Combine(run, "best.safetensors")));

        // Its budget is spent: resuming again asks for a new one.
        (code, _, error) = CliRunner.Run("train", "--resume", run);
        Assert.Equal(1, code);
        Assert.Contains("is spent; pass --time-limit", error, StringComparison.Ordinal);
    }
}
