// Measures what scripts/experiments/init-scale.sh trained: for every run directory, the spectrum of
// W_hh and the per-step decay of the gradient through time, at initialisation (rebuilt from the same
// seed and --init-hh as unroll train used) and after training, beside the training outcome from
// metrics.csv and evaluation.json. Writes table.md and SVG plots.
//
// Usage: InitScale OUT_DIR NAME|RUN_DIR|INIT_HH|GROUPS ...   (GROUPS: scale and/or clip, comma-separated:
// the plots each run appears in)
using System.Globalization;
using System.Text;
using System.Text.Json;
using Unroll.Data;
using Unroll.Diagnostics;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Training;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: InitScale OUT_DIR NAME|RUN_DIR|INIT_HH|GROUPS ...");
    return 2;
}

var culture = CultureInfo.InvariantCulture;
string outDirectory = args[0];
Directory.CreateDirectory(outDirectory);
var results = new List<RunResult>();
foreach (var spec in args.Skip(1))
{
    var parts = spec.Split('|', 4);
    results.Add(Measure.Run(parts[0], parts[1], parts[2]) with { Groups = parts[3].Split(',') });
}

var table = new StringBuilder();
table.AppendLine("| run | rho(W_hh) init -> trained | sigma_max init -> trained | gradient factor per step back, init | same, trained | unroll diagnose rate, trained | \\|\\|dL/dh_0\\|\\| / \\|\\|dL/dh_99\\|\\|, init | steps clipped | largest pre-clip norm | outcome | one-step test MSE | free-running MSE |");
table.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
foreach (var r in results)
{
    table.AppendLine(string.Create(culture,
        $"| {r.Name} | {r.Init.Rho:F2} -> {Fmt(r.Trained?.Rho, "F2")} | {r.Init.Sigma:F2} -> {Fmt(r.Trained?.Sigma, "F2")} | {Rate(r.Init)} | {(r.Trained is null ? "–" : Rate(r.Trained))} | {Fmt(r.DiagnoseRate, "F3")} | {r.Init.EndToEnd:G2} | {(r.ClipOn ? (100 * r.ClippedShare).ToString("0.0", culture) + "%" : "off")} | {r.LargestNorm:G3} | {r.Outcome} | {Fmt(r.OneStepMse, "G3")} | {Fmt(r.FreeRunMse, "G3")} |"));
}

File.WriteAllText(Path.Combine(outDirectory, "table.md"), table.ToString());
Console.Write(table);

var scale = results.Where(r => r.Groups.Contains("scale")).ToList();
var clip = results.Where(r => r.Groups.Contains("clip")).ToList();
WriteFlowPlot(Path.Combine(outDirectory, "gradient-flow-init.svg"), "Gradient flow at initialisation (loss on the last step only)", scale.Select(r => (r.Name, r.Init.Norms)));
WriteFlowPlot(Path.Combine(outDirectory, "gradient-flow-trained.svg"), "Gradient flow after training (loss on the last step only)",
    scale.Where(r => r.Trained is not null).Select(r => (r.Name, r.Trained!.Norms)));
WriteLossPlot(Path.Combine(outDirectory, "validation-loss-scale.svg"), "Validation loss: initial scale, orthogonal, LSTM", scale);
WriteLossPlot(Path.Combine(outDirectory, "validation-loss-clipping.svg"), "Validation loss: with and without clipping", clip);
var norms = new Chart { Title = "Global gradient norm before clipping", XLabel = "step", YLabel = "||g||", LogY = true };
foreach (var r in clip)
{
    // Every 5th step keeps the file small; the spikes span several steps.
    var every = Enumerable.Range(0, r.Steps.Count).Where(i => i % 5 == 0 || i == r.Steps.Count - 1).ToList();
    norms.AddLine(r.Name, every.Select(i => r.Steps[i]).ToList(), every.Select(i => r.GradientNorms[i]).ToList(), dashed: !r.ClipOn);
}

norms.AddHorizontalLine(1, "clip threshold 1");
File.WriteAllText(Path.Combine(outDirectory, "gradient-norm-clipping.svg"), norms.ToSvg(760, 460));
return 0;

