using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// `unroll import`: a state_dict saved by PyTorch and Keras-layout weights whose outputs come from
/// an independent numpy transcription of Keras' cells import into models whose `unroll predict`
/// matches to 1e-5. The Python parts need /usr/bin/python3 with torch (and numpy); without them the
/// tests report that they did not run, unless UNROLL_REQUIRE_TORCH=1 (set by .ci/run).
/// </summary>
public class ImportTests(ITestOutputHelper log, ImportFixtures fixtures) : IClassFixture<ImportFixtures>
{
    internal const string Python = "/usr/bin/python3";

    [Theory]
    [InlineData("rnn-tanh", "1", "0")]
    [InlineData("rnn-relu", "2", "1")]
    [InlineData("lstm", "2", "1")]
    [InlineData("gru", "2", "1")]
    [InlineData("gru", "1", "0")]
    public void TorchStateDictImportsAndPredictsAsTorch(string kind, string layers, string bidirectional)
    {
        if (Unavailable(fixtures.Torch))
        {
            return;
        }

        var temp = fixtures.Torch.Case($"{kind}-{layers}-{bidirectional}");
        string activation = kind == "rnn-relu" ? "relu" : "tanh";
        // The prefix "lstm."/"gru."/"rnn." and the head "fc." are found without being named.
        var import = CliRunner.Run("import", temp.File("model.safetensors"), "--from", "pytorch", "--activation", activation, "-o", temp.File("unroll.safetensors"));
        Assert.True(import.ExitCode == 0, import.Error);
        log.WriteLine(import.Output);
        PredictAndCompare(temp);
    }

    [Theory]
    [InlineData("simple_rnn", "1", "0")]
    [InlineData("simple_rnn", "2", "1")]
    [InlineData("lstm", "2", "1")]
    [InlineData("gru", "2", "1")]
    [InlineData("gru", "1", "0")]
    public void KerasWeightsImportAndPredictAsKerasEquations(string kind, string layers, string bidirectional)
    {
        if (Unavailable(fixtures.Keras))
        {
            return;
        }

        var temp = fixtures.Keras.Case($"{kind}-{layers}-{bidirectional}");
        var import = CliRunner.Run("import", temp.File("model.npz"), "--from", "keras", "-o", temp.File("unroll.safetensors"));
        Assert.True(import.ExitCode == 0, import.Error);
        log.WriteLine(import.Output);
        PredictAndCompare(temp);
    }

