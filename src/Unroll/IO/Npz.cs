using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Unroll.IO;

/// <summary>
/// Reads and writes NumPy's <c>.npz</c> archives (what <c>numpy.savez</c> and
/// <c>numpy.savez_compressed</c> write): a zip file with one <c>.npy</c> array per entry, the array's
/// name being the entry's name without <c>.npy</c>. Only little-endian float arrays
/// (<c>&lt;f4</c>, <c>&lt;f8</c>) are accepted, in C or Fortran order.
/// </summary>
/// <remarks>
/// A <c>.npy</c> entry is the magic <c>\x93NUMPY</c>, a version byte pair (1.0: a 2-byte header
/// length; 2.0 and 3.0: 4 bytes), the header (a Python dict literal such as
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 4), }</c>, padded with spaces and
/// a newline) and the raw data. The reader treats the file as untrusted: the sizes declared by the
/// zip directory and the shape in each header are checked against the file's length before
/// anything is allocated, so a forged size cannot cause a large allocation.
/// </remarks>
internal static class Npz
{
    /// <summary>The largest .npy header accepted; NumPy itself refuses headers over 10 000 bytes by default.</summary>
    public const int MaxHeaderLength = 65536;

    /// <summary>
    /// Deflate expands at most about 1032 times (258-byte matches coded in 2 bits); an entry that
    /// claims more than this from its compressed size is forged.
    /// </summary>
    private const long MaxDeflateRatio = 1032;

