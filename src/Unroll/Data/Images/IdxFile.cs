using System.Buffers.Binary;
using System.IO.Compression;

namespace Unroll.Data.Images;

/// <summary>An array of unsigned bytes read from an IDX file: its dimensions, outermost first, and its values in row-major order.</summary>
/// <param name="Dimensions">The sizes, e.g. [60000, 28, 28] for images or [60000] for labels.</param>
/// <param name="Values">The product of the dimensions bytes.</param>
internal sealed record IdxArray(int[] Dimensions, byte[] Values);

/// <summary>
/// Reads IDX files (the MNIST and Fashion-MNIST format), plain or gzip-compressed. The header is
/// checked before anything is allocated: magic bytes <c>00 00 08 D</c> (unsigned bytes, D
/// dimensions), D big-endian 32-bit sizes, each positive, and their product against the data the
/// file can hold: exactly the file's length for a plain file, the gzip trailer's uncompressed size
/// (and at most 1032 times the compressed size, deflate's largest ratio) for a compressed one.
/// A forged size is refused with a message, never turned into a huge allocation.
/// </summary>
internal static class IdxFile
{
    /// <summary>Deflate cannot expand data by more than this factor (RFC 1951: 258-byte matches coded in 2 bits).</summary>
    private const long DeflateMaximumRatio = 1032;

    /// <summary>The largest number of values read: the largest byte array.</summary>
    private const long MaximumValues = 0x7FFFFFC7;

