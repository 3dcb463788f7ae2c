using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>A run given a time budget lays its learning-rate schedule over the time, ends on time, and can stop early.</summary>
public class TimeBudgetTests
{
    private static readonly OscillatorDataset Data = OscillatorDataset.Generate(
        new OscillatorDatasetOptions { TrainCount = 32, ValidationCount = 8, TestCount = 8, Steps = 20 }, seed: 3);

    // A clock that advances by a fixed time per step, read by the trainer; an observer moves it after every step.
    private sealed class SimulatedClock(double secondsPerStep) : ITrainingObserver
    {
        public double Now { get; private set; }

        public List<double> Rates { get; } = [];

        public void OnStep(Trainer trainer, StepMetrics metrics)
        {
            Rates.Add(trainer.LearningRate);
            Now += secondsPerStep;
        }
    }

    private static SequenceModel<float> Model()
    {
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 6, OutputSize = 1 });
        Initializers.PyTorchDefault(model, new Random(1));
        return model;
    }

    [Theory]
    [InlineData("cosine", 0)]
    [InlineData("cosine", 4)]
    [InlineData("linear", 0)]
    [InlineData("linear", 4)]
    [InlineData("step", 0)]
    public void TheScheduleFollowsTheBudgetAndReachesItsFinalRateAsTheTimeEnds(string kind, int warmup)
    {
        // 40 s at 0.5 s a step: the budget holds 80 steps, and the schedule must be that of an 80-step run.
        var schedule = new ScheduleSettings
        {
            Kind = LearningRateSchedules.Parse(kind), WarmupSteps = warmup, MinRate = kind is "cosine" or "linear" ? 1e-4 : 0, StepSize = kind == "step" ? 25 : 0,
        };
        var options = new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01 },
            Schedule = schedule, Steps = int.MaxValue, TimeBudgetSeconds = 40, BatchSize = 8, ValidateEvery = 1000,
        };
        var clock = new SimulatedClock(0.5);
        var trainer = new Trainer(Model(), options) { Clock = () => clock.Now };
        var source = new ShuffledBatches(new SequenceSetData(Data.Train), 8, 1);
        var history = trainer.Run(source, new SequenceValidation(new SequenceSetData(Data.Validation), 8), [clock]);

        Assert.Equal(80, history.Count);
        for (int step = 1; step <= 80; step++)
        {
            Assert.Equal(schedule.RateAt(0.01, step, 80), clock.Rates[step - 1], 12);
        }

        // The last step ran at the schedule's final rate, and the run was validated there.
        Assert.Equal(schedule.RateAt(0.01, 80, 80), clock.Rates[^1], 15);
        Assert.False(double.IsNaN(history[^1].ValidationLoss));
        if (kind is "cosine" or "linear")
        {
            // Cosine ends just above its floor; linear one step's fall (0.01 / 80) above it.
            Assert.True(clock.Rates[^1] < 0.0003, $"the final rate {clock.Rates[^1]} is not the {kind} schedule's end");
        }
    }

    [Fact]
    public void ABudgetResumedWithTheTimeSpentEndsWhereTheWholeBudgetEnds()
    {
        var options = new TrainingOptions { Steps = int.MaxValue, TimeBudgetSeconds = 30, BatchSize = 8, ValidateEvery = 5 };
        var clock = new SimulatedClock(1);
        var first = new Trainer(Model(), options) { Clock = () => clock.Now };
        var model = Model();
        var resumed = new Trainer(model, options);
        var partial = new SimulatedClock(1);
        var whole = first.Run(new ShuffledBatches(new SequenceSetData(Data.Train), 8, 1), null, [clock]);
        Assert.Equal(30, whole.Count);

        // The same run stopped after 12 s and resumed: the clock goes on from the time already spent.
        var start = new Trainer(model, options) { Clock = () => partial.Now };
        start.Run(new ShuffledBatches(new SequenceSetData(Data.Train), 8, 1), null, [partial, new StopAt(12)]);
        var state = start.CaptureState();
        resumed.Restore(state);
        resumed.Clock = () => partial.Now;
        var history = resumed.Run(new ShuffledBatches(new SequenceSetData(Data.Train), 8, 1), null, [partial]);
        Assert.Equal(30, history.Count);
        Assert.Equal(clock.Rates, partial.Rates);
        Assert.Equal(whole.Select(m => m.TrainLoss), history.Select(m => m.TrainLoss));
    }

    private sealed class StopAt(int step) : ITrainingObserver
    {
        public void OnStep(Trainer trainer, StepMetrics metrics)
        {
            if (metrics.Step == step)
            {
                trainer.RequestStop();
            }
        }
    }

    [Fact]
    public void PatienceEndsTheRunAfterThatManyValidationsWithoutImprovementAndBestIsTheLowest()
    {
        // A learning rate of zero: the validation loss never improves after the first validation.
        var options = new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0 }, Schedule = new ScheduleSettings(),
            Steps = 1000, BatchSize = 8, ValidateEvery = 5, Patience = 3,
        };
        var trainer = new Trainer(Model(), options);
        var history = trainer.Run(Data.Train, Data.Validation);
        Assert.Equal(20, history.Count); // validations at 5, 10, 15, 20: the first is the best, three more did not improve
        Assert.True(trainer.PatienceExhausted);
        Assert.Equal(5, trainer.Best.Step);

        // With learning, the best is the step of the lowest validation loss.
        var learning = new Trainer(Model(), new TrainingOptions { Steps = 60, BatchSize = 8, ValidateEvery = 5 });
        var learned = learning.Run(Data.Train, Data.Validation);
        var measured = learned.Where(m => !double.IsNaN(m.ValidationLoss)).ToList();
        var lowest = measured.MinBy(m => m.ValidationLoss)!;
        Assert.Equal((lowest.Step, lowest.ValidationLoss), learning.Best);
        Assert.False(learning.PatienceExhausted);
    }
}
