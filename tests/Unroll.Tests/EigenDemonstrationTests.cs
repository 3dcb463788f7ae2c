using Unroll.Diagnostics;
using Unroll.Tensors;

namespace Unroll.Tests;

public class EigenDemonstrationTests
{
    [Theory]
    [InlineData(0.9)]
    [InlineData(1.0)]
    [InlineData(1.1)]
    public void TheLargestEigenvalueTakesOver(double modulus)
    {
        var series = EigenDemonstration.Run(modulus, size: 8, steps: 120, seed: 3);
        Assert.Equal(1.0, series.Norms[0], 12);
        // The other eigenvalues are at most 0.8 |lambda_1|: after 120 steps their share is below 0.8^120 ~ 2e-12.
        Assert.Equal(1.0, series.Norms[^1] / series.DominantTerm[^1], 8);
        // The built matrix has the spectrum it claims.
        var eigenvalues = Eigen.Eigenvalues(series.Matrix, 8).Select(e => e.Real).OrderByDescending(v => v).ToArray();
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(series.Eigenvalues.OrderByDescending(v => v).ElementAt(i), eigenvalues[i], 10);
        }
    }

    [Fact]
    public void BelowOneVanishesAboveOneExplodesAtOneHolds()
    {
        Assert.True(EigenDemonstration.Run(0.9, 8, 200, 1).Norms[^1] < 1e-8);
        Assert.True(EigenDemonstration.Run(1.1, 8, 200, 1).Norms[^1] > 1e7);
        var held = EigenDemonstration.Run(1.0, 8, 200, 1);
        Assert.Equal(held.Norms[^2], held.Norms[^1], 10);
        Assert.InRange(held.Norms[^1], 1e-3, 1.0);
    }

    [Fact]
    public void BadArgumentsAreRefused() =>
        Assert.Throws<UnrollException>(() => EigenDemonstration.Run(-1, 8, 10, 1));
}