    [Fact]
    public void ImportedUnrollModelEvaluatesExactlyAsTheOriginal()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var train = CliRunner.Run("train", "-o", run, "--model", "gru", "--hidden", "5", "--steps", "10", "--seq-length", "12",
            "--train-count", "8", "--validation-count", "4", "--test-count", "4");
        Assert.True(train.ExitCode == 0, train.Error);
        string original = Path.Combine(run, "model.safetensors");
        var import = CliRunner.Run("import", original, "--from", "pytorch", "--like", original, "-o", temp.File("imported.safetensors"));
        Assert.True(import.ExitCode == 0, import.Error);
        Assert.Contains("Imported a gru (input 2, hidden 5, output 1)", import.Output, StringComparison.Ordinal);
        var before = CliRunner.Run("eval", original, "--json");
        var after = CliRunner.Run("eval", temp.File("imported.safetensors"), "--json");
        Assert.Equal(0, after.ExitCode);
        Assert.Equal(before.Output, after.Output);
    }

    [Fact]
    public void BadImportsExitWithOneLineNamingTheProblem()
    {
        using var temp = new TempDirectory();
        var missing = CliRunner.Run("import", temp.File("nope.safetensors"), "--from", "pytorch", "-o", temp.File("m.safetensors"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("nope.safetensors: file not found", missing.Error, StringComparison.Ordinal);

        Assert.Equal(2, CliRunner.Run("import", "x", "--from", "tensorflow", "-o", temp.File("m.safetensors")).ExitCode);
        Assert.Equal(2, CliRunner.Run("import", "x", "--from", "pytorch").ExitCode);

        File.WriteAllText(temp.File("exists.safetensors"), "keep me");
        var exists = CliRunner.Run("import", "x", "--from", "keras", "-o", temp.File("exists.safetensors"));
        Assert.Equal(1, exists.ExitCode);
        Assert.Contains("--overwrite", exists.Error, StringComparison.Ordinal);
        Assert.Equal("keep me", File.ReadAllText(temp.File("exists.safetensors")));

        // A safetensors file given as Keras weights, and a model file without oscillator data for eval.
        var train = CliRunner.Run("train", "-o", temp.File("run"), "--hidden", "3", "--steps", "2", "--seq-length", "8",
            "--train-count", "4", "--validation-count", "2", "--test-count", "2");
        Assert.Equal(0, train.ExitCode);
        string model = Path.Combine(temp.File("run"), "model.safetensors");
        var wrong = CliRunner.Run("import", model, "--from", "keras", "-o", temp.File("k.safetensors"));
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("is not a zip archive", wrong.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("k.safetensors")));
        Assert.Equal(0, CliRunner.Run("import", model, "--from", "pytorch", "-o", temp.File("plain.safetensors")).ExitCode);
        var eval = CliRunner.Run("eval", temp.File("plain.safetensors"));
        Assert.Equal(1, eval.ExitCode);
        Assert.Contains("names no data it was trained on (an imported model); pass --input FILE", eval.Error, StringComparison.Ordinal);
    }

    private static void PredictAndCompare(FixtureCase temp)
    {
        var predict = CliRunner.Run("predict", temp.File("unroll.safetensors"), "--input", temp.File("in.csv"), "--output", temp.File("out.csv"));
        Assert.True(predict.ExitCode == 0, predict.Error);
        var ours = File.ReadAllLines(temp.File("out.csv"));
        var theirs = File.ReadAllLines(temp.File("expected.csv"));
        Assert.Equal(10, theirs.Length); // header, 6 + 3 steps
        Assert.Equal(theirs.Length, ours.Length);
        Assert.Equal(theirs[0], ours[0]);
        for (int i = 1; i < ours.Length; i++)
        {
            var a = ours[i].Split(',');
            var b = theirs[i].Split(',');
            Assert.Equal(b[..2], a[..2]);
            for (int j = 2; j < b.Length; j++)
            {
                double mine = double.Parse(a[j], CultureInfo.InvariantCulture);
                double reference = double.Parse(b[j], CultureInfo.InvariantCulture);
                Assert.True(Math.Abs(mine - reference) <= 1e-5 * Math.Max(1, Math.Abs(reference)), $"line {i + 1}, column {j}: unroll {mine}, reference {reference}");
            }
        }
    }

    private bool Unavailable(ScriptFixtures scripts)
    {
        if (scripts.Missing is null)
        {
            return false;
        }

        Assert.NotEqual("1", Environment.GetEnvironmentVariable("UNROLL_REQUIRE_TORCH"));
        log.WriteLine($"not run: {scripts.Missing}");
        return true;
    }
}

/// <summary>Runs each fixture script once for all its cases (starting Python with torch takes seconds).</summary>
public sealed class ImportFixtures : IDisposable
{
    private readonly TempDirectory _root = new();

    public ImportFixtures()
    {
        Torch = new ScriptFixtures(_root.File("torch"), "torch_export.py", "torch", ["rnn-tanh-1-0", "rnn-relu-2-1", "lstm-2-1", "gru-2-1", "gru-1-0"]);
        Keras = new ScriptFixtures(_root.File("keras"), "keras_reference.py", "numpy", ["simple_rnn-1-0", "simple_rnn-2-1", "lstm-2-1", "gru-2-1", "gru-1-0"]);
    }

    internal ScriptFixtures Torch { get; }

    internal ScriptFixtures Keras { get; }

    public void Dispose() => _root.Dispose();
}

/// <summary>One script's output directories, generated on first use; <see cref="Missing"/> says why not when Python lacks the module.</summary>
internal sealed class ScriptFixtures(string root, string script, string module, string[] cases)
{
    private readonly Lazy<string?> _missing = new(() => Generate(root, script, module, cases));

    public string? Missing => _missing.Value;

    public FixtureCase Case(string name)
    {
        Assert.Null(Missing);
        return new FixtureCase(Path.Combine(root, name));
    }

    private static string? Generate(string root, string script, string module, string[] cases)
    {
        if (!File.Exists(ImportTests.Python))
        {
            return $"{ImportTests.Python} is not installed";
        }

        Directory.CreateDirectory(root);
        var start = new ProcessStartInfo(ImportTests.Python) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Scripts", script));
        start.ArgumentList.Add(root);
        foreach (var name in cases)
        {
            start.ArgumentList.Add(name);
        }

        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode == 0)
        {
            return null;
        }

        if (error.Result.Contains($"No module named '{module}'", StringComparison.Ordinal))
        {
            return $"{ImportTests.Python} with {module} is not installed (apt-get install python3-torch python3-numpy)";
        }

        throw new InvalidOperationException($"{script} failed: {error.Result}");
    }
}

/// <summary>A directory holding one case's model, in.csv and expected.csv; out files are written beside them.</summary>
internal sealed record FixtureCase(string Path)
{
    public string File(string name) => System.IO.Path.Combine(Path, name);
}
