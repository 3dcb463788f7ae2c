using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// From given weights (loaded from a model file, as <c>--init-from</c> does), one plain SGD step of
/// the trainer on a fixed batch gives w - lr * grad with PyTorch's gradient
/// (scripts/reference/sgd_step_golden.py), for RNN, LSTM and GRU, within float tolerance.
/// </summary>
public sealed class OneStepSgdTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-sgd-" + Guid.NewGuid().ToString("N"));

    public OneStepSgdTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void OneSgdStepMatchesPyTorch(string cell)
    {
        var fixture = GoldenFixture.Load($"sgd_step_{cell}.json");
        int steps = fixture.T, batch = fixture.B, inputs = fixture.I, outputs = fixture.O;
        var config = new ModelConfig { Architecture = Architectures.Parse(cell), InputSize = inputs, HiddenSize = fixture.H, OutputSize = outputs };

        // The initial weights travel through a model file, as with --init-from.
        var source = new SequenceModel<float>(config);
        foreach (var view in source.Parameters.Views)
        {
            fixture.Tensor(view.Name).Select(v => (float)v).ToArray().CopyTo(source.Parameters.Value(view.Name));
        }

        string path = Path.Combine(_directory, "init.safetensors");
        ModelFile.Save(path, source);
        var model = new SequenceModel<float>(config);
        ModelFile.LoadWeightsInto(path, model);

        // The fixture's batch as sequences (time-major [T, B, .] to sequence-major [B, T, .]).
        var set = new SequenceSet(batch, steps,
            Enumerable.Range(0, inputs).Select(i => $"x{i}").ToList(), Enumerable.Range(0, outputs).Select(o => $"y{o}").ToList(),
            SequenceMajor(fixture.Tensor("input"), steps, batch, inputs), SequenceMajor(fixture.Tensor("target"), steps, batch, outputs));
        var history = new Trainer(model, new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.3 },
            Schedule = new ScheduleSettings { Kind = LearningRateSchedule.Constant },
            ClipNorm = null,
            Steps = 1,
            BatchSize = batch,
        }).Run(set, null);

        Assert.Equal(fixture.Scalar("loss"), history[0].TrainLoss, 5);
        foreach (var view in model.Parameters.Views)
        {
            var expected = fixture.Tensor("after." + view.Name);
            var actual = model.Parameters.Value(view.Name);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.True(Math.Abs(expected[i] - actual[i]) <= 2e-6, $"{view.Name}[{i}]: PyTorch {expected[i]:R}, Unroll {actual[i]:R}");
            }
        }
    }

    private static double[] SequenceMajor(double[] timeMajor, int steps, int batch, int width)
    {
        var result = new double[timeMajor.Length];
        for (int t = 0; t < steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(timeMajor, ((t * batch) + b) * width, result, ((b * steps) + t) * width, width);
            }
        }

        return result;
    }
}
