using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Unroll.Data.Text;

/// <summary>Strict UTF-8 reading: invalid bytes are refused with their offset, never replaced.</summary>
internal static class Utf8Text
{
    /// <summary>Reads <paramref name="path"/> as UTF-8 (a leading byte-order mark is skipped).</summary>
    /// <exception cref="UnrollException">The file cannot be read, or holds bytes that are not UTF-8 (the message names the byte offset).</exception>
    public static string ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Decode(IO.InputFile.ReadAllBytes(path, "a UTF-8 text file"), path);
    }

    /// <summary>Decodes <paramref name="bytes"/> as UTF-8 (a leading byte-order mark is skipped).</summary>
    /// <param name="bytes">The encoded text.</param>
    /// <param name="source">The file name, for messages.</param>
    /// <exception cref="UnrollException">A byte sequence is not valid UTF-8; the message names its offset in the file.</exception>
    public static string Decode(ReadOnlySpan<byte> bytes, string source)
    {
        int start = bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var input = bytes[start..];
        var chars = new char[input.Length]; // UTF-16 never needs more code units than UTF-8 has bytes
        var status = Utf8.ToUtf16(input, chars, out int read, out int written, replaceInvalidSequences: false, isFinalBlock: true);
        if (status != OperationStatus.Done)
        {
            long offset = start + read;
            string shown = Convert.ToHexString(input.Slice(read, Math.Min(4, input.Length - read)));
            throw new UnrollException(
                $"{source}: byte offset {offset}: expected UTF-8 text, got the invalid byte sequence 0x{shown} (convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8).");
        }

        return new string(chars, 0, written);
    }

    /// <summary>The Unicode scalar values of <paramref name="text"/>, each as its own string (the characters of a character-level model).</summary>
    public static List<string> Characters(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<string>(text.Length);
        var seen = new Dictionary<int, string>();
        foreach (var rune in text.EnumerateRunes())
        {
            if (!seen.TryGetValue(rune.Value, out var character))
            {
                character = rune.ToString();
                seen[rune.Value] = character;
            }

            result.Add(character);
        }

        return result;
    }
}
