using System.Globalization;
using System.Text;
using Unroll.IO;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>The LRU's eigenvalues at one step: every unit of every layer and direction.</summary>
/// <param name="Step">The optimiser steps taken (0: the initialisation).</param>
/// <param name="Units">The units, in parameter order.</param>
internal sealed record LambdaSnapshot(int Step, IReadOnlyList<LambdaUnit> Units);

/// <summary>One eigenvalue lambda_n = exp(-exp(nu_n) + i exp(theta_n)) of one layer and direction.</summary>
internal sealed record LambdaUnit(int Layer, bool Reverse, int Index, double Real, double Imaginary)
{
    /// <summary>|lambda|.</summary>
    public double Modulus => Math.Sqrt((Real * Real) + (Imaginary * Imaginary));

    /// <summary>arg lambda, the rotation per step.</summary>
    public double Phase => Math.Atan2(Imaginary, Real);
}

/// <summary>
/// lambda.csv of an LRU run: the eigenvalues of the diagonal recurrence at the initialisation and after every
/// diagnostic step (--diagnose-every), so the report shows where training moved them. Rows:
/// <c>step,layer,reverse,unit,re,im</c>.
/// </summary>
internal static class LambdaHistory
{
    public const string FileName = "lambda.csv";
    public const string PlanePlot = "lambda.svg";
    public const string DecayPlot = "lambda-decay.svg";

    private const string Header = "step,layer,reverse,unit,re,im";

