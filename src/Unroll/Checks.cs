using System.Globalization;

namespace Unroll;

/// <summary>Shared argument checks whose messages name the command-line spelling of a parameter.</summary>
internal static class Checks
{
    /// <summary>Formats a number the same way on every machine ("-0.1", "NaN", "Infinity").</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>"an" before a vowel, else "a".</summary>
    public static string Article(string word) => "aeiou".Contains(word[0], StringComparison.Ordinal) ? "an" : "a";

    public static void Positive(double value, string name, string what)
    {
        if (!(value > 0))
        {
            throw new UnrollException($"{name}: expected {Article(what)} {what} > 0, got {Format(value)}.");
        }

        Finite(value, name, what);
    }

    public static void NonNegative(double value, string name, string what)
    {
        if (!(value >= 0))
        {
            throw new UnrollException($"{name}: expected {Article(what)} {what} >= 0, got {Format(value)}.");
        }

        Finite(value, name, what);
    }

    public static void Finite(double value, string name, string what)
    {
        if (!double.IsFinite(value))
        {
            throw new UnrollException($"{name}: expected a finite {what}, got {Format(value)}.");
        }
    }

    public static void IntegerRange(int value, int min, int max, string name, string what)
    {
        if (value < min || value > max)
        {
            throw new UnrollException($"{name}: expected {what} in {min}..{max}, got {value}.");
        }
    }
}
