using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Unroll.IO;

/// <summary>How a set of JSON options writes enum values.</summary>
internal enum EnumNames
{
    /// <summary>As numbers (System.Text.Json's default).</summary>
    Numbers,

    /// <summary>As their declared names ("Tanh").</summary>
    Declared,

    /// <summary>As their names in camelCase ("tanh", "lastStep").</summary>
    CamelCase,
}

/// <summary>
/// JSON options backed by metadata generated at build time rather than reflection, so that a program using the
/// library trims and compiles ahead of time (the `unroll` command's Native AOT build) without warnings. Each layer
/// has its own context and its own list of enum converters (which includes the lists of the layers below it, since
/// its types may hold theirs): ModelJson, TrainingJson, DataJson, ForecastJson, TaskJson.
/// </summary>
internal static class Json
{
    /// <summary>
    /// <paramref name="options"/> made to resolve types through <paramref name="context"/>, with enum values written as
    /// <paramref name="enums"/> says (through the converters <paramref name="enumConverters"/> makes for a naming
    /// policy), and made read-only.
    /// </summary>
    public static JsonSerializerOptions Options(
        JsonSerializerOptions options, EnumNames enums, IJsonTypeInfoResolver context, Func<JsonNamingPolicy?, IEnumerable<JsonConverter>> enumConverters)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(enumConverters);
        options.TypeInfoResolver = context;
        if (enums != EnumNames.Numbers)
        {
            // One converter per enum: the generic converter needs no code generated at run time.
            foreach (var converter in enumConverters(enums == EnumNames.CamelCase ? JsonNamingPolicy.CamelCase : null))
            {
                options.Converters.Add(converter);
            }
        }

        options.MakeReadOnly();
        return options;
    }

    /// <summary>The metadata of <typeparamref name="T"/> under <paramref name="options"/>.</summary>
    public static JsonTypeInfo<T> Info<T>(this JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));

    /// <summary>
    /// Reads <paramref name="json"/> as a <typeparamref name="T"/> with the defaults of <paramref name="defaults"/> for the
    /// init-only properties it leaves out, at any depth, as reflection-based deserialization keeps them. Generated
    /// metadata sets every init-only property in the object initializer, so one missing from the JSON would otherwise
    /// get default(T) instead of its initializer's value (dotnet/runtime#84484). Constructor parameters and required
    /// properties are left to the serializer; the JSON is otherwise read as it is (a repeated name: the last wins).
    /// </summary>
    /// <exception cref="JsonException">The text is not JSON, or does not fit <typeparamref name="T"/>.</exception>
    public static T? Deserialize<T>(string json, JsonSerializerOptions options, T defaults)
    {
        ArgumentNullException.ThrowIfNull(options);
        var info = options.Info<T>();
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return JsonSerializer.Deserialize(json, info);
        }

        using var template = JsonSerializer.SerializeToDocument(defaults, info);
        var filled = new System.Buffers.ArrayBufferWriter<byte>(json.Length + 256);
        using (var writer = new Utf8JsonWriter(filled))
        {
            WriteFilled(writer, document.RootElement, template.RootElement, info);
        }

        return JsonSerializer.Deserialize(filled.WrittenSpan, info);
    }

    // Copies the object `given`, adding the properties of `template` it lacks (see Deserialize) and filling nested objects alike.
    private static void WriteFilled(Utf8JsonWriter writer, JsonElement given, JsonElement template, JsonTypeInfo info)
    {
        var properties = info.Kind == JsonTypeInfoKind.Object ? info.Properties : [];
        var present = new HashSet<string>(StringComparer.Ordinal);
        writer.WriteStartObject();
        foreach (var member in given.EnumerateObject())
        {
            present.Add(member.Name);
            writer.WritePropertyName(member.Name);
            var property = properties.FirstOrDefault(p => p.Name == member.Name);
            if (property is not null && member.Value.ValueKind == JsonValueKind.Object
                && template.TryGetProperty(member.Name, out var nested) && nested.ValueKind == JsonValueKind.Object)
            {
                WriteFilled(writer, member.Value, nested, info.Options.GetTypeInfo(property.PropertyType));
            }
            else
            {
                member.Value.WriteTo(writer);
            }
        }

        foreach (var property in properties)
        {
            bool constructorParameter = property.AssociatedParameter is { IsMemberInitializer: false };
            if (!present.Contains(property.Name) && !constructorParameter && !property.IsRequired
                && template.TryGetProperty(property.Name, out var fallback) && fallback.ValueKind != JsonValueKind.Null)
            {
                writer.WritePropertyName(property.Name);
                fallback.WriteTo(writer);
            }
        }

        writer.WriteEndObject();
    }
}