    private const int ChunkBytes = 1 << 16;

    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads every array of an <c>.npz</c> file.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The arrays, in the order of the zip directory, as F32 or F64 tensors named by their keys.</returns>
    /// <exception cref="UnrollException">
    /// The file is missing, not a zip file, or holds an entry that is not a little-endian float
    /// <c>.npy</c> array, is truncated or declares sizes it does not have; the message names the file and the entry.
    /// </exception>
    public static NpzFile Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new UnrollException(Directory.Exists(path)
                ? $"{path}: is a directory; expected a .npz file"
                : $"{path}: file not found");
        }

        try
        {
            InputFile.RequireRegular(path, "a .npz file");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            return ReadFrom(path, stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"{path}: cannot read the file: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes <paramref name="arrays"/> as an uncompressed <c>.npz</c> (as <c>numpy.savez</c>), each
    /// in C order with its dtype (<c>&lt;f4</c> or <c>&lt;f8</c>), atomically.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="arrays">The arrays; each name becomes a key (the entry <c>name.npy</c>).</param>
    /// <exception cref="UnrollException">Two arrays share a name, or the file cannot be written.</exception>
    public static void Write(string path, IReadOnlyList<StoredTensor> arrays)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(arrays);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var array in arrays)
        {
            if (!names.Add(array.Name))
            {
                throw new UnrollException($"cannot write '{path}': two arrays are named '{array.Name}'; expected unique names");
            }
        }

        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var array in arrays)
            {
                var entry = zip.CreateEntry(array.Name + ".npy", CompressionLevel.NoCompression);
                // A fixed timestamp keeps the file a function of its contents.
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
                using var entryStream = entry.Open();
                WriteNpy(entryStream, array);
            }
        });
    }

    private static NpzFile ReadFrom(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        var arrays = new List<StoredTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException)
        {
            throw new UnrollException($"{path}: is not a zip archive ({e.Message}); expected a .npz file as written by numpy.savez", e);
        }

        using (zip)
        {
            ReadOnlyCollection<ZipArchiveEntry> entries;
            try
            {
                entries = zip.Entries;
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException)
            {
                throw new UnrollException($"{path}: the zip directory is corrupt ({e.Message}); expected a .npz file as written by numpy.savez", e);
            }

            foreach (var entry in entries)
            {
                string entryName = entry.FullName;
                if (!entryName.EndsWith(".npy", StringComparison.Ordinal) || entryName.Length == 4)
                {
                    throw new UnrollException($"{path}: entry '{entryName}' is not a .npy array; expected only NAME.npy entries as numpy.savez writes");
                }

                string name = entryName[..^4];
                if (!names.Add(name))
                {
                    throw new UnrollException($"{path}: the array '{name}' is stored twice; expected unique names");
                }

                string context = $"{path}: array '{name}'";
                long declared = entry.Length;
                long compressed = entry.CompressedLength;
                if (declared < 0 || compressed < 0 || compressed > fileLength)
                {
                    throw new UnrollException($"{context}: the zip directory declares {compressed} compressed bytes in a file of {fileLength}; expected sizes within the file");
                }

                if (declared > (compressed * MaxDeflateRatio) + 1024)
                {
                    throw new UnrollException($"{context}: the zip directory declares {declared} bytes from {compressed} compressed bytes, more than deflate can expand; the file is corrupt");
                }

                try
                {
                    using var entryStream = entry.Open();
                    arrays.Add(ReadNpy(context, name, entryStream, declared));
                }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException)
                {
                    throw new UnrollException($"{context}: the zip entry cannot be read ({e.Message}); the file is corrupt", e);
                }
            }
        }

        return new NpzFile(path, arrays);
    }

    /// <summary>Reads one .npy array from <paramref name="stream"/>, which holds <paramref name="declaredLength"/> bytes.</summary>
    internal static StoredTensor ReadNpy(string context, string name, Stream stream, long declaredLength)
    {
        Span<byte> preamble = stackalloc byte[12];
        ReadExactly(context, stream, preamble[..8], "the .npy preamble");
        if (!preamble[..6].SequenceEqual(Magic))
        {
            throw new UnrollException($"{context}: does not start with the .npy magic \\x93NUMPY; expected a NumPy array");
        }

        byte major = preamble[6], minor = preamble[7];
        int lengthBytes = major switch
        {
            1 => 2,
            2 or 3 => 4,
            _ => throw new UnrollException($"{context}: .npy format version {major}.{minor}; expected 1.0, 2.0 or 3.0"),
        };
        ReadExactly(context, stream, preamble.Slice(8, lengthBytes), "the .npy header length");
        long headerLength = lengthBytes == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(preamble[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(preamble[8..]);
        long headerEnd = 8 + lengthBytes + headerLength;
        if (headerLength > MaxHeaderLength || headerEnd > declaredLength)
        {
            throw new UnrollException($"{context}: the .npy header claims {headerLength} bytes in an entry of {declaredLength}; expected at most {Math.Min(MaxHeaderLength, Math.Max(0, declaredLength - 8 - lengthBytes))}");
        }

        byte[] headerBytes = new byte[headerLength];
        ReadExactly(context, stream, headerBytes, "the .npy header");
        // Versions 1 and 2 store the header in latin-1, version 3 in UTF-8 (both ASCII for float arrays).
        string header = major == 3 ? DecodeUtf8(context, headerBytes) : Encoding.Latin1.GetString(headerBytes);
        var (dtype, fortranOrder, shape) = NpyHeader.Parse(context, header);

        int elementSize = dtype == TensorDType.F32 ? 4 : 8;
        long count = 1;
        foreach (long dimension in shape)
        {
            count *= dimension;
            if (count > Array.MaxLength)
            {
                throw new UnrollException($"{context}: shape {StoredTensor.FormatShape(shape)} holds more than {Array.MaxLength} elements; expected an array that fits in memory");
            }
        }

        long dataBytes = count * elementSize;
        if (dataBytes > int.MaxValue)
        {
            throw new UnrollException($"{context}: shape {StoredTensor.FormatShape(shape)} needs {dataBytes} bytes; expected an array under 2 GB");
        }

        if (dataBytes != declaredLength - headerEnd)
        {
            throw new UnrollException(
                $"{context}: shape {StoredTensor.FormatShape(shape)} of {(elementSize == 4 ? "<f4" : "<f8")} needs {dataBytes} data bytes, the entry has {declaredLength - headerEnd}; expected them to match");
        }

        // The data is read before anything is allocated for it, in chunks, so the memory used is
        // bounded by the bytes the entry really holds, whatever its header or the zip directory claim.
        using var data = new MemoryStream();
        byte[] chunk = new byte[ChunkBytes];
        while (data.Length < dataBytes)
        {
            int read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, dataBytes - data.Length));
            if (read == 0)
            {
                throw new UnrollException($"{context}: the entry ends after {data.Length} of its {dataBytes} data bytes; the file is truncated");
            }

            data.Write(chunk, 0, read);
        }

        ReadOnlySpan<byte> bytes = data.GetBuffer().AsSpan(0, (int)dataBytes);
        var values = new double[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = elementSize == 4
                ? BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * 4, 4))
                : BinaryPrimitives.ReadDoubleLittleEndian(bytes.Slice(i * 8, 8));
        }

        if (stream.Read(chunk, 0, 1) != 0)
        {
            throw new UnrollException($"{context}: bytes after the array data; expected the entry to end with the data");
        }

        int[] intShape = shape.Select(d => (int)d).ToArray();
        if (fortranOrder && intShape.Length > 1)
        {
            values = FortranToC(values, intShape);
        }

        return new StoredTensor(name, dtype, intShape, values);
    }

    private static void WriteNpy(Stream stream, StoredTensor array)
    {
        string shape = array.Shape.Length == 1
            ? $"({array.Shape[0]},)"
            : "(" + string.Join(", ", array.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
        string dict = $"{{'descr': '{(array.DType == TensorDType.F32 ? "<f4" : "<f8")}', 'fortran_order': False, 'shape': {shape}, }}";
        // numpy pads the header with spaces so that the data starts on a 64-byte boundary, ending with '\n'.
        int total = 10 + dict.Length + 1;
        int padded = (total + 63) / 64 * 64;
        string header = dict + new string(' ', padded - total) + "\n";
        Span<byte> preamble = stackalloc byte[10];
        Magic.CopyTo(preamble);
        preamble[6] = 1;
        preamble[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(preamble[8..], (ushort)header.Length);
        stream.Write(preamble);
        stream.Write(Encoding.ASCII.GetBytes(header));
        int elementSize = array.DType == TensorDType.F32 ? 4 : 8;
        byte[] buffer = new byte[Math.Max(1, array.ElementCount * elementSize)];
        for (int i = 0; i < array.ElementCount; i++)
        {
            if (elementSize == 4)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4, 4), (float)array.Values[i]);
            }
            else
            {
                BinaryPrimitives.WriteDoubleLittleEndian(buffer.AsSpan(i * 8, 8), array.Values[i]);
            }
        }

        stream.Write(buffer, 0, array.ElementCount * elementSize);
    }

    /// <summary>Reorders column-major (Fortran) values into row-major (C) order.</summary>
    private static double[] FortranToC(double[] values, int[] shape)
    {
        var result = new double[values.Length];
        var index = new int[shape.Length];
        for (int c = 0; c < values.Length; c++)
        {
            // index walks the C order; the Fortran offset has the first dimension fastest.
            int fortran = 0, stride = 1;
            for (int d = 0; d < shape.Length; d++)
            {
                fortran += index[d] * stride;
                stride *= shape[d];
            }

            result[c] = values[fortran];
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (++index[d] < shape[d])
                {
                    break;
                }

                index[d] = 0;
            }
        }

        return result;
    }

    private static void ReadExactly(string context, Stream stream, Span<byte> buffer, string what)
    {
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read < buffer.Length)
        {
            throw new UnrollException($"{context}: the entry ends inside {what}; the file is truncated");
        }
    }

    private static string DecodeUtf8(string context, byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new UnrollException($"{context}: the .npy header is not UTF-8", e);
        }
    }
}

