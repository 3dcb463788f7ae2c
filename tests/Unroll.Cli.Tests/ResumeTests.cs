using System.Diagnostics;

namespace Unroll.Cli.Tests;

/// <summary>Checkpoints survive a kill at any instant, and a resumed run ends bit for bit where an uninterrupted one does.</summary>
public class ResumeTests
{
    private static readonly string[] Run =
    [
        "--model", "lstm", "--layers", "2", "--dropout", "0.2", "--hidden", "8", "--steps", "1500", "--batch-size", "8",
        "--seq-length", "20", "--train-count", "40", "--validation-count", "4", "--test-count", "4", "--checkpoint-every", "20",
    ];

    [Fact]
    public void KilledRunResumesToIdenticalWeights()
    {
        using var temp = new TempDirectory();
        string full = temp.File("full"), killed = temp.File("killed");
        Assert.Equal(0, CliRunner.Run(["train", "-o", full, .. Run]).ExitCode);

        // The same run in a separate process, killed (SIGKILL) once it has written a checkpoint or two.
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli, "train", "-o", killed }.Concat(Run))
        {
            start.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(start)!)
        {
            process.StandardOutput.ReadLineAsync();
            var clock = Stopwatch.StartNew();
            string checkpoint = Path.Combine(killed, "checkpoint.safetensors");
            while (!File.Exists(checkpoint) && clock.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
            {
                Thread.Sleep(20);
            }

            Thread.Sleep(150);
            Assert.False(process.HasExited, "the run finished before it could be killed; make it longer");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        Assert.False(File.Exists(Path.Combine(killed, "model.safetensors")));
        var (code, output, error) = CliRunner.Run("train", "--resume", killed);
        Assert.True(code == 0, error);
        Assert.Contains("Resuming", output, StringComparison.Ordinal);
        Assert.DoesNotContain("at step 0 ", output, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.csv")), File.ReadAllText(Path.Combine(killed, "metrics.csv")));
    }

    [Fact]
    public void ResumeRefusesOtherOptionsAndMissingCheckpoints()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("train", "--resume", temp.Path, "--lr", "0.1");
        Assert.Equal(1, code);
        Assert.Contains("--lr", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run("train", "--resume", temp.Path);
        Assert.Equal(1, code);
        Assert.Contains("checkpoint.safetensors", error, StringComparison.Ordinal);
    }

    [Fact]
    public void InitFromRefusesAModelOfAnotherSize()
    {
        using var temp = new TempDirectory();
        string[] small = ["--steps", "2", "--seq-length", "10", "--train-count", "4", "--validation-count", "2", "--test-count", "2"];
        Assert.Equal(0, CliRunner.Run(["train", "-o", temp.File("a"), "--hidden", "4", .. small]).ExitCode);
        var (code, _, error) = CliRunner.Run(["train", "-o", temp.File("b"), "--hidden", "5", "--init-from", temp.File("a/model.safetensors"), .. small]);
        Assert.Equal(1, code);
        Assert.Contains("hidden 4", error, StringComparison.Ordinal);
        Assert.Contains("hidden 5", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run(["train", "-o", temp.File("c"), "--hidden", "4", "--steps", "1", "--init-from", temp.File("a/model.safetensors"), "--lr", "1e-30", "--optimizer", "sgd", .. small[2..]]);
        Assert.True(code == 0, error);
        var a = Unroll.IO.SafeTensors.Read(temp.File("a/model.safetensors")).Get("rnn.weight_hh_l0").Values;
        var c = Unroll.IO.SafeTensors.Read(temp.File("c/model.safetensors")).Get("rnn.weight_hh_l0").Values;
        Assert.Equal(a, c);
    }
}
