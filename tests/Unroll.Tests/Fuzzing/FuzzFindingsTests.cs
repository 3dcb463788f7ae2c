using System.Text;
using Unroll.Data.Images;
using Unroll.Data.Tables;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;
using Unroll.Data;

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
        var model = RecurrentModels.Create<float>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 3, OutputSize = 1 });
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
    [InlineData(2_000_000_000, 1, "parameters; expected at most")]
    [InlineData(70_000, 1, "parameters; expected at most")]
    [InlineData(8, 2_000_000_000, "layers: expected 1 to 256")]
    public void HugeSizesAreRefusedByTheConfig(int hidden, int layers, string expected)
    {
        var config = new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = hidden, OutputSize = 1, Layers = layers };
        var e = Assert.Throws<UnrollException>(config.Validate);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetByteCount(e.Message), e.Message.Length); // one plain line
    }

    private const string ImageDescription = "{\"dataset\":\"fashion-mnist\",\"order\":\"rows\",\"rows\":28,\"columns\":28,\"permutationSeed\":0,\"permutation\":null,\"dataDirectory\":\"/data\"}";

    [Theory]
    [InlineData("\"dataDirectory\":\"/data\"", "\"dataDirectory\":null")]
    [InlineData("\"dataset\":\"fashion-mnist\"", "\"dataset\":null")]
    [InlineData("\"order\":\"rows\"", "\"order\":2147483647")]
    [InlineData("\"rows\":28,\"columns\":28", "\"rows\":65536,\"columns\":65536")]
    public void ImageDescriptionWithANullNameAnUndefinedOrderOrOverflowingSizeIsRefused(string valid, string forged)
    {
        // Were accepted: `unroll eval` then failed with ArgumentNullException (null directory) or read an undefined pixel order;
        // 65536 x 65536 pixels overflowed the int product to 0.
        Assert.Equal(28, ImageSequenceDescription.FromJson(ImageDescription).Rows);
        var e = Assert.Throws<UnrollException>(() => ImageSequenceDescription.FromJson(ImageDescription.Replace(valid, forged, StringComparison.Ordinal)));
        Assert.StartsWith("image description: expected", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"inputStds\":[1]", "\"inputStds\":null")]
    [InlineData("\"inputs\":[\"x\"]", "\"inputs\":null")]
    [InlineData("\"targetMeans\":[0]", "\"targetMeans\":null")]
    [InlineData("\"source\":\"a.csv\"", "\"source\":null")]
    [InlineData("\"inputStds\":[1]", "\"inputStds\":[0]")]
    [InlineData("\"targetStds\":[2]", "\"targetStds\":[-2]")]
    public void TimeSeriesTaskWithNullOrNonPositiveNormalisationIsRefused(string valid, string forged)
    {
        // The null members were a NullReferenceException; a zero deviation was accepted and divided by.
        const string json = "{\"source\":\"a.csv\",\"inputs\":[\"x\"],\"targets\":[\"y\"],\"inputMeans\":[0],\"inputStds\":[1],\"targetMeans\":[0],\"targetStds\":[2]}";
        Assert.Equal(2, TimeSeriesTask.FromJson(json).TargetStds[0]);
        var e = Assert.Throws<UnrollException>(() => TimeSeriesTask.FromJson(json.Replace(valid, forged, StringComparison.Ordinal)));
        Assert.StartsWith("time-series task: expected", e.Message, StringComparison.Ordinal);
    }
}
