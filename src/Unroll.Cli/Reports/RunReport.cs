using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml;
using Unroll.Data;
using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Training;

namespace Unroll.Cli.Reports;

/// <summary>
/// report.html of a run directory: one self-contained page (inline CSS and SVG, no script, no
/// external reference; a Content-Security-Policy forbids loading anything) with the summary of
/// metrics.csv, the evaluation, every SVG plot of the directory, the training-time diagnostics
/// columns when present, and the model, training and data settings from the model file's metadata.
/// </summary>
internal static class RunReport
{
    /// <summary>The report's file name in a run directory.</summary>
    public const string FileName = "report.html";

    /// <summary>The columns the training-time diagnostics add to metrics.csv.</summary>
    public static readonly IReadOnlyList<string> DiagnosticColumns = ["spectral_radius", "largest_singular_value", "clipped_share", "gradient_ratio"];

    /// <summary>Captions of the plots unroll writes, in the order the report shows them; other SVG files follow by name.</summary>
    public static readonly IReadOnlyList<(string File, string Caption)> KnownPlots =
    [
        ("loss.svg", "Training (minibatch) and validation loss against the optimiser step, log scale."),
        ("forecast.svg", "The first test sequence: the truth x(t+dt), the one-step prediction (every input true) and the free-running forecast (the model's own x fed back)."),
        ("eigenvalues.svg", "Eigenvalues of the recurrent weight blocks W_hh (the LRU: its eigenvalues lambda) in the complex plane, with the unit circle: modes outside it grow under h_t = W h_{t-1}, modes inside decay."),
        ("lambda.svg", "The LRU's eigenvalues lambda in the complex plane at initialisation and over training (lambda.csv), with the unit circle: the recurrence is v_t = diag(lambda) v_{t-1} + ..., so each unit keeps |lambda| of its state per step."),
        ("lambda-decay.svg", "The LRU's decay per step 1 - |lambda| (log scale) against the phase arg lambda, at initialisation and over training: a unit at 1 - |lambda| = 1/n remembers about n steps and rotates by arg lambda per step."),
        ("gradient-flow.svg", "||dL/dh_t|| against t, log scale, for the total loss (solid) and the last step's loss alone (dashed): the dashed line's slope is the per-step decay (vanishing) or growth (exploding) of the gradient carried back through time."),
        ("jacobian.svg", "Geometric mean of ||dh_t/dh_k||_2 against the lag t - k, log scale, with the fitted rate per step and, for the Elman cell, the bound (sigma_max(W_hh) gamma)^lag (dashed); for the LRU, the exact max |lambda|^lag."),
        ("spectra-over-training.svg", "The largest spectral radius and singular value over the W_hh blocks during training, from metrics.csv; 1 separates decay from growth."),
    ];

    private const string RunKey = Training.RunSettings.MetadataKey;

    // What each data source's metadata entry is, as a heading.
    private static readonly Dictionary<string, string> DataHeadings = new(StringComparer.Ordinal)
    {
        [OscillatorDataDescription.MetadataKey] = "Data: the oscillator",
        [Data.Tasks.TaskDataDescription.MetadataKey] = "Data: the task",
        [Data.Text.TextCorpusOptions.MetadataKey] = "Data: the text",
        [Data.Images.ImageSequenceDescription.MetadataKey] = "Data: the images",
        [Data.Tables.TimeSeriesTask.MetadataKey] = "Data: the CSV series",
        [Tasks.DataFingerprint.MetadataKey] = "Data: SHA-256 of the files",
    };
    private const string TrainingKey = Training.TrainingRun.TrainingKey;

    /// <summary>Builds the report of <paramref name="runDirectory"/> and writes it atomically to <paramref name="outputPath"/> (default DIR/report.html).</summary>
    /// <returns>The path written.</returns>
    /// <exception cref="UnrollException">The directory is missing, holds no model or metrics, or a file in it is malformed.</exception>
    public static string Write(string runDirectory, string? outputPath = null)
    {
        string html = Build(runDirectory);
        string path = string.IsNullOrEmpty(outputPath) ? Path.Combine(runDirectory, FileName) : outputPath;
        AtomicFile.WriteAllText(path, html);
        return path;
    }

