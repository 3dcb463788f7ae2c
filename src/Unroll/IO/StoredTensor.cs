namespace Unroll.IO;

/// <summary>The element types Unroll reads and writes in safetensors files.</summary>
internal enum TensorDType
{
    /// <summary>IEEE 754 binary32, 4 bytes little-endian (safetensors dtype <c>F32</c>).</summary>
    F32,

    /// <summary>IEEE 754 binary64, 8 bytes little-endian (safetensors dtype <c>F64</c>).</summary>
    F64,
}

/// <summary>
/// A named tensor as stored in a file: its element type, shape and values in row-major
/// (C) order. Values are held as <see cref="double"/> whatever the stored type; every
/// <see cref="float"/> converts to <see cref="double"/> exactly, so F32 data read from a file
/// round-trips bit for bit when written back as F32.
/// </summary>
internal sealed class StoredTensor
{
    /// <summary>
    /// Creates a tensor. <paramref name="values"/> is kept, not copied; <paramref name="shape"/> is copied.
    /// </summary>
    /// <param name="name">The tensor's name in the file, e.g. <c>rnn.weight_ih_l0</c>.</param>
    /// <param name="dtype">The element type it is stored as. Writing as F32 rounds each value to the nearest float.</param>
    /// <param name="shape">The dimensions, outermost first; empty for a scalar.</param>
    /// <param name="values">The elements in row-major order; exactly the product of <paramref name="shape"/> of them.</param>
    /// <exception cref="UnrollException">The name is empty, a dimension is negative, or the element count does not match the shape.</exception>
    public StoredTensor(string name, TensorDType dtype, int[] shape, double[] values)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(values);
        if (name.Length == 0)
        {
            throw new UnrollException("tensor name is empty; expected a non-empty name");
        }

        if (dtype is not (TensorDType.F32 or TensorDType.F64))
        {
            throw new UnrollException($"tensor '{name}' has dtype {(int)dtype}; expected F32 or F64");
        }

        long count = 1;
        foreach (int dimension in shape)
        {
            if (dimension < 0)
            {
                throw new UnrollException($"tensor '{name}' has shape {FormatShape(shape)}; expected non-negative dimensions");
            }

            // Once count exceeds any array length it can only be matched by a zero dimension later;
            // clamping keeps the product from overflowing.
            count = Math.Min(count * dimension, (long)int.MaxValue + 1);
        }

        if (count != values.Length)
        {
            throw new UnrollException(
                $"tensor '{name}' has shape {FormatShape(shape)}, which holds {count} elements; got {values.Length} values");
        }

        Name = name;
        DType = dtype;
        Shape = (int[])shape.Clone();
        Values = values;
    }

    /// <summary>The tensor's name in the file.</summary>
    public string Name { get; }

    /// <summary>The element type it is (or will be) stored as.</summary>
    public TensorDType DType { get; }

    /// <summary>The dimensions, outermost first; empty for a scalar (which has one element).</summary>
    public int[] Shape { get; }

    /// <summary>The elements in row-major order.</summary>
    public double[] Values { get; }

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public int ElementCount => Values.Length;

    /// <summary>The shape written as <c>[2, 3]</c>, for messages.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <returns>The bracketed, comma-separated dimensions.</returns>
    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The shape written as <c>[2, 3]</c>, for messages.</summary>
    /// <param name="shape">The dimensions.</param>
    /// <returns>The bracketed, comma-separated dimensions.</returns>
    internal static string FormatShape(IEnumerable<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>Converts the values to <see cref="float"/> (exact for tensors read as F32).</summary>
    /// <returns>A new array with one float per element.</returns>
    public float[] ToSingleArray()
    {
        var result = new float[Values.Length];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = (float)Values[i];
        }

        return result;
    }

    /// <summary>Creates an F32 tensor from float values (converted to double exactly).</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="shape">The dimensions, outermost first.</param>
    /// <param name="values">The elements in row-major order.</param>
    /// <returns>The tensor.</returns>
    public static StoredTensor FromSingles(string name, int[] shape, ReadOnlySpan<float> values)
    {
        var doubles = new double[values.Length];
        for (int i = 0; i < doubles.Length; i++)
        {
            doubles[i] = values[i];
        }

        return new StoredTensor(name, TensorDType.F32, shape, doubles);
    }
}
