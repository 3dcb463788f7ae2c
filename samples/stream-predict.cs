#:project ../src/Unroll/Unroll.csproj
// Serve a trained model: batch prediction and streaming sessions with a Predictor: `dotnet run samples/stream-predict.cs`.
using Unroll.Inference;
using Unroll.Models;
using Unroll.Training;

// Train a small LSTM to predict the next value of a sine (as samples/train-predict.cs does, briefly).
var random = new Random(1);
var inputs = new List<double[,]>();
var targets = new List<double[,]>();
for (int s = 0; s < 100; s++)
{
    double phase = random.NextDouble() * 2 * Math.PI;
    var x = new double[40, 1];
    var y = new double[40, 1];
    for (int t = 0; t < 40; t++)
    {
        x[t, 0] = Math.Sin(phase + (0.2 * t));
        y[t, 0] = Math.Sin(phase + (0.2 * (t + 1)));
    }

    inputs.Add(x);
    targets.Add(y);
}

var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 1, HiddenSize = 32, OutputSize = 1 }, seed: 1);
var data = SequenceSet.FromArrays(inputs, targets);
new Trainer(model, new TrainingOptions { Steps = 150 }).Run(data.Slice(0, 90), data.Slice(90, 10));

// The predictor copies the weights; it may be shared by any number of threads.
var predictor = new Predictor<float>(model);
var first = new List<float[,]>();                             // the first 4 sequences as float [T, I]
for (int s = 0; s < 4; s++)
{
    var x = new float[40, 1];
    for (int t = 0; t < 40; t++)
    {
        x[t, 0] = (float)inputs[s][t, 0];
    }

    first.Add(x);
}

var whole = predictor.Predict(first);                         // stateless: one [T, O] answer per sequence

// A session of 4 streams receives one value per stream per call, as a sensor feed would, and answers at once.
var session = predictor.CreateSession(streams: 4);
var step = new float[4];                                      // [S, I]
var answer = new float[4];                                    // [S, O]
double largest = 0;
long allocated = 0;
for (int t = 0; t < 40; t++)
{
    for (int s = 0; s < 4; s++)
    {
        step[s] = first[s][t, 0];
    }

    long before = GC.GetAllocatedBytesForCurrentThread();
    session.Step(step, answer);
    allocated += t == 0 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
    for (int s = 0; s < 4; s++)
    {
        largest = Math.Max(largest, Math.Abs(answer[s] - whole[s][t, 0]));
    }
}

Console.WriteLine($"streamed 40 steps of 4 streams: largest difference from the whole-sequence predictions {largest:G3}, {allocated} bytes allocated after the first step");
Console.WriteLine($"stream 0 after 40 steps: predicted {answer[0]:F3}, the truth {targets[0][39, 0]:F3}");
return largest < 1e-5 && allocated == 0 && Math.Abs(answer[0] - targets[0][39, 0]) < 0.2 ? 0 : 1;
