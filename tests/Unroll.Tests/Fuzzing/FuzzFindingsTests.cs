using System.Text;
using Unroll.Init;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests.Fuzzing;

/// <summary>What the fuzz campaigns found, each reduced to a test (docs/fuzzing.md).</summary>
public sealed class FuzzFindingsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("unroll-fuzz-findings-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void DataDescriptionWithoutOptionsIsRefused()
    {
        // Was a NullReferenceException: a misspelt "options" key left the record's Options null.
        var e = Assert.Throws<UnrollException>(() => OscillatorDataDescription.FromJson("{\"optons\":{},\"seed\":1}"));
        Assert.Contains("'options'", e.Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => OscillatorDataDescription.FromJson("{\"options\":null,\"seed\":1}"));
    }

    [Fact]
    public void NullMembersOfConfigAndTrainingJsonAreRefused()
    {
        Assert.Throws<UnrollException>(() => ModelConfig.FromJson("{\"architecture\":\"rnn\",\"inputSize\":1,\"hiddenSize\":1,\"outputSize\":1,\"inputNames\":null}"));
        Assert.Throws<UnrollException>(() => ModelConfig.FromJson("{\"architecture\":null,\"inputSize\":1,\"hiddenSize\":1,\"outputSize\":1}"));
        Assert.Throws<UnrollException>(() => ModelConfig.FromJson("{\"architecture\":\"rnn\",\"inputSize\":1,\"hiddenSize\":1,\"outputSize\":1,\"outputNames\":[null]}"));
        Assert.Throws<UnrollException>(() => TrainingOptions.FromJson("{\"optimizer\":null}"));
        Assert.Throws<UnrollException>(() => TrainingOptions.FromJson("{\"schedule\":null}"));
    }

    [Fact]
    public void ForgedHiddenSizeInModelMetadataIsRefusedBeforeAllocating()
    {
        var model = RecurrentModels.Create<float>(new ModelConfig { Architecture = "lstm", InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        Initializers.PyTorchDefault(model, new Random(1));
        string path = Path.Combine(_directory, "m.safetensors");
        ModelFile.Save(path, model);
        var file = SafeTensors.Read(path);
        var metadata = file.Metadata.ToDictionary();
        metadata[ModelFile.ConfigKey] = (model.Config with { HiddenSize = 8000 }).ToJson();
        SafeTensors.Write(path, file.Tensors, metadata);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<UnrollException>(() => ModelFile.Load(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16_000_000, "allocated the forged model");
        Assert.Contains("parameters, but the file holds", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2_000_000_000, 1)]
    [InlineData(70_000, 1)]
    [InlineData(8, 2_000_000_000)]
    public void HugeSizesAreRefusedByTheConfig(int hidden, int layers)
    {
        var config = new ModelConfig { Architecture = "gru", InputSize = 2, HiddenSize = hidden, OutputSize = 1, Layers = layers };
        var e = Assert.Throws<UnrollException>(config.Validate);
        Assert.Contains("parameters; expected at most", e.Message, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetByteCount(e.Message), e.Message.Length); // one plain line
    }
}
