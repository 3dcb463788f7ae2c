using System.Globalization;
using System.Text;
using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>The files of a run directory besides the model: metrics and plots.</summary>
internal static class RunFiles
{
    /// <summary>The header of metrics.csv.</summary>
    public const string MetricsHeader = "step,train_loss,validation_loss,gradient_norm,clipped,spectral_radius,largest_singular_value,clipped_share,gradient_ratio";

    /// <summary>
    /// metrics.csv: step, train_loss, validation_loss (empty when not measured), gradient_norm (before
    /// clipping), clipped (0/1), and on diagnostic steps spectral_radius, largest_singular_value,
    /// clipped_share, gradient_ratio (empty on other steps).
    /// </summary>
    public static void WriteMetrics(string path, IReadOnlyList<StepMetrics> history)
    {
        var text = new StringBuilder(MetricsHeader).Append('\n');
        foreach (var m in history)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{m.Step},{m.TrainLoss:R},{Optional(m.ValidationLoss)},{m.GradientNorm:R},{(m.Clipped ? 1 : 0)},")
                .Append(CultureInfo.InvariantCulture, $"{Optional(m.SpectralRadius)},{Optional(m.LargestSingularValue)},{Optional(m.ClippedShare)},{Optional(m.GradientRatio)}\n");
        }

        AtomicFile.WriteAllText(path, text.ToString());
    }

    private static string Optional(double value) => double.IsNaN(value) ? string.Empty : value.ToString("R", CultureInfo.InvariantCulture);

    public static void WriteLossPlot(string path, IReadOnlyList<StepMetrics> history, string title = "Loss (MSE)")
    {
        var validation = history.Where(m => !double.IsNaN(m.ValidationLoss)).ToList();
        var chart = new Chart { Title = title, XLabel = "step", YLabel = "loss", LogY = true }
            .AddLine("training (minibatch)", history.Select(m => (double)m.Step).ToList(), history.Select(m => m.TrainLoss).ToList())
            .AddLine("validation", validation.Select(m => (double)m.Step).ToList(), validation.Select(m => m.ValidationLoss).ToList());
        AtomicFile.WriteAllText(path, chart.ToSvg());
    }

    /// <summary>The first test sequence: the truth x_{t+1}, the one-step prediction and the free-running forecast.</summary>
    public static void WriteForecastPlot(string path, IRecurrentModel<float> model, OscillatorDataset dataset, int horizon)
    {
        var first = dataset.Test.Slice(0, 1);
        var oneStep = Forecasting.OneStep(model, first);
        var freeRun = Forecasting.FreeRun(model, first, first.InputColumn(OscillatorDataset.PositionColumn), first.TargetColumn(OscillatorDataset.NextPositionColumn), horizon);
        double dt = dataset.Options.TimeStep;
        var time = Enumerable.Range(1, first.Length).Select(t => t * dt).ToList();
        var truth = Enumerable.Range(0, first.Length).Select(t => first.Target(0, t, 0)).ToList();
        var chart = new Chart { Title = "Test trajectory: x(t+dt)", XLabel = "time", YLabel = "x" }
            .AddLine("truth", time, truth)
            .AddLine("one-step prediction", time, oneStep)
            .AddLine("free-running forecast", time.Take(horizon).ToList(), freeRun, dashed: true);
        AtomicFile.WriteAllText(path, chart.ToSvg());
    }
}
