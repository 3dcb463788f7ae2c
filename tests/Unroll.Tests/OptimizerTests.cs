using System.Text.Json;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>SGD, Adam and the cosine schedule against torch.optim (Golden/optimizers.json).</summary>
public class OptimizerTests
{
    private static readonly JsonElement Fixture =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "optimizers.json"))).RootElement;

    [Fact]
    public void SgdMatchesTorch() => FollowTrajectory(new Sgd<double>(0.1), "sgd", LearningRateSchedule.Constant, 0.1);

    [Fact]
    public void AdamMatchesTorch() => FollowTrajectory(new Adam<double>(0.01, 7), "adam", LearningRateSchedule.Constant, 0.01);

    [Fact]
    public void AdamWithCosineAnnealingMatchesTorch() => FollowTrajectory(new Adam<double>(0.01, 7), "adam_cosine", LearningRateSchedule.Cosine, 0.01);

    [Fact]
    public void CosineRatesMatchTorch()
    {
        var expected = Fixture.GetProperty("cosine_rates").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int step = 1; step <= expected.Length; step++)
        {
            Assert.Equal(expected[step - 1], LearningRateSchedules.RateAt(LearningRateSchedule.Cosine, 0.01, step, expected.Length), 15);
        }
    }

    [Fact]
    public void AdamFirstStepMovesEachParameterByTheLearningRate()
    {
        // With m_hat = g and v_hat = g^2 after one step, the update is lr * g / (|g| + eps).
        var parameters = new[] { 1.0, 1.0, 1.0 };
        new Adam<double>(0.05, 3).Step(parameters, new[] { 3.0, -0.2, 1e-3 });
        Assert.Equal(1 - (0.05 * 3 / (3 + 1e-8)), parameters[0], 14);
        Assert.Equal(1 + (0.05 * 0.2 / (0.2 + 1e-8)), parameters[1], 14);
        Assert.Equal(1 - (0.05 * 1e-3 / (1e-3 + 1e-8)), parameters[2], 14);
    }

    [Theory]
    [InlineData("sgd", OptimizerKind.Sgd)]
    [InlineData("ADAM", OptimizerKind.Adam)]
    public void ParsesNames(string name, OptimizerKind kind) => Assert.Equal(kind, Optimizers.Parse(name));

    [Fact]
    public void UnknownOptimizerIsNamed() =>
        Assert.Contains("'rmsprop'", Assert.Throws<UnrollException>(() => Optimizers.Parse("rmsprop")).Message, StringComparison.Ordinal);

    private static void FollowTrajectory(IOptimizer<double> optimizer, string name, LearningRateSchedule schedule, double baseRate)
    {
        var parameters = Fixture.GetProperty("initial").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var gradients = Fixture.GetProperty("gradients").EnumerateArray().Select(g => g.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        var expected = Fixture.GetProperty(name).EnumerateArray().Select(g => g.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        for (int step = 0; step < gradients.Length; step++)
        {
            optimizer.LearningRate = LearningRateSchedules.RateAt(schedule, baseRate, step + 1, gradients.Length);
            optimizer.Step(parameters, gradients[step]);
            for (int i = 0; i < parameters.Length; i++)
            {
                Assert.True(Math.Abs(parameters[i] - expected[step][i]) <= 1e-12, $"step {step + 1}, parameter {i}: expected {expected[step][i]:R}, got {parameters[i]:R}");
            }
        }
    }
}
