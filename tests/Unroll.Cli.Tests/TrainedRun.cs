namespace Unroll.Cli.Tests;

/// <summary>
/// One short real training run (tiny model, a few steps) shared by the tests of a class; tests
/// that change files work on a <see cref="CopyTo"/> of it.
/// </summary>
public sealed class TrainedRun : IDisposable
{
    private readonly TempDirectory _temp = new();

    public TrainedRun()
    {
        Directory = _temp.File("run");
        var (code, output, error) = CliRunner.Run(
            "train", "-o", Directory, "--hidden", "6", "--steps", "30", "--batch-size", "8", "--seq-length", "25",
            "--train-count", "16", "--validation-count", "4", "--test-count", "4", "--validate-every", "10");
        if (code != 0)
        {
            throw new InvalidOperationException($"the training run for the report tests failed ({code}): {error}{output}");
        }
    }

    /// <summary>The run directory written by unroll train.</summary>
    public string Directory { get; }

    /// <summary>Copies the run directory (files only, as unroll writes them) to <paramref name="destination"/>.</summary>
    public string CopyTo(string destination)
    {
        System.IO.Directory.CreateDirectory(destination);
        foreach (var file in System.IO.Directory.GetFiles(Directory))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        return destination;
    }

    public void Dispose() => _temp.Dispose();
}
