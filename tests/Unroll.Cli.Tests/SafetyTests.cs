using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Unroll.Data.Images;
using Unroll.IO;

namespace Unroll.Cli.Tests;

/// <summary>
/// Nothing lost, nothing crashes: each case of the adversarial trial against run directories, limits and
/// metadata, as a regression test. Every refusal is one "error:" line, a non-zero exit code, and the files
/// the user had are left as they were.
/// </summary>
public sealed class SafetyTests : IDisposable
{
    private static readonly string[] Tiny = ["--hidden", "4", "--seq-length", "12", "--train-count", "8", "--validation-count", "2", "--test-count", "2"];

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Train(string name, params string[] extra)
    {
        string run = _temp.File(name);
        string[] steps = extra.Contains("--steps") ? [] : ["--steps", "6"];
        var (code, _, error) = CliRunner.Run(["train", "-o", run, .. steps, .. Tiny, .. extra]);
        Assert.True(code == 0, error);
        return run;
    }

    private static string Refused(string[] args, string mentioned, int expectedCode = 1)
    {
        var (code, output, error) = CliRunner.Run(args);
        Assert.True(code == expectedCode, $"exit {code} for {string.Join(' ', args)}: {error}{output}");
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Contains(mentioned, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => line.StartsWith("error:", StringComparison.Ordinal));
        return error;
    }

    // Rewrites a safetensors file with one metadata entry changed (null removes it).
    private static void EditMetadata(string path, string key, string? value)
    {
        var file = SafeTensors.Read(path);
        var metadata = file.Metadata.ToDictionary(StringComparer.Ordinal);
        if (value is null)
        {
            metadata.Remove(key);
        }
        else
        {
            metadata[key] = value;
        }

        SafeTensors.Write(path, file.Tensors, metadata);
    }

    private static string EditJson(string json, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        return node.ToJsonString();
    }

