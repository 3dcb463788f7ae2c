using Unroll.Data;
using Unroll.Data.Tasks;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Tests;

public class TaskTests
{
    [Fact]
    public void AddingProblemHasOneMarkerInEachHalfAndTargetsTheirSum()
    {
        var task = new AddingProblem(31);
        var set = task.Generate(200, new SplitMix64(4));
        Assert.Equal(31, set.Length);
        Assert.Equal(["value", "marker"], set.InputNames);
        for (int n = 0; n < set.Count; n++)
        {
            var marked = Enumerable.Range(0, 31).Where(t => set.Input(n, t, 1) == 1).ToList();
            Assert.Equal(2, marked.Count);
            Assert.All(Enumerable.Range(0, 31), t => Assert.True(set.Input(n, t, 1) is 0 or 1));
            Assert.InRange(marked[0], 0, 14);
            Assert.InRange(marked[1], 15, 30);
            double sum = set.Input(n, marked[0], 0) + set.Input(n, marked[1], 0);
            Assert.All(Enumerable.Range(0, 31), t => Assert.Equal(sum, set.Target(n, t, 0)));
            Assert.All(Enumerable.Range(0, 31), t => Assert.InRange(set.Input(n, t, 0), 0, 1));
        }
    }

    [Fact]
    public void AddingBaselineIsTheVarianceOfTheSumAndMatchesTheGeneratedData()
    {
        var task = new AddingProblem(10);
        Assert.Equal(1.0 / 6, task.BaselineLoss, 15);
        Assert.Equal(1.0, AddingProblem.MeanTarget);
        const int count = 20000;
        var set = task.Generate(count, new SplitMix64(9));
        var sums = Enumerable.Range(0, count).Select(n => set.Target(n, 9, 0)).ToArray();
        double mse = sums.Select(s => (s - AddingProblem.MeanTarget) * (s - AddingProblem.MeanTarget)).Average();
        // The squared error of the mean predictor has variance E[(S-1)^4] - (1/6)^2 = 1/15 - 1/36 (S = sum of two U[0,1]).
        double standardError = Math.Sqrt((1.0 / 15 - (1.0 / 36)) / count);
        Assert.True(Math.Abs(mse - task.BaselineLoss) < 4 * standardError, $"empirical MSE {mse} vs {task.BaselineLoss} (se {standardError})");
        Assert.True(Math.Abs(sums.Average() - 1) < 4 * Math.Sqrt(task.BaselineLoss / count));
    }

    [Fact]
    public void CopyMemoryLayoutIsSymbolsBlanksDelimiterBlanksAndTheTargetRepeatsTheSymbols()
    {
        var task = new CopyMemory(15);
        Assert.Equal(35, task.SequenceLength);
        var set = task.Generate(50, new SplitMix64(2));
        for (int n = 0; n < set.Count; n++)
        {
            for (int t = 0; t < 35; t++)
            {
                double input = set.Input(n, t, 0), target = set.Target(n, t, 0);
                if (t < 10)
                {
                    Assert.InRange(input, 1, 8);
                    Assert.Equal(0, target);
                }
                else if (t == 24)
                {
                    Assert.Equal(CopyMemory.Delimiter, input);
                    Assert.Equal(0, target);
                }
                else if (t >= 25)
                {
                    Assert.Equal(0, input);
                    Assert.Equal(set.Input(n, t - 25, 0), target);
                }
                else
                {
                    Assert.Equal(0, input);
                    Assert.Equal(0, target);
                }
            }
        }
    }

