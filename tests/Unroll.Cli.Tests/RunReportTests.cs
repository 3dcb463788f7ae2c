using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using Unroll.Cli.Reports;

namespace Unroll.Cli.Tests;

/// <summary>report.html as text: well-formed, escaped, self-contained, complete; and `unroll report`'s errors.</summary>
public class RunReportTests(TrainedRun run) : IClassFixture<TrainedRun>
{
    [Fact]
    public void TrainWritesAWellFormedSelfContainedReport()
    {
        string path = Path.Combine(run.Directory, "report.html");
        Assert.True(File.Exists(path), "unroll train wrote no report.html");
        string html = File.ReadAllText(path);
        var document = ParseAsXml(html);

        AssertSelfContained(html);
        Assert.DoesNotContain(document.Descendants(), e => e.Name.LocalName is "script" or "link" or "img" or "iframe" or "object");
        Assert.Equal("Unroll run report: run", document.Descendants("title").First().Value);

        // Every SVG of the run directory is inlined once, in its own figure.
        var files = Directory.GetFiles(run.Directory, "*.svg").Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["eigenvalues.svg", "forecast.svg", "gradient-flow.svg", "jacobian.svg", "loss.svg", "spectra-over-training.svg"], files);
        var figures = document.Descendants("figure").Where(f => f.Attribute("data-file") is not null).ToList();
        Assert.Equal(files, figures.Select(f => f.Attribute("data-file")!.Value).Order(StringComparer.Ordinal).ToList());
        Assert.All(figures, f => Assert.Single(f.Elements(InlineSvg.Namespace + "svg")));

        // The model, training and data settings and the test figures come from the run's files.
        Assert.Equal("6", Setting(document, "config-model", "hiddenSize"));
        Assert.Equal("30", Setting(document, "config-training", "steps"));
        Assert.Equal("25", Setting(document, "config-data", "options.steps"));
        string evaluation = File.ReadAllText(Path.Combine(run.Directory, "evaluation.json"));
        double oneStep = System.Text.Json.JsonDocument.Parse(evaluation).RootElement.GetProperty("figures").GetProperty("one_step_mse").GetDouble();
        var modelRow = document.Descendants("table").Single(t => (string?)t.Attribute("id") == "evaluation-table")
            .Descendants("tr").Single(tr => tr.Element("th")?.Value == "model");
        Assert.Equal(oneStep.ToString("G4", CultureInfo.InvariantCulture), modelRow.Elements("td").First().Value);

        var lastLine = File.ReadAllLines(Path.Combine(run.Directory, "metrics.csv"))[^1].Split(',');
        double finalLoss = double.Parse(lastLine[1], CultureInfo.InvariantCulture);
        Assert.Equal($"{finalLoss.ToString("G4", CultureInfo.InvariantCulture)} at step 30", Setting(document, "summary-table", "final training loss (minibatch)"));
        Assert.Matches(@"^\d+\.\d s \(", Setting(document, "summary-table", "training time"));

