namespace Unroll.Cells;

/// <summary>
/// Which rows of a batch take part in time step t: with varying lengths, row b is active while
/// t &lt; length_b; an inactive (padded) row keeps its state and produces a zero output.
/// </summary>
/// <param name="Lengths">Each sequence's length, or empty when every sequence has all T steps.</param>
/// <param name="Time">The time step t.</param>
internal readonly ref struct StepRows(ReadOnlySpan<int> Lengths, int Time)
{
    private readonly ReadOnlySpan<int> _lengths = Lengths;
    private readonly int _time = Time;

    /// <summary>Whether row <paramref name="row"/> is active at this step.</summary>
    public bool IsActive(int row) => _lengths.IsEmpty || _time < _lengths[row];
}
