using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// Stacked, bidirectional LSTM/GRU/RNN layers with varying lengths, and the classification heads,
/// against PyTorch (scripts/reference/recurrent_golden.py, float64): outputs, h_n, c_n, the loss and
/// every gradient, compared by state_dict name, in double and in float.
/// </summary>
public class RecurrentGoldenTests
{
    public static TheoryData<string> Fixtures => new(GoldenFixture.RecurrentFileNames.Where(name => !name.StartsWith("jordan_", StringComparison.Ordinal)));

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DoubleMatchesPyTorch(string fileName) => Compare<double>(GoldenFixture.Load(fileName), 1e-10);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FloatMatchesPyTorch(string fileName) => Compare<float>(GoldenFixture.Load(fileName), 3e-5);

    private static void Compare<T>(GoldenFixture fixture, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        bool tokens = fixture.Has("tokens");
        bool classification = fixture.LossKind == "cross_entropy";
        bool last = fixture.Readout == "last_step";
        var model = new SequenceModel<T>(new ModelConfig
        {
            Architecture = Architectures.Parse(fixture.Cell),
            InputSize = fixture.I,
            HiddenSize = fixture.H,
            OutputSize = fixture.O,
            Layers = fixture.Layers,
            Bidirectional = fixture.Bidirectional,
            VocabularySize = tokens ? fixture.Size("V") : 0,
            Head = classification ? HeadKind.Classification : HeadKind.Regression,
            Pooling = last ? Pooling.LastStep : Pooling.EveryStep,
        });
        foreach (var view in model.Parameters.Views)
        {
            Assert.Equal(fixture.Shape(view.Name), view.Shape);
            GradientCheck.Convert<T>(fixture.Tensor(view.Name)).CopyTo(model.Parameters.Value(view.Name));
        }

        int steps = fixture.T, batch = fixture.B;
        int[] lengths = fixture.Has("lengths") ? fixture.Tensor("lengths").Select(v => (int)v).ToArray() : [];
        var h0 = fixture.Has("h0") ? GradientCheck.Convert<T>(fixture.Tensor("h0")) : [];
        var c0 = fixture.Has("c0") ? GradientCheck.Convert<T>(fixture.Tensor("c0")) : [];
        model.ComputeInputGradients = !tokens;
        if (tokens)
        {
            model.ForwardTokens(fixture.Tensor("tokens").Select(v => (int)v).ToArray(), steps, batch, h0, lengths, c0);
        }
        else
        {
            model.Forward(GradientCheck.Convert<T>(fixture.Tensor("input")), steps, batch, h0, lengths, c0);
        }

        var dPredictions = new T[model.Predictions.Length];
        T loss;
        if (classification)
        {
            var classes = fixture.Tensor("target_class").Select(v => (int)v).ToArray();
            if (!last && lengths.Length > 0)
            {
                // Padded steps do not count: they carry the ignore label.
                for (int t = 0; t < steps; t++)
                {
                    for (int b = 0; b < batch; b++)
                    {
                        if (t >= lengths[b])
                        {
                            classes[(t * batch) + b] = -1;
                        }
                    }
                }
            }

            loss = Losses.SoftmaxCrossEntropy<T>(model.Predictions, classes, fixture.O, dPredictions);
        }
        else
        {
            loss = Losses.MaskedMeanSquaredError<T>(model.Predictions, GradientCheck.Convert<T>(fixture.Tensor("target")), lengths, steps, batch, dPredictions);
        }

        model.Backward(dPredictions);

        GradientCheck.AssertClose("loss", [fixture.Scalar("loss")], [double.CreateChecked(loss)], tolerance);
        GradientCheck.AssertClose("output", fixture.Tensor("output"), model.States, tolerance);
        GradientCheck.AssertClose("prediction", fixture.Tensor("prediction"), model.Predictions, tolerance);
        GradientCheck.AssertClose("h_n", fixture.Tensor("h_n"), model.FinalState, tolerance);
        if (fixture.Has("c_n"))
        {
            GradientCheck.AssertClose("c_n", fixture.Tensor("c_n"), model.FinalCell, tolerance);
        }

        foreach (var view in model.Parameters.Views)
        {
            GradientCheck.AssertClose("grad." + view.Name, fixture.Tensor("grad." + view.Name), model.Parameters.Gradient(view.Name), tolerance);
        }

        if (fixture.Has("grad.h0"))
        {
            GradientCheck.AssertClose("grad.h0", fixture.Tensor("grad.h0"), model.InitialStateGradient, tolerance);
        }

        if (fixture.Has("grad.c0"))
        {
            GradientCheck.AssertClose("grad.c0", fixture.Tensor("grad.c0"), model.InitialCellGradient, tolerance);
        }

        if (!tokens && fixture.Has("grad.input"))
        {
            GradientCheck.AssertClose("grad.input", fixture.Tensor("grad.input"), model.InputGradients, tolerance);
        }
    }
}
