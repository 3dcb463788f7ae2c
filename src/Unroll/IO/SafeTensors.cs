using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Unroll.IO;

/// <summary>
/// Reads and writes the Hugging Face safetensors format: an 8-byte little-endian unsigned
/// header length N, then N bytes of UTF-8 JSON describing each tensor
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}}</c>, plus an optional
/// <c>"__metadata__"</c> object of string to string), then the raw little-endian row-major data,
/// with offsets relative to the first byte after the header.
/// </summary>
/// <remarks>
/// The writer pads the header with spaces to a multiple of 8 bytes (so the data starts 8-byte
/// aligned) and lays tensors out contiguously in the order given. The reader treats the file as
/// untrusted: every size and offset is checked against the file before it is used, so a forged
/// header cannot cause a large allocation or a read out of bounds.
/// </remarks>
internal static class SafeTensors
{
    /// <summary>The key of the optional string-to-string metadata object in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// The largest header accepted (100 MB), the same limit as the reference implementation;
    /// real headers are a few kilobytes to a few megabytes.
    /// </summary>
    public const long MaxHeaderLength = 100L * 1024 * 1024;

    private const int ChunkBytes = 1 << 16;

    private static readonly JsonWriterOptions HeaderWriterOptions = new()
    {
        // The header is JSON read by programs, never embedded in HTML, so only what JSON itself
        // requires is escaped; this keeps metadata such as a JSON model config readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> (atomically: the target is
    /// replaced only once the whole file is on disk).
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="tensors">The tensors, in the order they are laid out in the file.</param>
    /// <param name="metadata">Optional string pairs stored under <c>"__metadata__"</c>; omitted when null or empty.</param>
    /// <exception cref="UnrollException">Two tensors share a name, a name is <c>__metadata__</c>, or the file cannot be written.</exception>
    public static void Write(string path, IReadOnlyList<StoredTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        byte[] header = BuildHeader(path, tensors, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> lengthField = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(lengthField, (ulong)header.Length);
            stream.Write(lengthField);
            stream.Write(header);
            byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
            try
            {
                foreach (StoredTensor tensor in tensors)
                {
                    WriteValues(stream, tensor, chunk);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        });
    }

    /// <summary>Reads and validates a safetensors file holding F32 and/or F64 tensors.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The tensors, in header order, and the metadata.</returns>
    /// <exception cref="UnrollException">
    /// The file is missing, truncated or malformed, holds a dtype other than F32 or F64, or its
    /// offsets overlap, leave gaps or do not match the shapes. The message names the file.
    /// </exception>
    public static SafeTensorsFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new UnrollException(Directory.Exists(path)
                ? $"{path}: is a directory; expected a safetensors file"
                : $"{path}: file not found");
        }

        try
        {
            InputFile.RequireRegular(path, "a safetensors file");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            return ReadFrom(path, stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"{path}: cannot read the file: {e.Message}", e);
        }
    }

