using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Unroll.IO;

namespace Unroll.Tests.IO;

public class SafeTensorsTests
{
    // ---- helpers -------------------------------------------------------------------------

    /// <summary>Builds a file by hand from the spec: u64 LE header length, header bytes, data.</summary>
    private static byte[] HandMade(string headerJson, byte[] data, ulong? declaredLength = null)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        return HandMade(header, data, declaredLength);
    }

    private static byte[] HandMade(byte[] header, byte[] data, ulong? declaredLength = null)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, declaredLength ?? (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static UnrollException AssertRejected(string path, string expectedFragment)
    {
        var error = Assert.Throws<UnrollException>(() => SafeTensors.Read(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains(expectedFragment, error.Message, StringComparison.Ordinal);
        return error;
    }

    private static UnrollException AssertRejected(IoTestDirectory dir, byte[] file, string expectedFragment)
    {
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, file);
        return AssertRejected(path, expectedFragment);
    }

    private static void AssertBitwiseEqual(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(BitConverter.DoubleToInt64Bits(expected[i]), BitConverter.DoubleToInt64Bits(actual[i]));
        }
    }

    // ---- round trips ---------------------------------------------------------------------

    [Fact]
    public void RoundTripsF32AndF64WithMetadata()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("m.safetensors");
        var random = new Random(7);
        float[] singles = Enumerable.Range(0, 12).Select(_ => (float)((random.NextDouble() * 20) - 10)).ToArray();
        singles[0] = float.Epsilon;
        singles[1] = -0.0f;
        singles[2] = float.MaxValue;
        double[] doubles = { Math.PI, -Math.E, 1e-300, double.Epsilon, -0.0, double.MaxValue };
        var tensors = new[]
        {
            StoredTensor.FromSingles("w", new[] { 3, 4 }, singles),
            new StoredTensor("d", TensorDType.F64, new[] { 2, 3 }, doubles),
        };
        var metadata = new Dictionary<string, string>
        {
            ["unroll.config"] = "{\"hidden\": 8, \"cell\": \"tanh\"}",
            ["note"] = "ünïcode & <symbols> + \"quotes\"\n",
        };

        SafeTensors.Write(path, tensors, metadata);
        SafeTensorsFile file = SafeTensors.Read(path);

        Assert.Equal(path, file.Path);
        Assert.Equal(metadata.OrderBy(p => p.Key), file.Metadata.OrderBy(p => p.Key));
        Assert.Equal(new[] { "w", "d" }, file.Tensors.Select(t => t.Name));
        StoredTensor w = file.Get("w");
        Assert.Equal(TensorDType.F32, w.DType);
        Assert.Equal(new[] { 3, 4 }, w.Shape);
        // float -> double is exact, so the values come back bit for bit.
        AssertBitwiseEqual(singles.Select(v => (double)v).ToArray(), w.Values);
        Assert.Equal(singles, w.ToSingleArray());
        StoredTensor d = file.Get("d");
        Assert.Equal(TensorDType.F64, d.DType);
        Assert.Equal(new[] { 2, 3 }, d.Shape);
        AssertBitwiseEqual(doubles, d.Values);
    }

    [Fact]
    public void WritingAsF32RoundsToNearestFloat()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("r.safetensors");
        double[] values = { 0.1, 1.0 / 3.0, 16777217.0 };
        SafeTensors.Write(path, new[] { new StoredTensor("x", TensorDType.F32, new[] { 3 }, values) });

        // IEEE round-to-nearest: 2^24 + 1 is a tie between 2^24 and 2^24 + 2 and rounds to even (2^24).
        double[] expected = { (double)0.1f, (double)(1.0f / 3.0f), 16777216.0 };
        AssertBitwiseEqual(expected, SafeTensors.Read(path).Get("x").Values);
    }

    [Fact]
    public void RoundTripsScalarAndZeroSizeTensorsWithoutMetadata()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("z.safetensors");
        var tensors = new[]
        {
            new StoredTensor("empty", TensorDType.F32, new[] { 0, 3 }, Array.Empty<double>()),
            new StoredTensor("scalar", TensorDType.F64, Array.Empty<int>(), new[] { 42.5 }),
            new StoredTensor("empty64", TensorDType.F64, new[] { 5, 0 }, Array.Empty<double>()),
        };

        SafeTensors.Write(path, tensors);
        SafeTensorsFile file = SafeTensors.Read(path);

        Assert.Empty(file.Metadata);
        Assert.Equal(new[] { 0, 3 }, file.Get("empty").Shape);
        Assert.Empty(file.Get("empty").Values);
        Assert.Empty(file.Get("scalar").Shape);
        Assert.Equal(new[] { 42.5 }, file.Get("scalar").Values);
        Assert.Equal(new[] { 5, 0 }, file.Get("empty64").Shape);
        // Only the scalar has data: 8 bytes after the header.
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path));
        Assert.Equal(8 + headerLength + 8, new FileInfo(path).Length);
    }

    [Fact]
    public void EmptyTensorListRoundTrips()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("none.safetensors");
        SafeTensors.Write(path, Array.Empty<StoredTensor>(), new Dictionary<string, string> { ["k"] = "v" });
        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.Empty(file.Tensors);
        Assert.Equal("v", file.Metadata["k"]);
    }

    // ---- the writer against the spec -----------------------------------------------------

    [Fact]
    public void WrittenBytesFollowTheSpec()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("spec.safetensors");
        SafeTensors.Write(
            path,
            new[]
            {
                new StoredTensor("b", TensorDType.F64, new[] { 1 }, new[] { 1.0 }),
                new StoredTensor("a", TensorDType.F32, new[] { 2 }, new[] { 1.0, -2.5 }),
            },
            new Dictionary<string, string> { ["format"] = "pt" });

        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        // Data: 8 bytes of F64 then 2 x 4 bytes of F32, in the order given.
        Assert.Equal(8 + (long)n + 16, bytes.Length);

        string headerText = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("{", headerText, StringComparison.Ordinal);
        string json = headerText.TrimEnd(' ');
        Assert.EndsWith("}", json, StringComparison.Ordinal);
        Assert.True(headerText.Length - json.Length < 8, "padding is fewer than 8 spaces");

        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        Assert.Equal(new[] { "__metadata__", "b", "a" }, root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("pt", root.GetProperty("__metadata__").GetProperty("format").GetString());
        JsonElement b = root.GetProperty("b");
        Assert.Equal("F64", b.GetProperty("dtype").GetString());
        Assert.Equal(new[] { 1 }, b.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(new[] { 0L, 8L }, b.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        JsonElement a = root.GetProperty("a");
        Assert.Equal("F32", a.GetProperty("dtype").GetString());
        Assert.Equal(new[] { 2 }, a.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(new[] { 8L, 16L }, a.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));

        // IEEE 754 little-endian: 1.0 (binary64) = 0x3FF0000000000000, 1.0f = 0x3F800000, -2.5f = 0xC0200000.
        byte[] expectedData =
        {
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F,
            0x00, 0x00, 0x80, 0x3F,
            0x00, 0x00, 0x20, 0xC0,
        };
        Assert.Equal(expectedData, bytes[(8 + (int)n)..]);
    }

    [Fact]
    public void ReadsAHandMadeFile()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("hand.safetensors");
        // Keys out of offset order, extra whitespace, no padding: all allowed by the spec.
        string header = "{ \"y\": {\"dtype\":\"F64\", \"shape\":[1], \"data_offsets\":[8, 16]},\n"
                        + "  \"x\": {\"shape\":[2,1], \"dtype\":\"F32\", \"data_offsets\":[0, 8]},"
                        + "  \"__metadata__\": {\"a\": \"b\"} }";
        byte[] data =
        {
            0x00, 0x00, 0x40, 0x40, // 3.0f
            0x00, 0x00, 0xC0, 0xBF, // -1.5f
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0xC0, // -10.0
        };
        File.WriteAllBytes(path, HandMade(header, data));

        SafeTensorsFile file = SafeTensors.Read(path);
        Assert.Equal(new[] { "y", "x" }, file.Tensors.Select(t => t.Name));
        Assert.Equal(new[] { 3.0, -1.5 }, file.Get("x").Values);
        Assert.Equal(new[] { 2, 1 }, file.Get("x").Shape);
        Assert.Equal(new[] { -10.0 }, file.Get("y").Values);
        Assert.Equal("b", file.Metadata["a"]);
    }

    // ---- lookups -------------------------------------------------------------------------

    [Fact]
    public void GetOfMissingNameListsTheNamesPresent()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("g.safetensors");
        SafeTensors.Write(path, new[]
        {
            new StoredTensor("alpha", TensorDType.F32, new[] { 1 }, new[] { 1.0 }),
            new StoredTensor("beta", TensorDType.F32, new[] { 1 }, new[] { 2.0 }),
        });
        SafeTensorsFile file = SafeTensors.Read(path);

        var error = Assert.Throws<UnrollException>(() => file.Get("gamma"));
        Assert.Equal($"{path}: no tensor 'gamma'; it holds alpha, beta", error.Message);
        Assert.False(file.TryGet("gamma", out StoredTensor? none));
        Assert.Null(none);
        Assert.True(file.TryGet("beta", out StoredTensor? beta));
        Assert.Equal(new[] { 2.0 }, beta.Values);
    }

    // ---- writer validation ---------------------------------------------------------------

    [Fact]
    public void WriterRejectsDuplicateAndReservedNames()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("w.safetensors");
        var one = new StoredTensor("a", TensorDType.F32, new[] { 1 }, new[] { 1.0 });
        Assert.Throws<UnrollException>(() => SafeTensors.Write(path, new[] { one, one }));
        Assert.Throws<UnrollException>(() => SafeTensors.Write(path, new[]
        {
            new StoredTensor("__metadata__", TensorDType.F32, new[] { 1 }, new[] { 1.0 }),
        }));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void StoredTensorRejectsShapeMismatchAndNegativeDimensions()
    {
        Assert.Throws<UnrollException>(() => new StoredTensor("x", TensorDType.F32, new[] { 2, 3 }, new double[5]));
        Assert.Throws<UnrollException>(() => new StoredTensor("x", TensorDType.F32, new[] { -1 }, Array.Empty<double>()));
        Assert.Throws<UnrollException>(() => new StoredTensor("x", TensorDType.F32, Array.Empty<int>(), Array.Empty<double>()));
        Assert.Throws<UnrollException>(() => new StoredTensor("", TensorDType.F32, new[] { 1 }, new double[1]));
    }

    [Fact]
    public void WriteToMissingDirectoryNamesIt()
    {
        using var dir = new IoTestDirectory();
        string missing = Path.Combine(dir.Path, "absent");
        var error = Assert.Throws<UnrollException>(() => SafeTensors.Write(Path.Combine(missing, "m.safetensors"), Array.Empty<StoredTensor>()));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    // ---- malformed input -----------------------------------------------------------------

    [Fact]
    public void MissingFileIsReported()
    {
        using var dir = new IoTestDirectory();
        AssertRejected(dir.File("absent.safetensors"), "not found");
    }

    [Fact]
    public void FileShorterThanEightBytesIsReported()
    {
        using var dir = new IoTestDirectory();
        AssertRejected(dir, new byte[] { 1, 2, 3 }, "3 bytes");
        AssertRejected(dir, Array.Empty<byte>(), "0 bytes");
    }

    [Fact]
    public void HeaderLengthBeyondFileIsReported()
    {
        using var dir = new IoTestDirectory();
        AssertRejected(dir, HandMade("{}", Array.Empty<byte>(), declaredLength: 1000), "1000");
    }

    [Theory]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 40)]
    [InlineData((100UL << 20) + 1)]
    public void ForgedHugeHeaderLengthFailsFastWithoutAllocating(ulong forged)
    {
        using var dir = new IoTestDirectory();
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var stopwatch = Stopwatch.StartNew();
        AssertRejected(dir, HandMade("{}", new byte[16], declaredLength: forged), forged.ToString(System.Globalization.CultureInfo.InvariantCulture));
        stopwatch.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.True(stopwatch.ElapsedMilliseconds < 2000, $"took {stopwatch.ElapsedMilliseconds} ms");
        // Exception objects, messages and a file handle: far below the forged size or 1 MB.
        Assert.True(allocated < 1_000_000, $"allocated {allocated} bytes");
    }

    [Fact]
    public void InvalidUtf8HeaderIsReported()
    {
        using var dir = new IoTestDirectory();
        byte[] header = { (byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}' };
        AssertRejected(dir, HandMade(header, Array.Empty<byte>()), "UTF-8");
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    [InlineData("[]", "expected an object")]
    [InlineData("{\"x\": 5}", "tensor 'x' is a JSON number")]
    [InlineData("{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "no dtype")]
    [InlineData("{\"x\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", "number dtype")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", "no shape")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", "no data_offsets")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", "expected [begin, end]")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"extra\": 1}}", "unknown field 'extra'")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", "shape entry 1.5")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", "shape entry")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "non-negative dimensions")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [2147483647, 2147483647, 4], \"data_offsets\": [0, 4]}}", "at most")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 4]}}", "shape entry")]
    [InlineData("{\"x\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "tensor 'x' has dtype BF16; expected F32 or F64")]
    [InlineData("{\"x\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]}}", "dtype I64")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 4]}}", "two non-negative integers")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", "begin <= end")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", "<= 8")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", "expected 12 bytes")]
    [InlineData("{\"x\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "expected 16 bytes")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "4 trailing bytes")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "bytes [0, 4) belong to no tensor")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "overlap")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "overlap")]
    [InlineData("{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "tensor 'x' twice")]
    [InlineData("{\"__metadata__\": [1], \"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "expected an object of strings")]
    [InlineData("{\"__metadata__\": {\"k\": 1}, \"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "metadata 'k' is a JSON number")]
    [InlineData("{\"__metadata__\": {}, \"__metadata__\": {}, \"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "'__metadata__' twice")]
    [InlineData("{\"\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "empty name")]
    public void MalformedHeaderIsReportedNamingTheFile(string header, string expectedFragment)
    {
        using var dir = new IoTestDirectory();
        // Eight data bytes: enough for two F32 values or one F64.
        AssertRejected(dir, HandMade(header, new byte[8]), expectedFragment);
    }

    [Fact]
    public void TruncatedDataIsReported()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path, new[] { new StoredTensor("x", TensorDType.F64, new[] { 4 }, new double[4]) });
        byte[] whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..^1]);
        AssertRejected(path, "tensor 'x'");
    }

    [Fact]
    public void DirectoryInsteadOfFileIsReported()
    {
        using var dir = new IoTestDirectory();
        AssertRejected(dir.Path, "directory");
    }
}
