using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Unroll.IO;

namespace Unroll.Tests;

public sealed class NpzTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-npz-" + Guid.NewGuid().ToString("N"));

    public NpzTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void WrittenArraysReadBackBitForBit()
    {
        var arrays = new[]
        {
            StoredTensor.FromSingles("layer0/kernel", [2, 3], [1.5f, -2, 3.25f, float.Epsilon, -0f, 1e30f]),
            new StoredTensor("scalar", TensorDType.F64, [], [Math.PI]),
            new StoredTensor("vector", TensorDType.F64, [3], [1, 2, 3]),
            new StoredTensor("empty", TensorDType.F32, [0, 4], []),
            new StoredTensor("cube", TensorDType.F32, [2, 1, 2], [1, 2, 3, 4]),
        };
        string path = Path.Combine(_directory, "a.npz");
        Npz.Write(path, arrays);
        var file = Npz.Read(path);
        Assert.Equal(arrays.Select(a => a.Name), file.Arrays.Select(a => a.Name));
        for (int i = 0; i < arrays.Length; i++)
        {
            Assert.Equal(arrays[i].DType, file.Arrays[i].DType);
            Assert.Equal(arrays[i].Shape, file.Arrays[i].Shape);
            Assert.Equal(arrays[i].Values.Select(BitConverter.DoubleToInt64Bits), file.Arrays[i].Values.Select(BitConverter.DoubleToInt64Bits));
        }
    }

    [Fact]
    public void NumpyHeaderVariantsAreRead()
    {
        // Fortran order [2, 3]: column-major data 1 4 2 5 3 6 is the C-order matrix [[1 2 3] [4 5 6]].
        string path = WriteEntries(("f", Npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", Doubles(1, 4, 2, 5, 3, 6))));
        Assert.Equal([1.0, 2, 3, 4, 5, 6], Npz.Read(path).Arrays[0].Values);

        // Keys in another order, double quotes, version 2.0 (4-byte header length), deflate compression.
        path = WriteEntries(("g", Npy("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}", Floats(7, 8), major: 2)), compress: true);
        var array = Npz.Read(path).Arrays[0];
        Assert.Equal([2], array.Shape);
        Assert.Equal([7.0, 8], array.Values);
    }

    [Theory]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "dtype '>f4' is not supported")]
    [InlineData("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", "dtype '<i8' is not supported")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "not a string")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unknown key 'extra'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False}", "lacks one of")]
    [InlineData("{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,), }", "expected True or False")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "expected non-negative integer dimensions")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "needs 8 data bytes, the entry has 4")]
    public void MalformedHeadersAreRefusedWithTheReason(string header, string expected)
    {
        string path = WriteEntries(("bad", Npy(header, Floats(1))));
        var e = Assert.Throws<UnrollException>(() => Npz.Read(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("'bad'", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForgedShapeIsRefusedBeforeAllocating()
    {
        string path = WriteEntries(("huge", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2000000000, 2000000000), }", Floats(1))));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<UnrollException>(() => Npz.Read(path));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4_000_000, "allocated more than 4 MB for a forged shape");
        Assert.Contains("more than", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedDataNotZipAndOtherEntriesAreRefused()
    {
        byte[] npy = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", Floats(1, 2, 3, 4));
        string truncated = WriteEntries(("t", npy[..^3]));
        Assert.Contains("needs 16 data bytes", Assert.Throws<UnrollException>(() => Npz.Read(truncated)).Message, StringComparison.Ordinal);

        string notZip = Path.Combine(_directory, "plain.npz");
        File.WriteAllBytes(notZip, npy);
        Assert.Contains("is not a zip archive", Assert.Throws<UnrollException>(() => Npz.Read(notZip)).Message, StringComparison.Ordinal);

        string text = WriteEntries(("readme.txt", Encoding.ASCII.GetBytes("hi")));
        Assert.Contains("is not a .npy array", Assert.Throws<UnrollException>(() => Npz.Read(text)).Message, StringComparison.Ordinal);

        Assert.Contains("file not found", Assert.Throws<UnrollException>(() => Npz.Read(Path.Combine(_directory, "missing.npz"))).Message, StringComparison.Ordinal);
    }

    /// <summary>Writes a zip with the given entries (".npy" appended unless the name has a dot).</summary>
    internal string WriteEntries(params (string Name, byte[] Bytes)[] entries) => WriteEntries(entries, compress: false);

    private string WriteEntries((string Name, byte[] Bytes) entry, bool compress) => WriteEntries([entry], compress);

    private string WriteEntries((string Name, byte[] Bytes)[] entries, bool compress)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var (name, bytes) in entries)
            {
                var entry = zip.CreateEntry(name.Contains('.', StringComparison.Ordinal) ? name : name + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var stream = entry.Open();
                stream.Write(bytes);
            }
        }

        return path;
    }

    /// <summary>A .npy entry: magic, version, header length, the header padded to 64 bytes, the data.</summary>
    internal static byte[] Npy(string header, byte[] data, byte major = 1)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        int total = 6 + 2 + lengthBytes + header.Length + 1;
        string padded = header + new string(' ', ((total + 63) / 64 * 64) - total) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.Add(major);
        bytes.Add(0);
        var length = new byte[lengthBytes];
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)padded.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)padded.Length);
        }

        bytes.AddRange(length);
        bytes.AddRange(Encoding.ASCII.GetBytes(padded));
        bytes.AddRange(data);
        return [.. bytes];
    }

    internal static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private static byte[] Doubles(params double[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
}
