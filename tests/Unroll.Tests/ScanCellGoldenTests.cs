using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The LRU, minGRU and minLSTM against PyTorch (scripts/reference/scan_golden.py, float64): outputs, h_n, the loss and
/// every gradient, compared by parameter name, in double and in float, stacked, bidirectional and with varying lengths.
/// </summary>
public class ScanCellGoldenTests
{
    /// <summary>Every fixture scripts/reference/scan_golden.py writes.</summary>
    public static readonly IReadOnlyList<string> FileNames =
    [
        .. from cell in new[] { "lru", "mingru", "minlstm" }
           from variant in new[] { "l1_uni_equal", "l1_uni_varying", "l2_bi_varying", "l2_uni_equal" }
           select $"{cell}_{variant}.json",
    ];

    public static TheoryData<string> Fixtures => new(FileNames);

    [Fact]
    public void GoldenDirectoryHoldsExactlyTheKnownScanFixtures()
    {
        string[] prefixes = ["lru_", "mingru_", "minlstm_"];
        string[] present = Directory.GetFiles(GoldenFixture.Directory, "*.json")
            .Select(Path.GetFileName).OfType<string>()
            .Where(n => prefixes.Any(p => n.StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(FileNames.Order(StringComparer.Ordinal), present);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DoubleMatchesPyTorch(string fileName) => Compare<double>(GoldenFixture.Load(fileName), 1e-10);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FloatMatchesPyTorch(string fileName) => Compare<float>(GoldenFixture.Load(fileName), 3e-5);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void HeaderMatchesTheFileName(string fileName)
    {
        var fixture = GoldenFixture.Load(fileName);
        string[] parts = fileName[..^".json".Length].Split('_');
        Assert.Contains("PyTorch", fixture.Description, StringComparison.Ordinal);
        Assert.Equal((parts[0], int.Parse(parts[1][1..], System.Globalization.CultureInfo.InvariantCulture), parts[2] == "bi"),
            (fixture.Cell, fixture.Layers, fixture.Bidirectional));
        Assert.Equal(parts[3] == "varying" ? [4.0, 7, 1] : [7.0, 7, 7], fixture.Tensor("lengths"));
    }

    private static void Compare<T>(GoldenFixture fixture, double tolerance)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var model = new SequenceModel<T>(new ModelConfig
        {
            Architecture = Architectures.Parse(fixture.Cell),
            InputSize = fixture.I,
            HiddenSize = fixture.H,
            OutputSize = fixture.O,
            Layers = fixture.Layers,
            Bidirectional = fixture.Bidirectional,
        });
        foreach (var view in model.Parameters.Views)
        {
            Assert.Equal(fixture.Shape(view.Name), view.Shape);
            GradientCheck.Convert<T>(fixture.Tensor(view.Name)).CopyTo(model.Parameters.Value(view.Name));
        }

        int steps = fixture.T, batch = fixture.B;
        int[] lengths = fixture.Tensor("lengths").Select(v => (int)v).ToArray();
        model.ComputeInputGradients = true;
        model.Forward(GradientCheck.Convert<T>(fixture.Tensor("input")), steps, batch, GradientCheck.Convert<T>(fixture.Tensor("h0")), lengths);
        var dPredictions = new T[model.Predictions.Length];
        T loss = Losses.MaskedMeanSquaredError<T>(model.Predictions, GradientCheck.Convert<T>(fixture.Tensor("target")), lengths, steps, batch, dPredictions);
        model.Backward(dPredictions);

        GradientCheck.AssertClose("loss", [fixture.Scalar("loss")], [double.CreateChecked(loss)], tolerance);
        GradientCheck.AssertClose("output", fixture.Tensor("output"), model.States, tolerance);
        GradientCheck.AssertClose("prediction", fixture.Tensor("prediction"), model.Predictions, tolerance);
        GradientCheck.AssertClose("h_n", fixture.Tensor("h_n"), model.FinalState, tolerance);
        foreach (var view in model.Parameters.Views)
        {
            GradientCheck.AssertClose("grad." + view.Name, fixture.Tensor("grad." + view.Name), model.Parameters.Gradient(view.Name), tolerance);
        }

        GradientCheck.AssertClose("grad.h0", fixture.Tensor("grad.h0"), model.InitialStateGradient, tolerance);
        GradientCheck.AssertClose("grad.input", fixture.Tensor("grad.input"), model.InputGradients, tolerance);
    }
}
