using System.CommandLine;
using System.CommandLine.Parsing;

namespace Unroll.Cli;

/// <summary>The `unroll` command: parses arguments, calls the library, prints results.</summary>
internal static partial class CliApp
{
    /// <summary>Exit code for success.</summary>
    public const int Success = 0;

    /// <summary>Exit code for a user error (bad input, bad file, diverged training).</summary>
    public const int UserError = 1;

    /// <summary>Exit code for a command line that does not parse (unknown option, missing value).</summary>
    public const int UsageError = 2;

    /// <summary>Runs the command line and returns the process exit code. Never throws for user errors.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false)
    {
        var console = new CliConsole(output, error, interactive);
        // A plain command named "unroll" (not RootCommand, which takes the assembly's name) so help reads "unroll train ...".
        var train = Training.TrainCommand.Create(console);
        var root = new Command("unroll", "Unroll: recurrent neural networks trained by exact backpropagation through time.")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
            train,
            ExperimentCommand.Create(console),
            EvalCommand.Create(console),
            PredictCommand.Create(console),
            ExplainCommand.Create(console),
            DiagnoseCommand.Create(console),
            ExportCommand.Create(console),
            ReportCommand.Create(console),
            ImportCommand.Create(console),
            SampleCommand.Create(console),
        };

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var parseError in parse.Errors)
            {
                error.WriteLine($"error: {Describe(parseError.Message)}");
            }

            error.WriteLine("Run 'unroll --help' (or 'unroll COMMAND --help') for the options.");
            return UsageError;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                Output = output,
                Error = error,
            });
        }
        catch (UnrollException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return UserError;
        }
        catch (IOException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return UserError;
        }
        catch (UnauthorizedAccessException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return UserError;
        }
    }
}

internal static partial class CliApp
{
    // An unknown option in the position of a positional argument is reported by the parser as an
    // unrecognised argument value; say what it is.
    private static string Describe(string message)
    {
        var match = UnknownOptionPattern().Match(message);
        return match.Success ? $"unknown option '{match.Groups[1].Value}'." : message.Replace("\n", " ", StringComparison.Ordinal).Replace("\t", string.Empty, StringComparison.Ordinal);
    }

    // A message quotes what the user gave (a file name, a CSV field), which may hold a line break or
    // another control character; escaping them keeps every error on one line.
    private static string OneLine(string message)
    {
        if (!message.Any(char.IsControl))
        {
            return message;
        }

        var text = new System.Text.StringBuilder(message.Length + 8);
        foreach (char c in message)
        {
            text.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }

        return text.ToString();
    }

    [System.Text.RegularExpressions.GeneratedRegex("^Argument '(-[^']*)' not recognized")]
    private static partial System.Text.RegularExpressions.Regex UnknownOptionPattern();
}

/// <summary>Where a command writes, and whether a person is watching (progress bars) or a program (plain lines).</summary>
internal sealed record CliConsole(TextWriter Output, TextWriter Error, bool Interactive);
