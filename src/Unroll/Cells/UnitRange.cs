namespace Unroll.Cells;

/// <summary>
/// The hidden units [first, end) a cell call works on: a time step can be split over the cores by units,
/// since every element-wise operation of a cell reads and writes only the columns of its own unit
/// (gate g of unit j sits at column g*H + j).
/// </summary>
internal static class UnitRange
{
    /// <summary>Throws unless 0 &lt;= <paramref name="firstUnit"/> &lt;= <paramref name="endUnit"/> &lt;= <paramref name="hidden"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie in [0, hidden].</exception>
    public static void Check(int hidden, int firstUnit, int endUnit)
    {
        if (firstUnit < 0 || endUnit > hidden || firstUnit > endUnit)
        {
            throw new ArgumentOutOfRangeException(nameof(firstUnit), $"Unit range [{firstUnit}, {endUnit}) must lie in [0, {hidden}].");
        }
    }
}
