using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Cells;
using Unroll.IO;
using Unroll.Kernels;

namespace Unroll.Models;

/// <summary>The generated JSON metadata of the Models layer (see <see cref="Json"/>).</summary>
[JsonSerializable(typeof(ModelConfig))]
internal sealed partial class ModelJsonContext : JsonSerializerContext;

/// <summary>The enum converters of the Models layer and those below it.</summary>
internal static class ModelJson
{
    /// <summary>One string converter per enum the layer's JSON may hold.</summary>
    public static IEnumerable<JsonConverter> Enums(JsonNamingPolicy? naming) =>
    [
        new JsonStringEnumConverter<Architecture>(naming), new JsonStringEnumConverter<Activation>(naming), new JsonStringEnumConverter<HeadKind>(naming),
        new JsonStringEnumConverter<Pooling>(naming), new JsonStringEnumConverter<CellKind>(naming),
        new JsonStringEnumConverter<InitKind>(naming), new JsonStringEnumConverter<WeightSource>(naming),
        new JsonStringEnumConverter<OutputDistribution>(naming), new JsonStringEnumConverter<TensorDType>(naming),
    ];
}
