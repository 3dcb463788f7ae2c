namespace Unroll.Cli.Tests;

/// <summary>Runs the `unroll` command in-process and captures what it prints.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = CliApp.Run(args, output, error, interactive: false);
        return (code, output.ToString(), error.ToString());
    }
}

/// <summary>A fresh temporary directory, deleted afterwards.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "unroll-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>A file in a subdirectory, which is created.</summary>
    public string File(string directory, string name)
    {
        Directory.CreateDirectory(System.IO.Path.Combine(Path, directory));
        return System.IO.Path.Combine(Path, directory, name);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary directory is harmless.
        }
    }
}
