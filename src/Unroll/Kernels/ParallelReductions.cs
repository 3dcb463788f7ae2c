using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Unroll.Kernels;

/// <summary>
/// Vectorised passes over whole buffers that a training step makes outside the time loop (gradient norm,
/// rescaling, clamping, column sums), split over <see cref="Parallelism.ThreadCount"/> threads when large enough.
/// </summary>
/// <remarks>
/// Every result is bit-identical for any thread count: element-wise passes do not depend on the split,
/// column sums add each column's rows in row order whichever thread owns the column, and the sum of
/// squares is cut into chunks of <see cref="SumChunk"/> elements (a fixed cut, not one per thread) whose
/// partial sums are added in chunk order.
/// </remarks>
internal static unsafe class ParallelReductions
{
    /// <summary>Elements per partial sum of <see cref="SumOfSquares{T}"/>: fixed, so the rounding does not depend on the thread count.</summary>
    public const int SumChunk = 4096;

    /// <summary>Below this many elements a pass stays on the calling thread: waking a worker costs more than it saves.</summary>
    public const int ParallelThreshold = 1 << 15;

    /// <summary>sum_i x_i^2 accumulated in double, in the fixed chunked order described on the class.</summary>
    public static double SumOfSquares<T>(ReadOnlySpan<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.IsEmpty)
        {
            return 0;
        }

