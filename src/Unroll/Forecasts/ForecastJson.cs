using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Data;
using Unroll.IO;

namespace Unroll.Forecasts;

/// <summary>The generated JSON metadata of the Forecasts layer (see <see cref="Json"/>).</summary>
[JsonSerializable(typeof(ForecastSpec))]
internal sealed partial class ForecastJsonContext : JsonSerializerContext;

/// <summary>The enum converters of the Forecasts layer and those below it.</summary>
internal static class ForecastJson
{
    /// <summary>One string converter per enum the layer's JSON may hold.</summary>
    public static IEnumerable<JsonConverter> Enums(JsonNamingPolicy? naming) =>
    [
        .. DataJson.Enums(naming),
        new JsonStringEnumConverter<ForecastScaling>(naming), new JsonStringEnumConverter<ForecastBaseline>(naming),
    ];
}
