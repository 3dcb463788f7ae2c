using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// A model file written by `unroll train` loads into torch.nn.RNN + nn.Linear unchanged and
/// predicts what `unroll predict` predicts. Needs /usr/bin/python3 with torch (Debian's
/// python3-torch, which .ci/run installs); without it the test reports that it did not run,
/// unless UNROLL_REQUIRE_TORCH=1, which .ci/run sets so that CI cannot silently skip it.
/// </summary>
public class PyTorchInteropTests(ITestOutputHelper log)
{
    private const string Python = "/usr/bin/python3";

    [Theory]
    [InlineData("rnn", "tanh", "1")]
    [InlineData("rnn", "relu", "2")]
    [InlineData("lstm", "tanh", "2")]
    [InlineData("gru", "tanh", "2")]
    public void TorchLoadsTheModelFileAndPredictsTheSame(string cell, string activation, string layers)
    {
        if (!TorchAvailable())
        {
            Assert.NotEqual("1", Environment.GetEnvironmentVariable("UNROLL_REQUIRE_TORCH"));
            log.WriteLine($"not run: {Python} with torch is not installed (apt-get install python3-torch).");
            return;
        }

        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, _, error) = CliRunner.Run("train", "-o", run, "--model", cell, "--layers", layers, "--activation", activation, "--hidden", "6", "--steps", "20",
            "--seq-length", "15", "--train-count", "16", "--validation-count", "4", "--test-count", "4");
        Assert.True(code == 0, error);
        string model = Path.Combine(run, "model.safetensors");
        File.WriteAllText(temp.File("in.csv"), "seq,t,force,x\na,0,0.1,1.0\na,1,0.2,0.9\na,2,0.3,0.7\na,3,0.2,0.4\nb,0,-0.3,-0.5\nb,1,0.0,-0.45\n");
        Assert.Equal(0, CliRunner.Run("predict", model, "--input", temp.File("in.csv"), "--output", temp.File("unroll.csv")).ExitCode);

        string script = Path.Combine(AppContext.BaseDirectory, "Scripts", "torch_predict.py");
        var (pythonCode, pythonError) = RunPython(script, model, temp.File("in.csv"), temp.File("torch.csv"));
        Assert.True(pythonCode == 0, pythonError);

        var ours = File.ReadAllLines(temp.File("unroll.csv"));
        var theirs = File.ReadAllLines(temp.File("torch.csv"));
        Assert.Equal(7, ours.Length);
        Assert.Equal(ours.Length, theirs.Length);
        Assert.Equal(ours[0], theirs[0]);
        for (int i = 1; i < ours.Length; i++)
        {
            var a = ours[i].Split(',');
            var b = theirs[i].Split(',');
            Assert.Equal(a[..2], b[..2]);
            double mine = double.Parse(a[2], CultureInfo.InvariantCulture);
            double torch = double.Parse(b[2], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(mine - torch) <= 1e-5 * Math.Max(1, Math.Abs(torch)), $"line {i + 1}: unroll {mine}, torch {torch}");
        }
    }

    private static bool TorchAvailable() => File.Exists(Python) && RunPython("-c", "import torch").Code == 0;

    private static (int Code, string Error) RunPython(params string[] args)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        string error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error);
    }
}