        int chunks = (values.Length + SumChunk - 1) / SumChunk;
        int parts = PartsFor(values.Length);
        fixed (T* source = values)
        {
            if (parts == 1)
            {
                double total = 0;
                for (int chunk = 0; chunk < chunks; chunk++)
                {
                    total += ChunkSumOfSquares(source, values.Length, chunk);
                }

                return total;
            }

            var job = SumOfSquaresJob<T>.ForThisThread();
            job.Set(source, values.Length, chunks);
            WorkerPool.Run(job, parts);
            return job.Total();
        }
    }

    /// <summary>x_i &lt;- scale x_i for every element.</summary>
    public static void Scale<T>(Span<T> values, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int parts = PartsFor(values.Length);
        fixed (T* target = values)
        {
            if (parts == 1)
            {
                ScaleRange(target, 0, values.Length, scale);
                return;
            }

            var job = ScaleJob<T>.ForThisThread();
            job.Set(target, values.Length, scale);
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>x_i &lt;- 0 for every element, split over the kernel threads when the span is large (the gradients before a step).</summary>
    public static void Clear<T>(Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int parts = PartsFor(values.Length);
        if (parts == 1)
        {
            values.Clear();
            return;
        }

        fixed (T* target = values)
        {
            var job = ClearJob<T>.ForThisThread();
            job.Set(target, values.Length);
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>
    /// x_i &lt;- upper where x_i &gt; upper, lower where x_i &lt; lower (NaN stays NaN); returns whether any
    /// element changed.
    /// </summary>
    public static bool Clamp<T>(Span<T> values, T lower, T upper)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int parts = PartsFor(values.Length);
        fixed (T* target = values)
        {
            if (parts == 1)
            {
                return ClampRange(target, 0, values.Length, lower, upper);
            }

            var job = ClampJob<T>.ForThisThread();
            job.Set(target, values.Length, lower, upper, parts);
            WorkerPool.Run(job, parts);
            return job.AnyChanged(parts);
        }
    }

    /// <summary>sums[j] += sum over r of matrix[r, j] for a [rows, columns] row-major matrix, rows added in order.</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> matrix, int rows, int columns, Span<T> sums)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rows <= 0 || columns <= 0)
        {
            return;
        }

        if (matrix.Length < (long)rows * columns || sums.Length < columns)
        {
            throw new ArgumentException($"Expected a [{rows}, {columns}] matrix and {columns} sums, got {matrix.Length} and {sums.Length} values.");
        }

        int parts = Math.Min(PartsFor((long)rows * columns), ColumnVectors<T>(columns));
        fixed (T* source = matrix)
        fixed (T* target = sums)
        {
            if (parts <= 1)
            {
                AddColumnSumsRange(source, rows, columns, target, 0, columns);
                return;
            }

            var job = ColumnSumsJob<T>.ForThisThread();
            job.Set(source, rows, columns, target);
            WorkerPool.Run(job, parts);
        }
    }

    /// <summary>The number of parts for a pass over <paramref name="elements"/> elements: 1 below <see cref="ParallelThreshold"/>.</summary>
    public static int PartsFor(long elements)
    {
        int threads = Parallelism.ThreadCount;
        return threads <= 1 || elements < ParallelThreshold ? 1 : (int)Math.Min(threads, elements / (ParallelThreshold / 2));
    }

    /// <summary>The slice [start, end) of <paramref name="count"/> items that part <paramref name="part"/> of <paramref name="parts"/> owns.</summary>
    public static (int Start, int End) Split(int count, int part, int parts) =>
        ((int)((long)count * part / parts), (int)((long)count * (part + 1) / parts));

    // Elements per vector, or 1 for a type without vector support (so the splits below still work).
    private static int Lanes<T>()
        where T : unmanaged => Vector256<T>.IsSupported ? Vector256<T>.Count : 1;

    private static int ColumnVectors<T>(int columns)
        where T : unmanaged => (columns + Lanes<T>() - 1) / Lanes<T>();

    // Elements [start, end) of a span of `length` that part `part` of `parts` owns: whole vectors per part (any split gives
    // the same values; this one keeps the parts' stores apart), the ragged end in the last part.
    private static (int Start, int End) SplitVectors<T>(int length, int part, int parts)
        where T : unmanaged
    {
        int lanes = Lanes<T>();
        var (first, end) = Split(ColumnVectors<T>(length), part, parts);
        return (Math.Min(length, first * lanes), Math.Min(length, end * lanes));
    }

    // Two double accumulators of four lanes each, lanes combined in a fixed order; the tail of a short last chunk is added one by one.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double ChunkSumOfSquares<T>(T* values, int length, int chunk)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int start = chunk * SumChunk, end = Math.Min(length, start + SumChunk);
        var low = Vector256<double>.Zero;
        var high = Vector256<double>.Zero;
        int i = start;
        if (Vector256.IsHardwareAccelerated && typeof(T) == typeof(float))
        {
            float* x = (float*)values;
            for (; i + Vector256<float>.Count <= end; i += Vector256<float>.Count)
            {
                var (a, b) = Vector256.Widen(Vector256.Load(x + i));
                low += a * a;
                high += b * b;
            }
        }
        else if (Vector256.IsHardwareAccelerated && typeof(T) == typeof(double))
        {
            double* x = (double*)values;
            for (; i + (2 * Vector256<double>.Count) <= end; i += 2 * Vector256<double>.Count)
            {
                var a = Vector256.Load(x + i);
                var b = Vector256.Load(x + i + Vector256<double>.Count);
                low += a * a;
                high += b * b;
            }
        }

        var lanes = low + high;
        double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for (; i < end; i++)
        {
            double value = double.CreateChecked(values[i]);
            sum += value * value;
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleRange<T>(T* values, int start, int end, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = start;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var factor = Vector256.Create(scale);
            for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
            {
                (Vector256.Load(values + i) * factor).Store(values + i);
            }
        }

        for (; i < end; i++)
        {
            values[i] *= scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool ClampRange<T>(T* values, int start, int end, T lower, T upper)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = start;
        bool changed = false;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var upperV = Vector256.Create(upper);
            var lowerV = Vector256.Create(lower);
            var any = Vector256<T>.Zero;
            for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
            {
                var x = Vector256.Load(values + i);
                var above = Vector256.GreaterThan(x, upperV);
                var below = Vector256.LessThan(x, lowerV);
                Vector256.ConditionalSelect(above, upperV, Vector256.ConditionalSelect(below, lowerV, x)).Store(values + i);
                any |= above | below;
            }

            changed = any != Vector256<T>.Zero;
        }

        for (; i < end; i++)
        {
            T x = values[i];
            if (x > upper)
            {
                values[i] = upper;
                changed = true;
            }
            else if (x < lower)
            {
                values[i] = lower;
                changed = true;
            }
        }

        return changed;
    }

    // Columns [first, end): tiles of 8 vectors (their running sums stay in registers while the rows stream
    // past), then single vectors, then single columns. Every column
    // is summed over the rows in order 0..rows-1, the same as a scalar loop, so the vector width does not
    // change the result.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddColumnSumsRange<T>(T* matrix, int rows, int columns, T* sums, int first, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = first;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int width = Vector256<T>.Count;
            for (; j + (8 * width) <= end; j += 8 * width)
            {
                T* s = sums + j;
                var s0 = Vector256.Load(s);
                var s1 = Vector256.Load(s + width);
                var s2 = Vector256.Load(s + (2 * width));
                var s3 = Vector256.Load(s + (3 * width));
                var s4 = Vector256.Load(s + (4 * width));
                var s5 = Vector256.Load(s + (5 * width));
                var s6 = Vector256.Load(s + (6 * width));
                var s7 = Vector256.Load(s + (7 * width));
                T* row = matrix + j;
                for (int r = 0; r < rows; r++, row += columns)
                {
                    s0 += Vector256.Load(row);
                    s1 += Vector256.Load(row + width);
                    s2 += Vector256.Load(row + (2 * width));
                    s3 += Vector256.Load(row + (3 * width));
                    s4 += Vector256.Load(row + (4 * width));
                    s5 += Vector256.Load(row + (5 * width));
                    s6 += Vector256.Load(row + (6 * width));
                    s7 += Vector256.Load(row + (7 * width));
                }

                s0.Store(s);
                s1.Store(s + width);
                s2.Store(s + (2 * width));
                s3.Store(s + (3 * width));
                s4.Store(s + (4 * width));
                s5.Store(s + (5 * width));
                s6.Store(s + (6 * width));
                s7.Store(s + (7 * width));
            }

            for (; j + width <= end; j += width)
            {
                var s0 = Vector256.Load(sums + j);
                T* row = matrix + j;
                for (int r = 0; r < rows; r++, row += columns)
                {
                    s0 += Vector256.Load(row);
                }

                s0.Store(sums + j);
            }
        }

        for (; j < end; j++)
        {
            T sum = sums[j];
            T* row = matrix + j;
            for (int r = 0; r < rows; r++, row += columns)
            {
                sum += *row;
            }

            sums[j] = sum;
        }
    }

    private sealed class SumOfSquaresJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static SumOfSquaresJob<T>? perThread;

        private double[] _partials = [];
        private T* _values;
        private int _length, _chunks;

        public static SumOfSquaresJob<T> ForThisThread() => perThread ??= new SumOfSquaresJob<T>();

        public void Set(T* values, int length, int chunks)
        {
            _values = values;
            _length = length;
            _chunks = chunks;
            if (_partials.Length < chunks)
            {
                _partials = new double[chunks];
            }
        }

        public void Run(int part, int parts)
        {
            var (first, end) = Split(_chunks, part, parts);
            for (int chunk = first; chunk < end; chunk++)
            {
                _partials[chunk] = ChunkSumOfSquares(_values, _length, chunk);
            }
        }

        public double Total()
        {
            double total = 0;
            for (int chunk = 0; chunk < _chunks; chunk++)
            {
                total += _partials[chunk];
            }

            _values = null;
            return total;
        }
    }

    private sealed class ScaleJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static ScaleJob<T>? perThread;

        private T* _values;
        private int _length;
        private T _scale;

        public static ScaleJob<T> ForThisThread() => perThread ??= new ScaleJob<T>();

        public void Set(T* values, int length, T scale)
        {
            _values = values;
            _length = length;
            _scale = scale;
        }

        public void Run(int part, int parts)
        {
            var (start, end) = SplitVectors<T>(_length, part, parts);
            ScaleRange(_values, start, end, _scale);
        }
    }

    private sealed class ClearJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static ClearJob<T>? perThread;

        private T* _values;
        private int _length;

        public static ClearJob<T> ForThisThread() => perThread ??= new ClearJob<T>();

        public void Set(T* values, int length)
        {
            _values = values;
            _length = length;
        }

        public void Run(int part, int parts)
        {
            var (start, end) = SplitVectors<T>(_length, part, parts);
            new Span<T>(_values + start, end - start).Clear();
        }
    }

    private sealed class ClampJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static ClampJob<T>? perThread;

        private bool[] _changed = [];
        private T* _values;
        private int _length;
        private T _lower, _upper;

        public static ClampJob<T> ForThisThread() => perThread ??= new ClampJob<T>();

        public void Set(T* values, int length, T lower, T upper, int parts)
        {
            _values = values;
            _length = length;
            _lower = lower;
            _upper = upper;
            if (_changed.Length < parts)
            {
                _changed = new bool[parts];
            }
        }

        public void Run(int part, int parts)
        {
            var (start, end) = SplitVectors<T>(_length, part, parts);
            _changed[part] = ClampRange(_values, start, end, _lower, _upper);
        }

        public bool AnyChanged(int parts)
        {
            _values = null;
            return _changed.AsSpan(0, parts).Contains(true);
        }
    }

    private sealed class ColumnSumsJob<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static ColumnSumsJob<T>? perThread;

        private T* _matrix, _sums;
        private int _rows, _columns;

        public static ColumnSumsJob<T> ForThisThread() => perThread ??= new ColumnSumsJob<T>();

        public void Set(T* matrix, int rows, int columns, T* sums)
        {
            _matrix = matrix;
            _sums = sums;
            _rows = rows;
            _columns = columns;
        }

        public void Run(int part, int parts)
        {
            // Whole vectors of columns per part, so only the last part has the ragged columns.
            var (start, end) = SplitVectors<T>(_columns, part, parts);
            AddColumnSumsRange(_matrix, _rows, _columns, _sums, start, end);
        }
    }
}
