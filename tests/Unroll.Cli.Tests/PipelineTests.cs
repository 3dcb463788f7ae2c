using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Cli.Tests;

/// <summary>
/// The one run pipeline, tried on every data source: a run killed (SIGKILL) at a random step resumes to the
/// bytes of an uninterrupted one; eval, diagnose, predict and report work on a model of every source; two
/// runs never share a directory.
/// </summary>
public class PipelineTests
{
    /// <summary>Every source with small settings; {dir} is a directory holding the data files <see cref="WriteData"/> wrote.</summary>
    public static TheoryData<string> Sources => [.. SourceNames];

    /// <summary>The sources, as <see cref="Arguments"/> names them.</summary>
    internal static readonly string[] SourceNames = ["oscillator", "adding", "copy", "temporal-order", "text-char", "text-word", "fashion-mnist", "csv", "forecast"];

    // A run long enough to be killed in the middle (a few milliseconds a step), short enough for the suite.
    internal static string[] Arguments(string source, string data, int steps)
    {
        string[] own = source switch
        {
            "oscillator" => ["train", "oscillator", "--model", "lstm", "--layers", "2", "--dropout", "0.2", "--hidden", "12", "--seq-length", "30", "--train-count", "40", "--validation-count", "4", "--test-count", "4", "--bptt", "10,15"],
            "adding" => ["train", "adding", "--length", "30", "--hidden", "12", "--train-count", "64", "--validation-count", "8", "--test-count", "8", "--bidirectional"],
            "copy" => ["train", "copy", "--length", "5", "--model", "gru", "--hidden", "12", "--train-count", "64", "--validation-count", "8", "--test-count", "8"],
            "temporal-order" => ["train", "temporal-order", "--length", "20", "--model", "rnn", "--hidden", "12", "--train-count", "64", "--validation-count", "8", "--test-count", "8", "--optimizer", "sgd", "--momentum", "0.9"],
            "text-char" => ["train", "text", Path.Combine(data, "corpus.txt"), "--hidden", "16", "--embedding", "8", "--bptt", "12", "--batch-size", "4", "--layers", "2", "--dropout", "0.1"],
            "text-word" => ["train", "text", Path.Combine(data, "corpus.txt"), "--level", "word", "--hidden", "16", "--embedding", "8", "--bptt", "6,9", "--batch-size", "4"],
            "fashion-mnist" => ["train", "fashion-mnist", "--data-dir", data, "--validation-count", "10", "--hidden", "8", "--batch-size", "10", "--model", "gru"],
            "csv" => ["train", "csv", Path.Combine(data, "series.csv"), "--inputs", "u,v", "--targets", "y", "--window", "20", "--hidden", "8", "--batch-size", "4"],
            "forecast" => ["train", "forecast", Path.Combine(data, "panel.csv"), "--past", "u", "--horizon", "4", "--context", "12", "--distribution", "student-t", "--hidden", "8", "--batch-size", "8"],
            _ => throw new ArgumentOutOfRangeException(nameof(source), source, null),
        };
        return [.. own, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--validate-every", "7", "--diagnose-every", "11"];
    }

    internal static void WriteData(string directory)
    {
        File.WriteAllText(Path.Combine(directory, "corpus.txt"), DataSourceCommandTests.Grammar(400));
        DataSourceCommandTests.WriteImages(directory, train: 50, test: 20);
        var csv = new StringBuilder("u,v,y\n");
        for (int t = 0; t < 300; t++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{Math.Sin(0.2 * t)},{Math.Cos(0.07 * t)},{Math.Sin(0.2 * (t - 2)) + (0.3 * Math.Cos(0.07 * t))}\n");
        }

        File.WriteAllText(Path.Combine(directory, "series.csv"), csv.ToString());
        File.WriteAllText(Path.Combine(directory, "panel.csv"), Panel(["a", "b", "c"], 60));
    }

    /// <summary>Long-format series: monthly dates, a seasonal target and a past covariate, series after series.</summary>
    internal static string Panel(IReadOnlyList<string> ids, int length)
    {
        var text = new StringBuilder("series,time,value,u\n");
        for (int s = 0; s < ids.Count; s++)
        {
            for (int t = 0; t < length; t++)
            {
                var month = new DateTime(2000, 1, 1).AddMonths(t);
                text.Append(CultureInfo.InvariantCulture, $"{ids[s]},{month:yyyy-MM-dd},{(10 * (s + 1)) + (3 * Math.Sin(2 * Math.PI * t / 12)) + (0.05 * t)},{Math.Cos(0.3 * t)}\n");
            }
        }

        return text.ToString();
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task EverySourceKilledAtARandomStepResumesToTheBytesOfAnUninterruptedRun(string source)
    {
        using var temp = new TempDirectory();
        WriteData(temp.Path);
        const int Steps = 300;
        var args = Arguments(source, temp.Path, Steps);
        string full = temp.File("full"), killed = temp.File("killed");
        var (code, _, error) = CliRunner.Run([.. args, "-o", full]);
        Assert.True(code == 0, error);

        // The same run in a separate process, killed after a random number of its checkpoints (one every 5 steps).
        int checkpoints = new Random(source.GetHashCode(StringComparison.Ordinal) & 0xFFFF).Next(2, 9);
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli }.Concat(args).Concat(["-o", killed, "--checkpoint-every", "5"]))
        {
            start.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(start)!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            string checkpoint = Path.Combine(killed, "checkpoint.safetensors");
            var clock = Stopwatch.StartNew();
            DateTime last = default;
            int seen = 0;
            while (seen < checkpoints && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120))
            {
                var written = File.Exists(checkpoint) ? File.GetLastWriteTimeUtc(checkpoint) : default;
                if (written != last && written != default)
                {
                    (last, seen) = (written, seen + 1);
                }

                Thread.Sleep(1);
            }

            Assert.False(process.HasExited, $"the run ended before it was killed ({(process.HasExited ? await stderr : string.Empty)}); make it longer");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        Assert.False(File.Exists(Path.Combine(killed, "model.safetensors")), "the killed run finished");
        var (resumeCode, resumed, resumeError) = CliRunner.Run("train", "--resume", killed);
        Assert.True(resumeCode == 0, resumeError);
        var step = int.Parse(System.Text.RegularExpressions.Regex.Match(resumed, @"Resuming \S+ at step (\d+) of").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(step, 5, Steps - 1);
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.csv")), File.ReadAllText(Path.Combine(killed, "metrics.csv")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "evaluation.json")), File.ReadAllText(Path.Combine(killed, "evaluation.json")));
        // The final checkpoints hold the same weights, optimiser state, batch order and carried stream state.
        var expected = SafeTensors.Read(Path.Combine(full, "checkpoint.safetensors")).Tensors;
        var actual = SafeTensors.Read(Path.Combine(killed, "checkpoint.safetensors")).Tensors;
        Assert.Equal(expected.Select(t => t.Name), actual.Select(t => t.Name));
        Assert.Contains(expected, t => t.Name.StartsWith("optimizer.", StringComparison.Ordinal));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].Values.SequenceEqual(actual[i].Values), $"{expected[i].Name} differs after the resume");
        }

        Assert.Empty(Directory.GetFiles(killed, ".*.tmp-*"));
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void EvalDiagnosePredictAndReportWorkOnAModelOfEverySource(string source)
    {
        using var temp = new TempDirectory();
        WriteData(temp.Path);
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run([.. Arguments(source, temp.Path, 20), "-o", run]);
        Assert.True(code == 0, error);
        string model = Path.Combine(run, "model.safetensors");

        // eval: the same figures as the run wrote.
        var evaluation = CliRunner.Run("eval", model, "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Equal(File.ReadAllText(Path.Combine(run, "evaluation.json")).Trim(), evaluation.Output.Trim());

        // diagnose: measured on the model's own held-out data, with its plots.
        string plots = temp.File("plots");
        var diagnosis = CliRunner.Run("diagnose", model, "--json", "-o", plots);
        Assert.True(diagnosis.ExitCode == 0, diagnosis.Error);
        using (var json = JsonDocument.Parse(diagnosis.Output))
        {
            Assert.True(json.RootElement.GetProperty("sequences").GetInt32() > 0);
            Assert.NotEmpty(json.RootElement.GetProperty("gradientFlow").EnumerateArray());
            Assert.NotEmpty(json.RootElement.GetProperty("jacobians").EnumerateArray());
        }

        foreach (string plot in new[] { "eigenvalues.svg", "gradient-flow.svg", "jacobian.svg" })
        {
            Assert.True(File.Exists(Path.Combine(plots, plot)), plot);
        }

        // report: rebuilt from the directory.
        var report = CliRunner.Run("report", run, "-o", temp.File("report.html"));
        Assert.True(report.ExitCode == 0, report.Error);
        Assert.Contains("Evaluation on the", File.ReadAllText(temp.File("report.html")), StringComparison.Ordinal);

        // predict: the values of the library's own forward pass.
        var loaded = ModelFile.Load(model);
        CheckPredict(source, temp, model, loaded);
    }

    private static void CheckPredict(string source, TempDirectory temp, string path, LoadedModel<float> loaded)
    {
        var model = loaded.Model;
        var config = model.Config;
        switch (source)
        {
            case "text-char" or "text-word":
            {
                File.WriteAllText(temp.File("prompt.txt"), "the cat sees a mouse.\nthe dog likes the fish.\n");
                var (code, output, error) = CliRunner.Run("predict", path, "--input", temp.File("prompt.txt"), "--output", "-");
                Assert.True(code == 0, error);
                var task = (TextTask)TrainingTask.FromMetadata(loaded.Metadata, path)!;
                var tokens = Data.Text.TextCorpus.Encode(File.ReadAllText(temp.File("prompt.txt")), task.Vocabulary, out _);
                var lines = output.Trim().Split('\n');
                Assert.Equal("position,token,log_prob,bits", lines[0]);
                Assert.Equal(tokens.Length - 1, lines.Length - 1);
                ((SequenceModel<float>)model).ForwardTokens(tokens.AsSpan(0, tokens.Length - 1), tokens.Length - 1, 1);
                for (int t = 0; t < tokens.Length - 1; t++)
                {
                    var logits = model.Predictions.Slice(t * config.OutputSize, config.OutputSize).ToArray();
                    double max = logits.Max(), logProbability = logits[tokens[t + 1]] - max - Math.Log(logits.Sum(z => Math.Exp(z - max)));
                    double printed = double.Parse(lines[t + 1].Split(',')[^2], CultureInfo.InvariantCulture);
                    Assert.Equal(logProbability, printed, 1e-5);
                }

                return;
            }

            case "fashion-mnist":
            {
                var (code, output, error) = CliRunner.Run("predict", path, "--input", Path.Combine(temp.Path, "t10k-images-idx3-ubyte.gz"));
                Assert.True(code == 0, error);
                var lines = output.Trim().Split('\n');
                Assert.Equal(21, lines.Length);
                var task = (ImageTask)TrainingTask.FromMetadata(loaded.Metadata, path)!;
                var test = task.LoadTest(new EvaluationOptions());
                var inputs = new float[test.Steps * test.InputSize];
                test.CopyBatch([3], inputs, new int[1]);
                model.Run(inputs, ReadOnlySpan<float>.Empty, test.Steps, 1);
                var logits = model.Predictions.ToArray();
                double max = logits.Max(), sum = logits.Sum(z => Math.Exp(z - max));
                var cells = lines[4].Split(',');
                Assert.Equal("3", cells[0]);
                Assert.Equal(Array.IndexOf(logits, logits.Max()).ToString(CultureInfo.InvariantCulture), cells[1]);
                for (int c = 0; c < logits.Length; c++)
                {
                    Assert.Equal(Math.Exp(logits[c] - max) / sum, double.Parse(cells[3 + c], CultureInfo.InvariantCulture), 1e-6);
                }

                return;
            }

            case "csv":
            {
                File.WriteAllText(temp.File("new.csv"), "u,v\n0,1\n0.5,0.9\n1,0.8\n0.2,0.7\n");
                var (code, output, error) = CliRunner.Run("predict", path, "--input", temp.File("new.csv"), "--output", temp.File("out.csv"));
                Assert.True(code == 0, error);
                var task = (CsvTask)TrainingTask.FromMetadata(loaded.Metadata, path)!;
                var data = Data.Tables.TimeSeriesCsv.Read(temp.File("new.csv"), task.Series.Inputs);
                var expected = CsvTask.Predict(model, task.Series.NormalisedInputs(data), data.Rows);
                var lines = File.ReadAllLines(temp.File("out.csv"));
                Assert.Equal("step,target_step,y", lines[0]);
                for (int t = 0; t < data.Rows; t++)
                {
                    Assert.Equal(task.Series.Denormalise(expected[t], 0), double.Parse(lines[t + 1].Split(',')[2], CultureInfo.InvariantCulture), 1e-9);
                }

                Assert.Contains("Wrote", output, StringComparison.Ordinal);
                return;
            }

            case "forecast":
            {
                // The series of the training file (their scales are stored), each forecast from its end.
                File.WriteAllText(temp.File("panel.csv"), Panel(["a", "b", "c"], 60));
                var (code, output, error) = CliRunner.Run("predict", path, "--input", temp.File("panel.csv"), "--output", temp.File("out.csv"));

                Assert.True(code == 0, error);
                var task = (ForecastTask)TrainingTask.FromMetadata(loaded.Metadata, path)!;
                var series = task.Read(temp.File("panel.csv"));
                var expected = Unroll.Forecasts.Forecaster.Forecast(model, task.Spec, series, [.. series.Select(s => s.Length)]);
                var lines = File.ReadAllLines(temp.File("out.csv"));
                Assert.Equal("series,step,forecast,q0.1,q0.5,q0.9", lines[0]);
                Assert.Equal(1 + (3 * task.Spec.Horizon), lines.Length);
                for (int i = 0; i < series.Count; i++)
                {
                    for (int h = 0; h < task.Spec.Horizon; h++)
                    {
                        var fields = lines[1 + (i * task.Spec.Horizon) + h].Split(',');
                        Assert.Equal(series[i].Id, fields[0]);
                        Assert.Equal(expected[i].Point[h], double.Parse(fields[2], CultureInfo.InvariantCulture), 1e-9);
                    }
                }

                Assert.Contains("Wrote", output, StringComparison.Ordinal);
                return;
            }

            default:
            {
                // Sequence models read CSV long format: two sequences of different lengths.
                var names = LongFormatData.InputNames(config);
                var random = new Random(5);
                var sequences = new[] { ("first", 7), ("second", 4) };
                var text = new StringBuilder("seq,t," + string.Join(",", names) + "\n");
                var values = new Dictionary<string, float[]>();
                foreach (var (id, length) in sequences)
                {
                    var x = new float[length * names.Count];
                    for (int i = 0; i < x.Length; i++)
                    {
                        x[i] = config.VocabularySize > 0 ? random.Next(config.VocabularySize) : (float)Math.Round(random.NextDouble(), 3);
                    }

                    values[id] = x;
                    for (int t = 0; t < length; t++)
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{id},{t},{string.Join(",", x.Skip(t * names.Count).Take(names.Count).Select(v => v.ToString(CultureInfo.InvariantCulture)))}\n");
                    }
                }

                File.WriteAllText(temp.File("in.csv"), text.ToString());
                var (code, output, error) = CliRunner.Run("predict", path, "--input", temp.File("in.csv"), "--output", "-");
                Assert.True(code == 0, error);
                var rows = output.Trim().Split('\n').Skip(1).Select(l => l.Split(',')).ToList();
                bool perStep = config.Pooling == Pooling.EveryStep, classification = config.Head == HeadKind.Classification;
                Assert.Equal(perStep ? 11 : 2, rows.Count);
                int row = 0;
                foreach (var (id, length) in sequences)
                {
                    model.Run(values[id], ReadOnlySpan<float>.Empty, length, 1);
                    var predictions = model.Predictions.ToArray();
                    for (int answer = 0; answer < (perStep ? length : 1); answer++, row++)
                    {
                        var cells = rows[row];
                        Assert.Equal(id, cells[0]);
                        var y = predictions.Skip(answer * config.OutputSize).Take(config.OutputSize).ToArray();
                        int first = perStep ? 2 : 1;
                        if (classification)
                        {
                            Assert.Equal(Array.IndexOf(y, y.Max()).ToString(CultureInfo.InvariantCulture), cells[first]);
                            double max = y.Max(), sum = y.Sum(z => Math.Exp(z - max));
                            Assert.Equal(Math.Exp(y[0] - max) / sum, double.Parse(cells[first + 1], CultureInfo.InvariantCulture), 1e-6);
                        }
                        else
                        {
                            Assert.Equal(y[0], double.Parse(cells[first], CultureInfo.InvariantCulture), 1e-6);
                        }
                    }
                }

                return;
            }
        }
    }

    [Fact]
    public async Task ASecondRunIntoTheSameDirectoryFailsAndTheFirstFinishesIntact()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        // The first run trains for 4 s whatever the machine's speed (a fixed step count finished before the second run
        // started on a quiet Zen 5), so the second always meets it running.
        string[] args = ["train", "--hidden", "16", "--steps", "1000000", "--time-limit", "4s", "--seq-length", "50", "--train-count", "64", "--validation-count", "4", "--test-count", "4", "-o", run];
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        // The run prints its "Training ..." line once it holds the lock. The .lock file alone is not enough: it exists
        // from the moment it is created, a moment before it is locked, and a busy machine made the second run win there.
        var header = new System.Text.StringBuilder();
        while (await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) is { } line)
        {
            header.AppendLine(line);
            if (line.StartsWith("Training ", StringComparison.Ordinal))
            {
                break;
            }
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        Assert.True(File.Exists(Path.Combine(run, ".lock")), header.ToString());
        Assert.False(process.HasExited, "the first run ended before the second started; make it longer");
        var (code, output, error) = CliRunner.Run([.. args, "--overwrite"]);
        Assert.Equal(1, code);
        Assert.Contains("is in use by another training run", error, StringComparison.Ordinal);
        Assert.Empty(output);

        Assert.True(process.WaitForExit(120_000), "the first run did not finish");
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Contains("Wrote", await stdout, StringComparison.Ordinal);
        int steps = File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length - 1;
        Assert.True(steps > 0);
        _ = ModelFile.Load(Path.Combine(run, "model.safetensors"));
        Assert.Equal(steps, Unroll.Training.Checkpoint.Load(Path.Combine(run, "checkpoint.safetensors")).State.Step);
    }

    [Fact]
    public void DefaultRunNamesNeverCollide()
    {
        using var temp = new TempDirectory();
        string root = temp.File("runs");
        // Started in the same second, two runs take two directories.
        using var first = Training.RunDirectory.CreateNew(string.Empty, "oscillator", overwrite: false, root);
        using var second = Training.RunDirectory.CreateNew(string.Empty, "oscillator", overwrite: false, root);
        Assert.NotEqual(first.Path, second.Path);
        Assert.StartsWith(Path.Combine(root, "oscillator-"), second.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnfinishedRunIsNeverReplacedWithoutOverwriteAndResumeChecksTheSource()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        string[] args = ["train", "adding", "--length", "8", "--hidden", "4", "--train-count", "32", "--validation-count", "8", "--test-count", "8", "--checkpoint-every", "10"];
        Assert.Equal(0, CliRunner.Run([.. args, "--steps", "20", "-o", run]).ExitCode);
        File.Delete(Path.Combine(run, "model.safetensors")); // as a run killed after its last checkpoint
        var (code, _, error) = CliRunner.Run([.. args, "--steps", "20", "-o", run]);
        Assert.Equal(1, code);
        Assert.Contains($"holds an unfinished run (checkpoint.safetensors); continue it with --resume {run}", error, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(run, "checkpoint.safetensors")));

        (code, _, error) = CliRunner.Run("train", "copy", "--resume", run);
        Assert.Equal(1, code);
        Assert.Contains("holds a run of adding; expected a run of copy", error, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("train", "adding", "--resume", run, "--checkpoint-every", "3");
        Assert.True(code == 0, error);

        // A finished run has nothing to continue: resuming it says so and how to train it further, which works.
        (code, var output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, error);
        string model = Path.Combine(run, "model.safetensors");
        Assert.Contains($"holds a finished run (20 of 20 steps); nothing to continue. To train it further, start a new run from its weights: the command that made it, with --init-from {model}", output, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run([.. args, "--steps", "5", "--init-from", model, "-o", temp.File("further")]);
        Assert.True(code == 0, error);
        // A run directory gives its best model, as to every command that reads a model, and says so.
        (code, _, error) = CliRunner.Run([.. args, "--steps", "5", "--init-from", run, "-o", temp.File("from-best")]);
        Assert.True(code == 0, error);
        Assert.Contains($"Using {Path.Combine(run, "best.safetensors")}, the best model of the run", error, StringComparison.Ordinal);

        // --overwrite replaces the run's files and only those.
        File.WriteAllText(Path.Combine(run, "notes.txt"), "mine");
        (code, _, error) = CliRunner.Run([.. args, "-o", run, "--overwrite", "--steps", "3"]);
        Assert.True(code == 0, error);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(run, "notes.txt")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
    }

    [Fact]
    public void ARunKilledBeforeItsFirstCheckpointKeepsItsBestModelAndResumeSaysWhyItCannotContinue()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        string[] args = ["train", "adding", "--length", "8", "--hidden", "4", "--train-count", "32", "--validation-count", "8", "--test-count", "8", "--validate-every", "5"];
        Assert.Equal(0, CliRunner.Run([.. args, "--steps", "10", "-o", run]).ExitCode);
        // As a run killed after a validation and before its first checkpoint: only the best model and the metrics so far.
        foreach (string name in new[] { "model.safetensors", "checkpoint.safetensors", "evaluation.json" })
        {
            File.Delete(Path.Combine(run, name));
        }

        byte[] best = File.ReadAllBytes(Path.Combine(run, "best.safetensors"));
        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Contains($"'{run}' holds no checkpoint.safetensors: the run stopped before its first checkpoint", error, StringComparison.Ordinal);
        Assert.Contains($"start it again with --output {run} --overwrite", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run([.. args, "--steps", "10", "-o", run]);
        Assert.Equal(1, code);
        Assert.Contains($"'{run}' holds a run that stopped before its first checkpoint (its best.safetensors, no checkpoint.safetensors)", error, StringComparison.Ordinal);
        Assert.Equal(best, File.ReadAllBytes(Path.Combine(run, "best.safetensors")));

        (code, _, error) = CliRunner.Run([.. args, "--steps", "10", "-o", run, "--overwrite"]);
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(run, "checkpoint.safetensors")));
    }
}
