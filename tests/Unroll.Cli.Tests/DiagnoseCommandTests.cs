using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Unroll.Diagnostics;
using Unroll.Tensors;

namespace Unroll.Cli.Tests;

/// <summary>Two small trained runs (an Elman RNN and an LSTM) shared by the diagnose tests.</summary>
public sealed class DiagnosedRuns : IDisposable
{
    private static readonly string[] SmallRun =
    [
        "--hidden", "6", "--steps", "40", "--batch-size", "8", "--seq-length", "30", "--diagnose-every", "10",
        "--train-count", "16", "--validation-count", "4", "--test-count", "4", "--validate-every", "20",
    ];

    public DiagnosedRuns()
    {
        foreach (var (cell, directory) in new[] { ("rnn", Rnn), ("lstm", Lstm) })
        {
            var (code, output, error) = CliRunner.Run(["train", "--model", cell, "-o", directory, .. SmallRun]);
            Assert.True(code == 0, error);
            TrainOutput[cell] = output;
        }
    }

    internal TempDirectory Temp { get; } = new();

    public string Rnn => Temp.File("rnn");

    public string Lstm => Temp.File("lstm");

    public Dictionary<string, string> TrainOutput { get; } = [];

    public void Dispose() => Temp.Dispose();
}

/// <summary>`unroll train --diagnose-every` and `unroll diagnose`: metrics columns, table, JSON, plots and bad inputs.</summary>
public class DiagnoseCommandTests(DiagnosedRuns runs) : IClassFixture<DiagnosedRuns>
{
    private static readonly string[] Plots = ["eigenvalues.svg", "gradient-flow.svg", "jacobian.svg", "spectra-over-training.svg"];

    [Fact]
    public void TrainWritesDiagnosticColumnsOnDiagnosticStepsAndThePlots()
    {
        var lines = File.ReadAllLines(Path.Combine(runs.Rnn, "metrics.csv"));
        var header = lines[0].Split(',');
        Assert.Equal(["spectral_radius", "largest_singular_value", "clipped_share", "gradient_ratio"], header[5..9]);
        var diagnosed = new List<int>();
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split(',');
            Assert.Equal(header.Length, fields.Length);
            bool filled = fields[5].Length > 0;
            Assert.All(fields[5..9], f => Assert.Equal(filled, f.Length > 0));
            if (filled)
            {
                diagnosed.Add(int.Parse(fields[0], CultureInfo.InvariantCulture));
                double radius = Number(fields[5]), largest = Number(fields[6]), share = Number(fields[7]), ratio = Number(fields[8]);
                Assert.True(radius > 0 && largest >= radius * (1 - 1e-12), $"rho {radius}, sigma_max {largest}");
                Assert.InRange(share, 0, 1);
                Assert.True(ratio > 0 && double.IsFinite(ratio), $"gradient ratio {ratio}");
            }
        }

