using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

public class HeadLossTests
{
    private const int Steps = 4, Batch = 3;

    private static ModelConfig Config(HeadKind head, Pooling pooling, int outputs) =>
        new() { InputSize = 2, HiddenSize = 3, OutputSize = outputs, Head = head, Pooling = pooling };

    private static (double[] Predictions, double[] Targets) Draw(ModelConfig config, int seed)
    {
        var random = new Random(seed);
        var predictions = new double[HeadLoss.PredictionLength(config, Steps, Batch)];
        for (int i = 0; i < predictions.Length; i++)
        {
            predictions[i] = (random.NextDouble() * 4) - 2;
        }

        var targets = new double[Steps * Batch * HeadLoss.TargetWidth(config)];
        for (int i = 0; i < targets.Length; i++)
        {
            targets[i] = config.Head == HeadKind.Classification ? random.Next(config.OutputSize) : random.NextDouble();
        }

        return (predictions, targets);
    }

    [Theory]
    [InlineData(HeadKind.Regression, Pooling.EveryStep, 2)]
    [InlineData(HeadKind.Regression, Pooling.LastStep, 2)]
    [InlineData(HeadKind.Classification, Pooling.EveryStep, 5)]
    [InlineData(HeadKind.Classification, Pooling.LastStep, 4)]
    public void GradientMatchesFiniteDifferences(HeadKind head, Pooling pooling, int outputs)
    {
        var config = Config(head, pooling, outputs);
        var (predictions, targets) = Draw(config, seed: 7);
        var gradients = new double[predictions.Length];
        HeadLoss.Compute<double>(config, predictions, targets, Steps, Batch, gradients);
        double Loss() => HeadLoss.Compute<double>(config, predictions, targets, Steps, Batch, Span<double>.Empty).Loss;
        for (int i = 0; i < predictions.Length; i++)
        {
            GradientCheck.AssertMatches($"{head}/{pooling} dL/dp[{i}]", gradients[i], GradientCheck.FivePoint(predictions, i, Loss));
        }
    }

    [Fact]
    public void LastStepReadsOnlyTheTargetsOfTheLastStep()
    {
        var config = Config(HeadKind.Regression, Pooling.LastStep, 1);
        double[] predictions = [1, 2, 3];
        var targets = new double[Steps * Batch];
        targets.AsSpan(0, (Steps - 1) * Batch).Fill(100); // earlier steps must not count
        targets[^3] = 1;
        targets[^2] = 0;
        targets[^1] = 5;
        var result = HeadLoss.Compute<double>(config, predictions, targets, Steps, Batch, Span<double>.Empty);
        Assert.Equal((0.0 + 4 + 4) / 3, result.Loss, 12);
        Assert.Equal(Batch, result.Rows);
    }

    [Fact]
    public void ClassificationCountsCorrectRowsAndMatchesTheCrossEntropyByHand()
    {
        var config = Config(HeadKind.Classification, Pooling.LastStep, 3);
        double[] logits = [2, 0, 0, /**/ 0, 1, 3, /**/ 0, 0, 0];
        var targets = new double[Steps * Batch];
        targets[^3] = 0; // right
        targets[^2] = 1; // wrong (class 2 is largest)
        targets[^1] = -1; // ignored
        var result = HeadLoss.Compute<double>(config, logits, targets, Steps, Batch, Span<double>.Empty);
        double first = Math.Log(Math.Exp(2) + 2) - 2, second = Math.Log(1 + Math.E + Math.Exp(3)) - 1;
        Assert.Equal((first + second) / 2, result.Loss, 12);
        Assert.Equal(2, result.Rows);
        Assert.Equal(1, result.Correct);
    }

    [Fact]
    public void NonIntegerOrTooLargeClassIsRefused()
    {
        var config = Config(HeadKind.Classification, Pooling.EveryStep, 3);
        var logits = new double[Steps * Batch * 3];
        var targets = new double[Steps * Batch];
        targets[4] = 1.5;
        Assert.Throws<ArgumentException>(() => HeadLoss.Compute<double>(config, logits, targets, Steps, Batch, Span<double>.Empty));
        targets[4] = 3;
        Assert.Throws<ArgumentException>(() => HeadLoss.Compute<double>(config, logits, targets, Steps, Batch, Span<double>.Empty));
    }

    [Theory]
    [InlineData("lstm", HeadKind.Regression, 1)]
    [InlineData("rnn", HeadKind.Classification, 4)]
    public void LastStepLossThroughTheModelMatchesFiniteDifferences(string architecture, HeadKind head, int outputs)
    {
        var config = Config(head, Pooling.LastStep, outputs) with { Architecture = Architectures.Parse(architecture) };
        var model = new SequenceModel<double>(config);
        Initializers.PyTorchDefault(model, new Random(3));
        var (_, targets) = Draw(config, seed: 11);
        var random = new Random(5);
        var inputs = Enumerable.Range(0, Steps * Batch * 2).Select(_ => random.NextDouble() - 0.5).ToArray();
        double Loss()
        {
            model.Run(inputs, targets, Steps, Batch);
            return HeadLoss.Compute<double>(config, model.Predictions, targets, Steps, Batch, Span<double>.Empty).Loss;
        }

        model.Parameters.ZeroGradients();
        model.Run(inputs, targets, Steps, Batch);
        var dPredictions = new double[model.Predictions.Length];
        HeadLoss.Compute<double>(config, model.Predictions, targets, Steps, Batch, dPredictions);
        model.Backward(dPredictions);
        var analytic = (double[])model.Parameters.Gradients.Clone();
        var values = model.Parameters.Values;
        for (int i = 0; i < values.Length; i += 3)
        {
            GradientCheck.AssertMatches($"{architecture} parameter {i}", analytic[i], GradientCheck.FivePoint(values, i, Loss));
        }
    }
}
