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
        var threadsOption = ThreadsOption();
        var root = new Command("unroll", "Unroll: recurrent neural networks trained by exact backpropagation through time.")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
            train,
            ExperimentCommand.Create(console),
            EvalCommand.Create(console),
            PredictCommand.Create(console),
            Forecasts.ForecastCommand.Create(console),
            Forecasts.BacktestCommand.Create(console),
            ExplainCommand.Create(console),
            DiagnoseCommand.Create(console),
            ExportCommand.Create(console),
            ReportCommand.Create(console),
            ImportCommand.Create(console),
            SampleCommand.Create(console),
            threadsOption,
        };

        // No response files: an argument starting with '@' (a file name, a typo) is an argument, never a file to read options from.
        ParseResult parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0)
        {
            // One line for one mistake: the first error is the one to fix (later ones often follow from it).
            error.WriteLine($"error: {Describe(parse.Errors[0].Message, parse.CommandResult.Command, OptionOf(parse.Errors[0]))}");
            error.WriteLine("Run 'unroll --help' (or 'unroll COMMAND --help') for the options.");
            return UsageError;
        }

        if (EmptyValue(parse) is { } empty)
        {
            error.WriteLine($"error: {empty}: expected a value, got an empty one.");
            return UserError;
        }

        int threadsBefore = Kernels.Parallelism.ThreadCount;
        try
        {
            if (parse.GetValue(threadsOption) is { } threads)
            {
                Kernels.Parallelism.ThreadCount = threads is >= 1 and <= MaxThreads
                    ? threads
                    : throw new UnrollException($"--threads: expected 1 to {MaxThreads}, got {threads}.");
            }

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
        finally
        {
            Kernels.Parallelism.ThreadCount = threadsBefore;
        }
    }

    // A file, directory or name given as an empty string is a mistake (an unset shell variable, say), never a request
    // for a default: every argument and option of string type must then hold something (--prime may be empty).
    private static string? EmptyValue(ParseResult parse)
    {
        for (var command = parse.CommandResult; command is not null; command = command.Parent as System.CommandLine.Parsing.CommandResult)
        {
            foreach (var child in command.Children)
            {
                switch (child)
                {
                    // The tokens, not the values: a value that failed its own validation throws when read.
                    case System.CommandLine.Parsing.ArgumentResult { Argument: Argument<string> argument } result
                        when result.Tokens.Count > 0 && result.Tokens.All(token => string.IsNullOrWhiteSpace(token.Value)):
                        return argument.Name;
                    case System.CommandLine.Parsing.OptionResult { Option: Option<string> option, Implicit: false } result
                        when option.Name != "--prime" && result.Tokens.Count > 0 && result.Tokens.All(token => string.IsNullOrWhiteSpace(token.Value)):
                        return option.Name;
                }
            }
        }

        return null;
    }

    /// <summary>The most threads --threads accepts: far more than any machine this engine runs on has cores.</summary>
    private const int MaxThreads = 1024;

    /// <summary>--threads, on every command: the threads of the matrix products and time steps (results do not depend on it).</summary>
    private static Option<int?> ThreadsOption() => new("--threads")
    {
        Description = $"Threads for the kernels (default: every core, or {Kernels.Parallelism.ThreadsEnvironmentVariable}); the results do not depend on it",
        Recursive = true,
    };
}

internal static partial class CliApp
{
    // The option a parse error is about, when it is about one's value.
    private static string? OptionOf(System.CommandLine.Parsing.ParseError error) => error.SymbolResult switch
    {
        System.CommandLine.Parsing.OptionResult o => o.Option.Name,
        System.CommandLine.Parsing.ArgumentResult { Parent: System.CommandLine.Parsing.OptionResult o } => o.Option.Name,
        _ => null,
    };

    [System.Text.RegularExpressions.GeneratedRegex(@"^Argument '([^']*)' not recognized\. Must be one of:")]
    private static partial System.Text.RegularExpressions.Regex NotAChoicePattern();

    [System.Text.RegularExpressions.GeneratedRegex(@"'([^']*)'")]
    private static partial System.Text.RegularExpressions.Regex ChoicePattern();

    // The parser's messages, in the words of the rest of the tool: an unknown option with the nearest one the
    // command has, and a value of the wrong type named by what was expected rather than by a .NET type.
    private static string Describe(string message, Command command, string? option = null)
    {
        var choice = NotAChoicePattern().Match(message);
        if (choice.Success && option is not null)
        {
            var accepted = ChoicePattern().Matches(message[choice.Length..]).Select(m => m.Groups[1].Value).ToList();
            string listed = accepted.Count > 1 ? string.Join(", ", accepted.Take(accepted.Count - 1)) + " or " + accepted[^1] : string.Join(string.Empty, accepted);
            return $"{option}: expected {listed}, got '{choice.Groups[1].Value}'.";
        }

        var unknown = UnknownOptionPattern().Match(message);
        if (unknown.Success)
        {
            string given = unknown.Groups[1].Value;
            string? nearest = NearestOption(given, command);
            return nearest is null ? $"unknown option '{given}'." : $"unknown option '{given}'; did you mean '{nearest}'?";
        }

        var typed = TypedValuePattern().Match(message);
        if (typed.Success)
        {
            string type = typed.Groups[3].Value;
            string expected = type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) ? "a whole number"
                : type.Contains("Double", StringComparison.Ordinal) ? "a number"
                : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false"
                : "a value of another kind";
            return $"{typed.Groups[2].Value}: expected {expected}, got '{typed.Groups[1].Value}'.";
        }

        return message.Replace("\n", " ", StringComparison.Ordinal).Replace("\t", string.Empty, StringComparison.Ordinal);
    }

    // The option of the command (or its ancestors' recursive ones) within two edits of what was typed.
    private static string? NearestOption(string given, Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            foreach (var option in c.Options.Where(o => c == command || o.Recursive))
            {
                names.Add(option.Name);
                names.AddRange(option.Aliases);
            }
        }

        return names.Where(n => n.StartsWith('-'))
            .Select(n => (Name: n, Distance: EditDistance(given, n)))
            .Where(c => c.Distance <= Math.Max(1, Math.Min(2, given.Length / 4)))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal)
            .Select(c => c.Name)
            .FirstOrDefault();
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
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

    [System.Text.RegularExpressions.GeneratedRegex("^(?:Argument|Unrecognized command or argument) '(-[^']*)'(?: not recognized)?")]
    private static partial System.Text.RegularExpressions.Regex UnknownOptionPattern();

    [System.Text.RegularExpressions.GeneratedRegex("^Cannot parse argument '(.*)' for option '([^']*)' as expected type '([^']*)'")]
    private static partial System.Text.RegularExpressions.Regex TypedValuePattern();
}

/// <summary>Where a command writes, and whether a person is watching (progress bars) or a program (plain lines).</summary>
internal sealed record CliConsole(TextWriter Output, TextWriter Error, bool Interactive);