    private static byte[] BuildHeader(string path, IReadOnlyList<StoredTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, HeaderWriterOptions))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (KeyValuePair<string, string> pair in metadata)
                {
                    ArgumentNullException.ThrowIfNull(pair.Value, $"metadata[{pair.Key}]");
                    json.WriteString(pair.Key, pair.Value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (StoredTensor tensor in tensors)
            {
                ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
                if (tensor.Name == MetadataKey)
                {
                    throw new UnrollException($"cannot write '{path}': a tensor is named '{MetadataKey}', which the format reserves for metadata");
                }

                if (!names.Add(tensor.Name))
                {
                    throw new UnrollException($"cannot write '{path}': two tensors are named '{tensor.Name}'; expected unique names");
                }

                long end = offset + ((long)tensor.ElementCount * ElementSize(tensor.DType));
                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", DTypeName(tensor.DType));
                json.WriteStartArray("shape");
                foreach (int dimension in tensor.Shape)
                {
                    json.WriteNumberValue(dimension);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }

            json.WriteEndObject();
        }

        // Spaces after the JSON are whitespace to any JSON parser; padding to a multiple of 8 puts
        // the data (at 8 + N) on an 8-byte boundary, as the reference writer does.
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static void WriteValues(Stream stream, StoredTensor tensor, byte[] chunk)
    {
        int elementSize = ElementSize(tensor.DType);
        int perChunk = chunk.Length / elementSize;
        ReadOnlySpan<double> values = tensor.Values;
        for (int start = 0; start < values.Length; start += perChunk)
        {
            int count = Math.Min(perChunk, values.Length - start);
            Span<byte> bytes = chunk.AsSpan(0, count * elementSize);
            if (tensor.DType == TensorDType.F32)
            {
                for (int i = 0; i < count; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.Slice(i * 4, 4), (float)values[start + i]);
                }
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    BinaryPrimitives.WriteDoubleLittleEndian(bytes.Slice(i * 8, 8), values[start + i]);
                }
            }

            stream.Write(bytes);
        }
    }

    private static SafeTensorsFile ReadFrom(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
        {
            throw new UnrollException(
                $"{path}: file is {fileLength} bytes; expected at least 8 (a safetensors file starts with an 8-byte header length)");
        }

        Span<byte> lengthField = stackalloc byte[8];
        stream.ReadExactly(lengthField);
        ulong declaredHeaderLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthField);
        // Both checks come before any allocation, so a forged length cannot exhaust memory.
        if (declaredHeaderLength > (ulong)MaxHeaderLength)
        {
            throw new UnrollException(
                $"{path}: header length field is {declaredHeaderLength} bytes; expected at most {MaxHeaderLength} (not a safetensors file, or corrupt)");
        }

        if (declaredHeaderLength > (ulong)(fileLength - 8))
        {
            throw new UnrollException(
                $"{path}: header length field is {declaredHeaderLength} bytes but only {fileLength - 8} bytes follow it; the file is truncated or not a safetensors file");
        }

        int headerLength = (int)declaredHeaderLength;
        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;

        (Dictionary<string, string> metadata, List<TensorEntry> entries) = ParseHeader(path, header, dataLength);
        CheckLayout(path, entries, dataLength);

        var tensors = new List<StoredTensor>(entries.Count);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (TensorEntry entry in entries)
            {
                stream.Position = dataStart + entry.Begin;
                double[] values = ReadValues(stream, entry, chunk);
                tensors.Add(new StoredTensor(entry.Name, entry.DType, entry.Shape, values));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return new SafeTensorsFile(path, metadata, tensors);
    }

    private static double[] ReadValues(FileStream stream, TensorEntry entry, byte[] chunk)
    {
        int elementSize = ElementSize(entry.DType);
        int perChunk = chunk.Length / elementSize;
        // Safe to allocate: the element count times its size equals a byte range already checked
        // to lie inside the file.
        var values = new double[entry.ElementCount];
        for (int start = 0; start < values.Length; start += perChunk)
        {
            int count = Math.Min(perChunk, values.Length - start);
            Span<byte> bytes = chunk.AsSpan(0, count * elementSize);
            stream.ReadExactly(bytes);
            if (entry.DType == TensorDType.F32)
            {
                for (int i = 0; i < count; i++)
                {
                    values[start + i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * 4, 4));
                }
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    values[start + i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes.Slice(i * 8, 8));
                }
            }
        }

        return values;
    }

    private static (Dictionary<string, string> Metadata, List<TensorEntry> Entries) ParseHeader(string path, byte[] header, long dataLength)
    {
        try
        {
            _ = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetCharCount(header);
        }
        catch (DecoderFallbackException e)
        {
            throw new UnrollException($"{path}: header is not valid UTF-8 (bad byte at header offset {e.Index}); expected UTF-8 JSON", e);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new UnrollException($"{path}: header is not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new UnrollException($"{path}: header is a JSON {Describe(root.ValueKind)}; expected an object of tensors");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<TensorEntry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                // JSON allows repeated keys; a second entry would silently shadow the first.
                if (!seen.Add(property.Name))
                {
                    throw new UnrollException(property.Name == MetadataKey
                        ? $"{path}: header has '{MetadataKey}' twice; expected it at most once"
                        : $"{path}: header names tensor '{property.Name}' twice; expected unique names");
                }

                if (property.Name == MetadataKey)
                {
                    ParseMetadata(path, property.Value, metadata);
                }
                else
                {
                    entries.Add(ParseEntry(path, property.Name, property.Value, dataLength));
                }
            }

            return (metadata, entries);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new UnrollException($"{path}: '{MetadataKey}' is a JSON {Describe(value.ValueKind)}; expected an object of strings");
        }

        foreach (JsonProperty pair in value.EnumerateObject())
        {
            if (pair.Value.ValueKind != JsonValueKind.String)
            {
                throw new UnrollException(
                    $"{path}: metadata '{pair.Name}' is a JSON {Describe(pair.Value.ValueKind)}; expected a string");
            }

            if (!metadata.TryAdd(pair.Name, pair.Value.GetString()!))
            {
                throw new UnrollException($"{path}: metadata key '{pair.Name}' appears twice; expected unique keys");
            }
        }
    }

    private static TensorEntry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (name.Length == 0)
        {
            throw new UnrollException($"{path}: header has a tensor with an empty name; expected a non-empty name");
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new UnrollException($"{where} is a JSON {Describe(value.ValueKind)}; expected an object with dtype, shape and data_offsets");
        }

        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (JsonProperty field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtypeElement is null: dtypeElement = field.Value; break;
                case "shape" when shapeElement is null: shapeElement = field.Value; break;
                case "data_offsets" when offsetsElement is null: offsetsElement = field.Value; break;
                case "dtype" or "shape" or "data_offsets":
                    throw new UnrollException($"{where} has '{field.Name}' twice; expected it once");
                default:
                    throw new UnrollException($"{where} has an unknown field '{field.Name}'; expected only dtype, shape and data_offsets");
            }
        }

        if (dtypeElement is not { ValueKind: JsonValueKind.String } dtypeJson)
        {
            throw new UnrollException($"{where} has {(dtypeElement is null ? "no dtype" : $"a {Describe(dtypeElement.Value.ValueKind)} dtype")}; expected a string such as \"F32\"");
        }

        string dtypeName = dtypeJson.GetString()!;
        TensorDType dtype = dtypeName switch
        {
            "F32" => TensorDType.F32,
            "F64" => TensorDType.F64,
            _ => throw new UnrollException($"{where} has dtype {dtypeName}; expected F32 or F64"),
        };

        if (shapeElement is not { ValueKind: JsonValueKind.Array } shapeJson)
        {
            throw new UnrollException($"{where} has {(shapeElement is null ? "no shape" : $"a {Describe(shapeElement.Value.ValueKind)} shape")}; expected an array of dimensions");
        }

        var dimensions = new List<long>();
        foreach (JsonElement dimension in shapeJson.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size))
            {
                throw new UnrollException($"{where} has shape entry {dimension.GetRawText()}; expected a non-negative integer");
            }

            dimensions.Add(size);
        }

        if (dimensions.Any(size => size < 0))
        {
            throw new UnrollException($"{where} has shape {StoredTensor.FormatShape(dimensions)}; expected non-negative dimensions");
        }

        long elementCount = 1;
        if (!dimensions.Contains(0))
        {
            foreach (long size in dimensions)
            {
                // Array.MaxLength bounds what a double[] can hold; checking each step keeps the
                // product from overflowing a long.
                if (size > Array.MaxLength || elementCount > Array.MaxLength / size)
                {
                    throw new UnrollException(
                        $"{where} has shape {StoredTensor.FormatShape(dimensions)}; expected at most {Array.MaxLength} elements");
                }

                elementCount *= size;
            }
        }
        else
        {
            elementCount = 0;
            if (dimensions.Any(size => size > int.MaxValue))
            {
                throw new UnrollException($"{where} has shape {StoredTensor.FormatShape(dimensions)}; expected dimensions of at most {int.MaxValue}");
            }
        }

        if (offsetsElement is not { ValueKind: JsonValueKind.Array } offsetsJson || offsetsJson.GetArrayLength() != 2)
        {
            throw new UnrollException(
                $"{where} has {(offsetsElement is null ? "no data_offsets" : $"data_offsets {offsetsElement.Value.GetRawText()}")}; expected [begin, end]");
        }

        JsonElement beginJson = offsetsJson[0], endJson = offsetsJson[1];
        if (beginJson.ValueKind != JsonValueKind.Number || endJson.ValueKind != JsonValueKind.Number
            || !beginJson.TryGetUInt64(out ulong begin) || !endJson.TryGetUInt64(out ulong end))
        {
            throw new UnrollException($"{where} has data_offsets {offsetsJson.GetRawText()}; expected two non-negative integers");
        }

        if (begin > end || end > (ulong)dataLength)
        {
            throw new UnrollException(
                $"{where} has data_offsets [{begin}, {end}]; expected 0 <= begin <= end <= {dataLength} (the size of the data after the header)");
        }

        long expectedBytes = elementCount * ElementSize(dtype);
        if ((long)(end - begin) != expectedBytes)
        {
            throw new UnrollException(
                $"{where} has data_offsets [{begin}, {end}] ({end - begin} bytes); expected {expectedBytes} bytes for {dtypeName} shape {StoredTensor.FormatShape(dimensions)}");
        }

        return new TensorEntry(name, dtype, dimensions.Select(size => (int)size).ToArray(), (int)elementCount, (long)begin, (long)end);
    }

    /// <summary>
    /// The format requires the byte buffer to be fully indexed: tensors may not overlap and no
    /// byte may be left unclaimed (a hole or trailing bytes would be data nobody can account for).
    /// </summary>
    private static void CheckLayout(string path, List<TensorEntry> entries, long dataLength)
    {
        long covered = 0;
        TensorEntry? previous = null;
        foreach (TensorEntry entry in entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (entry.Begin < covered)
            {
                throw new UnrollException(
                    $"{path}: tensors '{previous!.Name}' [{previous.Begin}, {previous.End}] and '{entry.Name}' [{entry.Begin}, {entry.End}] overlap; expected disjoint data_offsets");
            }

            if (entry.Begin > covered)
            {
                throw new UnrollException(
                    $"{path}: data bytes [{covered}, {entry.Begin}) belong to no tensor; expected tensors to cover the data contiguously");
            }

            covered = entry.End;
            previous = entry;
        }

        if (covered != dataLength)
        {
            throw new UnrollException(
                $"{path}: {dataLength - covered} trailing bytes after the last tensor (data is {dataLength} bytes, tensors cover {covered}); expected no trailing bytes");
        }
    }

    private static int ElementSize(TensorDType dtype) => dtype == TensorDType.F32 ? 4 : 8;

    private static string DTypeName(TensorDType dtype) => dtype == TensorDType.F32 ? "F32" : "F64";

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    private sealed record TensorEntry(string Name, TensorDType DType, int[] Shape, int ElementCount, long Begin, long End);
}