    [Fact]
    public void CopyBaselineIsTheCrossEntropyOfTheBestMemorylessPredictorOnGeneratedData()
    {
        var task = new CopyMemory(30);
        Assert.Equal(10 * Math.Log(8) / 50, task.BaselineLoss, 14);
        Assert.Equal((40 + 10.0 / 8) / 50, task.BaselineAccuracy, 14);
        // The best predictor that sees only the position: the empirical class frequencies of each step.
        const int count = 8000;
        var set = task.Generate(count, new SplitMix64(5));
        double total = 0;
        var frequencies = new int[task.SequenceLength, task.OutputSize];
        for (int n = 0; n < count; n++)
        {
            for (int t = 0; t < task.SequenceLength; t++)
            {
                frequencies[t, (int)set.Target(n, t, 0)]++;
            }
        }

        for (int t = 0; t < task.SequenceLength; t++)
        {
            for (int c = 0; c < task.OutputSize; c++)
            {
                int k = frequencies[t, c];
                total -= k == 0 ? 0 : k * Math.Log((double)k / count);
            }
        }

        double entropy = total / count / task.SequenceLength;
        // The plug-in entropy is biased low by about (C-1)/(2N) per recall step; allow 1%.
        Assert.True(Math.Abs(entropy - task.BaselineLoss) < 0.01 * task.BaselineLoss, $"empirical {entropy} vs {task.BaselineLoss}");
        for (int c = 1; c <= 8; c++)
        {
            Assert.InRange(frequencies[40, c], count / 8 * 0.9, count / 8 * 1.1);
        }
    }

    [Fact]
    public void TemporalOrderPlacesXOrYInTheirRangesAndTheClassIsTheirOrder()
    {
        var task = new TemporalOrder(100);
        Assert.Equal((10, 20), task.FirstRange);
        Assert.Equal((50, 60), task.SecondRange);
        const int count = 4000;
        var set = task.Generate(count, new SplitMix64(3));
        var classCounts = new int[4];
        var firstPositions = new HashSet<int>();
        for (int n = 0; n < count; n++)
        {
            Assert.Equal(TemporalOrder.Begin, set.Input(n, 0, 0));
            Assert.Equal(TemporalOrder.End, set.Input(n, 99, 0));
            var relevant = Enumerable.Range(0, 100).Where(t => set.Input(n, t, 0) >= TemporalOrder.X).ToList();
            Assert.Equal(2, relevant.Count);
            Assert.InRange(relevant[0], 10, 20);
            Assert.InRange(relevant[1], 50, 60);
            firstPositions.Add(relevant[0]);
            Assert.All(Enumerable.Range(1, 98).Except(relevant), t => Assert.InRange(set.Input(n, t, 0), 0, 3));
            int expected = (2 * ((int)set.Input(n, relevant[0], 0) - TemporalOrder.X)) + ((int)set.Input(n, relevant[1], 0) - TemporalOrder.X);
            Assert.Equal(expected, set.Target(n, 99, 0));
            classCounts[expected]++;
        }

        Assert.Equal(11, firstPositions.Count);
        Assert.All(classCounts, k => Assert.InRange(k, count / 4 * 0.9, count / 4 * 1.1));
        Assert.Equal(Math.Log(4), task.BaselineLoss, 15);
        Assert.Equal(0.25, task.BaselineAccuracy);
    }

    [Fact]
    public void SameSeedSameSplitsAndEachSplitIndependentOfTheOthersSizes()
    {
        var description = new TaskDataDescription { Task = "copy", Length = 5, TrainCount = 20, ValidationCount = 4, TestCount = 6, Seed = 3 };
        var a = description.Generate();
        var b = (description with { TrainCount = 7 }).Generate();
        Assert.Equal(a.Test.Inputs.ToArray(), description.GenerateTest().Inputs.ToArray());
        Assert.Equal(a.Test.Inputs.ToArray(), b.Test.Inputs.ToArray());
        Assert.NotEqual(a.Train.Inputs.ToArray(), a.Test.Inputs.Slice(0, a.Train.Inputs.Length > a.Test.Inputs.Length ? a.Test.Inputs.Length : a.Train.Inputs.Length).ToArray());
        var c = (description with { Seed = 4 }).Generate();
        Assert.NotEqual(a.Test.Inputs.ToArray(), c.Test.Inputs.ToArray());
        Assert.Equal(description, TaskDataDescription.FromJson(description.ToJson()));
    }

