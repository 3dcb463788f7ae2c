using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The Elman RNN against PyTorch (scripts/reference/elman_golden.py, float64): outputs, h_n, the
/// loss and every gradient, compared by state_dict name, in double and in float.
/// </summary>
public class SequenceModelGoldenTests
{
    public static TheoryData<string> Fixtures => new()
    {
        "elman_tanh.json", "elman_relu.json", "elman_sigmoid.json", "elman_identity.json", "elman_tanh_zero_h0.json",
    };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DoubleMatchesPyTorch(string fileName) => Compare<double>(GoldenFixture.Load(fileName), 1e-10);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FloatMatchesPyTorch(string fileName) => Compare<float>(GoldenFixture.Load(fileName), 2e-5);

    private static void Compare<T>(GoldenFixture fixture, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var model = new SequenceModel<T>(new ModelConfig
        {
            InputSize = fixture.I,
            HiddenSize = fixture.H,
            OutputSize = fixture.O,
            Activation = Activations.Parse(fixture.Activation),
        });
        foreach (var view in model.Parameters.Views)
        {
            Assert.Equal(fixture.Shape(view.Name), view.Shape);
            GradientCheck.Convert<T>(fixture.Tensor(view.Name)).CopyTo(model.Parameters.Value(view.Name));
        }

        bool hasH0 = fixture.Has("h0");
        model.Forward(GradientCheck.Convert<T>(fixture.Tensor("input")), fixture.T, fixture.B, hasH0 ? GradientCheck.Convert<T>(fixture.Tensor("h0")) : default);
        var dPredictions = new T[fixture.T * fixture.B * fixture.O];
        T loss = Losses.MeanSquaredError<T>(model.Predictions, GradientCheck.Convert<T>(fixture.Tensor("target")), dPredictions);
        model.Backward(dPredictions);

        GradientCheck.AssertClose("loss", [fixture.Scalar("loss")], [double.CreateChecked(loss)], tolerance);
        GradientCheck.AssertClose("output", fixture.Tensor("output"), model.States, tolerance);
        GradientCheck.AssertClose("prediction", fixture.Tensor("prediction"), model.Predictions, tolerance);
        GradientCheck.AssertClose("h_n", fixture.Tensor("h_n"), model.FinalState, tolerance);
        foreach (var view in model.Parameters.Views)
        {
            GradientCheck.AssertClose("grad." + view.Name, fixture.Tensor("grad." + view.Name), model.Parameters.Gradient(view.Name), tolerance);
        }

        if (hasH0)
        {
            GradientCheck.AssertClose("grad.h0", fixture.Tensor("grad.h0"), model.InitialStateGradient, tolerance);
        }
    }
}
