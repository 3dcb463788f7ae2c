using System.Globalization;
using System.Text;
using Unroll.IO;
using Unroll.Tests.Fuzzing;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// Random and mutated argument vectors through the whole `unroll` command (docs/fuzzing.md): every
/// outcome must be exit 0, or exit 1 or 2 with an `error:` line, never an exception out of CliApp.Run.
/// An input is the arguments separated by NUL bytes, so the byte and text mutations of the harness
/// (numbers made huge, negative or NaN, options moved, tokens inserted, truncation) apply unchanged.
/// </summary>
public sealed class CliFuzzTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>
    /// Options whose valid values set the amount of work (a legitimately long run, not a bug): values
    /// above this are lowered to it. Values that do not parse as an int still go through unchanged.
    /// </summary>
    private const int CostCap = 16;

    private static readonly HashSet<string> CostOptions =
    [
        "--steps", "--epochs", "--train-count", "--validation-count", "--test-count", "--seq-length", "--hidden", "--layers",
        "--batch-size", "--size", "--horizon", "--checkpoint-every", "--validate-every", "--warmup", "--lr-step",
    ];

    private readonly TempDirectory _temp = new();

    [Fact]
    public void ErrorsQuotingALineBreakStayOnOneLine()
    {
        // Found by the campaign: a file name holding a line break split the error over two lines.
        var (code, _, error) = CliRunner.Run("predict", "no\nsuch.safetensors", "--input", "x.csv", "--output", "y.csv");
        Assert.Equal(1, code);
        Assert.Equal("error: no\\nsuch.safetensors: file not found", error.TrimEnd('\n', '\r'));
    }

    [Fact]
    public void AnArgumentStartingWithAnAtSignIsNotAResponseFile()
    {
        // Found by the campaign: '@\a' was read as a response file, and the error opening it escaped as an exception.
        var (code, _, error) = CliRunner.Run("explain", "euler", "@\a", "--steps", "10");
        Assert.Equal(2, code);
        Assert.StartsWith("error: Unrecognized command or argument '@\a'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--resume")]
    [InlineData("--init-from")]
    public void EmptyPathOptionIsRefusedInsteadOfStartingADefaultRun(string option)
    {
        // Found by the campaign: `train --resume ""` read as "not resuming" and trained 4000 steps.
        var (code, _, error) = CliRunner.Run("train", option, "");
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {option}: expected a", error, StringComparison.Ordinal);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void EveryArgumentVectorEndsWithAnExitCodeAndAMessage()
    {
        string run = _temp.File("seed-run");
        var train = CliRunner.Run("train", "-o", run, "--hidden", "3", "--steps", "2", "--seq-length", "8", "--train-count", "4", "--validation-count", "2", "--test-count", "2");
        Assert.True(train.ExitCode == 0, train.Error);
        File.WriteAllText(_temp.File("in.csv"), "seq,t,x,force\na,0,1,0\na,1,0.5,0.1\nb,0,-1,0\n");
        Npz.Write(_temp.File("keras.npz"),
        [
            new StoredTensor("layer0/kernel", TensorDType.F32, [2, 3], [0.1, 0.2, 0.3, -0.1, -0.2, -0.3]),
            new StoredTensor("layer0/recurrent_kernel", TensorDType.F32, [3, 3], [0.5, 0, 0, 0, 0.5, 0, 0, 0, 0.5]),
            new StoredTensor("layer0/bias", TensorDType.F32, [3], [0, 0.1, 0]),
            new StoredTensor("dense/kernel", TensorDType.F32, [3, 1], [1, 1, 1]),
            new StoredTensor("dense/bias", TensorDType.F32, [1], [0.5]),
        ]);
        var placeholders = new Dictionary<string, string>
        {
            ["{model}"] = Path.Combine(run, "model.safetensors"),
            ["{run}"] = run,
            ["{csv}"] = _temp.File("in.csv"),
            ["{npz}"] = _temp.File("keras.npz"),
            ["{dir}"] = _temp.Path,
        };

        string[][] seeds =
        [
            ["train", "--steps", "2", "--hidden", "3", "--seq-length", "8", "--train-count", "4", "--validation-count", "2", "--test-count", "2", "-o", "{dir}/a", "--overwrite"],
            ["train", "--model", "lstm", "--layers", "2", "--dropout", "0.1", "--steps", "3", "--hidden", "2", "--seq-length", "6", "--train-count", "4", "--validation-count", "2",
                "--test-count", "2", "--bptt", "2,3", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--clip-value", "0.5", "--init-hh", "orthogonal:1.5", "--forget-bias", "1", "-o", "{dir}/b", "--overwrite"],
            ["train", "--model", "gru", "--epochs", "1", "--batch-size", "2", "--hidden", "2", "--seq-length", "5", "--train-count", "4", "--validation-count", "2", "--test-count", "2",
                "--forcing", "sine,step", "--integrator", "euler", "--dt", "0.05", "--mass", "2", "--damping", "0", "--lr-schedule", "step", "--lr-step", "1", "--warmup", "1", "-o", "{dir}/c", "--overwrite"],
            ["train", "--model", "jordan", "--activation", "relu", "--init-ih", "xavier-uniform", "--steps", "2", "--hidden", "2", "--seq-length", "5", "--train-count", "4",
                "--validation-count", "2", "--test-count", "2", "--seed", "7", "-o", "{dir}/d", "--overwrite"],
            ["train", "--resume", "{run}"],
            ["train", "--init-from", "{model}", "--steps", "2", "--hidden", "3", "--seq-length", "8", "--train-count", "4", "--validation-count", "2", "--test-count", "2", "-o", "{dir}/e", "--overwrite"],
            ["eval", "{model}", "--horizon", "5", "--test-count", "2", "--json"],
            ["predict", "{model}", "--input", "{csv}", "--output", "{dir}/out.csv"],
            ["import", "{npz}", "--from", "keras", "--input-names", "x,force", "-o", "{dir}/k.safetensors", "--overwrite"],
            ["import", "{model}", "--from", "pytorch", "--like", "{model}", "--model", "rnn", "--activation", "tanh", "-o", "{dir}/p.safetensors", "--overwrite"],
            ["explain", "eigen", "--size", "4", "--steps", "10", "--seed", "3"],
            ["explain", "euler", "--steps", "10", "--dt", "0.2", "--mass", "1.5", "--damping", "0.1"],
            ["--help"],
            ["--version"],
            ["train", "--help"],
        ];

        var target = new FuzzTarget("cli", seeds.Select(args => Encoding.UTF8.GetBytes(string.Join('\0', args))).ToList(), path => RunArguments(path, placeholders))
        {
            Extension = ".args",
            Text = true,
            CheckAllocations = false, // a training run allocates what it needs
            SlowInput = TimeSpan.FromSeconds(30),
            BudgetFactor = 4, // 12 s by default: each input is a whole command
        };
        var report = Fuzzer.Run(target);
        log.WriteLine(report.ToString());
        foreach (var failure in report.Failures.Take(20))
        {
            log.WriteLine(failure);
        }

        Assert.True(report.Inputs > seeds.Length && report.Refused > 0, report.ToString());
        Assert.True(report.Failures.Count == 0, $"{report}\n{string.Join("\n", report.Failures.Take(10))}");
    }

    /// <summary>
    /// `unroll train` without sizes trains the default 4000 steps on 512 sequences, minutes of valid
    /// work: a training run gets small sizes unless it names its own (or resumes, which forbids them).
    /// </summary>
    private static string[] WithSmallDefaults(string[] args)
    {
        if (args.Length == 0 || args[0] != "train" || args.Contains("--resume"))
        {
            return args;
        }

        var extra = new List<string>();
        foreach (var (option, value) in new[] { ("--seq-length", "8"), ("--train-count", "4"), ("--validation-count", "2"), ("--test-count", "2"), ("--hidden", "3") })
        {
            if (!args.Contains(option))
            {
                extra.AddRange([option, value]);
            }
        }

        if (!args.Contains("--steps") && !args.Contains("--epochs"))
        {
            extra.AddRange(["--steps", "2"]);
        }

        return [args[0], .. extra, .. args[1..]];
    }

    private static void RunArguments(string path, Dictionary<string, string> placeholders)
    {
        var args = File.ReadAllText(path).Split('\0');
        for (int i = 0; i < args.Length; i++)
        {
            foreach (var (key, value) in placeholders)
            {
                args[i] = args[i].Replace(key, value, StringComparison.Ordinal);
            }

            if (i > 0 && CostOptions.Contains(args[i - 1]) && int.TryParse(args[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > CostCap)
            {
                args[i] = CostCap.ToString(CultureInfo.InvariantCulture);
            }
        }

        var (code, _, error) = CliRunner.Run(WithSmallDefaults(args));
        if (code == 0)
        {
            return;
        }

        if (code is not (1 or 2))
        {
            throw new InvalidOperationException($"exit code {code} for: {string.Join(' ', args)}");
        }

        string first = error.Split('\n')[0];
        if (!first.StartsWith("error: ", StringComparison.Ordinal) || first.Trim().Length <= "error:".Length)
        {
            throw new InvalidOperationException($"exit {code} without an 'error:' line ({error}) for: {string.Join(' ', args)}");
        }

        throw new UnrollException(first);
    }
}