string Rate(Snapshot snapshot) => snapshot.CellRatePerStep is { } c
    ? string.Create(culture, $"{snapshot.RatePerStep:F3} (c: {c:F3})")
    : snapshot.RatePerStep.ToString("F3", culture);

static void WriteLossPlot(string path, string title, List<RunResult> runs)
{
    var loss = new Chart { Title = title, XLabel = "step", YLabel = "validation MSE", LogY = true };
    foreach (var r in runs)
    {
        loss.AddLine(r.Name, r.ValidationSteps, r.ValidationLoss, dashed: !r.ClipOn);
    }

    loss.AddHorizontalLine(runs[0].PersistenceMse, "persistence (test)");
    File.WriteAllText(path, loss.ToSvg(760, 460));
}

static string Fmt(double? value, string format) => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "–";

static void WriteFlowPlot(string path, string title, IEnumerable<(string Name, double[] Norms)> series)
{
    var chart = new Chart { Title = title, XLabel = "t (step)", YLabel = "||dL/dh_t|| / ||dL/dh_99||", LogY = true };
    foreach (var (name, norms) in series)
    {
        double last = norms[^1];
        chart.AddLine(name, Enumerable.Range(0, norms.Length).Select(t => (double)t).ToList(), norms.Select(n => n / last).ToList());
    }

    chart.AddHorizontalLine(1);
    File.WriteAllText(path, chart.ToSvg(760, 460));
}

/// <summary>The spectrum and gradient flow of one model.</summary>
internal sealed record Snapshot(double Rho, double Sigma, double RatePerStep, double EndToEnd, double[] Norms, double? CellRatePerStep);

/// <summary>One run: its snapshots at initialisation and after training, and its training outcome.</summary>
internal sealed record RunResult(
    string Name, Snapshot Init, Snapshot? Trained, bool ClipOn, double ClippedShare, double LargestNorm, string Outcome, double? OneStepMse, double? FreeRunMse,
    double PersistenceMse, List<double> Steps, List<double> GradientNorms, List<double> ValidationSteps, List<double> ValidationLoss)
{
    public string[] Groups { get; init; } = [];

    /// <summary>The fitted rate of ||dh_t/dh_k|| against the lag from `unroll diagnose --json` (diagnose.json in the run directory).</summary>
    public double? DiagnoseRate { get; init; }
}

internal static class Measure
{
    public static RunResult Run(string name, string directory, string initHh)
    {
        string modelPath = Path.Combine(directory, "model.safetensors");
        string checkpointPath = Path.Combine(directory, Checkpoint.FileName);
        bool finished = File.Exists(modelPath);
        var metadata = finished ? ModelFile.Load(modelPath).Metadata : Checkpoint.Load(checkpointPath).Metadata;
        var config = ModelConfig.FromJson(metadata[ModelFile.ConfigKey]);
        var data = OscillatorDataDescription.FromJson(metadata[OscillatorDataDescription.MetadataKey]);
        var dataset = OscillatorDataset.Generate(data.Options, data.Seed);

        // unroll train initialises with new Random(seed) after creating the model; the same calls give the same weights.
        var initial = RecurrentModels.Create<float>(config);
        Initializers.Initialize(initial, InitSettings.Parse(initHh, "--init-hh"), InitSettings.Default, new Random(data.Seed));
        var init = Snap(initial, dataset.Test);
        Snapshot? trained = finished ? Snap(ModelFile.Load(modelPath).Model, dataset.Test) : null;

        var lines = File.ReadAllLines(Path.Combine(directory, "metrics.csv"));
        var header = lines[0].Split(',');
        int Col(string c) => Array.IndexOf(header, c);
        var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
        double Parse(string s) => s.Length == 0 ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);
        var steps = rows.Select(r => Parse(r[Col("step")])).ToList();
        var gradientNorms = rows.Select(r => Parse(r[Col("gradient_norm")])).ToList();
        var validation = rows.Select(r => (Step: Parse(r[Col("step")]), Loss: Parse(r[Col("validation_loss")]))).Where(v => !double.IsNaN(v.Loss)).ToList();
        double clipped = rows.Count == 0 ? 0 : rows.Count(r => r[Col("clipped")] == "1") / (double)rows.Count;
        double largest = gradientNorms.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max();

