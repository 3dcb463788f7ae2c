using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Unroll.Cli.Tests;

/// <summary>
/// The scan-trained cells (LRU, minGRU, minLSTM) through every command: train on a task and on text, resume bit for bit,
/// eval, predict, sample, diagnose and report; export and import refuse them by name.
/// </summary>
public class ScanCellCommandTests
{
    private static readonly string[] Tiny =
    [
        "--length", "16", "--hidden", "8", "--steps", "24", "--batch-size", "8", "--train-count", "64", "--validation-count", "8",
        "--test-count", "16", "--validate-every", "8", "--diagnose-every", "8", "--checkpoint-every", "10",
    ];

    private static void AssertOneCleanError(int code, string error, string mentioned)
    {
        Assert.Equal(1, code);
        Assert.Contains(mentioned, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("lru", "an LRU (H=8)")]
    [InlineData("mingru", "a minGRU (H=8)")]
    [InlineData("minlstm", "a minLSTM (H=8)")]
    public void AddingRunEvaluatesPredictsDiagnosesAndReports(string model, string described)
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run(["train", "adding", "--model", model, "-o", run, .. Tiny]);
        Assert.True(code == 0, error);
        Assert.Contains($"Training {described}", output, StringComparison.Ordinal);
        // The first lines say which kernels train: a build that lost its wide vectors shows it.
        Assert.Contains($"({Unroll.Kernels.Gemm.Gemm.VariantDescription})", output, StringComparison.Ordinal);

        var evaluation = CliRunner.Run("eval", run, "--json");
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        using (var written = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "best-evaluation.json"))))
        using (var evaluated = JsonDocument.Parse(evaluation.Output))
        {
            // eval of the run directory scores the best model on the same regenerated test split as the run did.
            Assert.Equal(written.RootElement.GetProperty("figures").GetProperty("loss").GetDouble(), evaluated.RootElement.GetProperty("figures").GetProperty("loss").GetDouble());
        }

        // predict: one answer per sequence, from the CSV long format with the model's inputs.
        var config = Unroll.Models.ModelFile.Load(Path.Combine(run, "model.safetensors")).Model.Config;
        var csv = new StringBuilder("seq,t," + string.Join(',', config.InputNames) + "\n");
        for (int t = 0; t < 16; t++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"a,{t},{0.05 * t},{(t is 3 or 9 ? 1 : 0)}\n");
        }

        File.WriteAllText(temp.File("in.csv"), csv.ToString());
        var predict = CliRunner.Run("predict", Path.Combine(run, "model.safetensors"), "--input", temp.File("in.csv"), "--output", temp.File("out.csv"));
        Assert.True(predict.ExitCode == 0, predict.Error);
        var rows = File.ReadAllLines(temp.File("out.csv"));
        Assert.Equal(2, rows.Length);
        Assert.StartsWith("a,", rows[1], StringComparison.Ordinal);

        var diagnose = CliRunner.Run("diagnose", run, "--json");
        Assert.True(diagnose.ExitCode == 0, diagnose.Error);
        using (var json = JsonDocument.Parse(diagnose.Output))
        {
            Assert.Contains("diag(", json.RootElement.GetProperty("recurrence").GetString(), StringComparison.Ordinal);
            Assert.NotEmpty(json.RootElement.GetProperty("gradientFlow").EnumerateArray());
        }

        var table = CliRunner.Run("diagnose", run);
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.True(File.Exists(Path.Combine(run, "gradient-flow.svg")));
        string report = File.ReadAllText(Path.Combine(run, "report.html"));
        if (model == "lru")
        {
            Assert.Contains("Eigenvalues lambda", table.Output, StringComparison.Ordinal);
            foreach (string plot in new[] { "eigenvalues.svg", "lambda.svg", "lambda-decay.svg", "jacobian.svg" })
            {
                Assert.True(File.Exists(Path.Combine(run, plot)), plot);
            }

            Assert.Contains("lambda.svg", report, StringComparison.Ordinal);
            Assert.Contains("The LRU has no W_hh", report, StringComparison.Ordinal);
        }
        else
        {
            // No spectrum to plot: the table and the report say what the Jacobian is instead.
            Assert.Contains("Jacobian dh_t/dh_{t-1} is diag(a_t)", table.Output, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(run, "eigenvalues.svg")));
            Assert.False(File.Exists(Path.Combine(run, "lambda.csv")));
            Assert.Contains("Jacobian dh_t/dh_{t-1} is diag(a_t)", report, StringComparison.Ordinal);
        }

        Assert.Contains(described.Split(' ')[1], report, StringComparison.Ordinal);

        // ONNX has no operator for these cells: one clear refusal naming the architecture, nothing written.
        var export = CliRunner.Run("export", Path.Combine(run, "model.safetensors"), "--onnx", temp.File("model.onnx"));
        AssertOneCleanError(export.ExitCode, export.Error, $"cannot export a {model} model to ONNX");
        Assert.Contains("expected an rnn, lstm or gru model", export.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("model.onnx")));
    }

    [Fact]
    public void TheLrusEigenvaluesStartOnTheRingAndAreRecordedAtEveryDiagnosticStep()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run(["train", "adding", "--model", "lru", "--ring-min", "0.5", "--ring-max", "0.6", "-o", run, .. Tiny]);
        Assert.True(code == 0, error);
        var snapshots = Training.LambdaHistory.Read(Path.Combine(run, "lambda.csv"));
        // Diagnostic steps of 24 with --diagnose-every 8: 1, 8, 16, 24; and the initialisation.
        Assert.Equal(new[] { 0, 1, 8, 16, 24 }, snapshots.Select(s => s.Step));
        Assert.All(snapshots, s => Assert.Equal(4, s.Units.Count));
        Assert.All(snapshots[0].Units, u => Assert.InRange(u.Modulus, 0.5, 0.6));
        Assert.All(snapshots[0].Units, u => Assert.InRange(u.Phase, 0, Math.PI / 10));

        // The last snapshot is the saved model's lambda.
        var model = Unroll.Models.ModelFile.Load(Path.Combine(run, "model.safetensors")).Model;
        var now = Training.LambdaHistory.Of(model);
        Assert.Equal(now.Select(u => (u.Real, u.Imaginary)), snapshots[^1].Units.Select(u => (u.Real, u.Imaginary)));
        Assert.NotEqual(snapshots[0].Units.Select(u => u.Real), snapshots[^1].Units.Select(u => u.Real));
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void ARunStoppedByItsTimeLimitResumesToTheWeightsOfAnUninterruptedRun(string model)
    {
        using var temp = new TempDirectory();
        string full = temp.File("full"), limited = temp.File("limited");
        string[] run = ["train", "adding", "--model", model, "--length", "12", "--hidden", "8", "--layers", "2", "--steps", "6000", "--batch-size", "8",
            "--train-count", "64", "--validation-count", "4", "--test-count", "4", "--validate-every", "500", "--diagnose-every", "7", "--checkpoint-every", "300"];
        Assert.Equal(0, CliRunner.Run([.. run, "-o", full]).ExitCode);
        // 6000 steps cannot finish in 20 ms on any machine (a step with validation and diagnostics takes far longer than
        // 3 microseconds), so the limit always stops the run part-way; 0.3 s did not on a quiet Zen 5, where the whole run
        // of these tiny scan cells took less.
        var (code, output, error) = CliRunner.Run([.. run, "-o", limited, "--time-limit", "0.02s"]);
        Assert.True(code == 0, error);
        Assert.Contains("Stopped at the time limit", output, StringComparison.Ordinal);
        var (resumeCode, resumed, resumeError) = CliRunner.Run("train", "--resume", limited, "--time-limit", "1h");
        Assert.True(resumeCode == 0, resumeError);
        Assert.Contains("Resuming", resumed, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "model.safetensors")), File.ReadAllBytes(Path.Combine(limited, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.csv")), File.ReadAllText(Path.Combine(limited, "metrics.csv")));
        Assert.Equal(File.Exists(Path.Combine(full, "lambda.csv")), model == "lru");
        if (model == "lru")
        {
            // The eigenvalues recorded after the checkpoint were dropped on resume and recorded again.
            Assert.Equal(File.ReadAllText(Path.Combine(full, "lambda.csv")), File.ReadAllText(Path.Combine(limited, "lambda.csv")));
        }
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void TextRunSamplesAndEvaluates(string model)
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("corpus.txt"), DataSourceCommandTests.Grammar(300));
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run("train", "text", temp.File("corpus.txt"), "--model", model, "--steps", "20", "--hidden", "16",
            "--embedding", "8", "--bptt", "20", "--batch-size", "8", "--validate-every", "10", "-o", run);
        Assert.True(code == 0, error);
        Assert.Contains("perplexity", output, StringComparison.Ordinal);

        // Generation runs the cell one step at a time from the carried state.
        string path = Path.Combine(run, "model.safetensors");
        var first = CliRunner.Run("sample", path, "--prime", "the ", "--length", "40", "--seed", "3");
        Assert.True(first.ExitCode == 0, first.Error);
        Assert.StartsWith("the ", first.Output, StringComparison.Ordinal);
        Assert.Equal(first.Output, CliRunner.Run("sample", path, "--prime", "the ", "--length", "40", "--seed", "3").Output);

        var evaluation = CliRunner.Run("eval", path);
        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Contains("bits", evaluation.Output, StringComparison.Ordinal);
        File.WriteAllText(temp.File("other.txt"), DataSourceCommandTests.Grammar(20));
        var predict = CliRunner.Run("predict", path, "--input", temp.File("other.txt"), "--output", temp.File("out.csv"));
        Assert.True(predict.ExitCode == 0, predict.Error);
        Assert.StartsWith("position,token,log_prob,bits", File.ReadAllText(temp.File("out.csv")), StringComparison.Ordinal);
        Assert.Equal(0, CliRunner.Run("diagnose", run).ExitCode);
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void ImportRefusesTheScanCellsByName(string model)
    {
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("weights.safetensors"), [0]);
        var (code, _, error) = CliRunner.Run("import", temp.File("weights.safetensors"), "--from", "pytorch", "--model", model, "-o", temp.File("out.safetensors"));
        Assert.Equal(CliApp.UsageError, code);
        Assert.Contains($"--model: PyTorch and Keras have no {model} module to import weights from; expected rnn, lstm or gru, got {model}", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("out.safetensors")));
    }

    [Theory]
    [InlineData("lstm", new[] { "--ring-min", "0.5" }, "--ring-min: applies to the LRU's eigenvalues; the lstm model has none")]
    [InlineData("mingru", new[] { "--ring-max", "0.99" }, "--ring-max: applies to the LRU's eigenvalues; the mingru model has none")]
    [InlineData("lru", new[] { "--ring-max", "1" }, "expected 0 <= ring-min <= ring-max < 1")]
    [InlineData("lru", new[] { "--ring-min", "0.95", "--ring-max", "0.9" }, "got ring-min 0.95 and ring-max 0.9")]
    [InlineData("mingru", new[] { "--init-hh", "identity" }, "--init-hh: the mingru model is initialised as in its paper")]
    [InlineData("lru", new[] { "--init-ih", "orthogonal" }, "--init-ih: the lru model is initialised as in its paper")]
    [InlineData("minlstm", new[] { "--forget-bias", "1" }, "--forget-bias")]
    [InlineData("lru", new[] { "--hidden", "7" }, "even")]
    [InlineData("mingru", new[] { "--activation", "relu" }, "activation")]
    public void BadScanCellOptionsAreRefusedByName(string model, string[] options, string expected)
    {
        using var temp = new TempDirectory();
        // The tiny settings without the option under test (an option given twice is an error of its own).
        var tiny = Tiny.Chunk(2).Where(pair => pair[0] != options[0]).SelectMany(pair => pair);
        var (code, _, error) = CliRunner.Run(["train", "adding", "--model", model, "-o", temp.File("run"), .. tiny, .. options]);
        AssertOneCleanError(code, error, expected);
        Assert.False(Directory.Exists(temp.File("run")));
    }

    [Theory]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void BidirectionalStackedModelsTrainOnTheAddingProblem(string model)
    {
        using var temp = new TempDirectory();
        var (code, output, error) = CliRunner.Run(["train", "adding", "--model", model, "--layers", "2", "--bidirectional", "-o", temp.File("run"), .. Tiny]);
        Assert.True(code == 0, error);
        Assert.Contains("2-layer bidirectional", output, StringComparison.Ordinal);
        Assert.Equal(0, CliRunner.Run("diagnose", temp.File("run")).ExitCode);
    }
}
