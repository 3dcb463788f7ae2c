using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>The output-recurrent network against PyTorch fixtures and finite differences, in both feedback modes.</summary>
public class JordanModelTests
{
    [Theory]
    [InlineData("jordan_teacher_forcing.json", 1e-10)]
    [InlineData("jordan_free_running.json", 1e-10)]
    public void DoubleMatchesPyTorch(string fileName, double tolerance) => Compare<double>(GoldenFixture.Load(fileName), tolerance);

    [Theory]
    [InlineData("jordan_teacher_forcing.json", 3e-5)]
    [InlineData("jordan_free_running.json", 3e-5)]
    public void FloatMatchesPyTorch(string fileName, double tolerance) => Compare<float>(GoldenFixture.Load(fileName), tolerance);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GradientsMatchFiniteDifferences(bool teacherForcing)
    {
        const int steps = 9, batch = 2, inputs = 2, hidden = 3, outputs = 2;
        var random = new Random(teacherForcing ? 1 : 2);
        var model = new JordanModel<double>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = inputs, HiddenSize = hidden, OutputSize = outputs })
        {
            ComputeInputGradients = true,
        };
        Initializers.Uniform<double>(model.Parameters.Values, -0.8, 0.8, random);
        var x = SequenceModelGradientTests.RandomArray(random, steps * batch * inputs, 1);
        var targets = SequenceModelGradientTests.RandomArray(random, steps * batch * outputs, 1);
        var y0 = SequenceModelGradientTests.RandomArray(random, batch * outputs, 0.5);
        var teacher = teacherForcing ? targets : [];

        double Loss()
        {
            model.Forward(x, steps, batch, teacher, y0);
            return Losses.MeanSquaredError<double>(model.Predictions, targets, Span<double>.Empty);
        }

        model.Forward(x, steps, batch, teacher, y0);
        var dy = new double[targets.Length];
        Losses.MeanSquaredError<double>(model.Predictions, targets, dy);
        model.Backward(dy);
        var gradients = (double[])model.Parameters.Gradients.Clone();
        var y0Gradient = model.InitialOutputGradient.ToArray();
        var xGradient = model.InputGradients.ToArray();
        foreach (var view in model.Parameters.Views)
        {
            for (int i = 0; i < view.Length; i++)
            {
                GradientCheck.AssertMatches($"{view.Name}[{i}]", gradients[view.Offset + i], GradientCheck.FivePoint(model.Parameters.Values, view.Offset + i, Loss));
            }
        }

        for (int i = 0; i < y0.Length; i++)
        {
            GradientCheck.AssertMatches($"y0[{i}]", y0Gradient[i], GradientCheck.FivePoint(y0, i, Loss));
        }

        for (int i = 0; i < x.Length; i++)
        {
            GradientCheck.AssertMatches($"x[{i}]", xGradient[i], GradientCheck.FivePoint(x, i, Loss));
        }
    }

    [Fact]
    public void StepByStepInferenceIsTheFreeRunningForward()
    {
        var random = new Random(3);
        var model = new JordanModel<double>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = 2, HiddenSize = 4, OutputSize = 1 });
        Initializers.Uniform<double>(model.Parameters.Values, -0.8, 0.8, random);
        var x = SequenceModelGradientTests.RandomArray(random, 5 * 3 * 2, 1);
        model.Forward(x, 5, 3, []);
        var state = model.CreateState(3);
        var y = new double[3];
        for (int t = 0; t < 5; t++)
        {
            model.Step(x.AsSpan(t * 6, 6), state, y);
            for (int b = 0; b < 3; b++)
            {
                Assert.Equal(model.Predictions[(t * 3) + b], y[b], 12);
            }
        }
    }

    [Fact]
    public void ConfigsAJordanNetworkCannotHaveAreRefused() =>
        Assert.Contains("jordan", Assert.Throws<UnrollException>(() =>
            new JordanModel<float>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = 1, HiddenSize = 2, OutputSize = 1, Layers = 2 })).Message,
            StringComparison.Ordinal);

    private static void Compare<T>(GoldenFixture fixture, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var model = new JordanModel<T>(new ModelConfig { Architecture = Architecture.Jordan, InputSize = fixture.I, HiddenSize = fixture.H, OutputSize = fixture.O })
        {
            ComputeInputGradients = true,
        };
        foreach (var view in model.Parameters.Views)
        {
            Assert.Equal(fixture.Shape(view.Name), view.Shape);
            GradientCheck.Convert<T>(fixture.Tensor(view.Name)).CopyTo(model.Parameters.Value(view.Name));
        }

        var targets = GradientCheck.Convert<T>(fixture.Tensor("target"));
        bool teacher = fixture.Feedback == "teacher_forcing";
        model.Forward(GradientCheck.Convert<T>(fixture.Tensor("input")), fixture.T, fixture.B, teacher ? targets : [], GradientCheck.Convert<T>(fixture.Tensor("y0")));
        var dy = new T[targets.Length];
        T loss = Losses.MeanSquaredError<T>(model.Predictions, targets, dy);
        model.Backward(dy);
        GradientCheck.AssertClose("loss", [fixture.Scalar("loss")], [loss], tolerance);
        GradientCheck.AssertClose("output", fixture.Tensor("output"), model.States, tolerance);
        GradientCheck.AssertClose("prediction", fixture.Tensor("prediction"), model.Predictions, tolerance);
        foreach (var view in model.Parameters.Views)
        {
            GradientCheck.AssertClose("grad." + view.Name, fixture.Tensor("grad." + view.Name), model.Parameters.Gradient(view.Name), tolerance);
        }

        GradientCheck.AssertClose("grad.y0", fixture.Tensor("grad.y0"), model.InitialOutputGradient, tolerance);
        GradientCheck.AssertClose("grad.input", fixture.Tensor("grad.input"), model.InputGradients, tolerance);
    }
}
