#:project ../src/Unroll/Unroll.csproj
// Train an LSTM on your own arrays and predict with it: `dotnet run samples/train-predict.cs`.
using Unroll.Models;
using Unroll.Training;

// 200 sequences of 50 steps: the input is a noisy sine, the target its next clean value.
var random = new Random(1);
var inputs = new List<double[,]>();
var targets = new List<double[,]>();
for (int s = 0; s < 200; s++)
{
    double phase = random.NextDouble() * 2 * Math.PI;
    var x = new double[50, 1];
    var y = new double[50, 1];
    for (int t = 0; t < 50; t++)
    {
        x[t, 0] = Math.Sin(phase + (0.2 * t)) + (0.05 * (random.NextDouble() - 0.5));
        y[t, 0] = Math.Sin(phase + (0.2 * (t + 1)));
    }

    inputs.Add(x);
    targets.Add(y);
}

var data = SequenceSet.FromArrays(inputs, targets);   // one double[T, I] and one double[T, O] per sequence
var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 1, HiddenSize = 32, OutputSize = 1 }, seed: 1);
var history = new Trainer(model, new TrainingOptions { Steps = 300 }).Run(data.Slice(0, 160), data.Slice(160, 40));
Console.WriteLine($"validation MSE {history[^1].ValidationLoss:G3} after {history.Count} steps");
var prefix = new float[10, 1];                       // [T, I]: one row per step, one column per feature
for (int t = 0; t < 10; t++)
{
    prefix[t, 0] = MathF.Sin(0.2f * t);
}

float[,] next = model.Predict(prefix);                // [T, O]: one row per step
ModelFile.Save("sine.safetensors", model);

// The last prediction should be near sin(2.0) = 0.909; repeating the input would say sin(1.8) = 0.974.
Console.WriteLine($"after sin(0), sin(0.2), ..., sin(1.8): predicted {next[9, 0]:F3}, sin(2.0) = {Math.Sin(2.0):F3}");
var loaded = new SequenceModel<float>(model.Config);        // as PyTorch's load_state_dict: the same config, the saved weights
ModelFile.LoadWeightsInto("sine.safetensors", loaded);
Console.WriteLine($"the saved model predicts {loaded.Predict(prefix)[9, 0]:F3} too");
File.Delete("sine.safetensors");
return Math.Abs(next[9, 0] - Math.Sin(2.0)) < Math.Abs(Math.Sin(1.8) - Math.Sin(2.0)) / 2 ? 0 : 1;
