using System.CommandLine;
using Unroll.Data.Text;
using Unroll.Models;

namespace Unroll.Cli;

/// <summary>Registers the data-source tasks (text, fashion-mnist, csv) with train, eval and predict.</summary>
internal static class DataSourceCommands
{
    /// <summary>The subcommands of `unroll train` for user data.</summary>
    public static IEnumerable<Command> CreateTrain(CliConsole console)
    {
        yield return TextCommands.CreateTrain(console);
        yield return ImageCommands.CreateTrain(console);
        yield return CsvCommands.CreateTrain(console);
    }

    /// <summary>The options `unroll eval` needs for these models.</summary>
    public static EvalOptions AddEvalOptions(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var options = new EvalOptions(
            Options.Make("--input", "Text or CSV models: evaluate on this file instead of the model's own validation part", string.Empty),
            Options.Make("--data-dir", "Fashion-MNIST models: the directory holding the IDX files (default: where training found them)", string.Empty));
        command.Add(options.Input);
        command.Add(options.DataDirectory);
        return options;
    }

    /// <summary>Evaluates a text, image or CSV model and returns true; false for an oscillator model.</summary>
    public static bool TryEvaluate(CliConsole console, ParseResult parse, EvalOptions options, string path, LoadedModel loaded, bool json)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loaded);
        if (loaded.Metadata.ContainsKey(Vocabulary.MetadataKey))
        {
            TextCommands.Evaluate(console, path, loaded, parse.GetValue(options.Input), json);
            return true;
        }

        if (loaded.Metadata.ContainsKey(Data.Images.ImageSequenceDescription.MetadataKey))
        {
            ImageCommands.Evaluate(console, path, loaded, parse.GetValue(options.DataDirectory)!, json);
            return true;
        }

        if (loaded.Metadata.ContainsKey(Data.Tables.TimeSeriesTask.MetadataKey))
        {
            CsvCommands.Evaluate(console, path, loaded, parse.GetValue(options.Input), json);
            return true;
        }

        foreach (var option in new[] { options.Input, options.DataDirectory })
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                throw new UnrollException($"{option.Name}: applies to text, CSV and Fashion-MNIST models; {path} is an oscillator model, whose test set is rebuilt from its metadata.");
            }
        }

        return false;
    }

    /// <summary>Runs `unroll predict` for a CSV model and returns true; false for other models.</summary>
    public static bool TryPredict(CliConsole console, string path, LoadedModel loaded, string input, string output)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        if (!loaded.Metadata.ContainsKey(Data.Tables.TimeSeriesTask.MetadataKey))
        {
            return false;
        }

        CsvCommands.Predict(console, path, loaded, input, output);
        return true;
    }

    /// <summary>The extra options of `unroll eval`.</summary>
    internal sealed record EvalOptions(Option<string> Input, Option<string> DataDirectory);
}