    [Theory]
    [InlineData("adding", 1, "from 2")]
    [InlineData("copy", 0, "from 1")]
    [InlineData("temporal-order", 9, "from 10")]
    [InlineData("sorting", 10, "expected one of adding, copy, temporal-order")]
    public void BadTaskOrLengthIsRefusedWithTheRange(string name, int length, string expected)
    {
        var e = Assert.Throws<UnrollException>(() => SequenceTask.Create(name, length));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainerLearnsTheShortTemporalOrderTaskWithCrossEntropyAndReportsAccuracy()
    {
        var task = new TemporalOrder(10);
        var data = new TaskDataDescription { Task = task.Name, Length = 10, TrainCount = 512, ValidationCount = 128, TestCount = 0, Seed = 2 }.Generate();
        var model = new SequenceModel<float>(task.ModelConfig(Architecture.Lstm, 16, inputSize: 8));
        Initializers.PyTorchDefault(model, new Random(1));
        var (lossBefore, accuracyBefore) = Trainer.Measure(model, data.Validation, 64);
        Assert.InRange(accuracyBefore, 0, 0.5);
        new Trainer(model, new TrainingOptions { Steps = 200, BatchSize = 32, ClipNorm = 1, ValidateEvery = 200 }).Run(data.Train, data.Validation);
        var (loss, accuracy) = Trainer.Measure(model, data.Validation, 64);
        Assert.True(loss < task.BaselineLoss / 4, $"cross-entropy {lossBefore} -> {loss}, baseline {task.BaselineLoss}");
        Assert.True(accuracy > 0.95, $"accuracy {accuracyBefore} -> {accuracy}");
    }

    [Fact]
    public void TrainerFitsTheShortAddingProblemWellBelowTheBaseline()
    {
        var task = new AddingProblem(8);
        var data = new TaskDataDescription { Task = task.Name, Length = 8, TrainCount = 1024, ValidationCount = 128, TestCount = 0, Seed = 2 }.Generate();
        var model = new SequenceModel<float>(task.ModelConfig(Architecture.Lstm, 16));
        Initializers.PyTorchDefault(model, new Random(1));
        var history = new Trainer(model, new TrainingOptions { Steps = 1000, BatchSize = 32, ClipNorm = 1, ValidateEvery = 1000 }).Run(data.Train, data.Validation);
        Assert.True(history[^1].ValidationLoss < task.BaselineLoss / 5, $"validation MSE {history[^1].ValidationLoss}, baseline {task.BaselineLoss}");
        Assert.True(double.IsNaN(Trainer.Measure(model, data.Validation, 32).Accuracy));
    }

    [Fact]
    public void TruncatedBpttTrainsPerStepHeadsButNotLastStepHeads()
    {
        // Copy memory answers at every step (classification): windows can each be scored.
        var copy = new SequenceModel<float>(new CopyMemory(3).ModelConfig(Architecture.Rnn, 4));
        var data = new TaskDataDescription { Task = CopyMemory.TaskName, Length = 3, TrainCount = 8, ValidationCount = 0, TestCount = 0 }.Generate().Train;
        var history = new Trainer(copy, new TrainingOptions { Bptt = [4, 6], Steps = 2, BatchSize = 4 }).Run(data, null);
        Assert.Equal(2, history.Count);
        Assert.True(double.IsFinite(history[^1].TrainLoss));

        // Temporal order answers only at the last step: a window without it has nothing to score.
        var order = new SequenceModel<float>(new TemporalOrder(10).ModelConfig(Architecture.Rnn, 4));
        var e = Assert.Throws<UnrollException>(() => new Trainer(order, new TrainingOptions { Bptt = [2, 2] }));
        Assert.Contains("bptt", e.Message, StringComparison.Ordinal);
    }
}
