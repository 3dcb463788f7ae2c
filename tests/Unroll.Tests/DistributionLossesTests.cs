using System.Text.Json;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

public class DistributionLossesTests
{
    private static JsonElement Golden => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "distribution_losses.json"))).RootElement;

    private static double[] Numbers(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetDouble())];

    private static double[] Draw(int count, int seed, double spread)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => ((random.NextDouble() * 2) - 1) * spread)];
    }

    public static TheoryData<string> Heads => ["gaussian", "student_t", "pinball"];

    private static double Loss(string head, double[] predictions, double[] targets, Span<double> gradients) => head switch
    {
        "gaussian" => DistributionLosses.GaussianNll<double>(predictions, targets, gradients),
        "student_t" => DistributionLosses.StudentTNll<double>(predictions, targets, gradients),
        _ => DistributionLosses.Pinball<double>(predictions, targets, [0.1, 0.5, 0.9], gradients),
    };

    [Theory]
    [MemberData(nameof(Heads))]
    public void MatchesTorchDistributionsAndAutograd(string head)
    {
        var golden = Golden;
        var targets = Numbers(golden.GetProperty("targets"));
        var fixture = golden.GetProperty(head);
        var predictions = Numbers(fixture.GetProperty("predictions"));
        var gradients = new double[predictions.Length];
        double loss = Loss(head, predictions, targets, gradients);
        Assert.Equal(fixture.GetProperty("loss").GetDouble(), loss, 12);
        GradientCheck.AssertClose(head, Numbers(fixture.GetProperty("gradients")), gradients.AsSpan(), 1e-10);
    }

    [Theory]
    [MemberData(nameof(Heads))]
    public void GradientsMatchFiniteDifferencesInDouble(string head)
    {
        int parameters = head == "gaussian" ? 2 : 3;
        var targets = Draw(9, 5, 3);
        // Raw scales and degrees of freedom from -3 to 3: softplus's curved part and both tails.
        var predictions = Draw(9 * parameters, 11, 3);
        var gradients = new double[predictions.Length];
        Loss(head, predictions, targets, gradients);
        for (int i = 0; i < predictions.Length; i++)
        {
            GradientCheck.AssertMatches($"{head} dL/dp[{i}]", gradients[i], GradientCheck.FivePoint(predictions, i, () => Loss(head, predictions, targets, Span<double>.Empty)));
        }
    }

    [Fact]
    public void GaussianNllByHand()
    {
        // mu = 1, s chosen so sigma = 2: softplus(s) = 2 - 1e-6, s = ln(e^(2 - 1e-6) - 1).
        double s = Math.Log(Math.Exp(2 - 1e-6) - 1);
        double loss = DistributionLosses.GaussianNll<double>([1, s], [4], Span<double>.Empty);
        Assert.Equal((0.5 * Math.Log(2 * Math.PI)) + Math.Log(2) + (9.0 / 8), loss, 12);
    }

    [Fact]
    public void PinballByHand()
    {
        // y = 10: the 0.1 quantile at 12 costs 0.9 * 2, the 0.9 quantile at 7 costs 0.9 * 3; mean over 2 levels.
        double loss = DistributionLosses.Pinball<double>([12, 7], [10], [0.1, 0.9], Span<double>.Empty);
        Assert.Equal(((0.9 * 2) + (0.9 * 3)) / 2, loss, 12);
    }

    [Fact]
    public void SpecialFunctionsAgreeWithKnownValues()
    {
        Assert.Equal(Math.Log(24), SpecialFunctions.LogGamma(5), 13);
        Assert.Equal(0.5 * Math.Log(Math.PI), SpecialFunctions.LogGamma(0.5), 13);
        const double EulerGamma = 0.57721566490153286;
        Assert.Equal(-EulerGamma, SpecialFunctions.Digamma(1), 12);
        Assert.Equal(-EulerGamma - (2 * Math.Log(2)), SpecialFunctions.Digamma(0.5), 12);
    }

    [Theory]
    [InlineData(OutputDistribution.Gaussian, 2, 3)]
    [InlineData(OutputDistribution.StudentT, 3, 1)]
    public void HeadLossDispatchesOnTheDistributionWithOneTargetColumnPerValue(OutputDistribution distribution, int parameters, int values)
    {
        var config = new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = parameters * values, Pooling = Pooling.LastStep, Distribution = distribution };
        Assert.Equal(values, HeadLoss.TargetWidth(config));
        var predictions = Draw(2 * parameters * values, 3, 1);
        var targets = Draw(3 * 2 * values, 4, 1); // T = 3, B = 2: only the last step is scored
        double expected = distribution == OutputDistribution.Gaussian
            ? DistributionLosses.GaussianNll<double>(predictions, targets.AsSpan(2 * 2 * values), Span<double>.Empty)
            : DistributionLosses.StudentTNll<double>(predictions, targets.AsSpan(2 * 2 * values), Span<double>.Empty);
        Assert.Equal(expected, HeadLoss.Compute<double>(config, predictions, targets, 3, 2, Span<double>.Empty).Loss, 14);
    }

    [Fact]
    public void ConfigRefusesQuantilesThatAreNotIncreasingLevels()
    {
        var config = new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 2, Distribution = OutputDistribution.Quantiles, Quantiles = [0.9, 0.1] };
        Assert.Contains("increasing", Assert.Throws<UnrollException>(config.Validate).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>((config with { Quantiles = [0.5, 1.0] }).Validate);
        Assert.Throws<UnrollException>((config with { Distribution = OutputDistribution.Gaussian, OutputSize = 3, Quantiles = null }).Validate);
        (config with { Quantiles = [0.1, 0.9] }).Validate();
        Assert.Equal(config with { Quantiles = [0.1, 0.9] }, ModelConfig.FromJson((config with { Quantiles = [0.1, 0.9] }).ToJson()), new ConfigComparer());
        Assert.DoesNotContain("distribution", new ModelConfig { InputSize = 1, HiddenSize = 1, OutputSize = 1 }.ToJson(), StringComparison.Ordinal);
    }

    private sealed class ConfigComparer : IEqualityComparer<ModelConfig>
    {
        public bool Equals(ModelConfig? x, ModelConfig? y) => x!.Distribution == y!.Distribution && x.Quantiles!.SequenceEqual(y.Quantiles!) && x.OutputSize == y.OutputSize;

        public int GetHashCode(ModelConfig obj) => 0;
    }
}
