using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Data;
using Unroll.Diagnostics;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// `unroll diagnose MODEL`: the spectra of the recurrent weights, the gradient flow through time
/// and the Jacobian products on test sequences, as a table, JSON and SVG plots.
/// </summary>
internal static class DiagnoseCommand
{
    public const string EigenvaluesPlot = "eigenvalues.svg";
    public const string GradientFlowPlot = "gradient-flow.svg";
    public const string JacobianPlot = "jacobian.svg";
    public const string TrainingSpectraPlot = "spectra-over-training.svg";

    private static readonly string[] TrainingColumns = ["spectral_radius", "largest_singular_value", "clipped_share", "gradient_ratio"];

    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var testSequences = Options.Optional<int>("--test-count", "Generated tasks: regenerate the test split with this many sequences (used when a run has no validation split)");
        var dataDirectory = Options.Make("--data-dir", "Fashion-MNIST models: the directory holding the IDX files (default: where training found them)", string.Empty);
        var sequences = Options.Make("--sequences", "Held-out sequences the gradient flow and the Jacobian products are measured on (the first N)", 4);
        var endSteps = Options.Make("--end-steps", "End steps t per sequence for the Jacobian products (the last, then every T/(2n) steps earlier)", 3);
        var maxLag = Options.Optional<int>("--max-lag", "Largest lag t-k of the Jacobian products (default: as far as every end step allows)");
        var json = Options.Make("--json", "Print every number as JSON instead of the table", false);
        var output = Options.Make("--output", "Directory for the SVG plots (default: the model's directory)", string.Empty);
        output.Aliases.Add("-o");
        var command = new Command("diagnose", "Spectra of W_hh, gradient flow through time and Jacobian products of a trained model, measured on its own validation data, with plots")
        {
            modelPath, testSequences, dataDirectory, sequences, endSteps, maxLag, json, output,
        };
        command.SetAction(parse =>
        {
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console);
            int sequenceCount = parse.GetValue(sequences), endStepCount = parse.GetValue(endSteps);
            int? lag = parse.GetValue(maxLag);
            if (sequenceCount < 1)
            {
                throw new UnrollException($"--sequences: expected at least 1, got {sequenceCount}.");
            }

            if (endStepCount < 1)
            {
                throw new UnrollException($"--end-steps: expected at least 1, got {endStepCount}.");
            }

            if (lag is < 1)
            {
                throw new UnrollException($"--max-lag: expected at least 1, got {lag}.");
            }

            string directory = parse.GetValue(output)!;
            if (directory.Length == 0)
            {
                directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            }
            else if (File.Exists(directory))
            {
                throw new UnrollException($"--output: expected a directory, got the file '{directory}'.");
            }

            var loaded = ModelFile.Load(path);
            var model = RequireHiddenStateModel(loaded.Model, path);
            var task = TrainingTask.FromMetadata(loaded.Metadata, path);
            task?.CheckModel(model.Config, path);
            var options = new EvaluationOptions(TestCount: parse.GetValue(testSequences), DataDirectory: NullIfEmpty(parse.GetValue(dataDirectory)));
            var sample = task?.Sample(sequenceCount, options);
            if (sample is not null && lag is { } l && l >= sample.Steps)
            {
                throw new UnrollException($"--max-lag: expected at most {sample.Steps - 1} (the sequences have {sample.Steps} steps), got {l}.");
            }

            string metricsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "metrics.csv");
            var diagnosis = Diagnose(model, sample, endStepCount, lag, metricsPath);
            Directory.CreateDirectory(directory);
            var written = WritePlots(directory, diagnosis);
            if (parse.GetValue(json))
            {
                console.Output.WriteLine(JsonSerializer.Serialize(diagnosis, IO.Json.Info<Diagnosis>(JsonOptions)));
            }
            else
            {
                PrintTable(console.Output, diagnosis);
                console.Output.WriteLine($"Wrote {directory}{Path.DirectorySeparatorChar}: {string.Join(", ", written)}");
            }

