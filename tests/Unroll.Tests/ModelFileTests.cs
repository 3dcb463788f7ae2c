using Unroll.IO;
using Unroll.Kernels;
using Unroll.Models;

namespace Unroll.Tests;

public sealed class ModelFileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-modelfile-" + Guid.NewGuid().ToString("N"));

    public ModelFileTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void RoundTripKeepsConfigWeightsAndMetadata()
    {
        var model = TrainerTests.NewModel(5, seed: 11);
        string path = Path.Combine(_directory, "m.safetensors");
        ModelFile.Save(path, model, new Dictionary<string, string> { ["note"] = "hello" });
        var loaded = ModelFile.Load(path);
        Assert.Equal(model.Config.ToJson(), loaded.Model.Config.ToJson());
        Assert.Equal(model.Parameters.Values, loaded.Model.Parameters.Values);
        Assert.Equal("hello", loaded.Metadata["note"]);
        var file = SafeTensors.Read(path);
        Assert.Equal(
            ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "head.weight", "head.bias"],
            file.Tensors.Select(t => t.Name));
        Assert.Equal([5, 2], file.Get("rnn.weight_ih_l0").Shape);
        Assert.All(file.Tensors, t => Assert.Equal(TensorDType.F32, t.DType));
    }

    [Fact]
    public void DoubleModelsRoundTripBitForBitAsF64AndCrossLoadIntoFloat()
    {
        var config = new ModelConfig { Architecture = Architecture.Lstm, InputSize = 3, HiddenSize = 4, OutputSize = 2, Layers = 2 };
        var model = new SequenceModel<double>(config);
        Initializers.PyTorchDefault(model, new Random(12));
        // Values a float cannot hold exactly, so a save through F32 would show.
        for (int i = 0; i < model.Parameters.Values.Length; i++)
        {
            model.Parameters.Values[i] += 1e-12 * (i + 1);
        }

        string path = Path.Combine(_directory, "d.safetensors");
        ModelFile.Save(path, model);
        Assert.All(SafeTensors.Read(path).Tensors, t => Assert.Equal(TensorDType.F64, t.DType));
        var loaded = ModelFile.Load<double>(path);
        Assert.Equal(model.Parameters.Values, loaded.Model.Parameters.Values);

        var asFloat = ModelFile.Load(path).Model;
        Assert.Equal(model.Parameters.Values.Select(v => (float)v), asFloat.Parameters.Values);

        string floatPath = Path.Combine(_directory, "f.safetensors");
        ModelFile.Save(floatPath, asFloat);
        Assert.Equal(asFloat.Parameters.Values.Select(v => (double)v), ModelFile.Load<double>(floatPath).Model.Parameters.Values);
    }

    [Fact]
    public void AnF64WeightTooLargeForAFloatIsRefusedWhenLoadedAsFloat()
    {
        var model = new SequenceModel<double>(new ModelConfig { Architecture = Architecture.Rnn, InputSize = 1, HiddenSize = 2, OutputSize = 1 });
        model.Parameters.Values[3] = 1e300;
        string path = Path.Combine(_directory, "big.safetensors");
        ModelFile.Save(path, model);
        Assert.Equal(1e300, ModelFile.Load<double>(path).Model.Parameters.Values[3]);
        var error = Assert.Throws<UnrollException>(() => ModelFile.Load(path));
        Assert.Contains("beyond the range of a float", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckpointOfAnotherSizeIsRefusedWithBothShapes()
    {
        var model = TrainerTests.NewModel(5, seed: 11);
        string path = Path.Combine(_directory, "m.safetensors");
        ModelFile.Save(path, model);
        // Claim a different hidden size in the metadata while keeping the H=5 tensors.
        var file = SafeTensors.Read(path);
        var metadata = new Dictionary<string, string>(file.Metadata)
        {
            [ModelFile.ConfigKey] = (model.Config with { HiddenSize = 7 }).ToJson(),
        };
        SafeTensors.Write(path, file.Tensors, metadata);
        var error = Assert.Throws<UnrollException>(() => ModelFile.Load(path));
        Assert.Contains("[7, 2]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[5, 2]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainSafetensorsWithoutConfigIsRefused()
    {
        string path = Path.Combine(_directory, "plain.safetensors");
        SafeTensors.Write(path, [new StoredTensor("weight", TensorDType.F32, [2], [1, 2])]);
        var error = Assert.Throws<UnrollException>(() => ModelFile.Load(path));
        Assert.Contains("unroll.config", error.Message, StringComparison.Ordinal);
        Assert.Contains("weight", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingAndExtraTensorsAreRefused()
    {
        var model = TrainerTests.NewModel(3, seed: 1);
        string path = Path.Combine(_directory, "m.safetensors");
        ModelFile.Save(path, model);
        var file = SafeTensors.Read(path);
        SafeTensors.Write(path, file.Tensors.Where(t => t.Name != "head.bias").ToList(), file.Metadata);
        Assert.Contains("head.bias", Assert.Throws<UnrollException>(() => ModelFile.Load(path)).Message, StringComparison.Ordinal);

        SafeTensors.Write(path, [.. file.Tensors, new StoredTensor("rnn.weight_ih_l1", TensorDType.F32, [1], [0])], file.Metadata);
        Assert.Contains("rnn.weight_ih_l1", Assert.Throws<UnrollException>(() => ModelFile.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NonFiniteWeightIsRefused()
    {
        var model = TrainerTests.NewModel(3, seed: 1);
        model.Parameters.Value("rnn.weight_hh_l0")[4] = float.NaN;
        string path = Path.Combine(_directory, "m.safetensors");
        ModelFile.Save(path, model);
        var error = Assert.Throws<UnrollException>(() => ModelFile.Load(path));
        Assert.Contains("rnn.weight_hh_l0", error.Message, StringComparison.Ordinal);
        Assert.Contains("index 4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigJsonNamesTheActivationInLowerCase()
    {
        var config = new ModelConfig { InputSize = 1, HiddenSize = 2, OutputSize = 1, Activation = Activation.Relu };
        Assert.Contains("\"activation\":\"relu\"", config.ToJson(), StringComparison.Ordinal);
        Assert.Equal(config.Activation, ModelConfig.FromJson(config.ToJson()).Activation);
    }

    [Theory]
    [InlineData("lstm model with input 1", "an lstm model with input 1")]
    [InlineData("rnn", "an rnn")]
    [InlineData("lru", "an lru")]
    [InlineData("gru model", "a gru model")]
    [InlineData("mingru", "a mingru")]
    [InlineData("2-layer lstm model", "a 2-layer lstm model")]
    [InlineData("8-layer gru model", "an 8-layer gru model")]
    [InlineData("18-layer gru model", "an 18-layer gru model")]
    [InlineData("80-layer gru model", "an 80-layer gru model")]
    [InlineData("11-layer gru model", "an 11-layer gru model")]
    [InlineData("110-layer gru model", "a 110-layer gru model")]
    [InlineData("bidirectional lstm", "a bidirectional lstm")]
    public void AModelIsNamedWithTheArticleItIsReadWith(string phrase, string expected) =>
        Assert.Equal(expected, ModelFile.WithArticle(phrase));
}
