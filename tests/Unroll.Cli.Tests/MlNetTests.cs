using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Unroll.ML;

namespace Unroll.Cli.Tests;

/// <summary>
/// Unroll.ML in ML.NET pipelines: every kind of estimator trains, transforms, predicts through a PredictionEngine, saves
/// with mlContext.Model.Save and loads in a fresh MLContext, and the loaded pipeline predicts what `unroll predict`
/// predicts on the same model file.
/// </summary>
public sealed class MlNetTests
{
    private const int Steps = 10;

    /// <summary>A sequence of fixed length (10 steps of 2 values) and one value per sequence.</summary>
    public sealed class FixedRow
    {
        [VectorType(Steps * 2)]
        public float[] Features { get; set; } = [];

        public float Label { get; set; }
    }

    /// <summary>A sequence of any length (steps of 1 value) and one value per step.</summary>
    public sealed class VariableRow
    {
        public float[] Features { get; set; } = [];

        public float[] Label { get; set; } = [];
    }

    /// <summary>A sequence of fixed length and a class name.</summary>
    public sealed class ClassRow
    {
        [VectorType(Steps * 2)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = string.Empty;
    }

    public sealed class ScalarPrediction
    {
        public float Score { get; set; }
    }

    public sealed class VectorPrediction
    {
        public float[] Score { get; set; } = [];
    }

    public sealed class ClassPrediction
    {
        public float[] Score { get; set; } = [];

        public uint PredictedLabel { get; set; }
    }

    public sealed class ForecastPrediction
    {
        public float[] Forecast { get; set; } = [];
    }

    // The label is a weighted sum of the first input over the sequence: an RNN learns it, a constant does not.
    private static List<FixedRow> FixedRows(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<FixedRow>();
        for (int n = 0; n < count; n++)
        {
            var x = new float[Steps * 2];
            double sum = 0;
            for (int t = 0; t < Steps; t++)
            {
                x[2 * t] = (float)(random.NextDouble() - 0.5);
                x[(2 * t) + 1] = (float)(random.NextDouble() - 0.5);
                sum += x[2 * t] * (t + 1) / Steps;
            }

            rows.Add(new FixedRow { Features = x, Label = (float)sum });
        }

        return rows;
    }

    // Lengths 4 to 9: the label at every step is the running sum of the inputs so far.
    private static List<VariableRow> VariableRows(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<VariableRow>();
        for (int n = 0; n < count; n++)
        {
            int steps = 4 + (n % 6);
            var x = new float[steps];
            var y = new float[steps];
            float sum = 0;
            for (int t = 0; t < steps; t++)
            {
                x[t] = (float)(random.NextDouble() - 0.5);
                sum += x[t];
                y[t] = sum;
            }

            rows.Add(new VariableRow { Features = x, Label = y });
        }

        return rows;
    }

    [Fact]
    public void SequenceRegressionTrainsSavesLoadsAndMatchesTheCli()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(FixedRows(256, seed: 1));
        var testRows = FixedRows(8, seed: 2);
        var estimator = ml.Unroll().SequenceRegression(new UnrollSequenceOptions { InputSize = 2, HiddenSize = 12, Steps = 150, LearningRate = 0.02, Seed = 3, ValidationFraction = 0.125 });
        var model = estimator.Fit(train);

        // It learned: the held-out loss is well below the label's variance (what predicting the mean gives).
        var labels = FixedRows(256, seed: 1).Select(r => (double)r.Label).ToArray();
        double variance = labels.Select(v => (v - labels.Average()) * (v - labels.Average())).Average();
        Assert.NotNull(model.ValidationLoss);
        Assert.True(model.ValidationLoss < 0.3 * variance, $"validation MSE {model.ValidationLoss} against a variance of {variance}");
        Assert.Equal(150, model.History.Count);

        var engine = ml.Model.CreatePredictionEngine<FixedRow, ScalarPrediction>(model);
        var before = testRows.Select(r => engine.Predict(r).Score).ToArray();
        var transformed = ml.Data.CreateEnumerable<ScalarPrediction>(model.Transform(ml.Data.LoadFromEnumerable(testRows)), reuseRowObject: false).Select(p => p.Score).ToArray();
        Assert.Equal(before, transformed);

