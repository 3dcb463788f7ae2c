using Unroll.Data.Tasks;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// The library's JSON goes through generated metadata (no reflection, for the Native AOT build) and still reads what
/// reflection read: a member the JSON leaves out keeps its default, at any depth, and the text written is unchanged.
/// </summary>
public sealed class JsonTests
{
    [Fact]
    public void MembersLeftOutKeepTheirDefaults()
    {
        var config = ModelConfig.FromJson("{\"inputSize\":2,\"hiddenSize\":3,\"outputSize\":1}");
        Assert.Equal(new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 }.ToJson(), config.ToJson());
        Assert.Equal(Architecture.Rnn, config.Architecture);
        Assert.Equal(1, config.Layers);

        var options = TrainingOptions.FromJson("{\"steps\":7,\"optimizer\":{\"kind\":\"sgd\",\"learningRate\":0.5}}");
        Assert.Equal(7, options.Steps);
        Assert.Equal(32, options.BatchSize);
        Assert.Equal(OptimizerKind.Sgd, options.Optimizer.Kind);
        Assert.Equal(0.9, options.Optimizer.Beta1);
        Assert.Equal(LearningRateSchedule.Cosine, options.Schedule.Kind);

        var task = TaskDataDescription.FromJson("{\"length\":20}");
        Assert.Equal(20, task.Length);
        Assert.Equal(new TaskDataDescription().TrainCount, task.TrainCount);
    }

    [Fact]
    public void TheTextWrittenIsTheSameAsBefore()
    {
        // Written by the reflection-based serializer of the previous release.
        const string config = "{\"architecture\":\"lstm\",\"inputSize\":2,\"hiddenSize\":4,\"outputSize\":3,\"layers\":2,\"bidirectional\":true,\"dropout\":0.25,\"activation\":\"tanh\",\"vocabularySize\":0,\"head\":\"classification\",\"pooling\":\"lastStep\",\"inputNames\":[\"a\",\"b\"],\"outputNames\":[]}";
        Assert.Equal(config, ModelConfig.FromJson(config).ToJson());
        // A member added since is written only when it is set.
        var withHeadDropout = ModelConfig.FromJson(config) with { HeadDropout = 0.5 };
        Assert.Contains("\"headDropout\":0.5", withHeadDropout.ToJson(), StringComparison.Ordinal);
        Assert.Equal(0.5, ModelConfig.FromJson(withHeadDropout.ToJson()).HeadDropout);
    }

    [Fact]
    public void AnExplicitNullIsStillNull()
    {
        var error = Assert.Throws<UnrollException>(() => TrainingOptions.FromJson("{\"optimizer\":null}"));
        Assert.Contains("expected 'optimizer' and 'schedule' objects, got null", error.Message, StringComparison.Ordinal);
    }
}
