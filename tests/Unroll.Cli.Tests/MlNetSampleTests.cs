using Microsoft.ML;
using Microsoft.ML.Data;
using Unroll.ML;

namespace Unroll.Cli.Tests;

/// <summary>The complete program of docs/mlnet.md runs here as written, and the page shows this code.</summary>
public sealed class MlNetSampleTests
{
    public sealed class Wave
    {
        [VectorType(20)]
        public float[] Values { get; set; } = [];

        public float Frequency { get; set; }
    }

    public sealed class Estimate
    {
        public float Score { get; set; }
    }

    [Fact]
    public void TheSampleTrainsSavesLoadsAndPredicts()
    {
        using var directory = new TempDirectory();
        string previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = directory.Path;
        try
        {
            var (rmse, first, truth) = Sample();
            Assert.True(rmse < 0.05, $"test RMSE {rmse} against frequencies spread uniformly over 0.2 to 0.8 (standard deviation 0.17)");
            Assert.Equal(truth, first, 0.1);
            Assert.True(File.Exists(directory.File("waves.zip")) && File.Exists(directory.File("waves.safetensors")));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Fact]
    public void ThePageShowsThisCode()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Unroll.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root (Unroll.slnx) is not above the test's directory");
        }

        string page = File.ReadAllText(Path.Combine(root, "docs", "mlnet.md"));
        int start = page.IndexOf("```csharp\n", StringComparison.Ordinal) + "```csharp\n".Length;
        var shown = page[start..page.IndexOf("```", start, StringComparison.Ordinal)].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        string source = File.ReadAllText(Path.Combine(root, "tests", "Unroll.Cli.Tests", "MlNetSampleTests.cs"));
        int begin = source.IndexOf("// sample:begin", StringComparison.Ordinal), end = source.IndexOf("// sample:end", StringComparison.Ordinal);
        var tested = source[begin..end].Split('\n').Skip(1).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith("return", StringComparison.Ordinal)).ToList();
        // The page's program, line by line in order, holds every line the test runs.
        int at = 0;
        foreach (string line in tested)
        {
            at = shown.IndexOf(line, at);
            Assert.True(at >= 0, $"docs/mlnet.md's program lacks the tested line: {line}");
        }
    }

    private static (double Rmse, float First, float Truth) Sample()
    {
        // sample:begin
        var ml = new MLContext(seed: 1);

        // Each row is a sine wave of 20 steps; the label is its frequency (radians per step).
        var random = new Random(1);
        var rows = Enumerable.Range(0, 400).Select(_ =>
        {
            float frequency = 0.2f + (0.6f * random.NextSingle()), phase = 6.28f * random.NextSingle();
            return new Wave { Values = [.. Enumerable.Range(0, 20).Select(t => MathF.Sin(phase + (frequency * t)))], Frequency = frequency };
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 1);

        var pipeline = ml.Unroll().SequenceRegression(new UnrollSequenceOptions
        {
            FeatureColumnName = nameof(Wave.Values),
            LabelColumnName = nameof(Wave.Frequency),
            Architecture = "lstm",
            HiddenSize = 16,
            Steps = 400,
            Seed = 1,
        });
        var model = pipeline.Fit(split.TrainSet);
        var metrics = ml.Regression.Evaluate(model.Transform(split.TestSet), labelColumnName: nameof(Wave.Frequency));
        Console.WriteLine($"test RMSE {metrics.RootMeanSquaredError:F4} (frequencies from 0.2 to 0.8)");

        // Save and load as any ML.NET model; the Unroll model travels inside the zip.
        ml.Model.Save(model, data.Schema, "waves.zip");
        var loaded = new MLContext().Model.Load("waves.zip", out _);
        var engine = ml.Model.CreatePredictionEngine<Wave, Estimate>(loaded);
        Console.WriteLine($"first wave: predicted {engine.Predict(rows[0]).Score:F3}, true {rows[0].Frequency:F3}");

        // The same model as an Unroll model file: unroll predict, eval --input and export --onnx read it.
        model.SaveModelFile("waves.safetensors");
        // sample:end
        return (metrics.RootMeanSquaredError, engine.Predict(rows[0]).Score, rows[0].Frequency);
    }
}
