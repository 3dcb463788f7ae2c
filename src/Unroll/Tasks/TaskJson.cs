using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Forecasts;
using Unroll.IO;

namespace Unroll.Tasks;

/// <summary>The generated JSON metadata of the Tasks layer (see <see cref="Json"/>).</summary>
[JsonSerializable(typeof(Evaluation))]
internal sealed partial class TaskJsonContext : JsonSerializerContext;

/// <summary>The enum converters of every layer of the library, for the JSON of the tasks and of the programs above them.</summary>
internal static class TaskJson
{
    /// <summary>One string converter per enum the library's JSON may hold.</summary>
    public static IEnumerable<JsonConverter> Enums(JsonNamingPolicy? naming) => ForecastJson.Enums(naming);
}
