using Unroll.Data;
using Unroll.Diagnostics;
using Unroll.Tensors;

namespace Unroll.Tests;

public class EulerDemonstrationTests
{
    [Theory]
    [InlineData("ExplicitEuler", 0.0)]
    [InlineData("SemiImplicitEuler", 0.0)]
    [InlineData("ExplicitEuler", 0.3)]
    public void ALinearRnnLearnsTheIntegratorsEigenvalues(string integratorName, double damping)
    {
        var integrator = Enum.Parse<Integrator>(integratorName);
        var result = EulerDemonstration.Run(integrator, mass: 1, damping, dt: 0.1, trainingSteps: 1500, seed: 1);
        var exact = result.ExactEigenvalues.OrderBy(e => e.Imaginary).ToArray();
        var learned = result.LearnedEigenvalues.OrderBy(e => e.Imaginary).ToArray();
        for (int i = 0; i < 2; i++)
        {
            Assert.True((exact[i] - learned[i]).Magnitude < 1e-3, $"exact {exact[i]}, learned {learned[i]}");
        }
    }

    [Fact]
    public void ExplicitEulerGrowsAndSemiImplicitHoldsWhenUndamped()
    {
        var explicitW = EulerDemonstration.ExactMatrix(Integrator.ExplicitEuler, 2, 0, 0.1);
        var semiImplicitW = EulerDemonstration.ExactMatrix(Integrator.SemiImplicitEuler, 2, 0, 0.1);
        Assert.All(Eigen.Eigenvalues(explicitW, 2), e => Assert.Equal(Math.Sqrt(1 + (0.01 / 2)), e.Magnitude, 12));
        Assert.All(Eigen.Eigenvalues(semiImplicitW, 2), e => Assert.Equal(1.0, e.Magnitude, 12));
        Assert.Throws<UnrollException>(() => EulerDemonstration.ExactMatrix(Integrator.RungeKutta4, 1, 0, 0.1));
    }
}
