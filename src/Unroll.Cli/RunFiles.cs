using System.Globalization;
using System.Text;
using Unroll.IO;
using Unroll.Plots;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>The files of a run directory besides the model: metrics and the loss plot.</summary>
internal static class RunFiles
{
    /// <summary>The header of metrics.csv.</summary>
    public const string MetricsHeader = "step,train_loss,validation_loss,gradient_norm,clipped,spectral_radius,largest_singular_value,clipped_share,gradient_ratio,validation_accuracy";

    /// <summary>
    /// metrics.csv: step, train_loss, validation_loss (empty when not measured), gradient_norm (before
    /// clipping), clipped (0/1), on diagnostic steps spectral_radius, largest_singular_value,
    /// clipped_share, gradient_ratio (empty on other steps), and validation_accuracy for classifiers.
    /// </summary>
    public static void WriteMetrics(string path, IReadOnlyList<StepMetrics> history)
    {
        var text = new StringBuilder(MetricsHeader).Append('\n');
        foreach (var m in history)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"{m.Step},{m.TrainLoss:R},{Optional(m.ValidationLoss)},{m.GradientNorm:R},{(m.Clipped ? 1 : 0)},")
                .Append(CultureInfo.InvariantCulture, $"{Optional(m.SpectralRadius)},{Optional(m.LargestSingularValue)},{Optional(m.ClippedShare)},{Optional(m.GradientRatio)},{Optional(m.ValidationAccuracy)}\n");
        }

        AtomicFile.WriteAllText(path, text.ToString());
    }

    private static string Optional(double value) => double.IsNaN(value) ? string.Empty : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>loss.svg: the minibatch and validation losses against the step, with a task's baseline when it has one.</summary>
    public static void WriteLossPlot(string path, IReadOnlyList<StepMetrics> history, TrainingTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var validation = history.Where(m => !double.IsNaN(m.ValidationLoss)).ToList();
        string monitored = task is SyntheticTask { MonitorTest: true } ? "test" : "validation";
        var chart = new Chart { Title = $"Loss ({task.LossName})", XLabel = "step", YLabel = task.LossName, LogY = true }
            .AddLine("training (minibatch)", history.Select(m => (double)m.Step).ToList(), history.Select(m => m.TrainLoss).ToList())
            .AddLine(monitored, validation.Select(m => (double)m.Step).ToList(), validation.Select(m => m.ValidationLoss).ToList());
        if (task is SyntheticTask synthetic)
        {
            chart.AddHorizontalLine(synthetic.Definition.BaselineLoss, "memoryless baseline");
        }

        AtomicFile.WriteAllText(path, chart.ToSvg());
    }
}

/// <summary>Prints an <see cref="Evaluation"/> as a table with four significant digits.</summary>
internal static class EvaluationPrinter
{
    public static void Print(TextWriter output, Evaluation evaluation)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(evaluation);
        string split = char.ToUpperInvariant(evaluation.Split[0]) + evaluation.Split[1..];
        output.WriteLine($"{split}: {evaluation.Data}.");
        output.WriteLine($"{evaluation.Summary.Title}:");
        PrintTable(output, evaluation.Summary);
        foreach (string note in evaluation.Notes)
        {
            output.WriteLine(note);
        }

        if (evaluation.Breakdown is { } breakdown)
        {
            output.WriteLine($"{breakdown.Title}:");
            PrintTable(output, breakdown);
        }
    }

    private static void PrintTable(TextWriter output, EvaluationTable table)
    {
        int nameWidth = Math.Max(12, table.Rows.Max(r => r.Name.Length) + 2);
        var widths = table.Columns.Select(c => Math.Max(12, c.Length + 2)).ToArray();
        var line = new StringBuilder(new string(' ', nameWidth));
        for (int c = 0; c < widths.Length; c++)
        {
            line.Append(table.Columns[c].PadLeft(widths[c]));
        }

        output.WriteLine(line.ToString().TrimEnd());
        foreach (var row in table.Rows)
        {
            line.Clear().Append(row.Name.PadRight(nameWidth));
            for (int c = 0; c < widths.Length; c++)
            {
                line.Append(Evaluation.Format(c < row.Values.Count ? row.Values[c] : double.NaN).PadLeft(widths[c]));
            }

            output.WriteLine(line.ToString().TrimEnd());
        }
    }
}