    /// <summary>The report's HTML for <paramref name="runDirectory"/>.</summary>
    /// <exception cref="UnrollException">The directory is missing, holds no model or metrics, or a file in it is malformed.</exception>
    public static string Build(string runDirectory)
    {
        var run = RunContents.Read(runDirectory);
        return new Writer(run).Render();
    }

    /// <summary>What a run directory holds, read and checked.</summary>
    private sealed record RunContents(
        string Directory,
        string Name,
        string MetadataSource,
        ModelConfig Config,
        int ParameterCount,
        IReadOnlyDictionary<string, string> Metadata,
        double? TrainingSeconds,
        MetricsTable Metrics,
        Tasks.Evaluation? Evaluation,
        Tasks.Evaluation? BestEvaluation,
        IReadOnlyList<(string File, string Text)> Plots)
    {
        public static RunContents Read(string directory)
        {
            if (string.IsNullOrWhiteSpace(directory) || !System.IO.Directory.Exists(directory))
            {
                throw new UnrollException(File.Exists(directory)
                    ? $"{directory}: expected a run directory written by unroll train, got a file."
                    : $"{directory}: no such run directory.");
            }

            string modelPath = Path.Combine(directory, Training.RunDirectory.ModelFileName);
            string checkpointPath = Path.Combine(directory, Checkpoint.FileName);
            string metricsPath = Path.Combine(directory, "metrics.csv");
            if (!File.Exists(modelPath) && !File.Exists(checkpointPath))
            {
                throw new UnrollException(
                    $"{directory}: expected a run directory written by unroll train, with {Training.RunDirectory.ModelFileName} (or {Checkpoint.FileName}) and metrics.csv; found no model.");
            }

            if (!File.Exists(metricsPath))
            {
                throw new UnrollException($"{directory}: expected metrics.csv beside the model (a run directory written by unroll train); found none.");
            }

            // The model file describes the finished run; a run stopped before its end has only the checkpoint.
            // The checkpoint also carries the training time, which the model file leaves out so that equal
            // seeds give byte-identical models.
            LoadedCheckpoint? checkpoint = File.Exists(checkpointPath) ? Checkpoint.Load(checkpointPath) : null;
            IRecurrentModel<float> model;
            IReadOnlyDictionary<string, string> metadata;
            string source;
            if (File.Exists(modelPath))
            {
                var loaded = ModelFile.Load(modelPath);
                (model, metadata, source) = (loaded.Model, loaded.Metadata, modelPath);
            }
            else
            {
                (model, metadata, source) = (checkpoint!.Model, checkpoint.Metadata, checkpointPath);
            }

            double? seconds = checkpoint is not null && checkpoint.Metadata.TryGetValue(RunKey, out var runJson)
                ? Training.RunSettings.FromJson(runJson, checkpointPath).TrainingSeconds
                : null;

            var metrics = MetricsTable.Read(metricsPath);
            string evaluationPath = Path.Combine(directory, "evaluation.json");
            var evaluation = ReadEvaluation(evaluationPath);
            var bestEvaluation = ReadEvaluation(Path.Combine(directory, Training.RunDirectory.BestEvaluationFileName));

            var plots = System.IO.Directory.GetFiles(directory, "*.svg")
                .Select(path => Path.GetFileName(path))
                .OrderBy(PlotOrder)
                .ThenBy(name => name, StringComparer.Ordinal)
                .Select(name => (name, File.ReadAllText(Path.Combine(directory, name))))
                .ToList();
            string fullPath = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
            return new RunContents(directory, Path.GetFileName(fullPath), source, model.Config, model.Parameters.Count, metadata, seconds, metrics, evaluation, bestEvaluation, plots);
        }

        private static Tasks.Evaluation? ReadEvaluation(string path) => File.Exists(path)
            ? Tasks.Evaluation.FromJson(string.Join('\n', IO.InputFile.ReadAllLines(path, "a run's evaluation (JSON)")), path)
            : null;

        private static int PlotOrder(string file)
        {
            for (int i = 0; i < KnownPlots.Count; i++)
            {
                if (string.Equals(KnownPlots[i].File, file, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            return KnownPlots.Count;
        }
    }

    private static JsonDocument ParseJson(string json, string path, string? key)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            string where = key is null ? path : $"{path}: metadata '{key}'";
            throw new UnrollException($"{where}: expected JSON, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>Writes the page; every piece of text from the run goes through <see cref="Html.Encode"/>.</summary>
    private sealed class Writer(RunContents run)
    {
        private readonly StringBuilder _html = new();
        private int _svgCount;

        public string Render()
        {
            string title = $"Unroll run report: {run.Name}";
            _html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n")
                // Nothing may be fetched: the page must read the same offline and years later.
                .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\" />\n")
                .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n")
                .Append("<meta name=\"generator\" content=\"unroll report\" />\n")
                .Append("<title>").Append(Html.Encode(title)).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n");
            _html.Append("<header>\n<h1 id=\"title\">").Append(Html.Encode(title)).Append("</h1>\n<p class=\"lede\">")
                .Append(Html.Encode(Describe())).Append("</p>\n");
            // Only the sections that have something to show.
            _html.Append("<nav><a href=\"#summary\">Summary</a>")
                .Append(run.Evaluation is null ? string.Empty : " <a href=\"#evaluation\">Evaluation</a>")
                .Append(run.Plots.Count == 0 ? string.Empty : " <a href=\"#plots\">Plots</a>");
            if (HasDiagnostics)
            {
                _html.Append(" <a href=\"#diagnostics\">Diagnostics</a>");
            }

            _html.Append(" <a href=\"#configuration\">Configuration</a></nav>\n</header>\n<main>\n");
            WriteSummary();
            WriteEvaluation();
            WritePlots();
            if (HasDiagnostics)
            {
                WriteDiagnostics();
            }

            WriteConfiguration();
            _html.Append("</main>\n<footer><p>Written by <code>unroll report</code> from ")
                .Append(Html.Encode(Path.GetFileName(run.MetadataSource))).Append(", metrics.csv")
                .Append(run.Evaluation is null ? string.Empty : ", evaluation.json")
                .Append(run.Plots.Count == 0 ? string.Empty : Html.Encode(", " + string.Join(", ", run.Plots.Select(p => p.File))))
                .Append(Html.Encode(". Rebuild it with: unroll report ")).Append(Html.Encode(run.Directory)).Append("</p></footer>\n</body>\n</html>\n");
            return _html.ToString();
        }

        private static string? ScanCellNote(ModelConfig config) => config.Architecture switch
        {
            Architecture.MinGru => "The minGRU has no W_hh: its gate z_t = sigmoid(W_z x_t + b_z) reads the input alone, and its Jacobian dh_t/dh_{t-1} is diag(a_t) with a_t = 1 - z_t in (0, 1). The gradient reaching step k from step t is scaled unit by unit by a_t ... a_{k+1}: it survives where a unit keeps its gate closed.",
            Architecture.MinLstm => "The minLSTM has no W_hh: its gates f, i read the input alone, and its Jacobian dh_t/dh_{t-1} is diag(a_t) with a_t = f / (f + i) in (0, 1). The gradient reaching step k from step t is scaled unit by unit by a_t ... a_{k+1}: it survives where a unit keeps f' near 1.",
            Architecture.Lru => "The LRU has no W_hh: its recurrence v_t = diag(lambda) v_{t-1} + gamma B x_t is diagonal, so its Jacobian is diag(lambda) for every input, and ||dv_t/dv_k||_2 = max |lambda|^(t-k) exactly. Its eigenvalues lambda at initialisation and over training are in lambda.svg and lambda-decay.svg (from lambda.csv).",
            _ => null,
        };

        private bool HasDiagnostics => DiagnosticColumns.All(run.Metrics.Has);

        private string Describe()
        {
            var config = run.Config;
            string cell = Training.ModelDescription.CellName(config);
            string layers = config.Layers > 1 ? $"{config.Layers} layers of " : string.Empty;
            string direction = config.Bidirectional ? "bidirectional " : string.Empty;
            string inputs = config.InputNames.Count > 0 ? $" ({string.Join(", ", config.InputNames)})" : string.Empty;
            string outputs = config.OutputNames.Count > 0 ? $" ({string.Join(", ", config.OutputNames)})" : string.Empty;
            return string.Create(CultureInfo.InvariantCulture,
                $"{layers}{direction}{cell}, H = {config.HiddenSize}, {config.InputSize} input{(config.InputSize == 1 ? string.Empty : "s")}{inputs} to {config.OutputSize} output{(config.OutputSize == 1 ? string.Empty : "s")}{outputs}, {run.ParameterCount} parameters.");
        }

        private void WriteSummary()
        {
            var metrics = run.Metrics;
            _html.Append("<section id=\"summary\">\n<h2>Summary</h2>\n");
            if (metrics.Rows.Count == 0)
            {
                _html.Append("<p>metrics.csv holds no steps.</p>\n</section>\n");
                return;
            }

            var step = metrics.Column("step")!;
            var train = metrics.Column("train_loss")!;
            var rows = new List<(string Name, string Value)>();
            int? planned = PlannedSteps();
            rows.Add(("steps recorded", string.Create(CultureInfo.InvariantCulture,
                $"{metrics.Rows.Count} (last step {step[^1]}{(planned is { } p ? $" of {p} planned" : string.Empty)})")));
            rows.Add(("final training loss (minibatch)", $"{Number(train[^1])} at step {Number(step[^1])}"));
            if (Best(train) is { } bestTrain)
            {
                rows.Add(("best training loss (minibatch)", $"{Number(train[bestTrain])} at step {Number(step[bestTrain])}"));
            }

            if (metrics.Column("validation_loss") is { } validation)
            {
                int last = Array.FindLastIndex(validation, v => !double.IsNaN(v));
                if (last >= 0)
                {
                    rows.Add(("final validation loss", $"{Number(validation[last])} at step {Number(step[last])}"));
                }

                if (Best(validation) is { } bestValidation)
                {
                    rows.Add(("best validation loss", $"{Number(validation[bestValidation])} at step {Number(step[bestValidation])}"));
                }
            }

            if (metrics.Column("gradient_norm") is { } norms && norms.Where(double.IsFinite).ToArray() is { Length: > 0 } finite)
            {
                Array.Sort(finite);
                rows.Add(("gradient norm before clipping", $"final {Number(norms[^1])}, median {Number(finite[finite.Length / 2])}, largest {Number(finite[^1])}"));
            }

            if (metrics.Column("clipped") is { } clipped)
            {
                int count = clipped.Count(c => c > 0);
                rows.Add(("steps clipped", string.Create(CultureInfo.InvariantCulture, $"{count} of {clipped.Length} ({100.0 * count / clipped.Length:F1}%)")));
            }

            int firstBad = Array.FindIndex(train, v => !double.IsFinite(v));
            if (firstBad >= 0)
            {
                rows.Add(("diverged", $"the training loss is {Number(train[firstBad])} at step {Number(step[firstBad])}"));
            }

            if (run.Evaluation is null)
            {
                rows.Add(("evaluation", "none: the run ended before its evaluation (it diverged, or no step finished)"));
            }

            if (run.TrainingSeconds is { } seconds)
            {
                rows.Add(("training time", string.Create(CultureInfo.InvariantCulture, $"{seconds:F1} s ({metrics.Rows.Count / Math.Max(seconds, 1e-9):F1} steps/s, wall clock)")));
            }
            WriteKeyValueTable(rows, "summary-table");
            _html.Append("</section>\n");
        }

        private int? PlannedSteps()
        {
            if (!run.Metadata.TryGetValue(TrainingKey, out var json))
            {
                return null;
            }

            using var document = ParseJson(json, run.MetadataSource, TrainingKey);
            // A time-budgeted run plans as many steps as its budget holds (int.MaxValue in its options): no number to show.
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("steps", out var steps)
                && steps.ValueKind == JsonValueKind.Number && steps.TryGetInt32(out int value) && value != int.MaxValue ? value : null;
        }

        private static int? Best(double[] values)
        {
            int best = -1;
            for (int i = 0; i < values.Length; i++)
            {
                if (double.IsFinite(values[i]) && (best < 0 || values[i] < values[best]))
                {
                    best = i;
                }
            }

            return best < 0 ? null : best;
        }

        private void WriteEvaluation()
        {
            if (run.Evaluation is not { } e)
            {
                return;
            }

            _html.Append("<section id=\"evaluation\">\n<h2>").Append(Html.Encode($"Evaluation on the {e.Split} part")).Append("</h2>\n<p>")
                .Append(Html.Encode(e.Data + ".")).Append("</p>\n");
            if (run.BestEvaluation is { } best)
            {
                // The kept model first: the one eval, predict and sample use when given the run directory.
                _html.Append("<h3>The best model (best.safetensors: the lowest validation loss)</h3>\n");
                WriteEvaluationTable(best.Summary, "best-evaluation-table");
                _html.Append("<h3>The last model (model.safetensors)</h3>\n");
            }

            WriteEvaluationTable(e.Summary, "evaluation-table");
            foreach (string note in e.Notes)
            {
                _html.Append("<p class=\"note\">").Append(Html.Encode(note)).Append("</p>\n");
            }

            if (e.Breakdown is { } breakdown)
            {
                _html.Append("<h3>").Append(Html.Encode(breakdown.Title)).Append("</h3>\n");
                WriteEvaluationTable(breakdown, "evaluation-breakdown");
            }

            _html.Append("</section>\n");
        }

        private void WriteEvaluationTable(Tasks.EvaluationTable table, string id)
        {
            _html.Append("<table class=\"numbers\" id=\"").Append(id).Append("\">\n<thead><tr><th></th>");
            foreach (string column in table.Columns)
            {
                _html.Append("<th>").Append(Html.Encode(column)).Append("</th>");
            }

            _html.Append("</tr></thead>\n<tbody>\n");
            foreach (var row in table.Rows)
            {
                _html.Append("<tr><th>").Append(Html.Encode(row.Name)).Append("</th>");
                for (int c = 0; c < table.Columns.Count; c++)
                {
                    _html.Append("<td>").Append(Html.Encode(Tasks.Evaluation.Format(c < row.Values.Count ? row.Values[c] : double.NaN))).Append("</td>");
                }

                _html.Append("</tr>\n");
            }

            _html.Append("</tbody>\n</table>\n");
        }

        private void WritePlots()
        {
            if (run.Plots.Count == 0)
            {
                return;
            }

            _html.Append("<section id=\"plots\">\n<h2>Plots</h2>\n");
            foreach (var (file, text) in run.Plots)
            {
                string caption = KnownPlots.FirstOrDefault(k => string.Equals(k.File, file, StringComparison.Ordinal)).Caption ?? file;
                _html.Append("<figure class=\"plot\" data-file=\"").Append(Html.Encode(file)).Append("\">\n");
                try
                {
                    _html.Append(InlineSvg.Prepare(text, NextPrefix())).Append('\n');
                }
                catch (XmlException e)
                {
                    _html.Append("<p class=\"error\">").Append(Html.Encode($"{file} could not be shown: {e.Message}")).Append("</p>\n");
                }

                _html.Append("<figcaption><strong>").Append(Html.Encode(file)).Append("</strong>");
                if (!string.Equals(caption, file, StringComparison.Ordinal))
                {
                    _html.Append(": ").Append(Html.Encode(caption));
                }

                _html.Append("</figcaption>\n</figure>\n");
            }

            _html.Append("</section>\n");
        }

        private void WriteDiagnostics()
        {
            var metrics = run.Metrics;
            var step = metrics.Column("step")!;
            var columns = DiagnosticColumns.Select(name => metrics.Column(name)!).ToArray();
            var recorded = Enumerable.Range(0, step.Length).Where(i => columns.Any(c => !double.IsNaN(c[i]))).ToList();
            _html.Append("<section id=\"diagnostics\">\n<h2>Diagnostics during training</h2>\n");
            if (recorded.Count == 0)
            {
                _html.Append("<p>metrics.csv has the diagnostics columns, but no step recorded them.</p>\n</section>\n");
                return;
            }

            bool spectra = recorded.Any(i => !double.IsNaN(columns[0][i]));
            if (ScanCellNote(run.Config) is { } note)
            {
                // The scan cells have no W_hh: say what their Jacobian is instead of showing empty spectra.
                _html.Append("<p class=\"note\" id=\"recurrence\">").Append(Html.Encode(note)).Append("</p>\n");
            }

            _html.Append("<p>Recorded at ").Append(recorded.Count).Append(recorded.Count == 1 ? " step" : " steps")
                .Append(spectra
                    ? ": the spectral radius and largest singular value of W_hh, the share of steps clipped since the previous record, and the gradient ratio ||dL/dh_1|| / ||dL/dh_T|| of the total loss (docs/diagnostics.md). A value above 1 in the first two allows the state, and so the gradient, to grow; below 1 it must shrink.</p>\n"
                    : ": the share of steps clipped since the previous record and the gradient ratio ||dL/dh_1|| / ||dL/dh_T|| of the total loss (docs/diagnostics.md); the cell has no W_hh, so the spectral columns are empty.</p>\n");
            var x = recorded.Select(i => step[i]).ToList();
            var chart = new Chart { Title = spectra ? "W_hh over training" : "Gradient ratio over training", XLabel = "step", YLabel = "value (log scale)", LogY = true };
            if (spectra)
            {
                chart.AddLine("spectral radius", x, recorded.Select(i => columns[0][i]).ToList())
                    .AddLine("largest singular value", x, recorded.Select(i => columns[1][i]).ToList());
            }

            chart.AddLine("gradient ratio", x, recorded.Select(i => columns[3][i]).ToList(), dashed: true)
                .AddHorizontalLine(1, "1");
            _html.Append("<figure class=\"plot generated\" data-generated=\"diagnostics\">\n")
                .Append(InlineSvg.Prepare(chart.ToSvg(720, 360), NextPrefix()))
                .Append(spectra
                    ? "\n<figcaption>Spectral radius, largest singular value and gradient ratio from metrics.csv against the step.</figcaption>\n</figure>\n"
                    : "\n<figcaption>Gradient ratio from metrics.csv against the step.</figcaption>\n</figure>\n");

            // A long run records many rows; an even sample (always with the first and last) keeps the table readable.
            const int MaxRows = 25;
            var shown = recorded.Count <= MaxRows
                ? recorded
                : Enumerable.Range(0, MaxRows).Select(k => recorded[(int)Math.Round(k * (recorded.Count - 1) / (double)(MaxRows - 1))]).Distinct().ToList();
            _html.Append("<table class=\"numbers\" id=\"diagnostics-table\">\n<thead><tr><th>step</th>");
            foreach (var name in DiagnosticColumns)
            {
                _html.Append("<th>").Append(Html.Encode(name)).Append("</th>");
            }

            _html.Append("</tr></thead>\n<tbody>\n");
            foreach (int i in shown)
            {
                _html.Append("<tr><td>").Append(Html.Encode(Number(step[i]))).Append("</td>");
                foreach (var column in columns)
                {
                    _html.Append("<td>").Append(Html.Encode(double.IsNaN(column[i]) ? string.Empty : Number(column[i]))).Append("</td>");
                }

                _html.Append("</tr>\n");
            }

            _html.Append("</tbody>\n</table>\n");
            if (shown.Count < recorded.Count)
            {
                _html.Append("<p class=\"note\">").Append(shown.Count).Append(" of ").Append(recorded.Count).Append(" recorded rows, evenly spaced; metrics.csv has them all.</p>\n");
            }

            _html.Append("</section>\n");
        }

        private void WriteConfiguration()
        {
            _html.Append("<section id=\"configuration\">\n<h2>Configuration</h2>\n<p>From the metadata of ")
                .Append(Html.Encode(Path.GetFileName(run.MetadataSource))).Append(".</p>\n<div class=\"config-grid\">\n");
            WriteJsonTable("Model", ModelFile.ConfigKey, "config-model");
            WriteJsonTable("Training options", TrainingKey, "config-training");
            WriteJsonTable("Run", RunKey, "config-run");
            var others = run.Metadata.Keys
                .Where(k => k is not (ModelFile.ConfigKey or TrainingKey or RunKey or ModelFile.FormatKey or Checkpoint.StateKey or Checkpoint.FormatKey))
                .OrderBy(k => k, StringComparer.Ordinal)
                .ToList();
            foreach (var key in others)
            {
                if (key == Data.Text.Vocabulary.MetadataKey)
                {
                    // The token list can run to thousands of words: its size and level say enough here.
                    var vocabulary = Data.Text.Vocabulary.FromJson(run.Metadata[key]);
                    _html.Append("<div>\n<h3>Vocabulary <span class=\"key\">").Append(Html.Encode(key)).Append("</span></h3>\n");
                    WriteKeyValueTable([("level", vocabulary.Level.ToString().ToLowerInvariant()), ("tokens", vocabulary.Count.ToString(CultureInfo.InvariantCulture))], null);
                    _html.Append("</div>\n");
                    continue;
                }

                if (key == Tasks.DataFingerprint.MetadataKey)
                {
                    _html.Append("<div>\n<h3>").Append(Html.Encode(DataHeadings[key])).Append(" <span class=\"key\">").Append(Html.Encode(key)).Append("</span></h3>\n");
                    WriteKeyValueTable([("sha256", run.Metadata[key])], null);
                    _html.Append("</div>\n");
                    continue;
                }

                WriteJsonTable(DataHeadings.GetValueOrDefault(key, key), key, key == OscillatorDataDescription.MetadataKey ? "config-data" : null);
            }

            _html.Append("</div>\n</section>\n");
        }

        private void WriteJsonTable(string heading, string key, string? id)
        {
            if (!run.Metadata.TryGetValue(key, out var json))
            {
                return;
            }

            var rows = new List<(string, string)>();
            JsonDocument? document = null;
            try
            {
                document = JsonDocument.Parse(json);
            }
            catch (JsonException)
            {
                // A key some other tool wrote need not be JSON: show it as text.
                if (key.StartsWith("unroll.", StringComparison.Ordinal))
                {
                    throw new UnrollException($"{run.MetadataSource}: metadata '{key}': expected JSON, got '{json}'.");
                }

                rows.Add((key, json));
            }

            using (document)
            {
                if (document is not null)
                {
                    Flatten(document.RootElement, string.Empty, rows);
                }
            }

            _html.Append("<div>\n<h3>").Append(Html.Encode(heading)).Append(" <span class=\"key\">").Append(Html.Encode(key)).Append("</span></h3>\n");
            WriteKeyValueTable(rows, id);
            _html.Append("</div>\n");
        }

        /// <summary>Nested objects become dotted names (optimizer.kind); arrays of plain values one comma-separated cell.</summary>
        private static void Flatten(JsonElement element, string prefix, List<(string, string)> rows)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        Flatten(property.Value, prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}", rows);
                    }

                    if (prefix.Length > 0 && !element.EnumerateObject().Any())
                    {
                        rows.Add((prefix, "{}"));
                    }

                    break;
                case JsonValueKind.Array when element.EnumerateArray().All(item => item.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array)):
                    rows.Add((prefix, string.Join(", ", element.EnumerateArray().Select(Scalar))));
                    break;
                case JsonValueKind.Array:
                    int index = 0;
                    foreach (var item in element.EnumerateArray())
                    {
                        Flatten(item, $"{prefix}[{index++}]", rows);
                    }

                    break;
                default:
                    rows.Add((prefix.Length == 0 ? "value" : prefix, Scalar(element)));
                    break;
            }
        }

