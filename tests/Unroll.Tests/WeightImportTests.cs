using Unroll.IO;
using Unroll.Models;

namespace Unroll.Tests;

/// <summary>
/// Weights written in PyTorch's and Keras' layouts import back into the same model. The Keras
/// writer here follows the Keras layout directly (kernel [in, gates*H] with Keras' gate order), so
/// an error in the importer's transposition or gate reordering changes the outputs.
/// </summary>
public sealed class WeightImportTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-import-" + Guid.NewGuid().ToString("N"));

    public WeightImportTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("rnn", 1, false, 0)]
    [InlineData("lstm", 2, true, 0)]
    [InlineData("gru", 2, true, 0)]
    [InlineData("gru", 1, false, 7)]
    public void KerasLayoutRoundTripGivesTheSameWeightsAndOutputs(string architecture, int layers, bool bidirectional, int vocabulary)
    {
        var model = NewModel(architecture, layers, bidirectional, vocabulary, seed: 3);
        if (architecture != "gru")
        {
            // Keras' SimpleRNN and LSTM have one bias; with b_hh = 0 the round trip is exact.
            foreach (var view in model.Parameters.Views.Where(v => v.Name.StartsWith("rnn.bias_hh", StringComparison.Ordinal)))
            {
                model.Parameters.Value(view.Name).Clear();
            }
        }

        string path = Path.Combine(_directory, "keras.npz");
        Npz.Write(path, ToKerasLayout(model));
        var imported = WeightImport.FromKeras(Npz.Read(path), new ImportOptions());

        Assert.Equal(model.Config.ToJson(), imported.Config.ToJson());
        Assert.Equal(model.Parameters.Values, imported.Parameters.Values);
        Assert.Equal(Outputs(model), Outputs(imported));
    }

    [Fact]
    public void KerasSingleBiasFoldsBothPyTorchBiases()
    {
        var model = NewModel("lstm", 1, false, 0, seed: 4);
        string path = Path.Combine(_directory, "lstm.npz");
        Npz.Write(path, ToKerasLayout(model));
        var imported = WeightImport.FromKeras(Npz.Read(path), new ImportOptions());
        var expected = Outputs(model);
        var actual = Outputs(imported);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6, $"output {i}: {expected[i]} vs {actual[i]}");
        }

        Assert.All(imported.Parameters.Value("rnn.bias_hh_l0").ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void PyTorchStateDictWithModulePrefixesImports()
    {
        var model = NewModel("lstm", 2, true, 0, seed: 5);
        string path = Path.Combine(_directory, "torch.safetensors");
        var tensors = model.Parameters.Views
            .Select(v => StoredTensor.FromSingles(v.Name.Replace("rnn.", "encoder.lstm.", StringComparison.Ordinal).Replace("head.", "fc.", StringComparison.Ordinal), v.Shape, model.Parameters.Value(v.Name)))
            .Reverse() // state_dict order is not relied on
            .ToList();
        SafeTensors.Write(path, tensors);
        var imported = WeightImport.FromPyTorch(SafeTensors.Read(path), new ImportOptions());
        Assert.Equal(model.Config.ToJson(), imported.Config.ToJson());
        Assert.Equal(model.Parameters.Values, imported.Parameters.Values);
        Assert.Equal(Outputs(model), Outputs(imported));
    }

    [Fact]
    public void PyTorchWithoutHeadOrBiasesGetsIdentityHeadAndZeroBiases()
    {
        var model = NewModel("gru", 1, true, 0, seed: 6);
        string path = Path.Combine(_directory, "bare.safetensors");
        var tensors = model.Parameters.Views
            .Where(v => v.Name.Contains("weight_", StringComparison.Ordinal))
            .Select(v => StoredTensor.FromSingles(v.Name["rnn.".Length..], v.Shape, model.Parameters.Value(v.Name)))
            .ToList();
        SafeTensors.Write(path, tensors);
        var imported = WeightImport.FromPyTorch(SafeTensors.Read(path), new ImportOptions());
        Assert.Equal(8, imported.Config.OutputSize); // D*H: the outputs are torch's `output`
        var x = Inputs(imported.Config.InputSize, steps: 4);
        imported.Forward(x, 4, 1);
        Assert.Equal(imported.States.ToArray(), imported.Predictions.ToArray());
        Assert.All(imported.Parameters.Value("rnn.bias_ih_l0").ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ImportErrorsNameTheTensorAndWhatWasExpected()
    {
        var model = NewModel("gru", 1, false, 0, seed: 7);
        var keras = ToKerasLayout(model);

        // A reset_after=False GRU has a [3H] bias.
        var resetBefore = keras.Select(a => a.Name == "layer0/bias" ? new StoredTensor(a.Name, a.DType, [12], a.Values[..12]) : a).ToList();
        string path = Path.Combine(_directory, "reset_before.npz");
        Npz.Write(path, resetBefore);
        var e = Assert.Throws<UnrollException>(() => WeightImport.FromKeras(Npz.Read(path), new ImportOptions()));
        Assert.Contains("reset_after=False", e.Message, StringComparison.Ordinal);

        // Asking for another cell than the shapes hold.
        Npz.Write(path, keras);
        e = Assert.Throws<UnrollException>(() => WeightImport.FromKeras(Npz.Read(path), new ImportOptions { Architecture = "lstm" }));
        Assert.Contains("a gru; expected an lstm", e.Message, StringComparison.Ordinal);

        // An array nobody uses.
        Npz.Write(path, [.. keras, new StoredTensor("optimizer/m", TensorDType.F32, [1], [0])]);
        e = Assert.Throws<UnrollException>(() => WeightImport.FromKeras(Npz.Read(path), new ImportOptions()));
        Assert.Contains("optimizer/m", e.Message, StringComparison.Ordinal);

        // A wrong shape.
        Npz.Write(path, keras.Select(a => a.Name == "dense/bias" ? new StoredTensor(a.Name, a.DType, [2], [0, 0]) : a).ToList());
        e = Assert.Throws<UnrollException>(() => WeightImport.FromKeras(Npz.Read(path), new ImportOptions()));
        Assert.Contains("'dense/bias' has shape [2]; expected [1]", e.Message, StringComparison.Ordinal);

        // Two recurrent modules in one state_dict.
        string torch = Path.Combine(_directory, "two.safetensors");
        SafeTensors.Write(torch, [StoredTensor.FromSingles("a.weight_ih_l0", [4, 2], new float[8]), StoredTensor.FromSingles("b.weight_ih_l0", [4, 2], new float[8])]);
        e = Assert.Throws<UnrollException>(() => WeightImport.FromPyTorch(SafeTensors.Read(torch), new ImportOptions()));
        Assert.Contains("--rnn-prefix", e.Message, StringComparison.Ordinal);
    }

    internal static SequenceModel<float> NewModel(string architecture, int layers, bool bidirectional, int vocabulary, int seed)
    {
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architectures.Parse(architecture), InputSize = 3, HiddenSize = 4, OutputSize = 1, Layers = layers, Bidirectional = bidirectional, VocabularySize = vocabulary,
        }, initialize: false);
        Initializers.PyTorchDefault(model, new Random(seed));
        return model;
    }

    /// <summary>The model's weights as Keras would hold them: [in, out] matrices, gates i,f,c,o (LSTM) or z,r,h (GRU).</summary>
    internal static List<StoredTensor> ToKerasLayout(SequenceModel<float> model)
    {
        var config = model.Config;
        int h = config.HiddenSize;
        // For each Keras gate block, the PyTorch block it comes from.
        int[] torchBlockOfKerasBlock = config.Architecture switch
        {
            Architecture.Lstm => [0, 1, 2, 3], // i, f, c, o = i, f, g, o
            Architecture.Gru => [1, 0, 2],     // z, r, h from r(0), z(1), n(2)
            _ => [0],
        };
        int gates = torchBlockOfKerasBlock.Length;
        var arrays = new List<StoredTensor>();
        if (config.VocabularySize > 0)
        {
            arrays.Add(StoredTensor.FromSingles("embedding/embeddings", [config.VocabularySize, config.InputSize], model.Parameters.Value(SequenceModel<float>.EmbeddingName)));
        }

        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int d = 0; d < config.Directions; d++)
            {
                string suffix = $"_l{layer}" + (d == 1 ? "_reverse" : string.Empty);
                string key = $"layer{layer}" + (d == 1 ? "_backward" : string.Empty);
                var wih = model.Parameters.View("rnn.weight_ih" + suffix);
                int inputs = wih.Shape[1];
                arrays.Add(KerasMatrix(key + "/kernel", model.Parameters.Value(wih.Name), inputs));
                arrays.Add(KerasMatrix(key + "/recurrent_kernel", model.Parameters.Value("rnn.weight_hh" + suffix), h));
                var bih = model.Parameters.Value("rnn.bias_ih" + suffix).ToArray();
                var bhh = model.Parameters.Value("rnn.bias_hh" + suffix).ToArray();
                if (config.Architecture == Architecture.Gru)
                {
                    arrays.Add(new StoredTensor(key + "/bias", TensorDType.F32, [2, gates * h], [.. Reorder(bih), .. Reorder(bhh)]));
                }
                else
                {
                    arrays.Add(new StoredTensor(key + "/bias", TensorDType.F32, [gates * h], Reorder(bih.Zip(bhh, (a, b) => a + b).ToArray())));
                }

                StoredTensor KerasMatrix(string name, ReadOnlySpan<float> torch, int columns)
                {
                    // torch [gates*H, in] -> Keras [in, gates*H] with the Keras block order.
                    var values = new double[gates * h * columns];
                    for (int kb = 0; kb < gates; kb++)
                    {
                        for (int unit = 0; unit < h; unit++)
                        {
                            for (int c = 0; c < columns; c++)
                            {
                                values[(c * gates * h) + (kb * h) + unit] = torch[(((torchBlockOfKerasBlock[kb] * h) + unit) * columns) + c];
                            }
                        }
                    }

                    return new StoredTensor(name, TensorDType.F32, [columns, gates * h], values);
                }

                double[] Reorder(float[] torch) =>
                    Enumerable.Range(0, gates * h).Select(i => (double)torch[(torchBlockOfKerasBlock[i / h] * h) + (i % h)]).ToArray();
            }
        }

        var head = model.Parameters.View(SequenceModel<float>.HeadWeightName);
        var headValues = model.Parameters.Value(head.Name);
        int outputs = head.Shape[0], width = head.Shape[1];
        var kernel = new double[width * outputs];
        for (int o = 0; o < outputs; o++)
        {
            for (int i = 0; i < width; i++)
            {
                kernel[(i * outputs) + o] = headValues[(o * width) + i];
            }
        }

        arrays.Add(new StoredTensor("dense/kernel", TensorDType.F32, [width, outputs], kernel));
        arrays.Add(StoredTensor.FromSingles("dense/bias", [outputs], model.Parameters.Value(SequenceModel<float>.HeadBiasName)));
        return arrays;
    }

    private static float[] Outputs(SequenceModel<float> model)
    {
        const int Steps = 5, Batch = 2;
        if (model.Config.VocabularySize > 0)
        {
            model.ForwardTokens([0, 6, 3, 1, 2, 5, 4, 4, 6, 0], Steps, Batch);
        }
        else
        {
            model.Forward(Inputs(model.Config.InputSize * Batch, Steps), Steps, Batch);
        }

        return model.Predictions.ToArray();
    }

    private static float[] Inputs(int width, int steps)
    {
        var random = new Random(12);
        return Enumerable.Range(0, width * steps).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
    }
}
