using Unroll.Data;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

public class ForecastingTests
{
    private static readonly OscillatorDataset Data = OscillatorDataset.Generate(
        new OscillatorDatasetOptions { TrainCount = 4, ValidationCount = 4, TestCount = 6, Steps = 25 }, seed: 8);

    [Fact]
    public void AModelThatEchoesXRunsFreeAsPersistence()
    {
        // h = x (identity activation, W_ih = [1, 0], W_hh = 0), y = h: one-step it predicts x_{t+1} = x_t,
        // and run free it repeats x_0 forever, which are exactly the two persistence baselines.
        var model = new SequenceModel<double>(new ModelConfig { InputSize = 2, HiddenSize = 1, OutputSize = 1, Activation = Activation.Identity }, initialize: false);
        model.Parameters.Value(SequenceModel<double>.WeightIhName)[0] = 1;
        model.Parameters.Value(SequenceModel<double>.HeadWeightName)[0] = 1;
        var test = Data.Test;

        var oneStep = Forecasting.OneStep(model, test);
        Assert.Equal(OscillatorBaselines.PersistenceOneStepMse(test), Forecasting.MeanSquaredError(oneStep, test, test.Length), 12);

        var freeRun = Forecasting.FreeRun(model, test, 0, 0, test.Length);
        Assert.Equal(OscillatorBaselines.PersistenceFreeRunMse(Data.TestTrajectories, test.Length), Forecasting.MeanSquaredError(freeRun, test, test.Length), 12);
    }

    [Fact]
    public void FreeRunStartsFromTheTrueInputs()
    {
        var model = TrainerTests.NewModel(6, seed: 3);
        var oneStep = Forecasting.OneStep(model, Data.Test);
        var freeRun = Forecasting.FreeRun(model, Data.Test, 0, 0, 10);
        for (int s = 0; s < Data.Test.Count; s++)
        {
            Assert.Equal(oneStep[s * Data.Test.Length], freeRun[s * 10], 6);
        }
    }

    [Fact]
    public void HorizonBeyondTheSequenceIsRefused()
    {
        var model = TrainerTests.NewModel(2, seed: 1);
        var error = Assert.Throws<UnrollException>(() => Forecasting.FreeRun(model, Data.Test, 0, 0, 26));
        Assert.Contains("horizon", error.Message, StringComparison.Ordinal);
    }
}