        // Whole numbers as they are (sizes, seeds, counts); others with six significant digits.
        private static string Scalar(JsonElement value) => value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() ?? string.Empty,
            JsonValueKind.Null => "–",
            JsonValueKind.Number when !value.TryGetInt64(out _) && value.TryGetDouble(out double number) => number.ToString("G6", CultureInfo.InvariantCulture),
            _ => value.GetRawText(),
        };

        private void WriteKeyValueTable(IEnumerable<(string Name, string Value)> rows, string? id)
        {
            _html.Append("<table class=\"settings\"");
            if (id is not null)
            {
                _html.Append(" id=\"").Append(Html.Encode(id)).Append('"');
            }

            _html.Append(">\n<tbody>\n");
            foreach (var (name, value) in rows)
            {
                _html.Append("<tr><th>").Append(Html.Encode(name)).Append("</th><td>").Append(Html.Encode(value)).Append("</td></tr>\n");
            }

            _html.Append("</tbody>\n</table>\n");
        }

        private string NextPrefix() => $"plot{++_svgCount}-";

        private static string Number(double value) => double.IsNaN(value) ? "NaN" : value.ToString("G4", CultureInfo.InvariantCulture);
    }

    private const string Css = """
        :root { color-scheme: light; --ink: #1d232a; --muted: #5a6570; --rule: #d7dde3; --band: #f3f5f7; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink); background: #fff; }
        header, main, footer { max-width: 1000px; margin: 0 auto; padding: 0 20px; }
        header { padding-top: 24px; border-bottom: 1px solid var(--rule); }
        h1 { font-size: 1.6em; margin: 0 0 4px; }
        h2 { font-size: 1.25em; margin: 32px 0 8px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
        h3 { font-size: 1.05em; margin: 20px 0 6px; }
        .lede { color: var(--muted); margin: 0 0 10px; }
        nav { margin: 0 0 12px; }
        nav a { margin-right: 14px; color: #1f5f99; text-decoration: none; }
        table { border-collapse: collapse; margin: 8px 0; }
        th, td { padding: 4px 12px 4px 0; text-align: left; vertical-align: top; border-bottom: 1px solid var(--band); }
        table.numbers td { font-variant-numeric: tabular-nums; text-align: right; padding-left: 16px; }
        table.settings th { font-weight: 500; color: var(--muted); min-width: 12em; }
        .config-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 0 32px; }
        .config-grid table.settings td { word-break: break-word; }
        .key { font: 0.8em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); font-weight: normal; }
        code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        figure.plot { margin: 16px 0 24px; }
        figure.plot svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--band); }
        figcaption { color: var(--muted); font-size: 0.92em; margin-top: 6px; max-width: 720px; }
        .note { color: var(--muted); font-size: 0.92em; }
        .error { color: #a31515; }
        footer { color: var(--muted); font-size: 0.85em; margin-top: 32px; padding-bottom: 24px; border-top: 1px solid var(--rule); }

        """;
}
