using System.Security.Cryptography;
using System.Text;

namespace Unroll.IO;

/// <summary>
/// Writes files so that the target is never half-written: the contents go to a unique
/// temporary file in the same directory, are flushed to disk, and the temporary file is then
/// renamed over the target. A rename within one directory is atomic on POSIX file systems and
/// NTFS, so a reader sees either the old file or the complete new one, even after a crash.
/// </summary>
internal static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Replaces <paramref name="path"/> with <paramref name="contents"/> encoded as UTF-8 without a byte-order mark.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="contents">The text to write.</param>
    /// <exception cref="UnrollException">The directory does not exist or the file cannot be written.</exception>
    public static void WriteAllText(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        byte[] bytes = Utf8NoBom.GetBytes(contents);
        WriteAllBytes(path, bytes);
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="bytes">The bytes to write.</param>
    /// <exception cref="UnrollException">The directory does not exist or the file cannot be written.</exception>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // A span cannot be captured by the callback, so the temporary file is handled here directly.
        WriteCore(path, bytes.ToArray(), static (stream, state) => stream.Write(state));
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with whatever <paramref name="writeContents"/> writes to the
    /// stream it is given. If the callback throws, the target is left as it was, the temporary
    /// file is deleted and the exception propagates unchanged (I/O failures become
    /// <see cref="UnrollException"/>).
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="writeContents">Writes the new contents; it must not close or dispose the stream.</param>
    /// <exception cref="UnrollException">The directory does not exist or the file cannot be written.</exception>
    public static void Write(string path, Action<Stream> writeContents)
    {
        ArgumentNullException.ThrowIfNull(writeContents);
        WriteCore(path, writeContents, static (stream, state) => state(stream));
    }

    private static void WriteCore<TState>(string path, TState state, Action<Stream, TState> writeContents)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0 || string.IsNullOrWhiteSpace(path))
        {
            throw new UnrollException("cannot write a file with an empty path; expected a file name");
        }

        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UnrollException($"cannot write '{path}': the path is not valid ({e.Message})", e);
        }

        string fileName = Path.GetFileName(fullPath);
        string? directory = Path.GetDirectoryName(fullPath);
        if (fileName.Length == 0 || directory is null)
        {
            throw new UnrollException($"cannot write '{path}': expected a file path, got a directory");
        }

        if (!Directory.Exists(directory))
        {
            throw new UnrollException($"cannot write '{path}': directory '{directory}' does not exist");
        }

        if (Directory.Exists(fullPath))
        {
            throw new UnrollException($"cannot write '{path}': it is a directory; expected a file path");
        }

        // The rename below replaces whatever the path names: never a device, a FIFO or a socket (as root, writing
        // to /dev/null would otherwise replace the device itself with a regular file).
        if (File.Exists(fullPath) && InputFile.Kind(fullPath) is { } kind && kind != "regular file")
        {
            throw new UnrollException($"cannot write '{path}': it is a {kind}; expected the path of a regular file (use - for standard output where a command offers it)");
        }

        // The temporary name is hidden, unique, and in the target's directory so the final
        // rename never crosses file systems (a cross-device move would copy, not rename).
        string tempPath = Path.Combine(directory, $".{fileName}.tmp-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}");
        bool renamed = false;
        try
        {
            using (var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
            {
                writeContents(stream, state);
                // Flush(true) forces the data to the device, so the rename never publishes a file
                // whose contents are still only in the page cache.
                stream.Flush(flushToDisk: true);
            }

            File.Move(tempPath, fullPath, overwrite: true);
            renamed = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"cannot write '{path}': {e.Message}", e);
        }
        finally
        {
            if (!renamed)
            {
                TryDelete(tempPath);
            }
        }
    }

    private static void TryDelete(string tempPath)
    {
        try
        {
            File.Delete(tempPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure is what the caller needs to see; a leftover hidden temporary
            // file is harmless and is not worth masking it.
        }
    }
}
