using System.Text;
using Unroll.IO;

namespace Unroll.Tests.IO;

/// <summary>A fresh directory under the system temp path, deleted with its contents on dispose.</summary>
internal sealed class IoTestDirectory : IDisposable
{
    public IoTestDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "unroll-io-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Every entry in the directory, hidden ones included, by file name.</summary>
    public string[] Entries() => Directory.GetFileSystemEntries(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory does not affect other tests.
        }
    }
}

public class AtomicFileTests
{
    [Fact]
    public void WriteAllTextCreatesFileAsUtf8WithoutBom()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("out.txt");
        AtomicFile.WriteAllText(path, "héllo\n");

        // é is U+00E9, two bytes in UTF-8: C3 A9. No EF BB BF prefix.
        Assert.Equal(new byte[] { (byte)'h', 0xC3, 0xA9, (byte)'l', (byte)'l', (byte)'o', (byte)'\n' }, File.ReadAllBytes(path));
        Assert.Equal(new[] { "out.txt" }, dir.Entries());
    }

    [Fact]
    public void WriteAllBytesReplacesExistingFile()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("data.bin");
        File.WriteAllBytes(path, new byte[100]);
        AtomicFile.WriteAllBytes(path, new byte[] { 1, 2, 3 });

        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(new[] { "data.bin" }, dir.Entries());
    }

    [Fact]
    public void WriteStreamsContentsToTarget()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("s.bin");
        AtomicFile.Write(path, stream =>
        {
            for (int i = 0; i < 1000; i++)
            {
                stream.WriteByte((byte)(i % 251));
            }
        });

        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(1000, bytes.Length);
        Assert.All(Enumerable.Range(0, 1000), i => Assert.Equal((byte)(i % 251), bytes[i]));
    }

    [Fact]
    public void TargetIsUnchangedAndNoTempFileRemainsWhenWriterThrowsMidway()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("model.safetensors");
        File.WriteAllText(path, "old contents");
        string? tempSeenDuringWrite = null;

        var thrown = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(Encoding.ASCII.GetBytes("new contents, half"));
            stream.Flush();
            // While writing, the data goes to a hidden sibling, never to the target.
            tempSeenDuringWrite = dir.Entries().Single(name => name != "model.safetensors");
            Assert.Equal("old contents", File.ReadAllText(path));
            throw new InvalidOperationException("simulated failure");
        }));

        Assert.Equal("simulated failure", thrown.Message);
        Assert.NotNull(tempSeenDuringWrite);
        Assert.StartsWith(".model.safetensors.tmp-", tempSeenDuringWrite, StringComparison.Ordinal);
        Assert.Equal("old contents", File.ReadAllText(path));
        Assert.Equal(new[] { "model.safetensors" }, dir.Entries());
    }

    [Fact]
    public void NewTargetIsNotCreatedWhenWriterThrows()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("new.bin");

        Assert.Throws<ArithmeticException>(() => AtomicFile.Write(path, stream =>
        {
            stream.WriteByte(1);
            throw new ArithmeticException();
        }));

        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void MissingDirectoryGivesUnrollExceptionNamingIt()
    {
        using var dir = new IoTestDirectory();
        string missing = Path.Combine(dir.Path, "no-such-dir");
        var error = Assert.Throws<UnrollException>(() => AtomicFile.WriteAllText(Path.Combine(missing, "x.txt"), "x"));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DirectoryAsTargetGivesUnrollException()
    {
        using var dir = new IoTestDirectory();
        string sub = dir.File("sub");
        Directory.CreateDirectory(sub);
        var error = Assert.Throws<UnrollException>(() => AtomicFile.WriteAllText(sub, "x"));
        Assert.Contains(sub, error.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { "sub" }, dir.Entries());
    }

    [Fact]
    public void EmptyPathGivesUnrollException()
    {
        Assert.Throws<UnrollException>(() => AtomicFile.WriteAllText("", "x"));
    }

    [Fact]
    public void RepeatedWritesLeaveOnlyTheTarget()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("r.txt");
        for (int i = 0; i < 5; i++)
        {
            AtomicFile.WriteAllText(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal("4", File.ReadAllText(path));
        Assert.Equal(new[] { "r.txt" }, dir.Entries());
    }
}
