using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Unroll.Cli.Tests;

/// <summary>
/// train text|fashion-mnist|csv stopped early (by --time-limit, which cancels the same token as Ctrl-C, or by a real SIGINT)
/// still write a model that loads and evaluates and a checkpoint to resume from, and say at which step they stopped.
/// </summary>
public class DataSourceStopTests
{
    // Far more steps than the time limit allows, so every run below is cut short.
    private const string ManySteps = "1000000";

    private static readonly string[] Files = ["model.safetensors", "checkpoint.safetensors", "metrics.csv", "evaluation.json", "loss.svg", "report.html"];

    private static int AssertStoppedEarly(string output, string directory, string why)
    {
        var match = Regex.Match(output, $@"Stopped {Regex.Escape(why)} after step (\d+) of {ManySteps}; the model so far and a checkpoint are saved \(continue with unroll train --resume ");
        Assert.True(match.Success, output);
        int step = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(step, 0, int.Parse(ManySteps, CultureInfo.InvariantCulture) - 1);
        foreach (var file in Files)
        {
            Assert.True(File.Exists(Path.Combine(directory, file)), file);
        }

        // metrics.csv holds exactly the steps taken, the header aside.
        Assert.Equal(step + 1, File.ReadAllLines(Path.Combine(directory, "metrics.csv")).Length);
        Assert.Empty(Directory.GetFiles(directory, "*.tmp*"));
        return step;
    }

    private static string[] CsvRun(TempDirectory temp, string directory)
    {
        var csv = new StringBuilder("u,y\n");
        for (int t = 0; t < 200; t++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{Math.Sin(0.2 * t)},{Math.Cos(0.2 * t)}\n");
        }

        File.WriteAllText(temp.File("series.csv"), csv.ToString());
        return ["train", "csv", temp.File("series.csv"), "--inputs", "u", "--targets", "y", "--window", "20", "--hidden", "4", "--batch-size", "4",
            "--steps", ManySteps, "-o", directory];
    }

    [Fact]
    public void TextStoppedByTheTimeLimitSavesAModelThatSamplesAndEvaluates()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("corpus.txt"), DataSourceCommandTests.Grammar(200));
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run("train", "text", temp.File("corpus.txt"), "--steps", ManySteps, "--hidden", "8", "--embedding", "4",
            "--bptt", "10", "--batch-size", "4", "--time-limit", "0.5s", "-o", run);
        Assert.True(code == 0, error);
        AssertStoppedEarly(output, run, "at the time limit (00:00:00.5000000)");

        var sample = CliRunner.Run("sample", Path.Combine(run, "model.safetensors"), "--prime", "the ", "--length", "20");
        Assert.True(sample.ExitCode == 0, sample.Error);
        Assert.StartsWith("the ", sample.Output, StringComparison.Ordinal);
        var evaluation = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "evaluation.json")).Trim(), evaluation.Output.Trim());
    }

    [Fact]
    public void FashionMnistStoppedByTheTimeLimitSavesAModelThatEvaluates()
    {
        using var temp = new TempDirectory();
        DataSourceCommandTests.WriteImages(temp.Path, train: 40, test: 10);
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run("train", "fashion-mnist", "--data-dir", temp.Path, "--validation-count", "10", "--steps", ManySteps,
            "--hidden", "4", "--batch-size", "10", "--time-limit", "0.5s", "-o", run);
        Assert.True(code == 0, error);
        AssertStoppedEarly(output, run, "at the time limit (00:00:00.5000000)");

        var evaluation = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "evaluation.json")).Trim(), evaluation.Output.Trim());
    }

    [Fact]
    public void CsvStoppedByTheTimeLimitSavesAModelThatEvaluates()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run([.. CsvRun(temp, run), "--time-limit", "0.5s"]);
        Assert.True(code == 0, error);
        AssertStoppedEarly(output, run, "at the time limit (00:00:00.5000000)");

        var evaluation = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "evaluation.json")).Trim(), evaluation.Output.Trim());
    }

    [Fact]
    public void BadTimeLimitIsOneClearError()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run([.. CsvRun(temp, run), "--time-limit", "soon"]);
        Assert.Equal(1, code);
        Assert.Contains("--time-limit", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));
    }

    [Fact]
    public async Task CtrlCStopsACsvRunAfterTheCurrentStepAndSavesTheModel()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return; // SIGINT is sent with kill(1)
        }

        using var temp = new TempDirectory();
        string run = temp.File("run");
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        // A background job of a non-interactive shell (`cmd &` in a script) starts with SIGINT ignored, the tests
        // inherit that, and so would the run: exec keeps an ignored signal ignored, and .NET then leaves Ctrl-C alone,
        // as it should. Start the run with SIGINT at its default, as a terminal would, so the test checks the handler.
        bool inheritedIgnore = OperatingSystem.IsLinux() && SigIntIgnoredHere();
        var start = new ProcessStartInfo(inheritedIgnore ? "env" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (inheritedIgnore)
        {
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add("dotnet");
        }

        foreach (var arg in new[] { cli }.Concat(CsvRun(temp, run)))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var trainingStarted = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.Append(e.Data).Append('\n');
            }

            if (e.Data?.StartsWith("Training ", StringComparison.Ordinal) == true)
            {
                trainingStarted.Set();
            }
        };
        process.BeginOutputReadLine();
        var errorText = process.StandardError.ReadToEndAsync();
        Assert.True(trainingStarted.Wait(TimeSpan.FromSeconds(60)), "the run did not start training");
        Thread.Sleep(500);
        Assert.False(process.HasExited, "the run finished before it could be interrupted");
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            kill.WaitForExit();
        }

        Assert.True(process.WaitForExit(60_000), "the run did not stop after SIGINT");
        await process.WaitForExitAsync();
        string stderr = await errorText;
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {stderr}"); // interrupted: saved, but not finished
        string text;
        lock (output)
        {
            text = output.ToString();
        }

        AssertStoppedEarly(text, run, "by the user");
        var evaluation = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
    }

    /// <summary>Whether this process ignores SIGINT (signal 2: bit 1 of the SigIgn mask in /proc/self/status).</summary>
    private static bool SigIntIgnoredHere()
    {
        string? mask = File.ReadLines("/proc/self/status").FirstOrDefault(line => line.StartsWith("SigIgn:", StringComparison.Ordinal));
        return mask is not null && (ulong.Parse(mask["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x2) != 0;
    }
}