        string zip = directory.File("model.zip");
        ml.Model.Save(model, train.Schema, zip);
        var fresh = new MLContext(seed: 9);
        var loaded = fresh.Model.Load(zip, out var schema);
        Assert.Equal(train.Schema.Count, schema.Count);
        var loadedEngine = fresh.Model.CreatePredictionEngine<FixedRow, ScalarPrediction>(loaded);
        var after = testRows.Select(r => loadedEngine.Predict(r).Score).ToArray();
        Assert.Equal(before, after);

        string modelFile = directory.File("model.safetensors");
        model.SaveModelFile(modelFile);
        var cli = CliPredictions(directory, modelFile, testRows.Select(r => r.Features).ToList(), inputs: 2);
        Assert.Equal(testRows.Count, cli.Count);
        for (int n = 0; n < testRows.Count; n++)
        {
            Assert.Equal(cli[n][0], after[n], 1e-6);
        }
    }

    [Fact]
    public void StepRegressionOnSequencesOfManyLengthsMatchesTheCli()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var rows = VariableRows(120, seed: 4);
        var train = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Unroll().StepRegression(new UnrollSequenceOptions { Architecture = "gru", HiddenSize = 8, Steps = 120, BatchSize = 8, LearningRate = 0.03 }).Fit(train);

        // Every step of training read sequences of one length, and the loss fell.
        Assert.Equal(120, model.History.Count);
        Assert.True(model.History.TakeLast(10).Average(m => m.TrainLoss) < 0.5 * model.History.Take(10).Average(m => m.TrainLoss));

        string zip = directory.File("steps.zip");
        ml.Model.Save(model, train.Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);
        var testRows = VariableRows(6, seed: 5);
        var predictions = new MLContext().Data.CreateEnumerable<VectorPrediction>(loaded.Transform(ml.Data.LoadFromEnumerable(testRows)), reuseRowObject: false).ToList();

