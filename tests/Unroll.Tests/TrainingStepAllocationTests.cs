using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// A training step (forward, loss, BPTT, clipping, Adam) allocates nothing once its buffers have grown:
/// checked on the calling thread and, with two threads, on the kernel worker threads too (<see cref="SteadyAllocation"/>).
/// </summary>
[Collection("Gemm")]
public sealed class TrainingStepAllocationTests
{
    [Theory]
    [InlineData("lstm", 1)]
    [InlineData("lstm", 2)]
    [InlineData("gru", 2)]
    [InlineData("rnn", 2)]
    public void TrainingStepAllocatesNothingAfterWarmUp(string architecture, int threads)
    {
        int saved = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = threads;

            // Large enough that every time step is split over the workers (batch * G * H * H >= 64^3 even for the
            // tanh RNN), whatever the GEMM variant, and the weight-gradient products too.
            const int Steps = 6, Batch = 32, Vocabulary = 11;
            var model = new SequenceModel<float>(new ModelConfig
            {
                Architecture = Architectures.Parse(architecture), InputSize = 24, HiddenSize = 96, OutputSize = Vocabulary, VocabularySize = Vocabulary,
                Head = HeadKind.Classification,
            });
            Initializers.PyTorchDefault(model, new Random(3));
            model.Training = true;
            var optimizer = new Adam<float>(1e-3, model.Parameters.Count);
            var random = new Random(4);
            int[] inputs = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(Vocabulary)).ToArray();
            int[] targets = Enumerable.Range(0, Steps * Batch).Select(_ => random.Next(Vocabulary)).ToArray();
            float[] logitGradients = new float[Steps * Batch * Vocabulary];
            float firstLoss = 0, lastLoss = 0;

            void Step()
            {
                model.Parameters.ZeroGradients();
                model.ForwardTokens(inputs, Steps, Batch);
                lastLoss = Losses.SoftmaxCrossEntropy<float>(model.Predictions, targets, Vocabulary, logitGradients);
                model.Backward(logitGradients);
                var gradients = model.Parameters.Gradients.AsSpan();
                GradientClipping.ClipByNorm(gradients, GradientClipping.GlobalNorm<float>(gradients), 5.0);
                optimizer.Step(model.Parameters.Values, gradients);
            }

            for (int i = 0; i < 3; i++)
            {
                Step();
                firstLoss = i == 0 ? lastLoss : firstLoss;
            }

            long partsBefore = WorkerPool.SplitParts;
            SteadyAllocation.AssertSettles(Step);
            if (threads > 1)
            {
                Assert.True(WorkerPool.SplitParts > partsBefore, "no product was handed to the worker pool");
            }

            // The steps did train: the loss on this fixed batch went down.
            Assert.True(lastLoss < firstLoss, $"loss {firstLoss} -> {lastLoss}");
        }
        finally
        {
            Parallelism.ThreadCount = saved;
        }
    }
}