/// <summary>The parser of a .npy header, the Python dict literal that describes an array.</summary>
internal static class NpyHeader
{
    /// <summary>Parses <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 4), }</c> (keys in any order).</summary>
    public static (TensorDType DType, bool FortranOrder, long[] Shape) Parse(string context, string header)
    {
        int position = 0;
        string? descr = null;
        bool? fortranOrder = null;
        long[]? shape = null;
        SkipSpace(header, ref position);
        Expect(context, header, ref position, '{');
        while (true)
        {
            SkipSpace(header, ref position);
            if (Peek(header, position) == '}')
            {
                position++;
                break;
            }

            string key = ReadString(context, header, ref position);
            SkipSpace(header, ref position);
            Expect(context, header, ref position, ':');
            SkipSpace(header, ref position);
            switch (key)
            {
                case "descr" when descr is null:
                    descr = Peek(header, position) is '\'' or '"'
                        ? ReadString(context, header, ref position)
                        : throw Bad(context, "'descr' is not a string (a structured dtype?); expected '<f4' or '<f8'");
                    break;
                case "fortran_order" when fortranOrder is null:
                    fortranOrder = ReadBool(context, header, ref position);
                    break;
                case "shape" when shape is null:
                    shape = ReadShape(context, header, ref position);
                    break;
                case "descr" or "fortran_order" or "shape":
                    throw Bad(context, $"the header names '{key}' twice");
                default:
                    throw Bad(context, $"the header has the unknown key '{key}'; expected descr, fortran_order and shape");
            }

            SkipSpace(header, ref position);
            if (Peek(header, position) == ',')
            {
                position++;
            }
            else if (Peek(header, position) != '}')
            {
                throw Bad(context, $"the header has '{Shown(header, position)}' at column {position + 1}; expected ',' or '}}'");
            }
        }

        SkipSpace(header, ref position);
        if (position != header.Length)
        {
            throw Bad(context, $"the header has '{Shown(header, position)}' after its closing '}}'; expected only padding");
        }

        if (descr is null || fortranOrder is null || shape is null)
        {
            throw Bad(context, "the header lacks one of descr, fortran_order, shape; expected all three");
        }

        TensorDType dtype = descr switch
        {
            "<f4" => TensorDType.F32,
            "<f8" => TensorDType.F64,
            _ => throw Bad(context, $"dtype '{descr}' is not supported; expected little-endian float32 '<f4' or float64 '<f8' (convert with array.astype('<f4'))"),
        };
        return (dtype, fortranOrder.Value, shape);
    }

