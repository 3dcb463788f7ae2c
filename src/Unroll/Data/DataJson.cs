using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Data.Images;
using Unroll.Data.Tables;
using Unroll.Data.Tasks;
using Unroll.Data.Text;
using Unroll.Diagnostics;
using Unroll.IO;
using Unroll.Training;

namespace Unroll.Data;

/// <summary>The generated JSON metadata of the Data layer (see <see cref="Json"/>).</summary>
[JsonSerializable(typeof(OscillatorEvaluation))]
[JsonSerializable(typeof(OscillatorDataDescription))]
[JsonSerializable(typeof(TimeSeriesTask))]
[JsonSerializable(typeof(ImageSequenceDescription))]
[JsonSerializable(typeof(TextCorpusOptions.Stored))]
[JsonSerializable(typeof(Vocabulary.StoredVocabulary))]
[JsonSerializable(typeof(TaskDataDescription))]
[JsonSerializable(typeof(TaskEvaluation))]
internal sealed partial class DataJsonContext : JsonSerializerContext;

/// <summary>The enum converters of the Data layer and those below it.</summary>
internal static class DataJson
{
    /// <summary>One string converter per enum the layer's JSON may hold.</summary>
    public static IEnumerable<JsonConverter> Enums(JsonNamingPolicy? naming) =>
    [
        .. TrainingJson.Enums(naming),
        new JsonStringEnumConverter<GradientRegime>(naming), new JsonStringEnumConverter<Integrator>(naming),
        new JsonStringEnumConverter<ForcingKind>(naming), new JsonStringEnumConverter<PixelOrder>(naming),
        new JsonStringEnumConverter<TextLevel>(naming),
    ];
}
