using System.Globalization;

namespace Unroll;

/// <summary>
/// What one command may plan to allocate: half the memory this process may use (the machine's, or a
/// container's limit). Sizes read from a file or the command line are checked against it before anything is
/// allocated, so a mistyped or forged size is a message with the estimate, never an exhausted machine.
/// </summary>
internal static class MemoryBudget
{
    private const long Floor = 256L << 20;

    /// <summary>The bytes a command may plan to allocate.</summary>
    public static long Limit => Math.Max(Floor, Available / 2);

    private static long Available => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes is > 0 and var total ? total : 4L << 30;

    /// <summary>Throws unless <paramref name="bytes"/> (an estimate) fits the budget.</summary>
    /// <param name="bytes">The estimated allocation; a double so that a product of sizes never overflows.</param>
    /// <param name="what">What would be allocated, starting with the option or file that asks for it.</param>
    /// <exception cref="UnrollException">It does not fit.</exception>
    public static void Check(double bytes, string what)
    {
        if (bytes > Limit || double.IsNaN(bytes))
        {
            throw new UnrollException($"{what} would need about {Format(bytes)} of memory; expected at most {Format(Limit)} (half of the {Format(Available)} this process may use).");
        }
    }

    /// <summary>A byte count as B, KiB, MiB, GiB or TiB with three significant digits.</summary>
    public static string Format(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        int unit = 0;
        while (bytes >= 1024 && unit < units.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }

        return bytes >= 1e6 ? "more than 1 EiB" : string.Create(CultureInfo.InvariantCulture, $"{bytes:G3} {units[unit]}");
    }
}
