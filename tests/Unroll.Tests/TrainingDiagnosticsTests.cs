using Unroll.Data;
using Unroll.Diagnostics;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>The diagnostics the trainer records every DiagnoseEvery steps, and their place in checkpoints.</summary>
public class TrainingDiagnosticsTests
{
    private static readonly OscillatorDataset Data = OscillatorDataset.Generate(
        new OscillatorDatasetOptions { TrainCount = 8, ValidationCount = 4, TestCount = 4, Steps = 20 }, seed: 4);

    [Fact]
    public void DiagnosticsAreRecordedOnTheFirstEveryNthAndLastStep()
    {
        var model = TrainerTests.NewModel(6, seed: 2);
        var initial = Spectra.Of(model);

        // The whole training set in every batch: the batch norms of dL/dh_t do not depend on the shuffled order.
        var flow = Assert.Single(GradientFlow.Measure(model, Data.Train, sequences: 8));
        var history = new Trainer(model, new TrainingOptions { Steps = 12, BatchSize = 8, ClipNorm = 0.05, DiagnoseEvery = 5 }).Run(Data.Train, null);

        Assert.Equal([1, 5, 10, 12], history.Where(m => m.HasDiagnostics).Select(m => m.Step));
        Assert.All(history.Where(m => !m.HasDiagnostics), m =>
            Assert.True(double.IsNaN(m.SpectralRadius) && double.IsNaN(m.LargestSingularValue) && double.IsNaN(m.GradientRatio)));

        // Step 1 sees the initial weights and the initial gradient flow.
        var first = history[0];
        Assert.Equal(initial.Max(s => s.SpectralRadius), first.SpectralRadius, 12);
        // sigma_max by power iteration (stopped at a relative change of 1e-10) against every singular value by Jacobi.
        double sigma = initial.Max(s => s.LargestSingularValue);
        Assert.True(Math.Abs(first.LargestSingularValue - sigma) <= 1e-8 * sigma, $"sigma_max {first.LargestSingularValue} vs {sigma}");
        double expectedRatio = flow.TotalLoss[0] / flow.TotalLoss[^1];
        Assert.True(Math.Abs(first.GradientRatio - expectedRatio) <= 1e-4 * expectedRatio, $"ratio {first.GradientRatio} vs {expectedRatio}");
        Assert.NotEqual(first.SpectralRadius, history[^1].SpectralRadius);

        // The clipped share counts the steps since the previous diagnostic step.
        Assert.Equal(history[0].Clipped ? 1.0 : 0.0, history[0].ClippedShare);
        Assert.Equal(history.Skip(1).Take(4).Count(m => m.Clipped) / 4.0, history[4].ClippedShare);
        Assert.Equal(history.Skip(5).Take(5).Count(m => m.Clipped) / 5.0, history[9].ClippedShare);
        Assert.Equal(history.Skip(10).Count(m => m.Clipped) / 2.0, history[11].ClippedShare);
        Assert.Contains(history, m => m.Clipped);
    }

    [Fact]
    public void ZeroTurnsTheDiagnosticsOffAndNegativeIsRefused()
    {
        var model = TrainerTests.NewModel(4, seed: 2);
        var history = new Trainer(model, new TrainingOptions { Steps = 3, BatchSize = 4, DiagnoseEvery = 0 }).Run(Data.Train, null);
        Assert.DoesNotContain(history, m => m.HasDiagnostics);
        var error = Assert.Throws<UnrollException>(() => new TrainingOptions { DiagnoseEvery = -1 }.Validate());
        Assert.Contains("diagnose-every", error.Message, StringComparison.Ordinal);
        Assert.Null(TrainingOptions.FromJson("{}").DiagnoseEvery);
    }

    [Fact]
    public void TheDefaultIntervalIsEveryHundredStepsUnlessTheRecurrentWeightsAreLarge()
    {
        SequenceModel<float> Lstm(int hidden, int vocabulary) => new(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 64, HiddenSize = hidden, OutputSize = vocabulary, VocabularySize = vocabulary,
            Head = HeadKind.Classification,
        });

        // The oscillator's and the tasks' models: unchanged.
        Assert.Equal(100, Trainer.AutomaticDiagnosticInterval(TrainerTests.NewModel(64, seed: 1), 100 * 32));
        Assert.Equal(100, Trainer.AutomaticDiagnosticInterval(Lstm(64, 10), 100 * 32));
        // The char LM of docs/results.md (H = 512, windows of 100 x 32): four 512 x 512 eigenproblems are worth
        // about 23 of its steps, so every 500 keeps them near 5%.
        int large = Trainer.AutomaticDiagnosticInterval(Lstm(512, 66), 100 * 32);
        Assert.Equal(500, large);
        // Larger blocks or smaller batches: less often, always a multiple of 100.
        int wider = Trainer.AutomaticDiagnosticInterval(Lstm(1024, 66), 100 * 32);
        int smaller = Trainer.AutomaticDiagnosticInterval(Lstm(512, 66), 50 * 32);
        Assert.True(wider > large && smaller > large, $"{wider}, {smaller} against {large}");
        Assert.Equal(0, wider % 100);
        Assert.Equal(0, smaller % 100);
    }

    [Fact]
    public void CheckpointsKeepTheDiagnosticsAndOldCheckpointsStillLoad()
    {
        var model = TrainerTests.NewModel(4, seed: 2);
        var trainer = new Trainer(model, new TrainingOptions { Steps = 4, BatchSize = 4, DiagnoseEvery = 2 });
        trainer.Run(Data.Train, null);
        string directory = Path.Combine(Path.GetTempPath(), "unroll-diagnostics-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string path = Path.Combine(directory, Checkpoint.FileName);
            Checkpoint.Save(path, model, trainer.CaptureState(), new Dictionary<string, string>());
            var loaded = Checkpoint.Load(path).State.History;
            Assert.Equal(trainer.History, loaded);
            Assert.Equal(3, loaded.Count(m => m.HasDiagnostics));

            // A checkpoint written before the diagnostics had 5 metrics columns.
            var file = SafeTensors.Read(path);
            var tensors = file.Tensors.Select(t => t.Name != "trainer.metrics" ? t
                : new StoredTensor(t.Name, t.DType, [t.Shape[0], 5], Enumerable.Range(0, t.Shape[0]).SelectMany(r => t.Values.Skip(r * 10).Take(5)).ToArray())).ToList();
            SafeTensors.Write(path, tensors, file.Metadata);
            var old = Checkpoint.Load(path).State.History;
            Assert.Equal(trainer.History.Select(m => (m.Step, m.TrainLoss, m.GradientNorm, m.Clipped)), old.Select(m => (m.Step, m.TrainLoss, m.GradientNorm, m.Clipped)));
            Assert.DoesNotContain(old, m => m.HasDiagnostics);

            tensors = file.Tensors.Select(t => t.Name != "trainer.metrics" ? t : new StoredTensor(t.Name, t.DType, [t.Shape[0] * 10 / 2, 2], t.Values)).ToList();
            SafeTensors.Write(path, tensors, file.Metadata);
            var error = Assert.Throws<UnrollException>(() => Checkpoint.Load(path));
            Assert.Contains("[steps, 10]", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
