using Unroll.Training;

namespace Unroll.Tests;

public class LossesTests
{
    [Fact]
    public void MeanSquaredErrorAveragesOverEveryElementAndWritesItsGradient()
    {
        var predictions = new double[] { 1, 2, 3, 4 };
        var targets = new double[] { 0, 2, 5, 4 };
        var gradients = new double[4];
        double loss = Losses.MeanSquaredError<double>(predictions, targets, gradients);
        Assert.Equal((1.0 + 0 + 4 + 0) / 4, loss, 15);
        Assert.Equal(new[] { 0.5, 0, -1, 0 }, gradients);
    }

    [Fact]
    public void MeanSquaredErrorOfNaNIsNaN() =>
        Assert.True(double.IsNaN(Losses.MeanSquaredError<float>(new[] { float.NaN }, new[] { 0f }, Span<float>.Empty)));
}