    /// <summary>Whether <paramref name="path"/> starts as an IDX file of unsigned bytes does (00 00 08 dims), or as gzip (1f 8b).</summary>
    public static bool LooksLikeIdx(string path)
    {
        IO.InputFile.RequireRegular(path, "an IDX file");
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            Span<byte> start = stackalloc byte[4];
            int read = file.Read(start);
            return (read >= 2 && start[0] == 0x1F && start[1] == 0x8B) || (read == 4 && start[0] == 0 && start[1] == 0 && start[2] == 0x08 && start[3] is >= 1 and <= 4);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"{path}: cannot read the file ({e.Message}).", e);
        }
    }

    /// <summary>Reads an IDX file of unsigned bytes with <paramref name="dimensions"/> dimensions.</summary>
    /// <param name="path">The file; gzip-compressed when it starts with 1f 8b.</param>
    /// <param name="dimensions">The number of dimensions expected (3 for images, 1 for labels).</param>
    /// <exception cref="UnrollException">The file is missing, not IDX, of another type or rank, or its sizes do not match its length.</exception>
    public static IdxArray Read(string path, int dimensions)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        try
        {
            IO.InputFile.RequireRegular(path, "an IDX file");
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long fileLength = file.Length;
            Span<byte> start = stackalloc byte[2];
            bool gzip = file.Read(start) == 2 && start[0] == 0x1F && start[1] == 0x8B;
            file.Position = 0;
            long? available = gzip ? null : fileLength;
            long limit = long.MaxValue; // a plain file's length is checked exactly below
            if (gzip)
            {
                // The last four bytes of a gzip member are ISIZE, the uncompressed length mod 2^32.
                if (fileLength < 18)
                {
                    throw new UnrollException($"{path}: expected a gzip file of at least 18 bytes, got {fileLength}; the file is truncated.");
                }

                Span<byte> trailer = stackalloc byte[4];
                file.Position = fileLength - 4;
                file.ReadExactly(trailer);
                file.Position = 0;
                available = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
                limit = fileLength * DeflateMaximumRatio;
            }

            using Stream data = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
            return ReadContents(data, path, dimensions, available!.Value, limit, gzip);
        }
        catch (FileNotFoundException e)
        {
            throw new UnrollException($"{path}: file not found; expected an IDX file (for Fashion-MNIST: apt-get install dataset-fashion-mnist, or --data-dir).", e);
        }
        catch (DirectoryNotFoundException e)
        {
            throw new UnrollException($"{path}: directory not found; expected an IDX file (for Fashion-MNIST: apt-get install dataset-fashion-mnist, or --data-dir).", e);
        }
        catch (InvalidDataException e)
        {
            // zlib reports a checksum mismatch and broken deflate data alike; .NET's message for both names an
            // "unsupported compression method", which misleads: say what it is.
            throw new UnrollException($"{path}: the gzip data is corrupt (a checksum or deflate error; the file was damaged or cut short); expected a gzip-compressed IDX file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"{path}: cannot read the IDX file ({e.Message}).", e);
        }
    }

    private static IdxArray ReadContents(Stream data, string path, int dimensions, long available, long limit, bool gzip)
    {
        string what = gzip ? "decompressed data" : "file";
        Span<byte> magic = stackalloc byte[4];
        ReadHeader(data, magic, path, "the magic number");
        if (magic[0] != 0 || magic[1] != 0)
        {
            throw new UnrollException($"{path}: expected an IDX file starting 00 00, got {Convert.ToHexString(magic)}; this is not an IDX file.");
        }

        if (magic[2] != 0x08)
        {
            throw new UnrollException($"{path}: IDX element type 0x{magic[2]:X2}; expected 0x08 (unsigned bytes).");
        }

        if (magic[3] != dimensions)
        {
            throw new UnrollException($"{path}: IDX array of {magic[3]} dimensions; expected {dimensions} ({(dimensions == 1 ? "labels" : "images: count, rows, columns")}).");
        }

        var sizes = new int[dimensions];
        Span<byte> size = stackalloc byte[4];
        long count = 1;
        Int128 claimed = 1;
        for (int d = 0; d < dimensions; d++)
        {
            ReadHeader(data, size, path, $"dimension {d}");
            uint value = BinaryPrimitives.ReadUInt32BigEndian(size);
            if (value == 0 || value > int.MaxValue)
            {
                throw new UnrollException($"{path}: IDX dimension {d} is {value}; expected a size from 1 to {int.MaxValue}.");
            }

            sizes[d] = (int)value;
            claimed *= value;
            count = Math.Min(count * value, MaximumValues + 1); // clamped: the product of D sizes can overflow a long
        }

        long header = 4 + (4L * dimensions);
        long expected = header + count;
        string shape = "[" + string.Join(", ", sizes) + "]";
        if (count > MaximumValues || expected > limit)
        {
            throw new UnrollException($"{path}: the IDX header claims {shape} = {claimed} values, more than the {what} can hold; the sizes are wrong or forged.");
        }

        // A gzip file's trailer gives only its last member's length: a file of several members (as concatenating
        // gzip files makes) is checked by reading it, below, instead.
        if (!gzip && expected != available)
        {
            throw new UnrollException(
                $"{path}: the IDX header claims {shape}, i.e. {expected} bytes with the header, but the {what} {(gzip ? "is" : "has")} {available} bytes{(gzip ? " long (gzip trailer)" : string.Empty)}; the sizes are wrong (forged) or the file is truncated.");
        }

        var values = new byte[count];
        int read = data.ReadAtLeast(values, values.Length, throwOnEndOfStream: false);
        if (read < values.Length)
        {
            throw new UnrollException($"{path}: the {what} ends after {header + read} of the {expected} bytes the IDX header {shape} needs; the file is truncated.");
        }

        if (data.ReadByte() >= 0)
        {
            throw new UnrollException($"{path}: the {what} goes on after the {expected} bytes the IDX header {shape} describes; expected nothing after the data.");
        }

        return new IdxArray(sizes, values);
    }

    private static void ReadHeader(Stream data, Span<byte> buffer, string path, string what)
    {
        if (data.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) < buffer.Length)
        {
            throw new UnrollException($"{path}: the file ends inside the IDX header ({what}); expected an IDX file.");
        }
    }

    /// <summary>Writes an uncompressed or gzip-compressed IDX file of unsigned bytes (for tests and tools).</summary>
    public static void Write(string path, IReadOnlyList<int> dimensions, ReadOnlySpan<byte> values, bool compress)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        var bytes = new byte[4 + (4 * dimensions.Count) + values.Length];
        bytes[2] = 0x08;
        bytes[3] = (byte)dimensions.Count;
        for (int d = 0; d < dimensions.Count; d++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + (4 * d)), dimensions[d]);
        }

        values.CopyTo(bytes.AsSpan(4 + (4 * dimensions.Count)));
        IO.AtomicFile.Write(path, stream =>
        {
            if (compress)
            {
                using var gzip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true);
                gzip.Write(bytes);
            }
            else
            {
                stream.Write(bytes);
            }
        });
    }
}
