using System.Numerics;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;

namespace Unroll.Layers;

/// <summary>
/// The affine map <c>y = W x + b</c> of torch.nn.Linear (W: [out, in], b: [out]), applied to many
/// rows at once: X is [rows, in], Y is [rows, out]. A layer with at most
/// <see cref="NarrowLinear.MaxOutputs"/> outputs (a regression head) uses row-wise dot products instead of
/// the GEMM, whose one-column operands cost more to pack than to multiply.
/// </summary>
internal static class Linear
{
    /// <summary>Y = X W^T + b (Y is overwritten).</summary>
    public static void Forward<T>(
        ReadOnlySpan<T> inputs, int rows, int inputSize,
        ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, int outputSize, Span<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (outputSize <= NarrowLinear.MaxOutputs)
        {
            NarrowLinear.Forward(inputs, rows, inputSize, weight, bias, outputSize, outputs);
            return;
        }

        for (int r = 0; r < rows; r++)
        {
            bias[..outputSize].CopyTo(outputs.Slice(r * outputSize, outputSize));
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, rows, outputSize, inputSize,
            T.One, inputs, inputSize, weight, inputSize, T.One, outputs, outputSize);
    }

    /// <summary>
    /// Backward of <see cref="Forward{T}"/>: dW += dY^T X, db += column sums of dY, and, when
    /// <paramref name="inputGradients"/> is not empty, dX = dY W (overwritten) or dX += dY W when
    /// <paramref name="accumulateInputGradients"/> is set.
    /// </summary>
    public static void Backward<T>(
        ReadOnlySpan<T> inputs, int rows, int inputSize,
        ReadOnlySpan<T> weight, int outputSize, ReadOnlySpan<T> outputGradients,
        Span<T> weightGradient, Span<T> biasGradient, Span<T> inputGradients, bool accumulateInputGradients = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (outputSize <= NarrowLinear.MaxOutputs)
        {
            NarrowLinear.AddWeightGradient(inputs, rows, inputSize, outputGradients, outputSize, weightGradient);
            AddColumnSums(outputGradients, rows, outputSize, biasGradient);
            if (!inputGradients.IsEmpty)
            {
                NarrowLinear.InputGradient(outputGradients, rows, outputSize, weight, inputSize, inputGradients, accumulateInputGradients);
            }

            return;
        }

        // forward: Y = X W^T + b  =>  dW += dY^T X   ([out, rows] x [rows, in])
        Gemm.Compute(Transpose.Yes, Transpose.No, outputSize, inputSize, rows,
            T.One, outputGradients, outputSize, inputs, inputSize, T.One, weightGradient, inputSize);

        // db += sum over rows of dY
        AddColumnSums(outputGradients, rows, outputSize, biasGradient);

        if (!inputGradients.IsEmpty)
        {
            // dX = dY W   ([rows, out] x [out, in])
            Gemm.Compute(Transpose.No, Transpose.No, rows, inputSize, outputSize,
                T.One, outputGradients, outputSize, weight, inputSize,
                accumulateInputGradients ? T.One : T.Zero, inputGradients, inputSize);
        }
    }

    /// <summary>
    /// sums[j] += sum over r of matrix[r, j] for a [rows, columns] row-major matrix: vectorised over columns
    /// and split over the kernel threads by columns, each column's rows added in order (the same result for
    /// any thread count).
    /// </summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> matrix, int rows, int columns, Span<T> sums)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ParallelReductions.AddColumnSums(matrix, rows, columns, sums);
}