        // unroll train records the diagnostics columns on the first, every 100th and the last step: here steps 1 and 30.
        var diagnostics = document.Descendants("section").Single(e => (string?)e.Attribute("id") == "diagnostics");
        var recorded = File.ReadAllLines(Path.Combine(run.Directory, "metrics.csv")).Skip(1).Select(l => l.Split(','))
            .Where(cells => cells[5].Length > 0).Select(cells => cells[0]).ToList();
        Assert.Equal(["1", "30"], recorded);
        Assert.Equal(recorded, diagnostics.Descendants("tbody").Single().Elements("tr").Select(tr => tr.Elements("td").First().Value));
    }

    [Fact]
    public void ReportCommandRebuildsTheSameReport()
    {
        using var temp = new TempDirectory();
        string output = temp.File("rebuilt.html");
        var (code, stdout, error) = CliRunner.Run("report", run.Directory, "-o", output);
        Assert.True(code == 0, error);
        Assert.Contains(output, stdout, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(run.Directory, "report.html")), File.ReadAllText(output));
    }

    [Fact]
    public void TextFromTheRunIsEscapedAndForeignSvgIsDefused()
    {
        using var temp = new TempDirectory();
        string hostileName = "a<b>&\"c'd";
        string directory = run.CopyTo(temp.File(hostileName));
        File.WriteAllText(Path.Combine(directory, "x<y>&z.svg"), """
            <?xml version="1.0"?>
            <svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="50" onload="steal()">
              <script>alert('inline')</script>
              <style>@import url(https://example.com/a.css); rect { fill: url(http://example.com/p.svg#q); }</style>
              <defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>
              <rect id="box" width="100" height="50" fill="url(#g)" onclick="evil()"/>
              <image href="https://example.com/x.png" width="10" height="10"/>
              <use xlink:href="#box"/>
              <a href="javascript:evil()"><text>&lt;/svg&gt;&lt;script&gt;</text></a>
              <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
            </svg>
            """);
        Assert.Equal(0, CliRunner.Run("report", directory).ExitCode);
        string html = File.ReadAllText(Path.Combine(directory, "report.html"));
        var document = ParseAsXml(html);

        Assert.Contains("<title>Unroll run report: a&lt;b&gt;&amp;&quot;c&#39;d</title>", html, StringComparison.Ordinal);
        Assert.DoesNotContain(hostileName, html, StringComparison.Ordinal);
        Assert.Equal("Unroll run report: " + hostileName, document.Descendants("h1").Single().Value);
        AssertSelfContained(html);
        Assert.DoesNotContain("@import", html, StringComparison.Ordinal);
        Assert.DoesNotContain("javascript:", html, StringComparison.Ordinal);
        Assert.DoesNotContain(document.Descendants(), e => e.Name.LocalName is "script" or "foreignObject");
        Assert.DoesNotContain(document.Descendants().Attributes(), a => a.Name.LocalName.StartsWith("on", StringComparison.Ordinal));

        var figure = document.Descendants("figure").Single(f => (string?)f.Attribute("data-file") == "x<y>&z.svg");
        var svg = figure.Element(InlineSvg.Namespace + "svg")!;
        string gradientId = svg.Descendants(InlineSvg.Namespace + "linearGradient").Single().Attribute("id")!.Value;
        string boxId = svg.Descendants(InlineSvg.Namespace + "rect").Single().Attribute("id")!.Value;
        Assert.NotEqual("g", gradientId);
        Assert.Equal($"url(#{gradientId})", svg.Descendants(InlineSvg.Namespace + "rect").Single().Attribute("fill")!.Value);
        Assert.Equal("#" + boxId, svg.Descendants(InlineSvg.Namespace + "use").Single().Attributes().Single(a => a.Name.LocalName == "href").Value);
        Assert.Equal("</svg><script>", svg.Descendants(InlineSvg.Namespace + "text").Single().Value);
    }

    [Fact]
    public void IdsStayUniqueWhenSeveralSvgsAreInlined()
    {
        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        const string Plot = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><defs><clipPath id="plot"><rect width="10" height="10"/></clipPath></defs><g id="lines" clip-path="url(#plot)"><path d="M0 0L10 10" stroke="black"/></g></svg>""";
        foreach (var name in new[] { "eigenvalues.svg", "gradient-flow.svg", "jacobian.svg", "spectra-over-training.svg", "zz-extra.svg" })
        {
            File.WriteAllText(Path.Combine(directory, name), Plot);
        }

        Assert.Equal(0, CliRunner.Run("report", directory).ExitCode);
        var document = ParseAsXml(File.ReadAllText(Path.Combine(directory, "report.html")));
        var ids = document.Descendants().Attributes("id").Select(a => a.Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());

        var figures = document.Descendants("figure").Where(f => f.Attribute("data-file") is not null).ToList();
        // Known plots first, in the documented order, with their captions; unknown ones after, by name.
        Assert.Equal(
            ["loss.svg", "forecast.svg", "eigenvalues.svg", "gradient-flow.svg", "jacobian.svg", "spectra-over-training.svg", "zz-extra.svg"],
            figures.Select(f => f.Attribute("data-file")!.Value).ToList());
        Assert.Contains("unit circle", figures[2].Element("figcaption")!.Value, StringComparison.Ordinal);
        Assert.Equal("zz-extra.svg", figures[^1].Element("figcaption")!.Value);
        foreach (var figure in figures.Skip(2))
        {
            var svg = figure.Element(InlineSvg.Namespace + "svg")!;
            string clipId = svg.Descendants(InlineSvg.Namespace + "clipPath").Single().Attribute("id")!.Value;
            Assert.Equal($"url(#{clipId})", svg.Descendants(InlineSvg.Namespace + "g").Single().Attribute("clip-path")!.Value);
        }
    }

    [Fact]
    public void DiagnosticsColumnsGetATableAndAPlot()
    {
        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        var lines = new List<string> { "step,train_loss,validation_loss,gradient_norm,clipped,spectral_radius,largest_singular_value,clipped_share,gradient_ratio,validation_accuracy" };
        var recordedSteps = new List<int>();
        for (int step = 1; step <= 30; step++)
        {
            string line = string.Create(CultureInfo.InvariantCulture, $"{step},{1.0 / step},,{2.0 / step},0");
            if (step % 10 == 0)
            {
                recordedSteps.Add(step);
                line += string.Create(CultureInfo.InvariantCulture, $",{0.5 + (step / 100.0)},{1.25 + (step / 100.0)},0.{step / 10},{Math.Pow(10, -step / 10.0)},");
            }
            else
            {
                line += ",,,,,";
            }

            lines.Add(line);
        }

        File.WriteAllLines(Path.Combine(directory, "metrics.csv"), lines);
        Assert.Equal(0, CliRunner.Run("report", directory).ExitCode);
        var document = ParseAsXml(File.ReadAllText(Path.Combine(directory, "report.html")));
        var section = document.Descendants("section").Single(s => (string?)s.Attribute("id") == "diagnostics");
        var rows = section.Descendants("tbody").Single().Elements("tr").ToList();
        Assert.Equal(recordedSteps.Select(s => s.ToString(CultureInfo.InvariantCulture)), rows.Select(r => r.Elements("td").First().Value));
        Assert.Equal(["20", "0.7", "1.45", "0.2", "0.01"], rows[1].Elements("td").Select(td => td.Value));
        Assert.Single(section.Descendants("figure"), f => (string?)f.Attribute("data-generated") == "diagnostics");
        Assert.Single(section.Descendants("figure").Single().Elements(InlineSvg.Namespace + "svg"));
    }

    [Fact]
    public void MissingDirectoryIsRefused()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("report", temp.File("nowhere"));
        Assert.Equal(1, code);
        Assert.Equal($"error: {temp.File("nowhere")}: no such run directory.", error.Trim());
    }

    [Fact]
    public void DirectoryWithoutModelIsRefused()
    {
        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        File.Delete(Path.Combine(directory, "model.safetensors"));
        File.Delete(Path.Combine(directory, "checkpoint.safetensors"));
        File.Delete(Path.Combine(directory, "report.html"));
        var (code, _, error) = CliRunner.Run("report", directory);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {directory}: expected a run directory written by unroll train, with model.safetensors", error, StringComparison.Ordinal);
        Assert.Contains("found no model", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(directory, "report.html")));
    }

    [Fact]
    public void DirectoryWithoutMetricsIsRefused()
    {
        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        File.Delete(Path.Combine(directory, "metrics.csv"));
        var (code, _, error) = CliRunner.Run("report", directory);
        Assert.Equal(1, code);
        Assert.Contains("expected metrics.csv", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, "1,0.5,,0.3,0\n2,abc,,0.3,0\n", "metrics.csv:3: column 'train_loss' is 'abc'; expected a number.")]
    [InlineData(2, "1,0.5,,0.3\n", "metrics.csv:2: expected 5 comma-separated values as in the header, got 4.")]
    [InlineData(2, "1,0.5,,0.3,0\n1,0.4,,0.3,0\n", "metrics.csv:3: step 1 does not follow step 1; expected increasing steps.")]
    [InlineData(2, "1.5,0.5,,0.3,0\n", "metrics.csv:2: column 'step' is '1.5'; expected a step number")]
    [InlineData(2, "1,0.5,x,0.3,0\n", "metrics.csv:2: column 'validation_loss' is 'x'; expected a number or an empty cell.")]
    [InlineData(1, "loss,step\n1,0.5\n", "metrics.csv:1: expected a header with the columns 'step' and 'train_loss'")]
    public void MalformedMetricsAreRefusedWithFileAndLine(int keepLines, string replacement, string expected)
    {
        using var temp = new TempDirectory();
        string directory = run.CopyTo(temp.File("run"));
        string metrics = Path.Combine(directory, "metrics.csv");
        const string header = "step,train_loss,validation_loss,gradient_norm,clipped";
        File.WriteAllText(metrics, (keepLines == 2 ? header + "\n" : string.Empty) + replacement);
        byte[] before = File.ReadAllBytes(Path.Combine(directory, "report.html"));
        var (code, _, error) = CliRunner.Run("report", directory);
        Assert.Equal(1, code);
        Assert.Contains(Path.Combine(directory, expected), error, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(directory, "report.html")));
    }

    [Fact]
    public void DivergedRunGetsAReportFromItsLastCheckpoint()
    {
        using var temp = new TempDirectory();
        string directory = temp.File("run");
        var (code, _, _) = CliRunner.Run("train", "-o", directory, "--optimizer", "sgd", "--lr", "1e30", "--lr-schedule", "constant", "--clip-norm", "0",
            "--hidden", "8", "--steps", "50", "--checkpoint-every", "1", "--seq-length", "20", "--train-count", "8", "--validation-count", "2", "--test-count", "2");
        Assert.Equal(1, code);
        var document = ParseAsXml(File.ReadAllText(Path.Combine(directory, "report.html")));
        Assert.Contains("of 50 planned", Setting(document, "summary-table", "steps recorded"), StringComparison.Ordinal);
        // Only the sections that have data: no evaluation section, a line in the summary saying why.
        Assert.DoesNotContain(document.Descendants("section"), s => (string?)s.Attribute("id") == "evaluation");
        Assert.StartsWith("none: the run ended before its evaluation", Setting(document, "summary-table", "evaluation"), StringComparison.Ordinal);
        Assert.Equal("8", Setting(document, "config-model", "hiddenSize"));
    }

    [Fact]
    public void TaskRunsGetAReportWithTheirOwnFigures()
    {
        using var temp = new TempDirectory();
        string directory = temp.File("adding");
        var (code, _, error) = CliRunner.Run("train", "adding", "--length", "10", "--steps", "20", "--hidden", "4", "--train-count", "64", "--validation-count", "16", "--test-count", "16", "-o", directory);
        Assert.True(code == 0, error);
        string html = File.ReadAllText(Path.Combine(directory, "report.html"));
        var document = ParseAsXml(html);
        AssertSelfContained(html);
        var figures = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "evaluation.json"))).RootElement.GetProperty("figures");
        var table = document.Descendants("table").Single(t => (string?)t.Attribute("id") == "evaluation-table");
        var rows = table.Descendants("tr").Where(tr => tr.Element("th") is not null && tr.Elements("td").Any()).ToDictionary(tr => tr.Element("th")!.Value, tr => tr.Elements("td").First().Value);
        Assert.Equal(figures.GetProperty("loss").GetDouble().ToString("G4", CultureInfo.InvariantCulture), rows["model"]);
        Assert.Equal(figures.GetProperty("baseline_loss").GetDouble().ToString("G4", CultureInfo.InvariantCulture), rows["memoryless baseline"]);
        Assert.Contains("Evaluation on the test part", html, StringComparison.Ordinal);
        Assert.Contains("training time", html, StringComparison.Ordinal);
    }

    /// <summary>The report is XHTML-compatible: an XML parser must read it whole.</summary>
    internal static XDocument ParseAsXml(string html)
    {
        Assert.StartsWith("<!DOCTYPE html>\n", html, StringComparison.Ordinal);
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = null };
        using var reader = XmlReader.Create(new StringReader(html), settings);
        return XDocument.Load(reader);
    }

    /// <summary>No address outside the page: the only URLs are the SVG and XLink namespace names.</summary>
    internal static void AssertSelfContained(string html)
    {
        foreach (Match match in Regex.Matches(html, @"https?://[^""'\s)<>]*"))
        {
            string before = html[Math.Max(0, match.Index - 16)..match.Index];
            bool svgNamespace = before.EndsWith(" xmlns=\"", StringComparison.Ordinal) && match.Value == "http://www.w3.org/2000/svg";
            bool xlinkNamespace = before.EndsWith(" xmlns:xlink=\"", StringComparison.Ordinal) && match.Value == "http://www.w3.org/1999/xlink";
            Assert.True(svgNamespace || xlinkNamespace, $"external address in the report: ...{before}{match.Value}");
        }

        Assert.DoesNotMatch(@"\b(src|href)\s*=\s*""(?!#)", html);
        Assert.DoesNotContain("url(", html.Replace("url(#", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    private static string Setting(XDocument document, string tableId, string name) =>
        document.Descendants("table").Single(t => (string?)t.Attribute("id") == tableId)
            .Descendants("tr").Single(tr => tr.Element("th")?.Value == name).Element("td")!.Value;
}
