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
        // torch's coefficient: max_norm / (norm + 1e-6).
        var g = new double[] { 3, -4 };
        Assert.True(GradientClipping.ClipByNorm<double>(g, 5, 1));
        Assert.Equal(3 / (5 + 1e-6), g[0], 15);
        Assert.Equal(-4 / (5 + 1e-6), g[1], 15);
        Assert.Equal(5 / (5 + 1e-6), GradientClipping.GlobalNorm<double>(g), 12);
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
        // torch.nn.utils.clip_grad_norm_: at ||g|| = max_norm the coefficient 5 / (5 + 1e-6) is below 1, so it scales.
        var g = new double[] { 3, 4 };
        Assert.True(GradientClipping.ClipByNorm<double>(g, 5, 5));
        Assert.Equal(3 * 5 / (5 + 1e-6), g[0], 15);
        Assert.NotEqual(3, g[0]);
    }

    [Fact]
    public void ClipByNormMatchesTorchInDouble()
    {
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "clip_grad_norm.json")));
        int count = 0;
        foreach (var item in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var g = item.GetProperty("gradient").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            var expected = item.GetProperty("clipped").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            double maxNorm = item.GetProperty("max_norm").GetDouble(), total = item.GetProperty("total_norm").GetDouble();
            double norm = GradientClipping.GlobalNorm<double>(g);
            Assert.Equal(total, norm, Math.Max(1e-300, total) * 1e-14);
            GradientClipping.ClipByNorm<double>(g, norm, maxNorm);
            for (int i = 0; i < g.Length; i++)
            {
                Assert.True(Math.Abs(g[i] - expected[i]) <= 1e-15 * Math.Max(1, Math.Abs(expected[i])), $"case {count}, component {i}: {g[i]:R} vs torch {expected[i]:R}");
            }

            count++;
        }

        Assert.True(count >= 20);
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
