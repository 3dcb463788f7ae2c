using Unroll.Data;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

public class TrainerTests
{
    private static readonly OscillatorDataset Data = OscillatorDataset.Generate(
        new OscillatorDatasetOptions { TrainCount = 64, ValidationCount = 16, TestCount = 16, Steps = 40 }, seed: 3);

    [Fact]
    public void TrainingLowersTheValidationLossWellBelowPersistence()
    {
        var model = NewModel(16, seed: 1);
        double before = Trainer.Evaluate(model, Data.Validation, 16);
        var history = new Trainer(model, new TrainingOptions { Steps = 300, BatchSize = 16, ClipNorm = 1, ValidateEvery = 100 })
            .Run(Data.Train, Data.Validation);
        Assert.Equal(300, history.Count);
        double after = history[^1].ValidationLoss;
        Assert.Equal(after, Trainer.Evaluate(model, Data.Validation, 16), 6);
        Assert.True(after < before / 20, $"validation loss {before} -> {after}");
        Assert.True(after < OscillatorBaselines.PersistenceOneStepMse(Data.Validation), $"validation {after} vs persistence");
        Assert.All(history, m => Assert.True(m.GradientNorm > 0 && double.IsFinite(m.GradientNorm)));
        Assert.Equal(3, history.Count(m => !double.IsNaN(m.ValidationLoss)));
    }

    [Fact]
    public void SameSeedGivesBitIdenticalRuns()
    {
        float[] Train()
        {
            var model = NewModel(8, seed: 5);
            new Trainer(model, new TrainingOptions { Steps = 20, BatchSize = 8, Seed = 9 }).Run(Data.Train, null);
            return model.Parameters.Values;
        }

        Assert.Equal(Train(), Train());
    }

    [Fact]
    public void TruncationLongerThanTheSequenceIsFullBptt()
    {
        float[] Train(int[]? bptt)
        {
            var model = NewModel(6, seed: 5);
            new Trainer(model, new TrainingOptions { Steps = 12, BatchSize = 8, Bptt = bptt }).Run(Data.Train, null);
            return model.Parameters.Values;
        }

        Assert.Equal(Train(null), Train([40, 40]));
        Assert.NotEqual(Train(null), Train([10, 10]));
    }

    [Fact]
    public void TruncatedTrainingStillLearns()
    {
        var model = NewModel(16, seed: 1);
        double before = Trainer.Evaluate(model, Data.Validation, 16);
        var history = new Trainer(model, new TrainingOptions { Steps = 150, BatchSize = 16, Bptt = [10, 20], ValidateEvery = 150 }).Run(Data.Train, Data.Validation);
        Assert.True(history[^1].ValidationLoss < before / 10, $"validation loss {before} -> {history[^1].ValidationLoss}");
    }

    [Fact]
    public void ClippingIsRecordedAndBoundsTheUpdate()
    {
        var model = NewModel(8, seed: 2);
        var history = new Trainer(model, new TrainingOptions { Steps = 5, BatchSize = 8, ClipNorm = 1e-6, Optimizer = Sgd(1), Schedule = Constant })
            .Run(Data.Train, null);
        Assert.All(history, m => Assert.True(m.Clipped));
        Assert.All(history, m => Assert.True(m.GradientNorm > 1e-6));
    }

    [Fact]
    public void PlainSgdStepIsParametersMinusLearningRateTimesGradient()
    {
        var model = NewModel(4, seed: 4);
        var before = (float[])model.Parameters.Values.Clone();
        var single = Data.Train.Slice(0, 1);
        new Trainer(model, new TrainingOptions { Steps = 1, BatchSize = 1, Optimizer = Sgd(0.1), Schedule = Constant })
            .Run(single, null);

        // The gradient at the starting point, computed independently of the trainer.
        var reference = NewModel(4, seed: 4);
        var inputs = new float[single.Length * 2];
        var targets = new float[single.Length];
        single.CopyBatchTimeMajor<float>([0], inputs, targets);
        reference.Forward(inputs, single.Length, 1);
        var dPredictions = new float[targets.Length];
        Losses.MeanSquaredError<float>(reference.Predictions, targets, dPredictions);
        reference.Backward(dPredictions);
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal(before[i] - (0.1f * reference.Parameters.Gradients[i]), model.Parameters.Values[i], 6);
        }
    }

    [Fact]
    public void DivergenceNamesTheStepAndTheParameter()
    {
        var model = NewModel(8, seed: 6);
        var trainer = new Trainer(model, new TrainingOptions { Steps = 50, BatchSize = 8, Optimizer = Sgd(1e30), Schedule = Constant });
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Run(Data.Train, null));
        Assert.Matches(@"diverged at step \d+", error.Message);
        Assert.Contains("recent gradient norms", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DataOfAnotherShapeIsRefused()
    {
        var model = new SequenceModel<float>(new ModelConfig { InputSize = 3, HiddenSize = 4, OutputSize = 1 });
        var error = Assert.Throws<UnrollException>(() => new Trainer(model, new TrainingOptions()).Run(Data.Train, null));
        Assert.Contains("expected 3 inputs", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1.0, "lr")]
    [InlineData(double.NaN, "lr")]
    public void BadOptionsAreRefused(double learningRate, string mentioned) =>
        Assert.Contains(mentioned, Assert.Throws<UnrollException>(() => new TrainingOptions { Optimizer = Sgd(learningRate) }.Validate()).Message, StringComparison.Ordinal);

    private static ScheduleSettings Constant => new() { Kind = LearningRateSchedule.Constant };

    private static OptimizerSettings Sgd(double learningRate) => new() { Kind = OptimizerKind.Sgd, LearningRate = learningRate };

    internal static SequenceModel<float> NewModel(int hidden, int seed)
    {
        var model = new SequenceModel<float>(new ModelConfig { InputSize = 2, HiddenSize = hidden, OutputSize = 1, Activation = Activation.Tanh });
        Initializers.PyTorchDefault(model, new Random(seed));
        return model;
    }
}
