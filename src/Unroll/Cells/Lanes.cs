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
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is shorter than the count.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector<T> Load(ReadOnlySpan<T> source)
    {
        if ((uint)(_offset + Vector<T>.Count) <= (uint)source.Length)
        {
            return Vector.LoadUnsafe(ref MemoryMarshal.GetReference(source), (nuint)_offset);
        }

        return LoadPartial(source);
    }

    /// <summary>Stores the current vector's new lanes of <paramref name="value"/> into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="destination"/> is shorter than the count.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(Vector<T> value, Span<T> destination)
    {
        if (_firstStored == 0 && (uint)(_offset + Vector<T>.Count) <= (uint)destination.Length)
        {
            value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)_offset);
            return;
        }

        StorePartial(value, destination);
    }

    private readonly Vector<T> LoadPartial(ReadOnlySpan<T> source)
    {
        if (_firstStored >= 0)
        {
            throw Shorter(source.Length);
        }

        Vector<T> partial = default;
        source[.._count].CopyTo(MemoryMarshal.Cast<Vector<T>, T>(new Span<Vector<T>>(ref partial)));
        return partial;
    }

    private readonly void StorePartial(Vector<T> value, Span<T> destination)
    {
        if (destination.Length < _count)
        {
            throw Shorter(destination.Length);
        }

        int first = Math.Max(0, _firstStored), end = _firstStored < 0 ? _count : Vector<T>.Count;
        MemoryMarshal.Cast<Vector<T>, T>(new ReadOnlySpan<Vector<T>>(ref value))[first..end].CopyTo(destination[(_offset + first)..]);
    }

    private readonly ArgumentOutOfRangeException Shorter(int length) =>
        new(nameof(length), $"Lanes: expected spans of at least {_count} elements, got {length}.");
}