    [Fact]
    public void ResumeRefusesACheckpointBesideAnotherRunsModel()
    {
        string a = Train("a", "--seed", "1", "--steps", "20", "--checkpoint-every", "5", "--time-limit", "1h");
        string b = Train("b", "--seed", "2");
        File.Delete(Path.Combine(a, "model.safetensors"));
        // Run a's checkpoint copied beside run b's finished model: continuing it would replace b's model.
        File.Copy(Path.Combine(a, "checkpoint.safetensors"), Path.Combine(b, "checkpoint.safetensors"), overwrite: true);
        var before = File.ReadAllBytes(Path.Combine(b, "model.safetensors"));
        Refused(["train", "--resume", b], "not from the same run");
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(b, "model.safetensors")));
    }

    [Fact]
    public void NoCommandWritesOverOneOfItsInputs()
    {
        string run = Train("run");
        string model = Path.Combine(run, "model.safetensors");
        var modelBytes = File.ReadAllBytes(model);
        File.WriteAllText(_temp.File("in.csv"), "seq,t,x,force\na,0,0.5,0\na,1,0.4,0\n");
        Refused(["predict", model, "--input", _temp.File("in.csv"), "--output", model], "is also an input of this command");
        Refused(["predict", model, "--input", _temp.File("in.csv"), "--output", _temp.File("in.csv")], "is also an input");
        Refused(["export", model, "--onnx", model], "is also an input");
        Refused(["report", run, "-o", model], "is also an input");
        Assert.Equal(modelBytes, File.ReadAllBytes(model));
        Assert.Equal("seq,t,x,force\na,0,0.5,0\na,1,0.4,0\n", File.ReadAllText(_temp.File("in.csv")));
    }

    [Theory]
    [InlineData("adam", "1e30")]
    [InlineData("sgd", "1e30")]
    [InlineData("sgd", "300")]
    public void AnUpdateThatBlowsUpTheWeightsOrTheLossStopsTheRunWithoutSavingIt(string optimizer, string rate)
    {
        string run = _temp.File("run");
        string error = Refused(["train", "-o", run, "--steps", "30", "--checkpoint-every", "1", "--optimizer", optimizer, "--lr", rate, "--clip-norm", "0", .. Tiny], "training diverged at step");
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));
        Assert.Contains("No model was written", error, StringComparison.Ordinal);
        if (File.Exists(Path.Combine(run, "checkpoint.safetensors")))
        {
            // Whatever checkpoint is kept holds finite weights and resumes.
            var checkpoint = Unroll.Training.Checkpoint.Load(Path.Combine(run, "checkpoint.safetensors"));
            Assert.All(checkpoint.Model.Parameters.Values, v => Assert.True(float.IsFinite(v)));
        }
    }

    [Fact]
    public void ResumeKeepsTheCheckpointIntervalAndRemovesStaleTemporaryFiles()
    {
        string run = _temp.File("run");
        Assert.Equal(0, CliRunner.Run(["train", "-o", run, "--steps", "100000", "--checkpoint-every", "7", "--time-limit", "0.3s", .. Tiny]).ExitCode);
        File.WriteAllText(Path.Combine(run, ".checkpoint.safetensors.tmp-0123456789abcdef"), "left by a kill mid-write");
        var (code, _, error) = CliRunner.Run("train", "--resume", run, "--time-limit", "0.3s");
        Assert.True(code == 0, error);
        Assert.Empty(Directory.GetFiles(run, ".*.tmp-*"));
        var settings = Unroll.Cli.Training.RunSettings.FromJson(SafeTensors.Read(Path.Combine(run, "checkpoint.safetensors")).Metadata["unroll.run"], run);
        Assert.Equal(7, settings.CheckpointEvery);
    }

    [Fact]
    public void ACorruptCheckpointIsRefusedBeforeAnythingIsRewritten()
    {
        string run = Train("run", "--steps", "20", "--checkpoint-every", "5");
        File.Delete(Path.Combine(run, "model.safetensors"));
        string checkpoint = Path.Combine(run, "checkpoint.safetensors");

        // Metrics whose step numbers are not 1..N.
        var file = SafeTensors.Read(checkpoint);
        var tensors = file.Tensors.Select(t => t.Name != "trainer.metrics" ? t
            : new StoredTensor(t.Name, t.DType, t.Shape, t.Values.Select((v, i) => i == 10 ? 7.0 : v).ToArray())).ToList();
        SafeTensors.Write(checkpoint, tensors, file.Metadata);
        var bytes = File.ReadAllBytes(checkpoint);
        var metrics = File.ReadAllText(Path.Combine(run, "metrics.csv"));
        Refused(["train", "--resume", run], "metrics row 2 is for step 7");
        Assert.Equal(bytes, File.ReadAllBytes(checkpoint));
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(run, "metrics.csv")));
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));

        // A batch order that is not a permutation.
        tensors = file.Tensors.Select(t => t.Name != "trainer.order" ? t : new StoredTensor(t.Name, t.DType, t.Shape, t.Values.Select(_ => 0.0).ToArray())).ToList();
        SafeTensors.Write(checkpoint, tensors, file.Metadata);
        Refused(["train", "--resume", run], "permutation");

        // Run settings that are not JSON, a checkpoint of an earlier layout, a model file of a newer format.
        SafeTensors.Write(checkpoint, file.Tensors, file.Metadata);
        EditMetadata(checkpoint, "unroll.run", "not json");
        Refused(["train", "--resume", run], "'unroll.run' is not the JSON of run settings");
        SafeTensors.Write(checkpoint, file.Tensors, file.Metadata);
        EditMetadata(checkpoint, "unroll.checkpoint-format", null);
        Refused(["train", "--resume", run], "a checkpoint of layout 1 (an earlier release)");
        SafeTensors.Write(checkpoint, file.Tensors, file.Metadata);
        EditMetadata(checkpoint, "unroll.format", "2");
        Refused(["train", "--resume", run], "'unroll.format' is '2'");
    }

    [Fact]
    public void AnOutputDirectoryThatCannotBeCreatedIsFoundBeforeTraining()
    {
        File.WriteAllText(_temp.File("a-file"), "x");
        var (code, output, error) = CliRunner.Run(["train", "-o", Path.Combine(_temp.File("a-file"), "run"), "--steps", "5", .. Tiny]);
        Assert.Equal(1, code);
        Assert.Contains("cannot create the run directory", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Training", output, StringComparison.Ordinal);
    }

    [Fact]
    public void MetadataThatContradictsTheModelIsRefused()
    {
        string run = Train("run");
        string model = Path.Combine(run, "model.safetensors");
        string config = SafeTensors.Read(model).Metadata["unroll.config"];
        File.WriteAllText(_temp.File("in.csv"), "seq,t,x,force\na,0,0.5,0\n");

        EditMetadata(model, "unroll.config", EditJson(config, c => c["inputNames"] = new JsonArray("x", "x")));
        Refused(["predict", model, "--input", _temp.File("in.csv")], "the input name 'x' appears 2 times");

        EditMetadata(model, "unroll.config", EditJson(config, c => c["pooling"] = "lastStep"));
        Refused(["eval", model], "predicts 1 value once per sequence");
        Refused(["predict", model, "--input", _temp.File("in.csv")], "predicts 1 value once per sequence");
        Refused(["diagnose", model], "predicts 1 value once per sequence");

        EditMetadata(model, "unroll.config", EditJson(config, c => c["head"] = "classification"));
        Refused(["eval", model], "class score");

        EditMetadata(model, "unroll.config", config);
        string data = SafeTensors.Read(model).Metadata["unroll.data"];
        EditMetadata(model, "unroll.data", EditJson(data, d => d["options"]!["testCount"] = 0));
        Refused(["eval", model], "no test split (test-count 0)");

        // Sizes far beyond the machine are refused with the estimate; sizes the command does not need cost nothing.
        EditMetadata(model, "unroll.data", EditJson(data, d => d["options"]!["testCount"] = 100_000_000));
        Refused(["eval", model], "test-count");
        EditMetadata(model, "unroll.data", EditJson(data, d => d["options"]!["testCount"] = 50_000_000));
        Refused(["eval", model], "would need about");
        EditMetadata(model, "unroll.data", EditJson(data, d => d["options"]!["trainCount"] = 10_000_000));
        Refused(["eval", model], "would need about");

        // Two million training sequences fit the machine, and eval, which needs only the test split, does not build them.
        EditMetadata(model, "unroll.data", EditJson(data, d => d["options"]!["trainCount"] = 2_000_000));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, CliRunner.Run("eval", model).ExitCode);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before; // this thread alone: other tests run beside it
        Assert.True(allocated < 200L << 20, $"eval allocated {allocated >> 20} MiB: it built the training split it does not need");
    }

    [Fact]
    public void TrainingOptionsThatOverflowOrExhaustTheMachineAreRefused()
    {
        Refused(["train", "-o", _temp.File("a"), "--epochs", "1431655766", "--batch-size", "1", .. Tiny], "--epochs");
        Refused(["train", "-o", _temp.File("b"), "--layers", "100000", "--hidden", "8", "--steps", "1"], "layers: expected 1 to 256");
        Refused(["train", "-o", _temp.File("b"), "--layers", "256", "--hidden", "512", "--steps", "1", "--batch-size", "512"], "would need about");
        Refused(["train", "-o", _temp.File("c"), "--seq-length", "10000000", "--steps", "1", "--hidden", "4"], "train-count");
        Refused(["train", "-o", _temp.File("c"), "--seq-length", "1000000", "--steps", "1", "--hidden", "4"], "would need about");
        Refused(["train", "-o", _temp.File("d"), "--time-limit", "99999999999999999999s", .. Tiny], "--time-limit");
        Refused(["train", "-o", _temp.File("e"), "--time-limit", "10000000h", .. Tiny], "--time-limit");
        Refused(["train", "-o", _temp.File("f"), "--forget-bias", "NaN", "--model", "lstm", .. Tiny], "--forget-bias: expected a finite number");
        Refused(["explain", "eigen", "--size", "100000"], "--size");
        Assert.False(Directory.Exists(_temp.File("b")) && File.Exists(Path.Combine(_temp.File("b"), "model.safetensors")));
    }

    [Fact]
    public void SampleRefusesAnAbsurdLength()
    {
        File.WriteAllText(_temp.File("t.txt"), DataSourceCommandTests.Grammar(50));
        Assert.Equal(0, CliRunner.Run("train", "text", _temp.File("t.txt"), "--steps", "2", "--hidden", "4", "--batch-size", "2", "-o", _temp.File("run")).ExitCode);
        Refused(["sample", _temp.File("run/model.safetensors"), "--length", "2147483647"], "--length");
    }

    [Fact]
    public void DevicesAndFifosAreRefusedInsteadOfReadForever()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string run = Train("run");
        string model = Path.Combine(run, "model.safetensors");
        Refused(["predict", model, "--input", "/dev/zero"], "is a character device");
        Refused(["train", "text", "/dev/urandom", "-o", _temp.File("t")], "is a character device");
        Refused(["train", "csv", "/dev/zero", "--inputs", "a", "--targets", "b", "-o", _temp.File("c")], "is a character device");
        string fifo = _temp.File("fifo");
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
        }

        Refused(["predict", model, "--input", fifo], "is a FIFO");
        Refused(["eval", fifo], "is a FIFO");
    }

    [Fact]
    public void CsvValuesTooLargeToNormaliseAreRefused()
    {
        var csv = new StringBuilder("u,y\n");
        for (int t = 0; t < 80; t++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{(t % 2 == 0 ? 1e308 : -1e308)},{t}\n");
        }

        File.WriteAllText(_temp.File("big.csv"), csv.ToString());
        Refused(["train", "csv", _temp.File("big.csv"), "--inputs", "u", "--targets", "y", "--window", "10", "-o", _temp.File("run")], "column 'u' has values too large to normalise");
    }

    [Fact]
    public void ParseErrorsNameTheOptionNotATypeAndSuggestTheNearestOption()
    {
        string error = Refused(["train", "--steps", "many"], "--steps: expected a whole number, got 'many'", expectedCode: 2);
        Assert.DoesNotContain("System.", error, StringComparison.Ordinal);
        Refused(["train", "--hiden", "4"], "unknown option '--hiden'; did you mean '--hidden'?", expectedCode: 2);
        Refused(["eval", "m", "--jsn"], "did you mean '--json'?", expectedCode: 2);
        Refused(["train", "adding", "--model", "transformer"], "error: --model: expected rnn, lstm, gru, jordan, lru, mingru or minlstm, got 'transformer'.", expectedCode: 2);
    }

    [Fact]
    public void DropoutOutsideZeroToOneIsRefusedNamingTheOption()
    {
        Refused(["train", "--head-dropout", "1", "-o", _temp.File("run")], "--head-dropout: expected a probability in [0, 1), got 1.");
        Refused(["train", "--dropout", "-0.5", "-o", _temp.File("run")], "--dropout: expected a probability in [0, 1), got -0.5.");
    }

    [Fact]
    public void LabelErrorsNameTheLabelsFile()
    {
        DataSourceCommandTests.WriteImages(_temp.Path, train: 20, test: 10);
        IdxFile.Write(Path.Combine(_temp.Path, "train-labels-idx1-ubyte.gz"), [20], Enumerable.Repeat((byte)12, 20).ToArray(), compress: true);
        Refused(["train", "fashion-mnist", "--data-dir", _temp.Path, "--validation-count", "5", "-o", _temp.File("run")], "train-labels-idx1-ubyte.gz: label 0 is 12");
    }

    [Fact]
    public void ProgressSaysValidationIsNotMeasuredYetRatherThanNaN()
    {
        var (code, output, error) = CliRunner.Run(["train", "-o", _temp.File("run"), "--steps", "20", "--validate-every", "20", .. Tiny]);
        Assert.True(code == 0, error);
        Assert.Contains("validation -", output, StringComparison.Ordinal);
        Assert.DoesNotContain("NaN", output, StringComparison.Ordinal);
    }
}
