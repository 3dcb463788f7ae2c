namespace Unroll.Cli.Tests;

/// <summary>Every bad input gets one clear line on stderr and a non-zero exit code, never a stack trace.</summary>
public class BadInputTests
{
    [Theory]
    [InlineData(2, "--no-such-option", "--no-such-option")]
    [InlineData(1, "--dt -0.1", "dt")]
    [InlineData(1, "--mass 0", "mass")]
    [InlineData(1, "--hidden 0", "--hidden")]
    [InlineData(1, "--activation softsign", "activation")]
    [InlineData(1, "--optimizer adamax", "optimizer")]
    [InlineData(1, "--integrator leapfrog", "--integrator")]
    [InlineData(1, "--forcing sine,square", "--forcing")]
    [InlineData(1, "--lr -1", "lr")]
    [InlineData(1, "--steps 5 --epochs 1", "--epochs")]
    [InlineData(2, "--hidden many", "many")]
    [InlineData(2, "weather", "weather")]
    [InlineData(2, "--model transformer", "transformer")]
    [InlineData(1, "--bidirectional", "--bidirectional")]
    [InlineData(1, "--dropout 1.5", "dropout")]
    [InlineData(1, "--layers 0", "layers")]
    [InlineData(1, "--bptt 0", "bptt")]
    [InlineData(1, "--bptt 20,10", "bptt")]
    [InlineData(1, "--bptt ten", "--bptt")]
    [InlineData(1, "--model jordan --bptt 10", "bptt")]
    [InlineData(1, "--init-hh orthogonal:x", "--init-hh")]
    public void TrainRefusesBadOptions(int expectedCode, string arguments, string mentioned)
    {
        using var temp = new TempDirectory();
        var args = new List<string> { "train", "-o", temp.File("run") };
        args.AddRange(arguments.Split(' '));
        var (code, _, error) = CliRunner.Run([.. args]);
        Assert.Equal(expectedCode, code);
        Assert.Contains(mentioned, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("run/model.safetensors")));
    }

    [Fact]
    public void MissingModelFileIsNamed()
    {
        var (code, _, error) = CliRunner.Run("eval", "/nonexistent/model.safetensors");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/model.safetensors", error, StringComparison.Ordinal);
    }

    [Fact]
    public void FileThatIsNotSafetensorsIsRefused()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("model.safetensors"), "this is not a model");
        var (code, _, error) = CliRunner.Run("eval", temp.File("model.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains(temp.File("model.safetensors"), error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void TruncatedModelIsRefused()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run("train", "-o", run, "--hidden", "4", "--steps", "2", "--seq-length", "10", "--train-count", "4", "--validation-count", "2", "--test-count", "2").ExitCode);
        string model = Path.Combine(run, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length - 7)]);
        var (code, _, error) = CliRunner.Run("eval", model);
        Assert.Equal(1, code);
        Assert.Contains(model, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    public void EvalOnNoTestSequencesIsRefusedByName(string count)
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run("train", "-o", run, "--hidden", "4", "--steps", "2", "--seq-length", "10", "--train-count", "4", "--validation-count", "2", "--test-count", "2").ExitCode);
        var (code, _, error) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--test-count", count, "--json");
        Assert.Equal(1, code);
        Assert.Contains("--test-count", error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("seq,t,x,force\na,0,1.0\n", "in.csv:2:")]
    [InlineData("seq,t,x,force\na,0,1.0,zero\n", "in.csv:2:")]
    [InlineData("seq,t,x,force\na,0,1.0,0\na,1,NaN,0\n", "in.csv:3:")]
    [InlineData("seq,t,x\na,0,1.0\n", "force")]
    [InlineData("", "")]
    public void MalformedCsvIsRefusedWithItsLine(string csv, string mentioned)
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run("train", "-o", run, "--hidden", "4", "--steps", "2", "--seq-length", "10", "--train-count", "4", "--validation-count", "2", "--test-count", "2").ExitCode);
        File.WriteAllText(temp.File("in.csv"), csv);
        var (code, _, error) = CliRunner.Run("predict", Path.Combine(run, "model.safetensors"), "--input", temp.File("in.csv"), "--output", temp.File("out.csv"));
        Assert.Equal(1, code);
        Assert.Contains("in.csv", error, StringComparison.Ordinal);
        Assert.Contains(mentioned, error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("out.csv")));
    }

    [Fact]
    public void DivergenceKeepsTheLastGoodCheckpoint()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run("train", "-o", run, "--optimizer", "sgd", "--lr", "1e30", "--lr-schedule", "constant", "--clip-norm", "0",
            "--hidden", "8", "--steps", "50", "--checkpoint-every", "1", "--seq-length", "20", "--train-count", "8", "--validation-count", "2", "--test-count", "2");
        Assert.Equal(1, code);
        var match = System.Text.RegularExpressions.Regex.Match(error, @"diverged at step (\d+)");
        Assert.True(match.Success, error);
        int failedStep = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("last good checkpoint", error, StringComparison.Ordinal);
        var checkpoint = Unroll.Training.Checkpoint.Load(Path.Combine(run, "checkpoint.safetensors"));
        Assert.Equal(failedStep - 1, checkpoint.State.Step);
        Assert.All(checkpoint.Model.Parameters.Values, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void DivergenceStopsWithTheStepAndWritesNoModel()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run("train", "-o", run, "--optimizer", "sgd", "--lr", "1e30", "--hidden", "8", "--steps", "50",
            "--seq-length", "20", "--train-count", "8", "--validation-count", "2", "--test-count", "2");
        Assert.Equal(1, code);
        Assert.Contains("diverged at step", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(run, "model.safetensors")));
    }
}