        double persistence = OscillatorBaselines.PersistenceOneStepMse(dataset.Test);
        double? oneStep = null, freeRun = null;
        string outcome;
        string evaluationPath = Path.Combine(directory, "evaluation.json");
        if (finished && File.Exists(evaluationPath))
        {
            using var json = JsonDocument.Parse(File.ReadAllText(evaluationPath));
            oneStep = json.RootElement.GetProperty("oneStepMse").GetDouble();
            freeRun = json.RootElement.GetProperty("freeRunMse").GetDouble();
            outcome = oneStep < persistence
                ? string.Create(CultureInfo.InvariantCulture, $"learned ({persistence / oneStep:F1}x better than persistence)")
                : string.Create(CultureInfo.InvariantCulture, $"failed: no better than persistence ({persistence / oneStep:F2}x)");
        }
        else
        {
            outcome = $"diverged after step {steps.LastOrDefault()}";
        }

        bool clipOn = TrainingOptions.FromJson(metadata["unroll.training"]).ClipNorm is not null;
        double? diagnoseRate = null;
        string diagnosePath = Path.Combine(directory, "diagnose.json");
        if (File.Exists(diagnosePath))
        {
            using var diagnosis = JsonDocument.Parse(File.ReadAllText(diagnosePath));
            diagnoseRate = diagnosis.RootElement.GetProperty("jacobians")[0].GetProperty("fittedRate").GetDouble();
        }

        return new RunResult(name, init, trained, clipOn, clipped, largest, outcome, oneStep, freeRun, persistence,
            steps, gradientNorms, validation.Select(v => v.Step).ToList(), validation.Select(v => v.Loss).ToList()) { DiagnoseRate = diagnoseRate };
    }

    /// <summary>
    /// The largest spectral radius and singular value over the W_hh gate blocks, and ||dL/dh_t|| for a loss
    /// on the last step only (a unit gradient on every sequence's last prediction), so that every step's
    /// norm is the last one carried back through the Jacobians: n_t = ||J_{t+1}^T ... J_{T-1}^T g||. The rate
    /// per step is exp of the least-squares slope of ln n_t over t = 0..T-2.
    /// </summary>
    private static Snapshot Snap(IRecurrentModel<float> model, SequenceSet test)
    {
        var spectra = Spectra.Of(model);
        double rho = spectra.Max(s => s.SpectralRadius), sigma = spectra.Max(s => s.LargestSingularValue);
        var sequence = (SequenceModel<float>)model;
        sequence.RecordGradientFlow = true;
        int batch = test.Count, steps = test.Length;
        var inputs = new float[steps * batch * test.InputSize];
        var targets = new float[steps * batch * test.TargetSize];
        test.CopyBatchTimeMajor(Enumerable.Range(0, batch).ToArray(), inputs, targets);
        model.Run(inputs, default, steps, batch);
        var gradient = new float[steps * batch * model.Config.OutputSize];
        for (int b = 0; b < batch; b++)
        {
            gradient[((steps - 1) * batch + b) * model.Config.OutputSize] = 1f / batch;
        }

        model.Parameters.Gradients.AsSpan().Clear();
        model.Backward(gradient);
        var norms = sequence.StateGradientNorms(0).ToArray();
        var cells = sequence.CellGradientNorms(0).ToArray();
        sequence.RecordGradientFlow = false;
        // The LSTM's cell gradient arrives from later steps only: none at the last step.
        double? cellRate = cells.Length == 0 ? null : FactorPerStepBack(cells, 0, steps - 2);
        return new Snapshot(rho, sigma, FactorPerStepBack(norms, 0, steps - 2), norms[0] / norms[steps - 1], norms, cellRate);
    }

    /// <summary>exp(-slope) of the least-squares line through ln n_t, t = first..last: going back in time is decreasing t.</summary>
    private static double FactorPerStepBack(double[] norms, int first, int last)
    {
        var usable = Enumerable.Range(first, last - first + 1).Where(t => norms[t] > 0 && double.IsFinite(norms[t])).ToList();
        double meanT = usable.Average(t => (double)t), meanLog = usable.Average(t => Math.Log(norms[t]));
        double slope = usable.Sum(t => (t - meanT) * (Math.Log(norms[t]) - meanLog)) / usable.Sum(t => (t - meanT) * (t - meanT));
        return Math.Exp(-slope);
    }
}
