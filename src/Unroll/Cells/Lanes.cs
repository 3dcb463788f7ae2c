using System.Numerics;
using System.Runtime.CompilerServices;

namespace Unroll.Cells;

/// <summary>
/// Walks the elements [0, count) of a cell's spans one <see cref="Vector{T}"/> at a time, the last step a partial
/// vector when count is not a multiple of the width: the missing lanes load as zero and are not stored. So the
/// element-wise maths of a cell is written once, on vectors, and serves every hidden size.
/// </summary>
/// <example>
/// <code>
/// for (var lane = new Lanes&lt;T&gt;(row.Units); lane.Next();)
/// {
///     lane.Store((lane.Load(f) * lane.Load(cPrevious)) + (lane.Load(i) * lane.Load(g)), c);
/// }
/// </code>
/// </example>
/// <typeparam name="T">float or double.</typeparam>
public ref struct Lanes<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int _count;
    private int _offset;
    private int _width;

    /// <summary>Starts before the first vector of <paramref name="count"/> elements.</summary>
    public Lanes(int count)
    {
        _count = count;
        _offset = -Vector<T>.Count;
    }

    /// <summary>Moves to the next vector; false once every element has been visited.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Next()
    {
        _offset += Vector<T>.Count;
        _width = Math.Min(Vector<T>.Count, _count - _offset);
        return _width > 0;
    }

    /// <summary>The current vector of <paramref name="source"/> (zero in the lanes past the end of a partial vector).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector<T> Load(ReadOnlySpan<T> source)
    {
        if (_width == Vector<T>.Count)
        {
            return new Vector<T>(source.Slice(_offset, Vector<T>.Count));
        }

        Vector<T> partial = default;
        source.Slice(_offset, _width).CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<Vector<T>, T>(new Span<Vector<T>>(ref partial)));
        return partial;
    }

    /// <summary>Stores the current vector's lanes of <paramref name="value"/> into <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(Vector<T> value, Span<T> destination)
    {
        if (_width == Vector<T>.Count)
        {
            value.CopyTo(destination.Slice(_offset, Vector<T>.Count));
            return;
        }

        System.Runtime.InteropServices.MemoryMarshal.Cast<Vector<T>, T>(new ReadOnlySpan<Vector<T>>(ref value))[.._width]
            .CopyTo(destination.Slice(_offset, _width));
    }
}
