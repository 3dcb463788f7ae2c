using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.IO;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>The generated JSON metadata of the Training layer (see <see cref="Json"/>).</summary>
[JsonSerializable(typeof(TrainingOptions))]
[JsonSerializable(typeof(Checkpoint.ScalarState))]
internal sealed partial class TrainingJsonContext : JsonSerializerContext;

/// <summary>The enum converters of the Training layer and those below it.</summary>
internal static class TrainingJson
{
    /// <summary>One string converter per enum the layer's JSON may hold.</summary>
    public static IEnumerable<JsonConverter> Enums(JsonNamingPolicy? naming) =>
    [
        .. ModelJson.Enums(naming),
        new JsonStringEnumConverter<OptimizerKind>(naming), new JsonStringEnumConverter<LearningRateSchedule>(naming),
    ];
}
