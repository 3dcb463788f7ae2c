using System.Runtime.InteropServices;
using System.Text;

namespace Unroll.IO;

/// <summary>
/// Opening the files a user names, within limits: only regular files are read (a FIFO would block forever,
/// a device such as /dev/zero never ends), and never more bytes than a stated budget, so a wrong path is an
/// error message instead of a hang or an exhausted memory.
/// </summary>
internal static partial class InputFile
{
    /// <summary>The most bytes a text, CSV or similar input is read to (512 MiB): far above any data set this CPU trains on.</summary>
    public const long DefaultLimit = 512L << 20;

    /// <summary>Opens <paramref name="path"/> for reading after checking it is a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <exception cref="UnrollException">The file is missing, a directory, not a regular file, too large, or cannot be read.</exception>
    public static FileStream Open(string path, string what, long maxBytes = DefaultLimit)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new UnrollException($"{path}: is a directory; expected {what}.");
        }

        if (!File.Exists(path))
        {
            throw new UnrollException($"{path}: file not found; expected {what}.");
        }

        if (Kind(path) is { } kind && kind != "regular file")
        {
            throw new UnrollException($"{path}: is a {kind}, which is not read (it may never end); expected {what} in a regular file.");
        }

        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            if (stream.Length > maxBytes)
            {
                long length = stream.Length;
                stream.Dispose();
                throw new UnrollException($"{path}: holds {length} bytes; expected {what} of at most {maxBytes} bytes ({maxBytes >> 20} MiB).");
            }

            return stream;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UnrollException($"{path}: cannot read {what} ({e.Message}).", e);
        }
    }

    /// <summary>Refuses an existing path that is not a regular file or directory (a FIFO, a device, a socket) before it is opened.</summary>
    /// <exception cref="UnrollException">It is one.</exception>
    public static void RequireRegular(string path, string what)
    {
        if (File.Exists(path) && Kind(path) is { } kind && kind != "regular file")
        {
            throw new UnrollException($"{path}: is a {kind}, which is not read (it may never end); expected {what} in a regular file.");
        }
    }

    /// <summary>Every byte of a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <exception cref="UnrollException">As <see cref="Open"/>, or the file grows past the limit while it is read.</exception>
    public static byte[] ReadAllBytes(string path, string what, long maxBytes = DefaultLimit)
    {
        using var stream = Open(path, what, maxBytes);
        using var memory = new MemoryStream((int)Math.Min(stream.Length, int.MaxValue));
        var buffer = new byte[1 << 16];
        int read;
        try
        {
            while ((read = stream.Read(buffer)) > 0)
            {
                if (memory.Length + read > maxBytes)
                {
                    throw new UnrollException($"{path}: grew past {maxBytes} bytes while it was read; expected {what} of at most that.");
                }

                memory.Write(buffer, 0, read);
            }
        }
        catch (IOException e)
        {
            throw new UnrollException($"{path}: cannot read {what} ({e.Message}).", e);
        }

        return memory.ToArray();
    }

    /// <summary>The lines of a UTF-8 text file of at most <paramref name="maxBytes"/> bytes (a leading byte-order mark is skipped).</summary>
    /// <exception cref="UnrollException">As <see cref="ReadAllBytes"/>, or the bytes are not UTF-8.</exception>
    public static string[] ReadAllLines(string path, string what, long maxBytes = DefaultLimit)
    {
        string text;
        try
        {
            var bytes = ReadAllBytes(path, what, maxBytes);
            int start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
            text = new UTF8Encoding(false, true).GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            throw new UnrollException($"{path}: expected UTF-8 text ({what}), got bytes that are not UTF-8 ({e.Message}).", e);
        }

        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            lines[i] = lines[i].TrimEnd('\r');
        }

        // A final line break does not start another line.
        return lines.Length > 0 && lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    /// <summary>What kind of file system object <paramref name="path"/> is ("regular file", "FIFO", ...), or null where it cannot be told.</summary>
    internal static string? Kind(string path)
    {
        // st_mode's offset in struct stat differs by platform; where it is not known, the size limit alone applies.
        int offset = !OperatingSystem.IsLinux() ? -1
            : RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24
            : RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 16
            : -1;
        if (offset < 0)
        {
            return null;
        }

        Span<byte> buffer = stackalloc byte[256];
        try
        {
            if (Stat(path, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return null;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }

        uint mode = BitConverter.ToUInt32(buffer[offset..]);
        return (mode & 0xF000) switch
        {
            0x8000 => "regular file",
            0x4000 => "directory",
            0x1000 => "FIFO",
            0x2000 => "character device",
            0x6000 => "block device",
            0xC000 => "socket",
            _ => "special file",
        };
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, ref byte buffer);
}
