using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Unroll.Kernels;

/// <summary>
/// The affine map <c>Y = X W^T + b</c> and its backward pass for a layer with very few outputs (a regression
/// head with one or a few outputs): row-wise dot products and row updates instead of GEMM calls whose
/// one-column operands cost more to pack than to multiply, split over the kernel threads.
/// </summary>
/// <remarks>
/// Bit-identical for any thread count: the forward and dX passes split the rows (each row is computed alone),
/// and dW is split by columns, each column adding the rows in order.
/// </remarks>
internal static unsafe class NarrowLinear
{
    /// <summary>The most outputs this path takes; wider layers go to the GEMM.</summary>
    public const int MaxOutputs = 4;

    private enum Pass
    {
        Forward,
        WeightGradient,
        InputGradient,
    }

    /// <summary>Y = X W^T + b (Y is overwritten), for <paramref name="outputSize"/> &lt;= <see cref="MaxOutputs"/>.</summary>
    public static void Forward<T>(
        ReadOnlySpan<T> inputs, int rows, int inputSize, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, int outputSize, Span<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(inputs, rows, inputSize, weight, outputSize, outputs);
        if (bias.Length < outputSize)
        {
            throw new ArgumentException($"Expected {outputSize} biases, got {bias.Length}.", nameof(bias));
        }

        fixed (T* x = inputs)
        fixed (T* w = weight)
        fixed (T* b = bias)
        fixed (T* y = outputs)
        {
            var job = Job<T>.ForThisThread();
            job.Set(Pass.Forward, x, rows, inputSize, w, b, outputSize, y, null, accumulate: false);
            Run(job, ParallelReductions.PartsFor((long)rows * inputSize), rows);
        }
    }

    /// <summary>dW += dY^T X ([out, in]), for <paramref name="outputSize"/> &lt;= <see cref="MaxOutputs"/>.</summary>
    public static void AddWeightGradient<T>(
        ReadOnlySpan<T> inputs, int rows, int inputSize, ReadOnlySpan<T> outputGradients, int outputSize, Span<T> weightGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(inputs, rows, inputSize, weightGradient, outputSize, outputGradients);
        fixed (T* x = inputs)
        fixed (T* dy = outputGradients)
        fixed (T* dw = weightGradient)
        {
            var job = Job<T>.ForThisThread();
            job.Set(Pass.WeightGradient, x, rows, inputSize, dw, null, outputSize, dy, null, accumulate: true);
            Run(job, ParallelReductions.PartsFor((long)rows * inputSize), (inputSize + Lanes<T>() - 1) / Lanes<T>());
        }
    }

    /// <summary>dX = dY W, or dX += dY W when <paramref name="accumulate"/> is set ([rows, in]).</summary>
    public static void InputGradient<T>(
        ReadOnlySpan<T> outputGradients, int rows, int outputSize, ReadOnlySpan<T> weight, int inputSize, Span<T> inputGradients, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(inputGradients, rows, inputSize, weight, outputSize, outputGradients);
        fixed (T* dy = outputGradients)
        fixed (T* w = weight)
        fixed (T* dx = inputGradients)
        {
            var job = Job<T>.ForThisThread();
            job.Set(Pass.InputGradient, null, rows, inputSize, w, null, outputSize, dy, dx, accumulate);
            Run(job, ParallelReductions.PartsFor((long)rows * inputSize), rows);
        }
    }

    private static void Check<T>(ReadOnlySpan<T> rowsByInputs, int rows, int inputSize, ReadOnlySpan<T> weight, int outputSize, ReadOnlySpan<T> rowsByOutputs)
    {
        if (outputSize < 1 || outputSize > MaxOutputs || rows < 0 || inputSize < 0
            || rowsByInputs.Length < (long)rows * inputSize || weight.Length < (long)outputSize * inputSize || rowsByOutputs.Length < (long)rows * outputSize)
        {
            throw new ArgumentException(
                $"Expected [{rows}, {inputSize}], [{outputSize}, {inputSize}] and [{rows}, {outputSize}] operands with 1 to {MaxOutputs} outputs, got {rowsByInputs.Length}, {weight.Length} and {rowsByOutputs.Length} values.");
        }
    }