    private static long[] ReadShape(string context, string header, ref int position)
    {
        Expect(context, header, ref position, '(');
        var dimensions = new List<long>();
        while (true)
        {
            SkipSpace(header, ref position);
            if (Peek(header, position) == ')')
            {
                position++;
                return [.. dimensions];
            }

            int start = position;
            while (position < header.Length && char.IsAsciiDigit(header[position]))
            {
                position++;
            }

            // Python 2 headers may write a dimension as a long, e.g. 3L.
            string digits = header[start..position];
            if (position < header.Length && header[position] == 'L')
            {
                position++;
            }

            if (digits.Length == 0 || digits.Length > 10 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long dimension) || dimension > int.MaxValue)
            {
                throw Bad(context, $"the shape has '{Shown(header, start)}' at column {start + 1}; expected non-negative integer dimensions below 2^31");
            }

            dimensions.Add(dimension);
            if (dimensions.Count > 32)
            {
                throw Bad(context, "the shape has more than 32 dimensions (NumPy's limit)");
            }

            SkipSpace(header, ref position);
            if (Peek(header, position) == ',')
            {
                position++;
            }
            else if (Peek(header, position) != ')')
            {
                throw Bad(context, $"the shape has '{Shown(header, position)}' at column {position + 1}; expected ',' or ')'");
            }
        }
    }

    private static bool ReadBool(string context, string header, ref int position)
    {
        if (string.CompareOrdinal(header, position, "True", 0, 4) == 0)
        {
            position += 4;
            return true;
        }

        if (string.CompareOrdinal(header, position, "False", 0, 5) == 0)
        {
            position += 5;
            return false;
        }

        throw Bad(context, $"fortran_order is '{Shown(header, position)}'; expected True or False");
    }

    private static string ReadString(string context, string header, ref int position)
    {
        char quote = Peek(header, position);
        if (quote is not ('\'' or '"'))
        {
            throw Bad(context, $"the header has '{Shown(header, position)}' at column {position + 1}; expected a quoted key");
        }

        int end = header.IndexOf(quote, position + 1);
        if (end < 0)
        {
            throw Bad(context, "the header has an unterminated string");
        }

        string value = header[(position + 1)..end];
        position = end + 1;
        return value;
    }

    private static void Expect(string context, string header, ref int position, char expected)
    {
        if (Peek(header, position) != expected)
        {
            throw Bad(context, $"the header has '{Shown(header, position)}' at column {position + 1}; expected '{expected}'");
        }

        position++;
    }

    private static char Peek(string header, int position) => position < header.Length ? header[position] : '\0';

    private static void SkipSpace(string header, ref int position)
    {
        while (position < header.Length && header[position] is ' ' or '\t' or '\n' or '\r')
        {
            position++;
        }
    }

    private static string Shown(string header, int position)
    {
        if (position >= header.Length)
        {
            return "the end";
        }

        string text = header.Substring(position, Math.Min(12, header.Length - position));
        return new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }

    private static UnrollException Bad(string context, string message) => new($"{context}: {message}");
}

/// <summary>The arrays of a <c>.npz</c> file, by key.</summary>
internal sealed class NpzFile
{
    internal NpzFile(string path, IReadOnlyList<StoredTensor> arrays)
    {
        Path = path;
        Arrays = arrays;
    }

    /// <summary>The path the file was read from.</summary>
    public string Path { get; }

    /// <summary>The arrays in the order of the zip directory, each named by its key.</summary>
    public IReadOnlyList<StoredTensor> Arrays { get; }

    /// <summary>Looks up the array stored under <paramref name="key"/>.</summary>
    /// <param name="key">The key, as <c>numpy.load(path)[key]</c>.</param>
    /// <param name="array">The array, or null.</param>
    /// <returns>Whether the file holds that key.</returns>
    public bool TryGet(string key, [NotNullWhen(true)] out StoredTensor? array)
    {
        array = Arrays.FirstOrDefault(a => string.Equals(a.Name, key, StringComparison.Ordinal));
        return array is not null;
    }
}
