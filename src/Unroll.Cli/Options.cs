using System.CommandLine;
using System.Globalization;

namespace Unroll.Cli;

/// <summary>Helpers for options whose values need checking beyond their type.</summary>
internal static class Options
{
    public static Option<T> Make<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    public static Option<T?> Optional<T>(string name, string description)
        where T : struct =>
        new(name) { Description = description };

    public static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