        Assert.Equal([1, 10, 20, 30, 40], diagnosed);
        foreach (var plot in Plots)
        {
            XDocument.Parse(File.ReadAllText(Path.Combine(runs.Rnn, plot)));
            Assert.Contains(plot, runs.TrainOutput["rnn"], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void JsonHasEveryNumberAndAgreesWithTheWeights()
    {
        using var temp = new TempDirectory();
        string model = Path.Combine(runs.Rnn, "model.safetensors");
        var (code, output, error) = CliRunner.Run("diagnose", model, "--json", "-o", temp.Path, "--sequences", "2", "--end-steps", "2");
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("sequences").GetInt32());
        Assert.Equal(30, root.GetProperty("steps").GetInt32());

        var weights = Unroll.IO.SafeTensors.Read(model).Get("rnn.weight_hh_l0").Values;
        var block = Assert.Single(root.GetProperty("spectra").EnumerateArray());
        Assert.Equal(SingularValues.Of(weights, 6, 6)[0], block.GetProperty("largestSingularValue").GetDouble(), 12);
        Assert.Equal(Eigen.SpectralRadius(weights, 6), block.GetProperty("spectralRadius").GetDouble(), 12);
        Assert.Equal(6, block.GetProperty("eigenvalues").GetArrayLength());
        Assert.Contains(block.GetProperty("regime").GetString(), new[] { "vanishing guaranteed", "may explode", "neither" });

        var flow = Assert.Single(root.GetProperty("gradientFlow").EnumerateArray());
        Assert.Equal(30, flow.GetProperty("totalLoss").GetArrayLength());
        Assert.Equal(30, flow.GetProperty("lastStepLoss").GetArrayLength());
        var total = flow.GetProperty("totalLoss");
        Assert.Equal(total[0].GetDouble() / total[29].GetDouble(), flow.GetProperty("totalLossRatio").GetDouble(), 12);

        var jacobian = Assert.Single(root.GetProperty("jacobians").EnumerateArray());
        Assert.Equal([29, 22], jacobian.GetProperty("endSteps").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(4, jacobian.GetProperty("norms").GetArrayLength());
        Assert.Equal(23, jacobian.GetProperty("geometricMeanNorms").GetArrayLength());
        Assert.Equal(block.GetProperty("largestSingularValue").GetDouble(), jacobian.GetProperty("boundRate").GetDouble(), 12);

        Assert.Equal([1, 10, 20, 30, 40], root.GetProperty("training").EnumerateArray().Select(r => r.GetProperty("step").GetInt32()));
        foreach (var plot in Plots)
        {
            XDocument.Parse(File.ReadAllText(Path.Combine(temp.Path, plot)));
        }
    }

    [Fact]
    public void TableNamesTheRegimesAndGatedCellsHaveNoBound()
    {
        using var temp = new TempDirectory();
        var (code, output, error) = CliRunner.Run("diagnose", Path.Combine(runs.Lstm, "model.safetensors"), "-o", temp.Path);
        Assert.True(code == 0, error);
        foreach (var gate in new[] { " i ", " f ", " g ", " o " })
        {
            Assert.Contains(gate, output, StringComparison.Ordinal);
        }

        Assert.Contains("n/a (gated cell)", output, StringComparison.Ordinal);
        Assert.Contains("n/a (gated)", output, StringComparison.Ordinal);
        Assert.Contains("fitted rate", output, StringComparison.Ordinal);
        Assert.Contains("Over training", output, StringComparison.Ordinal);

        (code, output, error) = CliRunner.Run("diagnose", Path.Combine(runs.Lstm, "model.safetensors"), "--json", "-o", temp.Path);
        Assert.True(code == 0, error);
        using var json = JsonDocument.Parse(output);
        var jacobian = Assert.Single(json.RootElement.GetProperty("jacobians").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, jacobian.GetProperty("boundRate").ValueKind);
        Assert.Equal(4, json.RootElement.GetProperty("spectra").GetArrayLength());
        Assert.Equal(30, Assert.Single(json.RootElement.GetProperty("gradientFlow").EnumerateArray()).GetProperty("totalLossCell").GetArrayLength());
    }

    [Fact]
    public void BadInputsGiveOneClearErrorAndWriteNothing()
    {
        using var temp = new TempDirectory();
        string model = Path.Combine(runs.Rnn, "model.safetensors");
        string missing = temp.File("none.safetensors");
        AssertUserError(["diagnose", missing], "none.safetensors");
        AssertUserError(["diagnose", model, "--sequences", "0"], "--sequences");
        AssertUserError(["diagnose", model, "--end-steps", "0"], "--end-steps");
        AssertUserError(["diagnose", model, "--max-lag", "30"], "--max-lag");
        AssertUserError(["diagnose", model, "--test-count", "0"], "--test-count");
        File.WriteAllText(temp.File("a-file"), "x");
        AssertUserError(["diagnose", model, "-o", temp.File("a-file")], "a-file");

        // A model file that names no data (an imported model): its spectra, and a line saying why there is nothing more.
        var loaded = Unroll.Models.ModelFile.Load(model);
        string bare = temp.File("bare", "bare.safetensors");
        Unroll.Models.ModelFile.Save(bare, loaded.Model);
        var (bareCode, bareOutput, bareError) = CliRunner.Run("diagnose", bare);
        Assert.True(bareCode == 0, bareError);
        Assert.Contains("measured on no data (the model file names no data source", bareOutput, StringComparison.Ordinal);
        Assert.True(File.Exists(temp.File("bare", "eigenvalues.svg")));
        Assert.False(File.Exists(temp.File("bare", "gradient-flow.svg")));

        // A Jordan network has no W_hh.
        string jordan = temp.File("jordan");
        Assert.Equal(0, CliRunner.Run("train", "--model", "jordan", "-o", jordan, "--hidden", "4", "--steps", "2", "--seq-length", "10",
            "--train-count", "4", "--validation-count", "2", "--test-count", "2").ExitCode);
        Assert.False(File.Exists(Path.Combine(jordan, "eigenvalues.svg")));
        AssertUserError(["diagnose", Path.Combine(jordan, "model.safetensors")], "hidden-state network");

        // A broken metrics.csv beside the model is named with its line.
        string copy = temp.File("copy");
        Directory.CreateDirectory(copy);
        File.Copy(model, Path.Combine(copy, "model.safetensors"));
        var lines = File.ReadAllLines(Path.Combine(runs.Rnn, "metrics.csv"));
        var cells = lines[1].Split(',');
        cells[5] = "abc"; // spectral_radius, recorded at step 1
        lines[1] = string.Join(',', cells);
        File.WriteAllLines(Path.Combine(copy, "metrics.csv"), lines);
        AssertUserError(["diagnose", Path.Combine(copy, "model.safetensors")], "metrics.csv:2: column 'spectral_radius' is 'abc'");
        Assert.Empty(Directory.GetFiles(copy, "*.svg"));

        Assert.Equal(2, CliRunner.Run("diagnose", model, "--no-such-option").ExitCode);
        Assert.Equal(2, CliRunner.Run("diagnose").ExitCode);
    }

    private static void AssertUserError(string[] args, string expected)
    {
        var (code, output, error) = CliRunner.Run(args);
        Assert.True(code == 1, $"{string.Join(' ', args)}: exit {code}; {output}{error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);
}
