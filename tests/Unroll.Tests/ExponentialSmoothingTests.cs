using Unroll.Forecasts;

namespace Unroll.Tests;

public class ExponentialSmoothingTests
{
    [Fact]
    public void TheRecursionsMatchAHandComputation()
    {
        // m = 2, history 1 3 2 4 3 6. Start: first season's mean 2, trend (3 - 2) / 2 = 0.5, level 2 + 0.5 * 1/2 = 2.25,
        // seasonals 1 - (2 - 0.25) = -0.75 and 3 - (2 + 0.25) = 0.75. Steps 2..4 are predicted exactly (1.95 would need
        // damping); step 5 predicts 3.75 + 0.5 + 0.75 = 5, error 1: level 3.75 + 0.5 + 0.5 = 4.75, trend 0.5 + 0.1 = 0.6,
        // seasonal 0.75 + 0.2 = 0.95. Forecasts: 4.75 + 0.6 - 0.75, 4.75 + 1.2 + 0.95, 4.75 + 1.8 - 0.75.
        var parameters = new ExponentialSmoothing.Parameters(Alpha: 0.5, Beta: 0.1, Gamma: 0.2, Phi: 1, Log: false);
        var forecast = ExponentialSmoothing.Forecast([1.0, 3, 2, 4, 3, 6], 2, 3, parameters);
        Assert.Equal(4.6, forecast[0], 12);
        Assert.Equal(6.9, forecast[1], 12);
        Assert.Equal(5.8, forecast[2], 12);
    }

    [Fact]
    public void DampingShrinksTheTrendGeometrically()
    {
        // A line with no season (m = 1): start level 1 + 0 (one-step "season"), trend from the first two values = 1.
        // With no errors to learn from (alpha = beta = 0) the forecast adds phi + phi^2 + ... of the trend.
        var parameters = new ExponentialSmoothing.Parameters(Alpha: 0, Beta: 0, Gamma: 0, Phi: 0.5, Log: false);
        var forecast = ExponentialSmoothing.Forecast([0.0, 1], 1, 3, parameters);
        // Step 1 (t = 1): predicted 0 + 0.5 * 1; level 0.5, trend 0.5. Forecasts 0.5 + 0.25, + 0.125, + 0.0625.
        Assert.Equal([0.75, 0.875, 0.9375], forecast);
    }

    [Fact]
    public void AnAdditiveSeasonalTrendIsContinuedExactly()
    {
        double Y(int t) => 50 + (0.7 * t) + new[] { -3.0, 1, 4, -2 }[t % 4];
        double[] history = [.. Enumerable.Range(0, 40).Select(Y)];
        var forecast = ExponentialSmoothing.Forecast(history, 4, 8);
        for (int h = 0; h < 8; h++)
        {
            Assert.Equal(Y(40 + h), forecast[h], 9);
        }

        Assert.False(ExponentialSmoothing.Fit(history, 4).Log);
    }

    [Fact]
    public void AMultiplicativeSeasonGrowingExponentiallyIsFittedOnItsLogs()
    {
        double Y(int t) => Math.Exp(0.02 * t) * new[] { 0.8, 1.1, 1.3, 0.9 }[t % 4];
        double[] history = [.. Enumerable.Range(0, 60).Select(Y)];
        Assert.True(ExponentialSmoothing.Fit(history, 4).Log);
        var forecast = ExponentialSmoothing.Forecast(history, 4, 8);
        for (int h = 0; h < 8; h++)
        {
            Assert.Equal(Y(60 + h), forecast[h], 9);
        }
    }

    [Fact]
    public void AHistoryShorterThanASeasonIsRefused() =>
        Assert.Throws<ArgumentException>(() => ExponentialSmoothing.Forecast([1.0, 2], 4, 1));
}
