using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Unroll.Cells;

/// <summary>
/// Walks the elements [0, count) of a cell's spans one <see cref="Vector{T}"/> at a time, so that the element-wise maths
/// of a cell is written once, on vectors, and serves every hidden size. Every load is a whole vector: when count is
/// not a multiple of the width, the last vector ends at count and overlaps the one before, and only its new lanes are
/// stored; when count is below the width, the lanes past it load as zero (or as whatever the span holds there) and are
/// not stored. So the maths must be element-wise: a lane's result may depend on that lane's inputs only.
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
    private int _next;
    private int _offset;

    // The first lane of the current vector to store: 0 for a whole new vector, more for the overlapping last one,
    // and -1 while count is below the width (a partial vector, loaded and stored element by element).
    private int _firstStored;

    /// <summary>Starts before the first vector of <paramref name="count"/> elements.</summary>
    public Lanes(int count)
    {
        _count = count;
    }

    /// <summary>Moves to the next vector; false once every element has been visited.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Next()
    {
        int start = _next, width = Vector<T>.Count;
        if (start >= _count)
        {
            return false;
        }

        if (_count - start >= width)
        {
            (_offset, _firstStored, _next) = (start, 0, start + width);
        }
        else if (_count >= width)
        {
            // The last vector ends at count; its first lanes were done by the vector before.
            (_offset, _firstStored, _next) = (_count - width, width - (_count - start), _count);
        }
        else
        {
            (_offset, _firstStored, _next) = (0, -1, _count);
        }

        return true;
    }

    /// <summary>The current vector of <paramref name="source"/>.</summary>
    /// <remarks>
    /// Every span must hold at least count elements. That is checked on the first vector of the walk only (the loads and
    /// stores after it are unchecked, as a hand-written vector loop's), so every span a walk reads or writes must be met
    /// on its first vector, as element-wise maths does.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is shorter than the count.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector<T> Load(ReadOnlySpan<T> source)
    {
        if (_offset == 0 && source.Length < Math.Max(_count, Vector<T>.Count))
        {
            return LoadFirst(source, _count, _firstStored);
        }

        return Vector.LoadUnsafe(ref MemoryMarshal.GetReference(source), (nuint)_offset);
    }

    /// <summary>Stores the current vector's new lanes of <paramref name="value"/> into <paramref name="destination"/>.</summary>
    /// <remarks>Checked as <see cref="Load(ReadOnlySpan{T})"/>: on the first vector only.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than the count.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(Vector<T> value, Span<T> destination)
    {
        if (_firstStored != 0 || (_offset == 0 && destination.Length < _count))
        {
            StorePartial(value, destination, _count, _offset, _firstStored);
            return;
        }

        value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)_offset);
    }

    /// <summary>
    /// <see cref="Load(ReadOnlySpan{T})"/> from a span's first element, unchecked: for the library's own cells, whose row spans hold exactly
    /// count elements (the row types slice them), so that a loop over many spans keeps one register per span.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly Vector<T> Load(ref T source)
    {
        if (_firstStored >= 0)
        {
            return Vector.LoadUnsafe(ref source, (nuint)_offset);
        }

        return LoadFirst(MemoryMarshal.CreateReadOnlySpan(ref source, _count), _count, _firstStored);
    }

    /// <summary><see cref="Store(Vector{T}, Span{T})"/> to a span's first element, unchecked, as <see cref="Load(ref T)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal readonly void Store(Vector<T> value, ref T destination)
    {
        if (_firstStored == 0)
        {
            value.StoreUnsafe(ref destination, (nuint)_offset);
            return;
        }

        StorePartial(value, MemoryMarshal.CreateSpan(ref destination, _count), _count, _offset, _firstStored);
    }

    // The slow paths take the walk's state by value, so that no call takes the address of the walk and its fields stay
    // in registers in the loops.
    private static Vector<T> LoadFirst(ReadOnlySpan<T> source, int count, int firstStored)
    {
        if (firstStored >= 0 || source.Length < count)
        {
            throw Shorter(count, source.Length);
        }

        // count is below the width: the lanes past it load as zero.
        Vector<T> partial = default;
        source[..count].CopyTo(MemoryMarshal.Cast<Vector<T>, T>(new Span<Vector<T>>(ref partial)));
        return partial;
    }

    private static void StorePartial(Vector<T> value, Span<T> destination, int count, int offset, int firstStored)
    {
        if (destination.Length < count)
        {
            throw Shorter(count, destination.Length);
        }

        int first = Math.Max(0, firstStored), end = firstStored < 0 ? count : Vector<T>.Count;
        MemoryMarshal.Cast<Vector<T>, T>(new ReadOnlySpan<Vector<T>>(ref value))[first..end].CopyTo(destination[(offset + first)..]);
    }

    private static ArgumentOutOfRangeException Shorter(int count, int length) =>
        new(nameof(length), $"Lanes: expected spans of at least {count} elements, got {length}.");
}
