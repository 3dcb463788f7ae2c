using System.CommandLine;
using System.Globalization;

namespace Unroll.Cli;

/// <summary>Helpers for declaring options and checking their values beyond their type.</summary>
internal static class Options
{
    public static Option<T> Make<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>Adds <paramref name="alias"/> to <paramref name="option"/>'s names and returns it.</summary>
    public static Option<T> WithAlias<T>(this Option<T> option, string alias)
    {
        option.Aliases.Add(alias);
        return option;
    }

    public static Option<T?> Optional<T>(string name, string description)
        where T : struct =>
        new(name) { Description = description };

    public static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>
    /// Refuses NaN and infinite values given to any numeric option of <paramref name="command"/>: a learning rate,
    /// bias or probability that is not a number would only surface later as a divergence with a misleading cause.
    /// </summary>
    /// <exception cref="UnrollException">An option was given a value that is not finite.</exception>
    public static void RequireFinite(ParseResult parse, Command command)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in command.Options)
        {
            double? value = option switch
            {
                Option<double> d => parse.GetValue(d),
                Option<double?> d => parse.GetValue(d),
                _ => null,
            };
            if (value is { } v && !double.IsFinite(v))
            {
                throw new UnrollException($"{option.Name}: expected a finite number, got {v.ToString(CultureInfo.InvariantCulture)}.");
            }
        }
    }
}