/// <summary>The contents of a safetensors file: its tensors and its string metadata.</summary>
internal sealed class SafeTensorsFile
{
    internal SafeTensorsFile(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<StoredTensor> tensors)
    {
        Path = path;
        Metadata = metadata;
        Tensors = tensors;
    }

    /// <summary>The path the file was read from, as given.</summary>
    public string Path { get; }

    /// <summary>The <c>__metadata__</c> pairs; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in the order the header lists them.</summary>
    public IReadOnlyList<StoredTensor> Tensors { get; }

    /// <summary>Returns the tensor called <paramref name="name"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <returns>The tensor.</returns>
    /// <exception cref="UnrollException">The file holds no such tensor; the message lists the names it does hold.</exception>
    public StoredTensor Get(string name)
    {
        if (TryGet(name, out StoredTensor? tensor))
        {
            return tensor;
        }

        string available = Tensors.Count == 0 ? "it holds no tensors" : "it holds " + string.Join(", ", Tensors.Select(t => t.Name));
        throw new UnrollException($"{Path}: no tensor '{name}'; {available}");
    }

    /// <summary>Looks up the tensor called <paramref name="name"/>.</summary>
    /// <param name="name">The tensor's name.</param>
    /// <param name="tensor">The tensor, or null when there is none.</param>
    /// <returns>Whether the file holds a tensor of that name.</returns>
    public bool TryGet(string name, [NotNullWhen(true)] out StoredTensor? tensor)
    {
        foreach (StoredTensor candidate in Tensors)
        {
            if (string.Equals(candidate.Name, name, StringComparison.Ordinal))
            {
                tensor = candidate;
                return true;
            }
        }

        tensor = null;
        return false;
    }
}
