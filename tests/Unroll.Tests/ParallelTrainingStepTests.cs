using System.Runtime.InteropServices;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The work of a training step outside the time loop (loss and its gradient, bias column sums, gradient norm,
/// clipping, Adam) is split over the kernel threads: its results must be bit-identical for one and two threads,
/// and equal to plain scalar loops where the order of operations is the same.
/// </summary>
[Collection("Gemm")]
public sealed class ParallelTrainingStepTests
{
    [Theory]
    [InlineData("lstm", true)]
    [InlineData("gru", true)]
    [InlineData("rnn", false)]
    public void TrainingStepsGiveBitIdenticalParametersForOneAndTwoThreads(string architecture, bool tokens)
    {
        var (oneThread, _) = Train(architecture, tokens, threads: 1);
        var (twoThreads, splitParts) = Train(architecture, tokens, threads: 2);
        Assert.True(splitParts > 0, "no part of the step was handed to the worker pool");
        AssertBitwiseEqual(oneThread, twoThreads);
    }

    [Fact]
    public void SumOfSquaresIsTheSameForAnyThreadCountAndMatchesThePlainSum()
    {
        var values = RandomFloats(100_003, seed: 5);
        float[] scaled = values.Select(v => v * 1e3f).ToArray();
        double plain = 0;
        foreach (float v in scaled)
        {
            plain += (double)v * v;
        }

        double one = WithThreads(1, () => ParallelReductions.SumOfSquares<float>(scaled));
        var (two, parts) = WithThreadsCountingParts(2, () => ParallelReductions.SumOfSquares<float>(scaled));
        Assert.True(parts > 0, "the sum was not split");
        Assert.Equal(BitConverter.DoubleToInt64Bits(one), BitConverter.DoubleToInt64Bits(two));
        Assert.Equal(plain, one, plain * 1e-12);

        double[] doubles = scaled.Select(v => (double)v).ToArray();
        double oneDouble = WithThreads(1, () => ParallelReductions.SumOfSquares<double>(doubles));
        double twoDouble = WithThreads(2, () => ParallelReductions.SumOfSquares<double>(doubles));
        Assert.Equal(BitConverter.DoubleToInt64Bits(oneDouble), BitConverter.DoubleToInt64Bits(twoDouble));
        Assert.Equal(plain, oneDouble, plain * 1e-12);
    }

    [Fact]
    public void ClearingManyElementsZeroesEachOneForAnyThreadCount()
    {
        foreach (int threads in new[] { 1, 2, 3 })
        {
            // A span inside a larger array: every element of it cleared, none beside it touched.
            float[] values = RandomFloats(100_005, seed: 43).Select(v => v + 2).ToArray();
            var (_, parts) = WithThreadsCountingParts(threads, () =>
            {
                ParallelReductions.Clear<float>(values.AsSpan(1, 100_003));
                return 0;
            });
            Assert.True(threads == 1 || parts > 0, "the clear was not split");
            Assert.All(values.AsSpan(1, 100_003).ToArray(), v => Assert.Equal(0f, v));
            Assert.NotEqual(0f, values[0]);
            Assert.NotEqual(0f, values[^1]);
        }
    }

    [Fact]
    public void ClipByValueOverManyElementsMatchesTheScalarClampForAnyThreadCount()
    {
        var values = RandomFloats(70_001, seed: 40).Select(v => v * 3).ToArray();
        values[5] = float.NaN;
        values[70_000] = float.PositiveInfinity;
        values[12_345] = float.NegativeInfinity;
        var expected = values.Select(v => v > 1 ? 1 : v < -1 ? -1 : v).ToArray();
        foreach (int threads in new[] { 1, 2 })
        {
            var clipped = (float[])values.Clone();
            var (changed, parts) = WithThreadsCountingParts(threads, () => GradientClipping.ClipByValue<float>(clipped, 1));
            Assert.True(changed);
            Assert.True(threads == 1 || parts > 0, "the clamp was not split");
            AssertBitwiseEqual(expected, clipped);

            // Only the last element (in the scalar tail) out of range, then none.
            var small = RandomFloats(70_001, seed: 41);
            small[^1] = 2;
            Assert.True(WithThreads(threads, () => GradientClipping.ClipByValue<float>(small, 1)));
            Assert.False(WithThreads(threads, () => GradientClipping.ClipByValue<float>(small, 1)));
        }
    }

    [Theory]
    [InlineData(300, 203)]
    [InlineData(40_000, 1)]
    [InlineData(64, 2048)]
    [InlineData(3, 5)]
    public void ColumnSumsAddEachColumnsRowsInOrderForAnyThreadCount(int rows, int columns)
    {
        var matrix = RandomFloats(rows * columns, seed: 6);
        var start = RandomFloats(columns, seed: 7);
        var expected = (float[])start.Clone();
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < columns; j++)
            {
                expected[j] += matrix[(r * columns) + j];
            }
        }

        foreach (int threads in new[] { 1, 2 })
        {
            var sums = (float[])start.Clone();
            WithThreads(threads, () => Linear.AddColumnSums<float>(matrix, rows, columns, sums));
            AssertBitwiseEqual(expected, sums);
        }

        var matrixDouble = matrix.Select(v => (double)v).ToArray();
        var expectedDouble = start.Select(v => (double)v).ToArray();
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < columns; j++)
            {
                expectedDouble[j] += matrixDouble[(r * columns) + j];
            }
        }

        var sumsDouble = start.Select(v => (double)v).ToArray();
        WithThreads(2, () => Linear.AddColumnSums<double>(matrixDouble, rows, columns, sumsDouble));
        Assert.Equal(expectedDouble, sumsDouble);
    }

    [Fact]
    public void SoftmaxCrossEntropyOverManyRowsMatchesTheRowByRowLoop()
    {
        const int Rows = 1000, Classes = 65;
        var logits = RandomFloats(Rows * Classes, seed: 8).Select(v => v * 4).ToArray();
        var random = new Random(9);
        int[] classes = Enumerable.Range(0, Rows).Select(r => r % 17 == 3 ? -1 : random.Next(Classes)).ToArray();
        var (expectedLoss, expectedGradients) = ScalarSoftmaxCrossEntropy(logits, classes, Classes);
        foreach (int threads in new[] { 1, 2 })
        {
            var gradients = new float[Rows * Classes];
            Array.Fill(gradients, float.NaN);
            var (loss, parts) = WithThreadsCountingParts(threads, () => Losses.SoftmaxCrossEntropy<float>(logits, classes, Classes, gradients));
            Assert.True(threads == 1 || parts > 0, "the rows were not split");
            Assert.Equal(BitConverter.SingleToInt32Bits(expectedLoss), BitConverter.SingleToInt32Bits(loss));
            AssertBitwiseEqual(expectedGradients, gradients);
        }

        Assert.Throws<ArgumentException>(() => Losses.SoftmaxCrossEntropy<float>(logits, classes, Classes, new float[10]));
    }

    [Theory]
    [InlineData(OptimizerKind.Adam, false, 0.0)]
    [InlineData(OptimizerKind.Adam, true, 0.01)]
    [InlineData(OptimizerKind.AdamW, false, 0.01)]
    [InlineData(OptimizerKind.AdamW, true, 0.0)]
    public void AdamMatchesTheScalarRuleBitForBitForAnyThreadCount(OptimizerKind kind, bool amsgrad, double weightDecay)
    {
        const int Count = 50_001;
        var settings = new OptimizerSettings { Kind = kind, LearningRate = 1e-2, Amsgrad = amsgrad, WeightDecay = weightDecay };
        var start = RandomFloats(Count, seed: 10);
        var gradientSteps = new[] { RandomFloats(Count, seed: 11), RandomFloats(Count, seed: 12), RandomFloats(Count, seed: 13) };

        // The torch rule written out element by element.
        var expected = (float[])start.Clone();
        var m = new float[Count];
        var v = new float[Count];
        var vMax = new float[Count];
        float beta1 = 0.9f, beta2 = 0.999f, oneMinusBeta1 = (float)(1 - 0.9), oneMinusBeta2 = (float)(1 - 0.999);
        for (int t = 1; t <= gradientSteps.Length; t++)
        {
            float stepSize = (float)(1e-2 / (1 - Math.Pow(0.9, t)));
            float sqrtCorrection2 = (float)Math.Sqrt(1 - Math.Pow(0.999, t));
            float shrink = (float)(1 - (1e-2 * weightDecay)), l2 = (float)weightDecay, epsilon = 1e-8f;
            for (int i = 0; i < Count; i++)
            {
                float g = gradientSteps[t - 1][i];
                if (kind == OptimizerKind.Adam && weightDecay != 0)
                {
                    g += l2 * expected[i];
                }
                else if (kind == OptimizerKind.AdamW)
                {
                    expected[i] *= shrink;
                }

                m[i] = (m[i] * beta1) + (oneMinusBeta1 * g);
                float second = v[i] = (v[i] * beta2) + (oneMinusBeta2 * g * g);
                if (amsgrad)
                {
                    second = vMax[i] = Math.Max(vMax[i], second);
                }

                expected[i] -= stepSize * (m[i] / ((MathF.Sqrt(second) / sqrtCorrection2) + epsilon));
            }
        }

        AssertUpdatesMatchAtOneAndTwoThreads(settings, start, gradientSteps, expected);
    }

    [Theory]
    [InlineData(0.0, 0.0, false, 0.0)]
    [InlineData(0.9, 0.1, false, 0.01)]
    [InlineData(0.9, 0.0, true, 0.0)]
    public void SgdMatchesTheScalarRuleBitForBitForAnyThreadCount(double momentum, double dampening, bool nesterov, double weightDecay)
    {
        const int Count = 50_001;
        var settings = new OptimizerSettings
        {
            Kind = OptimizerKind.Sgd, LearningRate = 1e-2, Momentum = momentum, Dampening = dampening, Nesterov = nesterov, WeightDecay = weightDecay,
        };
        var start = RandomFloats(Count, seed: 20);
        var gradientSteps = new[] { RandomFloats(Count, seed: 21), RandomFloats(Count, seed: 22), RandomFloats(Count, seed: 23) };

        // torch.optim.SGD written out element by element.
        var expected = (float[])start.Clone();
        var buffer = new float[Count];
        float rate = 1e-2f, mu = (float)momentum, keep = (float)(1 - dampening), lambda = (float)weightDecay;
        for (int t = 1; t <= gradientSteps.Length; t++)
        {
            for (int i = 0; i < Count; i++)
            {
                float g = weightDecay != 0 ? gradientSteps[t - 1][i] + (lambda * expected[i]) : gradientSteps[t - 1][i];
                if (momentum != 0)
                {
                    float b = buffer[i] = t == 1 ? g : (buffer[i] * mu) + (keep * g);
                    g = nesterov ? g + (mu * b) : b;
                }

                expected[i] -= rate * g;
            }
        }

        AssertUpdatesMatchAtOneAndTwoThreads(settings, start, gradientSteps, expected);
    }

    /// <summary>The optimiser's steps from <paramref name="start"/>, at one and at two threads (split), equal <paramref name="expected"/> bit for bit.</summary>
    private static void AssertUpdatesMatchAtOneAndTwoThreads(OptimizerSettings settings, float[] start, float[][] gradientSteps, float[] expected)
    {
        foreach (int threads in new[] { 1, 2 })
        {
            var parameters = (float[])start.Clone();
            var optimizer = Optimizers.Create<float>(settings, start.Length);
            var (_, parts) = WithThreadsCountingParts(threads, () =>
            {
                foreach (var gradients in gradientSteps)
                {
                    optimizer.Step(parameters, gradients);
                }

                return 0;
            });
            Assert.True(threads == 1 || parts > 0, "the update was not split");
            AssertBitwiseEqual(expected, parameters);
        }
    }

    public static TheoryData<string> OptimizerSettingsCases() =>
    [
        "sgd", "sgd-momentum", "adam-amsgrad", "adamw", "adagrad", "adagrad-decay", "rmsprop", "rmsprop-centered-momentum",
    ];

    [Theory]
    [MemberData(nameof(OptimizerSettingsCases))]
    public void EveryOptimiserGivesTheVectorAndThreadedElementsTheScalarLoopsBits(string name)
    {
        var settings = name switch
        {
            "sgd" => new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.1 },
            "sgd-momentum" => new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0.9, Nesterov = true, WeightDecay = 0.01 },
            "adam-amsgrad" => new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01, Amsgrad = true, WeightDecay = 0.01 },
            "adamw" => new OptimizerSettings { Kind = OptimizerKind.AdamW, LearningRate = 0.01 },
            "adagrad" => new OptimizerSettings { Kind = OptimizerKind.Adagrad, LearningRate = 0.1 },
            "adagrad-decay" => new OptimizerSettings { Kind = OptimizerKind.Adagrad, LearningRate = 0.1, LearningRateDecay = 0.01, WeightDecay = 0.01, InitialAccumulatorValue = 0.1 },
            "rmsprop" => new OptimizerSettings { Kind = OptimizerKind.RmsProp, LearningRate = 0.01 },
            _ => new OptimizerSettings { Kind = OptimizerKind.RmsProp, LearningRate = 0.01, Centered = true, Momentum = 0.9, WeightDecay = 0.01 },
        };
        const int Count = 50_001, Small = 7; // 7 < 8 float lanes: the small optimiser runs the scalar loop only
        var start = RandomFloats(Count, seed: 30);
        var gradientSteps = new[] { RandomFloats(Count, seed: 31), RandomFloats(Count, seed: 32), RandomFloats(Count, seed: 33) };
        float[]? oneThread = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var parameters = (float[])start.Clone();
            var optimizer = Optimizers.Create<float>(settings, Count);
            var (_, parts) = WithThreadsCountingParts(threads, () =>
            {
                foreach (var gradients in gradientSteps)
                {
                    optimizer.Step(parameters, gradients);
                }

                return 0;
            });
            Assert.True(threads == 1 || parts > 0, "the update was not split");
            if (oneThread is null)
            {
                oneThread = parameters;
            }
            else
            {
                AssertBitwiseEqual(oneThread, parameters);
            }
        }

        foreach (int offset in new[] { 0, 8 * 997, Count - Small })
        {
            var parameters = start.AsSpan(offset, Small).ToArray();
            var optimizer = Optimizers.Create<float>(settings, Small);
            foreach (var gradients in gradientSteps)
            {
                optimizer.Step(parameters, gradients.AsSpan(offset, Small));
            }

            AssertBitwiseEqual(oneThread!.AsSpan(offset, Small).ToArray(), parameters);
        }
    }

    [Theory]
    [InlineData(1, 6400, 128)]
    [InlineData(3, 500, 77)]
    [InlineData(4, 7, 5)]
    public void NarrowLinearLayerMatchesThePlainSumsAndIsTheSameForAnyThreadCount(int outputs, int rows, int inputs)
    {
        var x = RandomFloats(rows * inputs, seed: 14);
        var weight = RandomFloats(outputs * inputs, seed: 15);
        var bias = RandomFloats(outputs, seed: 16);
        var dy = RandomFloats(rows * outputs, seed: 17);
        var startDx = RandomFloats(rows * inputs, seed: 18);

        // Plain double-precision sums of the same products.
        var y = new double[rows * outputs];
        var dw = new double[outputs * inputs];
        var db = new double[outputs];
        var dx = new double[rows * inputs];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outputs; o++)
            {
                double sum = bias[o];
                for (int k = 0; k < inputs; k++)
                {
                    sum += (double)x[(r * inputs) + k] * weight[(o * inputs) + k];
                    dw[(o * inputs) + k] += (double)dy[(r * outputs) + o] * x[(r * inputs) + k];
                    dx[(r * inputs) + k] += (double)dy[(r * outputs) + o] * weight[(o * inputs) + k];
                }

                y[(r * outputs) + o] = sum;
                db[o] += dy[(r * outputs) + o];
            }
        }

        float[]? firstRun = null;
        foreach (int threads in new[] { 1, 2 })
        {
            var outputsFloat = new float[rows * outputs];
            var dwFloat = new float[outputs * inputs];
            var dbFloat = new float[outputs];
            var dxFloat = (float[])startDx.Clone();
            WithThreads(threads, () =>
            {
                Linear.Forward<float>(x, rows, inputs, weight, bias, outputs, outputsFloat);
                Linear.Backward<float>(x, rows, inputs, weight, outputs, dy, dwFloat, dbFloat, dxFloat, accumulateInputGradients: true);
            });
            AssertClose(y, outputsFloat, Math.Sqrt(inputs) * 1e-6);
            AssertClose(dw, dwFloat, Math.Sqrt(rows) * 1e-6);
            AssertClose(db, dbFloat, Math.Sqrt(rows) * 1e-6);
            AssertClose(dx.Select((v, i) => v + startDx[i]).ToArray(), dxFloat, 1e-6);
            float[] all = [.. outputsFloat, .. dwFloat, .. dbFloat, .. dxFloat];
            if (firstRun is null)
            {
                firstRun = all;
            }
            else
            {
                AssertBitwiseEqual(firstRun, all);
            }
        }

        // Without accumulation dX is overwritten.
        var overwritten = (float[])startDx.Clone();
        Linear.Backward<float>(x, rows, inputs, weight, outputs, dy, new float[outputs * inputs], new float[outputs], overwritten);
        AssertClose(dx, overwritten, 1e-6);
    }

    private static void AssertClose(double[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i]))))
            {
                Assert.Fail($"element {i}: expected {expected[i]:R}, got {actual[i]:R}");
            }
        }
    }

    private static (float[] Parameters, long SplitParts) Train(string architecture, bool tokens, int threads)
    {
        const int Steps = 8, Batch = 16, Vocabulary = 11;
        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = tokens ? 24 : 3, HiddenSize = tokens ? 96 : 192, OutputSize = tokens ? Vocabulary : 2,
            VocabularySize = tokens ? Vocabulary : 0, Head = tokens ? HeadKind.Classification : HeadKind.Regression,
        };
        var model = new SequenceModel<float>(config);
        Initializers.PyTorchDefault(model, new Random(3));
        model.Training = true;
        var optimizer = new Adam<float>(1e-2, model.Parameters.Count);
        var random = new Random(4);
        int inputWidth = HeadLoss.InputWidth(config), targetWidth = HeadLoss.TargetWidth(config);
        float[] inputs = Enumerable.Range(0, Steps * Batch * inputWidth).Select(_ => tokens ? random.Next(Vocabulary) : (float)random.NextDouble()).ToArray();
        float[] targets = Enumerable.Range(0, Steps * Batch * targetWidth).Select(_ => tokens ? random.Next(Vocabulary) : (float)random.NextDouble()).ToArray();
        float[] predictionGradients = new float[HeadLoss.PredictionLength(config, Steps, Batch)];
        return WithThreadsCountingParts(threads, () =>
        {
            for (int step = 0; step < 3; step++)
            {
                model.Parameters.ZeroGradients();
                model.Run(inputs, targets, Steps, Batch);
                HeadLoss.Compute<float>(config, model.Predictions, targets, Steps, Batch, predictionGradients);
                model.Backward(predictionGradients);
                var gradients = model.Parameters.Gradients.AsSpan();
                GradientClipping.ClipByNorm(gradients, GradientClipping.GlobalNorm<float>(gradients), 0.5);
                optimizer.Step(model.Parameters.Values, gradients);
            }

            return (float[])model.Parameters.Values.Clone();
        });
    }

    private static (float Loss, float[] Gradients) ScalarSoftmaxCrossEntropy(float[] logits, int[] classes, int classCount)
    {
        int valid = classes.Count(c => c >= 0);
        float inverseCount = (float)(1.0 / valid);
        var gradients = new float[logits.Length];
        double sum = 0;
        for (int r = 0; r < classes.Length; r++)
        {
            if (classes[r] < 0)
            {
                continue;
            }

            var row = logits.AsSpan(r * classCount, classCount);
            float max = row[0];
            for (int j = 1; j < classCount; j++)
            {
                max = Math.Max(max, row[j]);
            }

            double total = 0;
            for (int j = 0; j < classCount; j++)
            {
                total += Math.Exp(row[j] - max);
            }

            sum += max + Math.Log(total) - row[classes[r]];
            for (int j = 0; j < classCount; j++)
            {
                gradients[(r * classCount) + j] = (float)(Math.Exp(row[j] - max) / total) * inverseCount;
            }

            gradients[(r * classCount) + classes[r]] -= inverseCount;
        }

        return ((float)(sum / valid), gradients);
    }

    private static float[] RandomFloats(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
    }

    private static void AssertBitwiseEqual(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var expectedBits = MemoryMarshal.Cast<float, int>(expected);
        var actualBits = MemoryMarshal.Cast<float, int>(actual);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expectedBits[i] != actualBits[i])
            {
                Assert.Fail($"element {i}: expected {expected[i]:R}, got {actual[i]:R}");
            }
        }
    }

    private static void WithThreads(int threads, Action action) => WithThreads(threads, () =>
    {
        action();
        return 0;
    });

    private static TResult WithThreads<TResult>(int threads, Func<TResult> action) => WithThreadsCountingParts(threads, action).Result;

    private static (TResult Result, long SplitParts) WithThreadsCountingParts<TResult>(int threads, Func<TResult> action)
    {
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;
            long before = WorkerPool.SplitParts;
            var result = action();
            return (result, WorkerPool.SplitParts - before);
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }
    }
}