        string modelFile = directory.File("steps.safetensors");
        model.SaveModelFile(modelFile);
        var cli = CliPredictions(directory, modelFile, testRows.Select(r => r.Features).ToList(), inputs: 1);
        for (int n = 0; n < testRows.Count; n++)
        {
            Assert.Equal(testRows[n].Features.Length, predictions[n].Score.Length);
            Assert.Equal(cli[n].Length, predictions[n].Score.Length);
            for (int t = 0; t < cli[n].Length; t++)
            {
                Assert.Equal(cli[n][t], predictions[n].Score[t], 1e-6);
            }
        }
    }

    [Fact]
    public void SequenceClassificationGivesTheCliProbabilitiesAndClassAsAKey()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var rows = FixedRows(192, seed: 6).Select(r => new ClassRow { Features = r.Features, Label = r.Label > 0.1 ? "up" : r.Label < -0.1 ? "down" : "flat" }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Unroll().SequenceClassification(new UnrollSequenceOptions { InputSize = 2, Architecture = "rnn", HiddenSize = 16, Steps = 200, LearningRate = 0.02 }));
        var model = pipeline.Fit(data);
        var unroll = model.LastTransformer;
        Assert.Equal(3, unroll.Config.OutputSize);

        string zip = directory.File("classes.zip");
        ml.Model.Save(model, data.Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);
        var engine = new MLContext().Model.CreatePredictionEngine<ClassRow, ClassPrediction>(loaded);
        var testRows = rows.Take(12).ToList();
        var predictions = testRows.Select(r => engine.Predict(r)).Select(p => (p.Score.ToArray(), p.PredictedLabel)).ToList();

        // Better than the most frequent class on the training rows it saw.
        var keys = ml.Data.CreateEnumerable<KeyRow>(model.Transform(data), reuseRowObject: false).ToList();
        double accuracy = keys.Count(k => k.Label == k.PredictedLabel) / (double)keys.Count;
        double majority = keys.GroupBy(k => k.Label).Max(g => g.Count()) / (double)keys.Count;
        Assert.True(accuracy > majority + 0.1, $"accuracy {accuracy}, most frequent class {majority}");

        // PredictedLabel is a key with the label's key values: MapKeyToValue gives the class names back, after loading too.
        var names = new MLContext().Transforms.Conversion.MapKeyToValue("PredictedName", "PredictedLabel").Fit(loaded.Transform(data)).Transform(loaded.Transform(data));
        VBuffer<ReadOnlyMemory<char>> labelNames = default;
        names.Schema["Label"].GetKeyValues(ref labelNames);
        var keyNames = labelNames.DenseValues().Select(v => v.ToString()).ToArray();
        Assert.Equal(["up", "flat", "down"], keyNames.Order().Reverse().ToArray());
        var named = ml.Data.CreateEnumerable<NamedRow>(names, reuseRowObject: false).ToList();
        Assert.Equal(rows.Count, named.Count);
        for (int n = 0; n < rows.Count; n++)
        {
            Assert.Equal(keyNames[named[n].PredictedLabel - 1], named[n].PredictedName);
        }

        Assert.True(named.Count(r => r.PredictedName == rows[named.IndexOf(r)].Label) > rows.Count / 2);

        string modelFile = directory.File("classes.safetensors");
        unroll.SaveModelFile(modelFile);
        var cli = CliPredictions(directory, modelFile, testRows.Select(r => r.Features).ToList(), inputs: 2);
        for (int n = 0; n < testRows.Count; n++)
        {
            // class,p_class0,p_class1,p_class2: the CLI's class is 0-based, the key 1-based.
            Assert.Equal((uint)cli[n][0] + 1, predictions[n].PredictedLabel);
            for (int c = 0; c < 3; c++)
            {
                Assert.Equal(cli[n][c + 1], predictions[n].Item1[c], 1e-6);
            }
        }
    }

    public sealed class NamedRow
    {
        public uint PredictedLabel { get; set; }

        public string PredictedName { get; set; } = string.Empty;
    }

    public sealed class KeyRow
    {
        public uint Label { get; set; }

        public uint PredictedLabel { get; set; }
    }

    [Fact]
    public void ForecastingPredictsTheStepAfterTheLastAsTheCliDoes()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        // Sine waves of random phase and frequency, 12 to 20 steps long.
        var random = new Random(7);
        var rows = Enumerable.Range(0, 100).Select(n =>
        {
            double phase = random.NextDouble() * 6.28, frequency = 0.3 + (0.2 * random.NextDouble());
            return new VariableRow { Features = [.. Enumerable.Range(0, 12 + (n % 9)).Select(t => (float)Math.Sin(phase + (frequency * t)))] };
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.Unroll().Forecasting(new UnrollSequenceOptions { HiddenSize = 16, Steps = 200, LearningRate = 0.02, LabelColumnName = "none" }).Fit(data);
        Assert.True(model.History.TakeLast(10).Average(m => m.TrainLoss) < 0.2 * model.History.Take(10).Average(m => m.TrainLoss));

        var engine = ml.Model.CreatePredictionEngine<VariableRow, ForecastPrediction>(model);
        var testRows = rows.Take(5).ToList();
        var forecasts = testRows.Select(r => engine.Predict(r).Forecast.ToArray()).ToList();

        string modelFile = directory.File("forecast.safetensors");
        model.SaveModelFile(modelFile);
        var cli = CliPredictions(directory, modelFile, testRows.Select(r => r.Features).ToList(), inputs: 1);
        for (int n = 0; n < testRows.Count; n++)
        {
            Assert.Single(forecasts[n]);
            Assert.Equal(cli[n][^1], forecasts[n][0], 1e-6);
        }
    }

    [Fact]
    public void TheModelIsDecodedOncePerLoadedPipelineNotPerRow()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(FixedRows(16, seed: 1));
        var model = ml.Unroll().SequenceRegression(new UnrollSequenceOptions { InputSize = 2, HiddenSize = 4, Steps = 2 }).Fit(train);
        string zip = directory.File("once.zip");
        ml.Model.Save(model, train.Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);

        int before = Volatile.Read(ref ModelCache.Decodes);
        var scores = ml.Data.CreateEnumerable<ScalarPrediction>(loaded.Transform(ml.Data.LoadFromEnumerable(FixedRows(200, seed: 3))), reuseRowObject: false).ToList();
        Assert.Equal(200, scores.Count);
        Assert.Equal(1, Volatile.Read(ref ModelCache.Decodes) - before);
    }

    [Fact]
    public void PredictionsFromMoreThreadsThanCoresAreTheSequentialOnes()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext(seed: 1);
        var rows = VariableRows(64, seed: 11);
        var model = ml.Unroll().StepRegression(new UnrollSequenceOptions { Architecture = "lstm", HiddenSize = 6, Steps = 20, BatchSize = 8 }).Fit(ml.Data.LoadFromEnumerable(rows));
        string zip = directory.File("threads.zip");
        ml.Model.Save(model, ml.Data.LoadFromEnumerable(rows).Schema, zip);
        var loaded = new MLContext().Model.Load(zip, out _);

        var sequential = rows.Select(r => ml.Model.CreatePredictionEngine<VariableRow, VectorPrediction>(loaded).Predict(r).Score.ToArray()).ToList();
        // Eight threads on two cores, each with its own engine (an engine serves one thread), all on the one decoded model.
        var parallel = new float[rows.Count][];
        var mismatches = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 8).Select(k => new Thread(() =>
        {
            try
            {
                var engine = ml.Model.CreatePredictionEngine<VariableRow, VectorPrediction>(loaded);
                for (int round = 0; round < 5; round++)
                {
                    for (int n = k; n < rows.Count; n += 8)
                    {
                        var score = engine.Predict(rows[n]).Score.ToArray();
                        if (!score.SequenceEqual(sequential[n]))
                        {
                            mismatches.Enqueue($"row {n}, round {round}, thread {k}");
                        }

                        parallel[n] = score;
                    }
                }
            }
            catch (Exception e)
            {
                mismatches.Enqueue($"thread {k}: {e}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(mismatches);
        for (int n = 0; n < rows.Count; n++)
        {
            Assert.Equal(sequential[n], parallel[n]);
        }

        // ML.NET's own parallel cursors over the same chain give the same values too.
        var transformed = ml.Data.CreateEnumerable<VectorPrediction>(loaded.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).Select(p => p.Score).ToList();
        Assert.Equal(sequential, transformed);
    }

    [Fact]
    public void TheSameSeedGivesTheSameModel()
    {
        using var directory = new TempDirectory();
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(VariableRows(40, seed: 8));
        var options = new UnrollSequenceOptions { HiddenSize = 6, Steps = 30, BatchSize = 4, Seed = 5, ValidationFraction = 0.2 };
        ml.Unroll().StepRegression(options).Fit(data).SaveModelFile(directory.File("a.safetensors"));
        ml.Unroll().StepRegression(options).Fit(data).SaveModelFile(directory.File("b.safetensors"));
        ml.Unroll().StepRegression(options with { Seed = 6 }).Fit(data).SaveModelFile(directory.File("c.safetensors"));
        Assert.Equal(File.ReadAllBytes(directory.File("a.safetensors")), File.ReadAllBytes(directory.File("b.safetensors")));
        Assert.NotEqual(File.ReadAllBytes(directory.File("a.safetensors")), File.ReadAllBytes(directory.File("c.safetensors")));
    }

    [Fact]
    public void BadColumnsAndOptionsAreOneClearMessage()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(FixedRows(8, seed: 1));
        var unroll = ml.Unroll();
        Assert.Contains("FeatureColumnName: expected a column 'Missing' in the data, got the columns 'Features', 'Label'",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { FeatureColumnName = "Missing", InputSize = 2 }).Fit(data)).Message);
        Assert.Contains("Label: expected a vector of float (T * I values per row), got a column of type Single".Replace("T * I", "T * O"),
            Assert.Throws<UnrollException>(() => unroll.StepRegression(new UnrollSequenceOptions { InputSize = 2 }).Fit(data)).Message);
        Assert.Contains("Label: expected a key (convert the labels with mlContext.Transforms.Conversion.MapValueToKey), got a column of type Single",
            Assert.Throws<UnrollException>(() => unroll.SequenceClassification(new UnrollSequenceOptions { InputSize = 2 }).Fit(data)).Message);
        Assert.Contains("Features, row 0: expected a whole number of steps of InputSize = 3 values (T * 3, T >= 1), got 20 values.",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { InputSize = 3 }).Fit(data)).Message);
        Assert.Contains("LearningRate: expected a rate above zero, got NaN.",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { LearningRate = double.NaN })).Message);
        Assert.Contains("Bidirectional: a model that answers at every step",
            Assert.Throws<UnrollException>(() => unroll.Forecasting(new UnrollSequenceOptions { Bidirectional = true })).Message);
        Assert.Contains("Patience: expected ValidationFraction above zero",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { Patience = 3 })).Message);
        Assert.Contains("model: expected architecture rnn, lstm, gru, jordan, lru, mingru or minlstm, got 'transformer'.",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { InputSize = 2, Architecture = "transformer" }).Fit(data)).Message);

        var nan = FixedRows(4, seed: 1);
        nan[2].Features[5] = float.NaN;
        Assert.Contains("Features, row 2: expected finite values, got NaN at position 5.",
            Assert.Throws<UnrollException>(() => unroll.SequenceRegression(new UnrollSequenceOptions { InputSize = 2 }).Fit(ml.Data.LoadFromEnumerable(nan))).Message);

        // A row of the wrong length at prediction time: the message names the user's column.
        var model = unroll.SequenceRegression(new UnrollSequenceOptions { InputSize = 2, Steps = 1 }).Fit(data);
        var engine = ml.Model.CreatePredictionEngine<VariableRow, VectorPrediction>(
            unroll.StepRegression(new UnrollSequenceOptions { InputSize = 2, Steps = 1 }).Fit(ml.Data.LoadFromEnumerable(new[] { new VariableRow { Features = new float[4], Label = new float[2] } })));
        var error = Record.Exception(() => engine.Predict(new VariableRow { Features = new float[5] }));
        Assert.Contains("Features: expected a whole number of steps of 2 values (T * 2, T >= 1), got 5 values.", Flatten(error));
        _ = model;
    }

    private static string Flatten(Exception? error)
    {
        var messages = new List<string>();
        for (var e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
        }

        return string.Join(" | ", messages);
    }

    // `unroll predict MODEL --input long.csv` on sequences of `inputs` values per step: each sequence's output rows,
    // flattened (per-step models: the steps' values in order; classifiers: class then probabilities).
    private static List<double[]> CliPredictions(TempDirectory directory, string modelFile, IReadOnlyList<float[]> sequences, int inputs)
    {
        var csv = new StringBuilder("seq,t," + string.Join(",", Enumerable.Range(0, inputs).Select(i => $"input{i}")) + "\n");
        for (int n = 0; n < sequences.Count; n++)
        {
            for (int t = 0; t < sequences[n].Length / inputs; t++)
            {
                csv.Append(CultureInfo.InvariantCulture, $"s{n},{t}");
                for (int i = 0; i < inputs; i++)
                {
                    csv.Append(',').Append(sequences[n][(t * inputs) + i].ToString("R", CultureInfo.InvariantCulture));
                }

                csv.Append('\n');
            }
        }

        string input = directory.File($"input-{Guid.NewGuid():N}.csv"), output = directory.File($"output-{Guid.NewGuid():N}.csv");
        File.WriteAllText(input, csv.ToString());
        var (code, _, error) = CliRunner.Run("predict", modelFile, "--input", input, "--output", output);
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(output);
        bool perStep = lines[0].StartsWith("seq,t,", StringComparison.Ordinal);
        return lines.Skip(1).Select(line => line.Split(','))
            .GroupBy(fields => fields[0])
            .Select(group => group.SelectMany(fields => fields.Skip(perStep ? 2 : 1).Select(f => double.Parse(f, CultureInfo.InvariantCulture))).ToArray())
            .ToList();
    }
}
