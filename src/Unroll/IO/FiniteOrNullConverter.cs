using System.Text.Json;
using System.Text.Json.Serialization;

namespace Unroll.IO;

/// <summary>JSON has no NaN or infinity: writes a double that is not finite (an undefined bound, say) as null, and reads null back as NaN.</summary>
internal sealed class FiniteOrNullConverter : JsonConverter<double>
{
    /// <inheritdoc/>
    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (double.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNullValue();
        }
    }
}