    /// <summary>The LRU's eigenvalues now; empty for any other model.</summary>
    public static IReadOnlyList<LambdaUnit> Of(IRecurrentModel<float> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        if (config.Architecture != Architecture.Lru)
        {
            return [];
        }

        var units = new List<LambdaUnit>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int direction = 0; direction < config.Directions; direction++)
            {
                string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}") + (direction == 1 ? "_reverse" : string.Empty);
                var nu = model.Parameters.Value("rnn.nu_log" + suffix);
                var theta = model.Parameters.Value("rnn.theta_log" + suffix);
                for (int n = 0; n < nu.Length; n++)
                {
                    // lambda = exp(-exp(nu_log) + i exp(theta_log)) (docs/scan-cells.md), in double.
                    double modulus = Math.Exp(-Math.Exp(nu[n])), phase = Math.Exp(theta[n]);
                    units.Add(new LambdaUnit(layer, direction == 1, n, modulus * Math.Cos(phase), modulus * Math.Sin(phase)));
                }
            }
        }

        return units;
    }

    /// <summary>
    /// Starts lambda.csv for a run: a fresh run writes its initial eigenvalues as step 0; a resumed run keeps the
    /// rows up to its checkpoint's step (a row at that step only if it was a diagnostic step), so the file ends as
    /// an uninterrupted run's would. Nothing for a model that is not an LRU.
    /// </summary>
    public static void Start(string path, IRecurrentModel<float> model, TrainerState? resumeFrom)
    {
        if (model.Config.Architecture != Architecture.Lru)
        {
            return;
        }

        if (resumeFrom is null || !File.Exists(path))
        {
            var text = new StringBuilder(Header).Append('\n');
            Append(text, resumeFrom?.Step ?? 0, Of(model));
            AtomicFile.WriteAllText(path, text.ToString());
            return;
        }

        int step = resumeFrom.Step;
        bool diagnosed = step == 0 || (step <= resumeFrom.History.Count && resumeFrom.History[step - 1].HasDiagnostics);
        var kept = File.ReadAllLines(path).Skip(1)
            .Where(line => StepOf(line) is int s && (s < step || (s == step && diagnosed)));
        AtomicFile.WriteAllText(path, string.Join('\n', kept.Prepend(Header)) + "\n");
    }

    private static int? StepOf(string line)
    {
        int comma = line.IndexOf(',', StringComparison.Ordinal);
        return comma > 0 && int.TryParse(line.AsSpan(0, comma), NumberStyles.None, CultureInfo.InvariantCulture, out int step) ? step : null;
    }

    /// <summary>Appends the eigenvalues after <paramref name="step"/>.</summary>
    public static void Record(string path, int step, IRecurrentModel<float> model)
    {
        var text = new StringBuilder();
        Append(text, step, Of(model));
        File.AppendAllText(path, text.ToString());
    }

    private static void Append(StringBuilder text, int step, IReadOnlyList<LambdaUnit> units)
    {
        foreach (var unit in units)
        {
            text.Append(CultureInfo.InvariantCulture, $"{step},{unit.Layer},{(unit.Reverse ? 1 : 0)},{unit.Index},{unit.Real:R},{unit.Imaginary:R}\n");
        }
    }

    /// <summary>The snapshots of lambda.csv, by step; empty when there is no such file.</summary>
    /// <exception cref="UnrollException">A row is malformed.</exception>
    public static IReadOnlyList<LambdaSnapshot> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var rows = new List<(int Step, LambdaUnit Unit)>();
        string[] lines = File.ReadAllLines(path);
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
            {
                continue;
            }

            var parts = lines[i].Split(',');
            if (parts.Length != 6
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int step)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int layer)
                || parts[2] is not ("0" or "1")
                || !int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
                || !double.TryParse(parts[4], NumberStyles.Float, CultureInfo.InvariantCulture, out double re)
                || !double.TryParse(parts[5], NumberStyles.Float, CultureInfo.InvariantCulture, out double im))
            {
                throw new UnrollException($"{path}, line {i + 1}: expected step,layer,reverse,unit,re,im, got '{lines[i]}'.");
            }

            rows.Add((step, new LambdaUnit(layer, parts[2] == "1", index, re, im)));
        }

        return [.. rows.GroupBy(r => r.Step).OrderBy(g => g.Key).Select(g => new LambdaSnapshot(g.Key, [.. g.Select(r => r.Unit)]))];
    }

    /// <summary>
    /// The plots of the snapshots: lambda.svg (the complex plane with the unit circle) and lambda-decay.svg
    /// (1 - |lambda| against arg lambda, log scale: the decay per step, whose inverse is the unit's memory in steps).
    /// At most five snapshots are drawn: the first, the last and three evenly between.
    /// </summary>
    /// <returns>The files written; none for fewer than one snapshot.</returns>
    public static IReadOnlyList<string> WritePlots(string directory, IReadOnlyList<LambdaSnapshot> snapshots)
    {
        if (snapshots.Count == 0)
        {
            return [];
        }

        const int Shown = 5;
        var shown = snapshots.Count <= Shown
            ? snapshots
            : [.. Enumerable.Range(0, Shown).Select(k => snapshots[(int)Math.Round(k * (snapshots.Count - 1) / (double)(Shown - 1))]).Distinct()];
        string Label(LambdaSnapshot s) => s.Step == 0 ? "initialisation" : string.Create(CultureInfo.InvariantCulture, $"after step {s.Step}");
        var plane = new Chart { Title = "LRU eigenvalues lambda in the complex plane", XLabel = "Re lambda", YLabel = "Im lambda", EqualAspect = true }
            .AddCircle(0, 0, 1, "unit circle |lambda| = 1");
        var decay = new Chart { Title = "LRU eigenvalues: decay per step 1 - |lambda| against the phase", XLabel = "arg lambda (radians per step)", YLabel = "1 - |lambda|", LogY = true };
        foreach (var snapshot in shown)
        {
            plane.AddScatter(Label(snapshot), [.. snapshot.Units.Select(u => u.Real)], [.. snapshot.Units.Select(u => u.Imaginary)]);
            // 1 - |lambda| is at least about 1e-16 in double; a unit that reached 1 in float shows at the bottom.
            decay.AddScatter(Label(snapshot), [.. snapshot.Units.Select(u => u.Phase)], [.. snapshot.Units.Select(u => Math.Max(1 - u.Modulus, 1e-9))]);
        }

        AtomicFile.WriteAllText(Path.Combine(directory, PlanePlot), plane.ToSvg(640, 560));
        AtomicFile.WriteAllText(Path.Combine(directory, DecayPlot), decay.ToSvg());
        return [PlanePlot, DecayPlot];
    }
}

/// <summary>Appends the LRU's eigenvalues to lambda.csv after every diagnostic step.</summary>
internal sealed class LambdaObserver(string path, IRecurrentModel<float> model) : ITrainingObserver
{
    public void OnStep(Trainer trainer, StepMetrics metrics)
    {
        if (metrics.HasDiagnostics)
        {
            LambdaHistory.Record(path, metrics.Step, model);
        }
    }
}
