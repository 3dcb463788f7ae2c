using Unroll.Training;

namespace Unroll.Tests;

public class GradientClippingTests
{
    [Fact]
    public void GlobalNormIsTheEuclideanNormOfEverything() =>
        Assert.Equal(13.0, GradientClipping.GlobalNorm<float>(new float[] { 3, 4, 12 }), 6);

    [Fact]
    public void ClipByNormRescalesToTheThresholdAndKeepsTheDirection()
    {
        var g = new double[] { 3, -4 };
        Assert.True(GradientClipping.ClipByNorm<double>(g, 5, 1));
        Assert.Equal(0.6, g[0], 12);
        Assert.Equal(-0.8, g[1], 12);
        Assert.Equal(1.0, GradientClipping.GlobalNorm<double>(g), 12);
    }

    [Fact]
    public void ClipByNormLeavesSmallGradientsAlone()
    {
        var g = new double[] { 0.3, -0.4 };
        Assert.False(GradientClipping.ClipByNorm<double>(g, 0.5, 1));
        Assert.Equal(new[] { 0.3, -0.4 }, g);
    }

    [Fact]
    public void ClipByNormAppliesAtTheThresholdItself()
    {
        // The notes' rule: if ||g|| >= eps then g <- eps g / ||g|| (a no-op in value, but counted).
        var g = new double[] { 3, 4 };
        Assert.True(GradientClipping.ClipByNorm<double>(g, 5, 5));
        Assert.Equal(3, g[0], 12);
    }

    [Fact]
    public void ClipByValueClampsEachComponentSymmetrically()
    {
        var g = new float[] { -250, -1, 0, 99, 101, float.PositiveInfinity };
        Assert.True(GradientClipping.ClipByValue<float>(g, 100));
        Assert.Equal(new float[] { -100, -1, 0, 99, 100, 100 }, g);
        Assert.False(GradientClipping.ClipByValue<float>(new float[] { 1, -1 }, 100));
    }
}