    private static void Run<T>(Job<T> job, int parts, int items)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        try
        {
            WorkerPool.Run(job, Math.Max(1, Math.Min(parts, items)));
        }
        finally
        {
            job.Clear();
        }
    }

    private static int Lanes<T>()
        where T : unmanaged => Vector256<T>.IsSupported ? Vector256<T>.Count : 1;

    // sum_k a[k] b[k]: four vector accumulators, combined in a fixed order, then the scalar tail.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Dot<T>(T* a, T* b, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = 0;
        T sum = T.Zero;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            int lanes = Vector256<T>.Count;
            var s0 = Vector256<T>.Zero;
            var s1 = Vector256<T>.Zero;
            var s2 = Vector256<T>.Zero;
            var s3 = Vector256<T>.Zero;
            for (; k + (4 * lanes) <= length; k += 4 * lanes)
            {
                s0 += Vector256.Load(a + k) * Vector256.Load(b + k);
                s1 += Vector256.Load(a + k + lanes) * Vector256.Load(b + k + lanes);
                s2 += Vector256.Load(a + k + (2 * lanes)) * Vector256.Load(b + k + (2 * lanes));
                s3 += Vector256.Load(a + k + (3 * lanes)) * Vector256.Load(b + k + (3 * lanes));
            }

            for (; k + lanes <= length; k += lanes)
            {
                s0 += Vector256.Load(a + k) * Vector256.Load(b + k);
            }

            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }

        for (; k < length; k++)
        {
            sum += a[k] * b[k];
        }

        return sum;
    }

    private sealed class Job<T> : IParallelJob
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [ThreadStatic]
        private static Job<T>? perThread;

        private Pass _pass;
        private T* _inputs, _weight, _bias, _rowsByOutputs, _inputGradients;
        private int _rows, _inputSize, _outputSize;
        private bool _accumulate;

        public static Job<T> ForThisThread() => perThread ??= new Job<T>();

        public void Set(Pass pass, T* inputs, int rows, int inputSize, T* weight, T* bias, int outputSize, T* rowsByOutputs, T* inputGradients, bool accumulate)
        {
            _pass = pass;
            _inputs = inputs;
            _weight = weight;
            _bias = bias;
            _rowsByOutputs = rowsByOutputs;
            _inputGradients = inputGradients;
            _rows = rows;
            _inputSize = inputSize;
            _outputSize = outputSize;
            _accumulate = accumulate;
        }

        public void Clear()
        {
            _inputs = _weight = _bias = _rowsByOutputs = _inputGradients = null;
        }

        public void Run(int part, int parts)
        {
            switch (_pass)
            {
                case Pass.Forward:
                    ForwardRows(part, parts);
                    break;
                case Pass.WeightGradient:
                    WeightGradientColumns(part, parts);
                    break;
                default:
                    InputGradientRows(part, parts);
                    break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ForwardRows(int part, int parts)
        {
            var (first, end) = ParallelReductions.Split(_rows, part, parts);
            int inputSize = _inputSize, outputSize = _outputSize;
            for (int r = first; r < end; r++)
            {
                T* x = _inputs + ((long)r * inputSize);
                T* y = _rowsByOutputs + ((long)r * outputSize);
                for (int o = 0; o < outputSize; o++)
                {
                    y[o] = _bias[o] + Dot(x, _weight + ((long)o * inputSize), inputSize);
                }
            }
        }

        // dW[o, k] += sum over r (in order) of dY[r, o] X[r, k], for the columns of this part.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void WeightGradientColumns(int part, int parts)
        {
            int lanes = Lanes<T>(), inputSize = _inputSize, outputSize = _outputSize, rows = _rows;
            var (firstVector, endVector) = ParallelReductions.Split((inputSize + lanes - 1) / lanes, part, parts);
            int first = firstVector * lanes, end = Math.Min(inputSize, endVector * lanes);
            T* dy = _rowsByOutputs;
            for (int o = 0; o < outputSize; o++)
            {
                T* dw = _weight + ((long)o * inputSize);
                int k = first;
                if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
                {
                    for (; k + (4 * lanes) <= end; k += 4 * lanes)
                    {
                        var s0 = Vector256.Load(dw + k);
                        var s1 = Vector256.Load(dw + k + lanes);
                        var s2 = Vector256.Load(dw + k + (2 * lanes));
                        var s3 = Vector256.Load(dw + k + (3 * lanes));
                        T* x = _inputs + k;
                        for (int r = 0; r < rows; r++, x += inputSize)
                        {
                            var g = Vector256.Create(dy[((long)r * outputSize) + o]);
                            s0 += g * Vector256.Load(x);
                            s1 += g * Vector256.Load(x + lanes);
                            s2 += g * Vector256.Load(x + (2 * lanes));
                            s3 += g * Vector256.Load(x + (3 * lanes));
                        }

                        s0.Store(dw + k);
                        s1.Store(dw + k + lanes);
                        s2.Store(dw + k + (2 * lanes));
                        s3.Store(dw + k + (3 * lanes));
                    }

                    for (; k + lanes <= end; k += lanes)
                    {
                        var s0 = Vector256.Load(dw + k);
                        T* x = _inputs + k;
                        for (int r = 0; r < rows; r++, x += inputSize)
                        {
                            s0 += Vector256.Create(dy[((long)r * outputSize) + o]) * Vector256.Load(x);
                        }

                        s0.Store(dw + k);
                    }
                }

                for (; k < end; k++)
                {
                    T sum = dw[k];
                    T* x = _inputs + k;
                    for (int r = 0; r < rows; r++, x += inputSize)
                    {
                        sum += dy[((long)r * outputSize) + o] * *x;
                    }

                    dw[k] = sum;
                }
            }
        }

        // dX[r, k] = (dX[r, k] +) sum over o (in order) of dY[r, o] W[o, k], for the rows of this part.
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void InputGradientRows(int part, int parts)
        {
            var (first, end) = ParallelReductions.Split(_rows, part, parts);
            int inputSize = _inputSize, outputSize = _outputSize;
            bool accumulate = _accumulate;
            for (int r = first; r < end; r++)
            {
                T* dy = _rowsByOutputs + ((long)r * outputSize);
                T* dx = _inputGradients + ((long)r * inputSize);
                int k = 0;
                if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
                {
                    for (; k + Vector256<T>.Count <= inputSize; k += Vector256<T>.Count)
                    {
                        var sum = Vector256.Create(dy[0]) * Vector256.Load(_weight + k);
                        for (int o = 1; o < outputSize; o++)
                        {
                            sum += Vector256.Create(dy[o]) * Vector256.Load(_weight + ((long)o * inputSize) + k);
                        }

                        (accumulate ? Vector256.Load(dx + k) + sum : sum).Store(dx + k);
                    }
                }

                for (; k < inputSize; k++)
                {
                    T sum = dy[0] * _weight[k];
                    for (int o = 1; o < outputSize; o++)
                    {
                        sum += dy[o] * _weight[((long)o * inputSize) + k];
                    }

                    dx[k] = accumulate ? dx[k] + sum : sum;
                }
            }
        }
    }
}