            return CliApp.Success;
        });
        return command;
    }

    /// <summary>
    /// Writes the diagnostic plots of a finished training run into its directory, measured on the
    /// task's validation data as `unroll diagnose` does with its defaults (for H of 256 and more, on one
    /// sequence at one end step: see <see cref="LargeHidden"/>); nothing for the Jordan network.
    /// </summary>
    /// <returns>The names of the files written.</returns>
    public static IReadOnlyList<string> WriteRunPlots(string runDirectory, IRecurrentModel<float> model, TrainingTask task)
    {
        if (model is not SequenceModel<float> sequenceModel)
        {
            return [];
        }

        bool large = model.Config.HiddenSize >= LargeHidden;
        return WritePlots(runDirectory, Diagnose(sequenceModel, task.Sample(large ? 1 : 4, new EvaluationOptions()), large ? 1 : 3, null, Path.Combine(runDirectory, "metrics.csv")));
    }

    /// <summary>
    /// From this H on, a run's own plots measure the Jacobian products on one sequence at one end step instead of
    /// four at three: each end step costs H backward sweeps and a power iteration per lag, so an H = 512 two-layer
    /// LSTM spent 2.5 minutes on them after a 10-minute budget. `unroll diagnose` measures as many as asked.
    /// </summary>
    internal const int LargeHidden = 256;

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;

    private static SequenceModel<float> RequireHiddenStateModel(IRecurrentModel<float> model, string path) => model as SequenceModel<float>
        ?? throw new UnrollException(
            $"{path}: expected a hidden-state network (rnn, lstm, gru, lru, mingru or minlstm), got a {model.Config.Architecture.Name()} network, whose recurrence runs through its output and has no W_hh to diagnose.");

    private static string CellName(string architecture) => architecture switch
    {
        "lru" => "LRU",
        "mingru" => "minGRU",
        "minlstm" => "minLSTM",
        _ => architecture,
    };

    private static bool IsScanCell(ModelConfig config) => Training.TrainOptions.IsScanCell(config.Architecture);

    /// <summary>What the recurrence's Jacobian dh_t/dh_{t-1} is for a cell without W_hh; null for the others.</summary>
    private static string? RecurrenceNote(ModelConfig config) => config.Architecture switch
    {
        Architecture.MinGru => "minGRU: no weight multiplies h, so there is no W_hh spectrum. h_t = (1 - z_t) * h_{t-1} + z_t * h~_t with z_t = sigmoid(W_z x_t + b_z) "
            + "from the input alone: the Jacobian dh_t/dh_{t-1} is diag(a_t), a_t = 1 - z_t in (0, 1), and dh_t/dh_k = diag(a_t ... a_{k+1}). "
            + "The gradient reaching step k decays unit by unit as the product of the a's in between, and survives where a unit keeps z near 0.",
        Architecture.MinLstm => "minLSTM: no weight multiplies h, so there is no W_hh spectrum. h_t = f'_t * h_{t-1} + (1 - f'_t) * h~_t with f' = f / (f + i) "
            + "from the input alone: the Jacobian dh_t/dh_{t-1} is diag(a_t), a_t = f'_t in (0, 1), and dh_t/dh_k = diag(a_t ... a_{k+1}). "
            + "The gradient reaching step k decays unit by unit as the product of the a's in between, and survives where a unit keeps f' near 1.",
        Architecture.Lru => "LRU: the recurrence v_t = diag(lambda) v_{t-1} + gamma * B x_t is diagonal and linear, so its Jacobian dv_t/dv_{t-1} = diag(lambda) "
            + "for every input, dv_t/dv_k = diag(lambda^(t-k)), and ||dv_t/dv_k||_2 = max |lambda|^(t-k) exactly (the jacobian plot). "
            + "|lambda| = exp(-exp(nu)) < 1 by construction: a unit with |lambda| = 1 - 1/n carries the gradient over about n steps.",
        _ => null,
    };

    private static Diagnosis Diagnose(SequenceModel<float> model, DiagnosisSample? sample, int endSteps, int? maxLag, string metricsPath)
    {
        var config = model.Config;
        var spectra = Spectra.Of(model).Select(s => new BlockDiagnosis(
            s.Parameter, s.Gate, s.Layer, s.Reverse, s.SpectralRadius, s.LargestSingularValue,
            s.Gate.Length == 0 ? Regime(Spectra.Classify(s, config.Activation)) : config.Architecture == Architecture.Lru ? "decays: |lambda| < 1 by construction" : "n/a (gated cell)",
            s.Eigenvalues.Select(e => new[] { e.Real, e.Imaginary }).ToArray(), s.SingularValues)).ToList();
        var flow = sample is null ? [] : GradientFlow.Measure(model, sample.Inputs, sample.Targets, sample.Steps, sample.Batch);
        // The scan cells' Jacobians are diagonal and known in closed form (RecurrenceNote); the LRU's is drawn from lambda.
        var jacobians = sample is null || IsScanCell(config) ? [] : JacobianProducts.Measure(model, sample.Inputs, sample.Steps, sample.Batch, endSteps, maxLag);
        string directory = Path.GetDirectoryName(metricsPath)!;
        return new Diagnosis(
            config.Architecture.Name(), Activations.Name(config.Activation), config.Layers, config.HiddenSize, config.Bidirectional,
            sample?.Description ?? "no data (the model file names no data source: gradient flow and Jacobian products need one)",
            sample?.Batch ?? 0, sample?.Steps ?? 0, spectra, flow, jacobians, ReadTrainingDiagnostics(metricsPath))
        {
            Recurrence = RecurrenceNote(config),
            Lambda = config.Architecture == Architecture.Lru ? Training.LambdaHistory.Read(Path.Combine(directory, Training.LambdaHistory.FileName)) : [],
            LambdaLags = sample is null ? Math.Min(maxLag ?? 1000, 1000) : Math.Min(maxLag ?? sample.Steps - 1, sample.Steps - 1),
        };
    }

    private static string Regime(GradientRegime regime) => regime switch
    {
        GradientRegime.VanishingGuaranteed => "vanishing guaranteed",
        GradientRegime.MayExplode => "may explode",
        _ => "neither",
    };

    /// <summary>The diagnostic rows of a run's metrics.csv; empty when there is no such file or it has no diagnostics columns.</summary>
    private static IReadOnlyList<TrainingDiagnostics> ReadTrainingDiagnostics(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var metrics = Reports.MetricsTable.Read(path);
        var step = metrics.Column("step");
        var columns = TrainingColumns.Select(metrics.Column).ToArray();
        if (step is null || columns.Any(c => c is null))
        {
            return [];
        }

        return [.. Enumerable.Range(0, step.Length)
            .Where(i => !double.IsNaN(columns[0]![i]))
            .Select(i => new TrainingDiagnostics((int)step[i], columns[0]![i], columns[1]![i], columns[2]![i], columns[3]![i]))];
    }

    private static List<string> WritePlots(string directory, Diagnosis diagnosis)
    {
        var written = new List<string>();
        bool lru = diagnosis.Architecture == "lru";
        if (diagnosis.Spectra.Count > 0)
        {
            // The min-cells have no spectrum (their Jacobian is diag(a_t), said in the table); an empty plot would say nothing.
            var eigenvalues = new Chart
            {
                Title = lru ? "LRU eigenvalues lambda (the diagonal recurrence)" : "Eigenvalues of the recurrent weights W_hh",
                XLabel = "Re lambda",
                YLabel = "Im lambda",
                EqualAspect = true,
            }.AddCircle(0, 0, 1, "unit circle |lambda| = 1");
            if (lru && diagnosis.Lambda.Count > 0 && diagnosis.Lambda[0].Step == 0)
            {
                var initial = diagnosis.Lambda[0].Units;
                eigenvalues.AddScatter("at initialisation (lambda.csv)", [.. initial.Select(u => u.Real)], [.. initial.Select(u => u.Imaginary)]);
            }

            foreach (var block in diagnosis.Spectra)
            {
                string name = block.Gate.Length == 0 ? block.Parameter : $"{block.Parameter} {block.Gate}";
                eigenvalues.AddScatter(lru ? $"{Where(block.Layer, block.Reverse)}, this model" : name, block.Eigenvalues.Select(e => e[0]).ToList(), block.Eigenvalues.Select(e => e[1]).ToList());
            }

            AtomicFile.WriteAllText(Path.Combine(directory, EigenvaluesPlot), eigenvalues.ToSvg(640, 560));
            written.Add(EigenvaluesPlot);
        }

        written.AddRange(Training.LambdaHistory.WritePlots(directory, diagnosis.Lambda));

        var flow = new Chart { Title = "Gradient flow through time: ||dL/dh_t||", XLabel = "step t", YLabel = "||dL/dh_t||", LogY = true };
        bool several = diagnosis.GradientFlow.Count > 1;
        foreach (var profile in diagnosis.GradientFlow)
        {
            string prefix = several ? $"{Where(profile.Layer, profile.Reverse)}: " : string.Empty;
            var steps = Enumerable.Range(1, profile.TotalLoss.Length).Select(t => (double)t).ToList();
            flow.AddLine(prefix + "total loss", steps, profile.TotalLoss);
            flow.AddLine(prefix + "last step's loss", steps, profile.LastStepLoss, dashed: true);
        }

        if (diagnosis.GradientFlow.Count > 0)
        {
            AtomicFile.WriteAllText(Path.Combine(directory, GradientFlowPlot), flow.ToSvg());
            written.Add(GradientFlowPlot);
        }

        var jacobian = new Chart { Title = "Jacobian products ||dh_t/dh_k||_2 (geometric mean)", XLabel = "lag t - k", YLabel = "||dh_t/dh_k||", LogY = true };
        several = diagnosis.Jacobians.Count > 1;
        foreach (var profile in diagnosis.Jacobians)
        {
            string prefix = several ? $"{Where(profile.Layer, profile.Reverse)}: " : string.Empty;
            var lags = Enumerable.Range(0, profile.MaxLag + 1).Select(l => (double)l).ToList();
            jacobian.AddLine(string.Create(CultureInfo.InvariantCulture, $"{prefix}measured (rate {profile.FittedRate:G3})"), lags, profile.GeometricMeanNorms);
            if (double.IsFinite(profile.BoundRate))
            {
                jacobian.AddLine(string.Create(CultureInfo.InvariantCulture, $"{prefix}bound (beta_W gamma)^lag, rate {profile.BoundRate:G3}"), lags, lags.Select(l => profile.Bound((int)l)).ToList(), dashed: true);
            }
        }

        if (lru && diagnosis.Spectra.Count > 0 && diagnosis.LambdaLags > 0)
        {
            // Exact for the LRU: ||dv_t/dv_k||_2 = ||diag(lambda)^(t-k)||_2 = max |lambda|^(t-k), whatever the input.
            var lags = Enumerable.Range(0, diagnosis.LambdaLags + 1).Select(l => (double)l).ToList();
            foreach (var block in diagnosis.Spectra)
            {
                double largest = block.SpectralRadius;
                double median = block.SingularValues.Length == 0 ? 0 : block.SingularValues[block.SingularValues.Length / 2];
                string prefix = diagnosis.Spectra.Count > 1 ? $"{Where(block.Layer, block.Reverse)}: " : string.Empty;
                jacobian.AddLine(string.Create(CultureInfo.InvariantCulture, $"{prefix}max |lambda|^lag (max |lambda| = {largest:G4})"), lags, [.. lags.Select(l => Math.Pow(largest, l))]);
                jacobian.AddLine(string.Create(CultureInfo.InvariantCulture, $"{prefix}median unit, |lambda|^lag (|lambda| = {median:G4})"), lags, [.. lags.Select(l => Math.Max(Math.Pow(median, l), 1e-300))], dashed: true);
            }

            jacobian.Title = "LRU Jacobian products ||dv_t/dv_k||_2 = max |lambda|^(t-k) (exact)";
            AtomicFile.WriteAllText(Path.Combine(directory, JacobianPlot), jacobian.ToSvg());
            written.Add(JacobianPlot);
        }

        if (diagnosis.Jacobians.Count > 0)
        {
            AtomicFile.WriteAllText(Path.Combine(directory, JacobianPlot), jacobian.ToSvg());
            written.Add(JacobianPlot);
        }

        if (diagnosis.Training.Count > 0)
        {
            var steps = diagnosis.Training.Select(r => (double)r.Step).ToList();
            var training = new Chart { Title = "Recurrent weights over training", XLabel = "step", YLabel = "largest over the W_hh blocks" }
                .AddLine("spectral radius", steps, diagnosis.Training.Select(r => r.SpectralRadius).ToList())
                .AddLine("largest singular value", steps, diagnosis.Training.Select(r => r.LargestSingularValue).ToList())
                .AddHorizontalLine(1, "1");
            AtomicFile.WriteAllText(Path.Combine(directory, TrainingSpectraPlot), training.ToSvg());
            written.Add(TrainingSpectraPlot);
        }

        return written;
    }

    private static string Where(int layer, bool reverse) => string.Create(CultureInfo.InvariantCulture, $"layer {layer}{(reverse ? " reverse" : string.Empty)}");

    private static void PrintTable(TextWriter output, Diagnosis d)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{CellName(d.Architecture)} ({(d.Architecture == "rnn" ? d.Activation + ", " : string.Empty)}{d.Layers} layer{(d.Layers > 1 ? "s" : string.Empty)}{(d.Bidirectional ? ", bidirectional" : string.Empty)}, H={d.HiddenSize}); measured on {d.MeasuredOn}."));
        output.WriteLine();
        if (d.Recurrence is { } note)
        {
            output.WriteLine(note);
            if (d.Spectra.Count > 0)
            {
                output.WriteLine();
            }
        }

        if (d.Architecture == "lru")
        {
            output.WriteLine("Eigenvalues lambda, per layer and direction (memory: about 1 / (1 - |lambda|) steps):");
            output.WriteLine($"  {"parameter",-26}{"max |lambda|",14}{"median",10}{"min",10}{"memory (max)",14}");
            foreach (var block in d.Spectra)
            {
                var moduli = block.SingularValues;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {block.Parameter,-26}{block.SpectralRadius,14:F5}{moduli[moduli.Length / 2],10:F5}{moduli[^1],10:F5}{1 / (1 - block.SpectralRadius),14:F0}"));
            }

            if (d.Lambda.Count > 0 && d.Lambda[0].Step == 0)
            {
                var initial = d.Lambda[0].Units.Select(u => u.Modulus).ToList();
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  at initialisation (lambda.csv): |lambda| from {initial.Min():F5} to {initial.Max():F5}; {d.Lambda.Count} snapshots up to step {d.Lambda[^1].Step}."));
            }
        }
        else if (d.Spectra.Count > 0)
        {
            output.WriteLine("Recurrent weights, per gate block (sigma_max vs 1/gamma: Pascanu, Mikolov and Bengio 2013):");
            output.WriteLine($"  {"parameter",-26}{"gate",-6}{"rho",10}{"sigma_max",12}  regime");
            foreach (var block in d.Spectra)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {block.Parameter,-26}{(block.Gate.Length == 0 ? "-" : block.Gate),-6}{block.SpectralRadius,10:F4}{block.LargestSingularValue,12:F4}  {block.Regime}"));
            }
        }

        output.WriteLine();
        output.WriteLine("Gradient flow, ||dL/dh_first|| / ||dL/dh_last||:");
        output.WriteLine($"  {"layer",-18}{"total loss",14}{"last step's loss",20}");
        foreach (var profile in d.GradientFlow)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {Where(profile.Layer, profile.Reverse),-18}{profile.TotalLossRatio,14:G4}{profile.LastStepLossRatio,20:G4}"));
        }

        if (d.Jacobians.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Jacobian products ||dh_t/dh_k||_2, gain per step (fitted over the lags vs the bound beta_W gamma):");
            output.WriteLine($"  {"layer",-18}{"fitted rate",14}{"bound rate",14}{"max lag",10}");
            foreach (var profile in d.Jacobians)
            {
                string bound = double.IsFinite(profile.BoundRate) ? profile.BoundRate.ToString("G4", CultureInfo.InvariantCulture) : "n/a (gated)";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {Where(profile.Layer, profile.Reverse),-18}{profile.FittedRate,14:G4}{bound,14}{profile.MaxLag,10}"));
            }
        }

        if (d.Training.Count > 0)
        {
            var first = d.Training[0];
            var last = d.Training[^1];
            output.WriteLine();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Over training (metrics.csv): spectral radius {first.SpectralRadius:F4} at step {first.Step} -> {last.SpectralRadius:F4} at step {last.Step}; sigma_max {first.LargestSingularValue:F4} -> {last.LargestSingularValue:F4}."));
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new IO.FiniteOrNullConverter() },
    }, IO.EnumNames.CamelCase, CliJsonContext.Default, Tasks.TaskJson.Enums);

    /// <summary>Everything `unroll diagnose` measures (its JSON output).</summary>
    internal sealed record Diagnosis(
        string Architecture,
        string Activation,
        int Layers,
        int HiddenSize,
        bool Bidirectional,
        string MeasuredOn,
        int Sequences,
        int Steps,
        IReadOnlyList<BlockDiagnosis> Spectra,
        IReadOnlyList<GradientFlowProfile> GradientFlow,
        IReadOnlyList<JacobianProfile> Jacobians,
        IReadOnlyList<TrainingDiagnostics> Training)
    {
        /// <summary>For the scan cells, what their Jacobian dh_t/dh_{t-1} is (they have no W_hh); null for the others.</summary>
        public string? Recurrence { get; init; }

        /// <summary>The LRU's eigenvalues during training (lambda.csv beside the model); empty otherwise.</summary>
        public IReadOnlyList<Training.LambdaSnapshot> Lambda { get; init; } = [];

        /// <summary>The lags the LRU's exact Jacobian plot spans.</summary>
        [JsonIgnore]
        public int LambdaLags { get; init; }
    }

    internal sealed record BlockDiagnosis(
        string Parameter, string Gate, int Layer, bool Reverse, double SpectralRadius, double LargestSingularValue,
        string Regime, double[][] Eigenvalues, double[] SingularValues);

    internal sealed record TrainingDiagnostics(int Step, double SpectralRadius, double LargestSingularValue, double ClippedShare, double GradientRatio);
}
