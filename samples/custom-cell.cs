#:project ../src/Unroll/Unroll.csproj
// A cell of your own, one struct: `dotnet run samples/custom-cell.cs`. It is checked against finite differences,
// trained by the library's trainer, saved and loaded (docs/cells.md explains the contract).
using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;

// Check the cell's backward against central differences in double, on a small stacked bidirectional model.
var small = SequenceModel<double>.Create<CifgLstmCell>(new ModelConfig { InputSize = 2, HiddenSize = 5, OutputSize = 1, Layers = 2, Bidirectional = true }, seed: 3);
var random = new Random(1);
var x = Enumerable.Range(0, 4 * 3 * 2).Select(_ => random.NextDouble() - 0.5).ToArray();   // [T = 4, B = 3, I = 2]
var y = Enumerable.Range(0, 4 * 3).Select(_ => random.NextDouble() - 0.5).ToArray();       // [T, B, O = 1]
double Loss()
{
    small.Forward(x, 4, 3);
    return small.Predictions.ToArray().Zip(y, (p, t) => 0.5 * (p - t) * (p - t)).Sum();
}

small.Parameters.ZeroGradients();
small.Forward(x, 4, 3);
small.Backward(small.Predictions.ToArray().Zip(y, (p, t) => p - t).ToArray());
var (error, where) = FiniteDifferences.MaxRelativeError(small.Parameters, small.Parameters.Gradients.ToArray(), Loss);
Console.WriteLine($"largest relative error against finite differences: {error:E1} (at {where})");

// Train it on a task that needs memory: the target is the input three steps earlier.
var inputs = new List<double[,]>();
var targets = new List<double[,]>();
for (int s = 0; s < 256; s++)
{
    var input = new double[30, 1];
    var target = new double[30, 1];
    for (int t = 0; t < 30; t++)
    {
        input[t, 0] = random.NextDouble() - 0.5;
        target[t, 0] = t >= 3 ? input[t - 3, 0] : 0;
    }

    inputs.Add(input);
    targets.Add(target);
}

var data = SequenceSet.FromArrays(inputs, targets);
var model = SequenceModel<float>.Create<CifgLstmCell>(new ModelConfig { InputSize = 1, HiddenSize = 32, OutputSize = 1 }, seed: 1);
var history = new Trainer(model, new TrainingOptions { Steps = 300 }).Run(data.Slice(0, 224), data.Slice(224, 32));
double baseline = 1.0 / 12 * 27 / 30;   // predicting 0: the variance of U(-0.5, 0.5) on the 27 steps with a target
Console.WriteLine($"validation MSE {history[^1].ValidationLoss:G3} after {history.Count} steps (predicting 0: {baseline:G3})");

ModelFile.Save("cifg.safetensors", model);
var loaded = ModelFile.Load<float, CifgLstmCell>("cifg.safetensors").Model;
Console.WriteLine($"saved and loaded: the file records the cell '{loaded.Config.CustomCell}'");
File.Delete("cifg.safetensors");
return error < 1e-6 && history[^1].ValidationLoss < baseline / 4 ? 0 : 1;

/// <summary>
/// The coupled-input-forget-gate LSTM of docs/cells.md (Greff et al. 2017, "LSTM: A Search Space Odyssey", the CIFG
/// variant), written against the public cell contract only, gate blocks f, g, o:
/// <code>
/// f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
/// c_t = f * c_{t-1} + (1 - f) * g
/// h_t = o * tanh(c_t)
/// </code>
/// </summary>
public readonly struct CifgLstmCell : IRecurrentCell<CifgLstmCell>
{
    public static string Name => "cifg-lstm";

    public static int GateCount => 3;

    public static bool HasMemory => true;

    public static int SavedBlocks => 1; // tanh(c_t)

    public static bool SeparateRecurrentGates => false;

    public static bool FeedsBackOutput => false;

    public static CifgLstmCell Create(Activation activation) => default;

    public void Forward<T>(in CellForwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> forget = row.Gate(0), candidate = row.Gate(1), output = row.Gate(2), tanhCell = row.Saved(0);
        Activations.SigmoidInPlace(forget);
        Activations.TanhInPlace(candidate);
        Activations.SigmoidInPlace(output);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // c_t = f c_{t-1} + (1 - f) g
            var f = lane.Load(forget);
            lane.Store((f * lane.Load(row.PreviousMemory)) + ((Vector<T>.One - f) * lane.Load(candidate)), row.Memory);
        }

        row.Memory.CopyTo(tanhCell);
        Activations.TanhInPlace(tanhCell);
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            // h_t = o tanh(c_t)
            lane.Store(lane.Load(output) * lane.Load(tanhCell), row.State);
        }
    }

    public void Backward<T>(in CellBackwardRow<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var one = Vector<T>.One;
        for (var lane = new Lanes<T>(row.Units); lane.Next();)
        {
            Vector<T> f = lane.Load(row.Gate(0)), g = lane.Load(row.Gate(1)), o = lane.Load(row.Gate(2));
            Vector<T> t = lane.Load(row.Saved(0)), dh = lane.Load(row.StateGradient);
            // h = o tanh(c)  =>  do = dh tanh(c);  dc += dh o (1 - tanh(c)^2)
            var dCell = lane.Load(row.MemoryGradient) + (dh * o * (one - (t * t)));
            // c = f c_prev + (1 - f) g  =>  df = dc (c_prev - g), dg = dc (1 - f), dc_prev = dc f
            lane.Store(dCell * (lane.Load(row.PreviousMemory) - g) * f * (one - f), row.GateGradient(0));
            lane.Store(dCell * (one - f) * (one - (g * g)), row.GateGradient(1));
            lane.Store(dh * t * o * (one - o), row.GateGradient(2));
            lane.Store(dCell * f, row.MemoryGradient);
        }
    }
}
