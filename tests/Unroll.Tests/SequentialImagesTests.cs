using Unroll.Tasks;
using System.Buffers.Binary;
using System.IO.Compression;
using Unroll.Data.Images;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Tests;

public sealed class SequentialImagesTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-idx-" + Guid.NewGuid().ToString("N"));

    public SequentialImagesTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string File(string name) => Path.Combine(_directory, name);

    private static byte[] Header(byte type, params int[] dimensions)
    {
        var bytes = new byte[4 + (4 * dimensions.Length)];
        bytes[2] = type;
        bytes[3] = (byte)dimensions.Length;
        for (int d = 0; d < dimensions.Length; d++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + (4 * d)), dimensions[d]);
        }

        return bytes;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return memory.ToArray();
    }

    private string Refused(string name, byte[] contents)
    {
        System.IO.File.WriteAllBytes(File(name), contents);
        return Assert.Throws<UnrollException>(() => IdxFile.Read(File(name), 3)).Message;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTripsPlainAndCompressed(bool compress)
    {
        var values = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)(i * 7)).ToArray();
        IdxFile.Write(File("a.idx"), [2, 3, 4], values, compress);
        var read = IdxFile.Read(File("a.idx"), 3);
        Assert.Equal([2, 3, 4], read.Dimensions);
        Assert.Equal(values, read.Values);
    }

    [Fact]
    public void RefusesWrongMagicTypeAndRank()
    {
        Assert.Contains("not an IDX file", Refused("m", [0x50, 0x4B, 0x08, 0x03, .. new byte[12]]), StringComparison.Ordinal);
        Assert.Contains("expected 0x08", Refused("t", [.. Header(0x0D, 1, 1, 1), 0, 0, 0, 0]), StringComparison.Ordinal);
        Assert.Contains("1 dimensions; expected 3", Refused("r", [.. Header(0x08, 2), 1, 2]), StringComparison.Ordinal);
        Assert.Contains("ends inside the IDX header", Refused("h", [0, 0, 8, 3, 0, 0]), StringComparison.Ordinal);
        Assert.Contains("dimension 1 is 0", Refused("z", Header(0x08, 1, 0, 1)), StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesForgedSizesBeforeAllocating()
    {
        // 2^31 - 1 images of 28 x 28 claimed in a file of a few bytes: refused from the header alone.
        string plain = Refused("forged", [.. Header(0x08, int.MaxValue, 28, 28), 1, 2, 3]);
        Assert.Contains("forged", plain, StringComparison.Ordinal);
        string compressed = Refused("forged.gz", Gzip([.. Header(0x08, int.MaxValue, 28, 28), 1, 2, 3]));
        Assert.Contains("forged", compressed, StringComparison.Ordinal);

        // A size within the deflate bound that the data does not hold: found when the data ends early.
        Assert.Contains("ends after 19 of the 7856 bytes", Refused("big.gz", Gzip([.. Header(0x08, 10, 28, 28), 1, 2, 3])), StringComparison.Ordinal);
        // Plain: header and length disagree either way.
        Assert.Contains("truncated", Refused("short", [.. Header(0x08, 2, 2, 2), 1, 2, 3]), StringComparison.Ordinal);
        Assert.Contains("truncated", Refused("long", [.. Header(0x08, 1, 1, 1), 1, 2]), StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesCorruptOrForgedGzip()
    {
        var good = Gzip([.. Header(0x08, 4, 2, 2), .. Enumerable.Range(0, 16).Select(i => (byte)i)]);
        // Forged trailer: claims exactly the header's size, but the stream holds fewer bytes.
        var shortData = Gzip([.. Header(0x08, 4, 2, 2), 1, 2, 3]);
        BinaryPrimitives.WriteUInt32LittleEndian(shortData.AsSpan(shortData.Length - 4), 4 + 12 + 16);
        string message = Refused("forged-trailer.gz", shortData);
        Assert.Contains(Path.Combine(_directory, "forged-trailer.gz"), message, StringComparison.Ordinal);

        var corrupt = (byte[])good.Clone();
        corrupt[12] ^= 0xFF;
        corrupt[13] ^= 0xFF;
        Assert.Contains("corrupt-", Refused("corrupt-.gz", corrupt), StringComparison.Ordinal);
        Assert.Contains("truncated", Refused("cut.gz", good[..10]), StringComparison.Ordinal);

        // A damaged checksum is named as such, not as the "unsupported compression method" .NET's message gives.
        var badChecksum = (byte[])good.Clone();
        badChecksum[^8] ^= 0x01;
        string checksum = Refused("checksum.gz", badChecksum);
        Assert.Contains("checksum", checksum, StringComparison.Ordinal);
        Assert.DoesNotContain("unsupported compression", checksum, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadsAGzipFileOfSeveralMembers()
    {
        // `cat a.gz b.gz` is a valid gzip file whose trailer gives only the last member's length.
        byte[] data = [.. Header(0x08, 4, 2, 2), .. Enumerable.Range(0, 16).Select(i => (byte)(i * 7))];
        string path = Path.Combine(_directory, "members.gz");
        System.IO.File.WriteAllBytes(path, [.. Gzip(data[..10]), .. Gzip(data[10..])]);
        var array = IdxFile.Read(path, 3);
        Assert.Equal([4, 2, 2], array.Dimensions);
        Assert.Equal(data[16..], array.Values);
    }

    [Fact]
    public void MissingFileSaysHowToGetTheData()
    {
        var error = Assert.Throws<UnrollException>(() => FashionMnist.Load(_directory, train: true, PixelOrder.Rows, null));
        Assert.Contains("train-images-idx3-ubyte.gz", error.Message, StringComparison.Ordinal);
        Assert.Contains("dataset-fashion-mnist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OrdersReadTheRightPixels()
    {
        // Two 2 x 3 images with distinct pixel values.
        byte[] pixels = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110];
        var images = new SequentialImages(pixels, [3, 7], 2, 3, 10, PixelOrder.Rows, null);
        Assert.Equal((2, 3), (images.Steps, images.InputSize));
        var inputs = new float[2 * 2 * 3];
        var labels = new int[2];
        images.CopyBatch([1, 0], inputs, labels);
        Assert.Equal([7, 3], labels);
        // [t, b, i]: row 0 of image 1, row 0 of image 0, row 1 of image 1, row 1 of image 0.
        Assert.Equal(new float[] { 60, 70, 80, 0, 10, 20, 90, 100, 110, 30, 40, 50 }.Select(v => v / 255f), inputs);

        var byPixel = images.WithOrder(PixelOrder.Pixels, null);
        Assert.Equal((6, 1), (byPixel.Steps, byPixel.InputSize));
        var column = new float[6];
        byPixel.CopyBatch([0], column, labels.AsSpan(0, 1));
        Assert.Equal(new float[] { 0, 10, 20, 30, 40, 50 }.Select(v => v / 255f), column);

        int[] permutation = [5, 0, 4, 1, 3, 2];
        images.WithOrder(PixelOrder.Permuted, permutation).CopyBatch([0], column, labels.AsSpan(0, 1));
        Assert.Equal(new float[] { 50, 0, 40, 10, 30, 20 }.Select(v => v / 255f), column);

        Assert.Throws<UnrollException>(() => images.WithOrder(PixelOrder.Permuted, [0, 1, 2, 3, 4, 4]));
        Assert.Throws<UnrollException>(() => new SequentialImages(pixels, [3, 10], 2, 3, 10, PixelOrder.Rows, null));
    }

    [Fact]
    public void PermutationIsFixedBySeed()
    {
        var a = SequentialImages.Permutation(784, 1);
        Assert.Equal(a, SequentialImages.Permutation(784, 1));
        Assert.NotEqual(a, SequentialImages.Permutation(784, 2));
        Assert.Equal(Enumerable.Range(0, 784), a.Order());
        Assert.NotEqual(Enumerable.Range(0, 784), a);
    }

    [Fact]
    public void LoadsFashionMnistFilesAndChecksThemAgainstEachOther()
    {
        WriteDataset(_directory, train: 8, test: 4, seed: 1);
        var train = FashionMnist.Load(_directory, train: true, PixelOrder.Pixels, null);
        Assert.Equal((8, 784, 1), (train.Count, train.Steps, train.InputSize));
        IdxFile.Write(File("t10k-labels-idx1-ubyte.gz"), [3], new byte[3], compress: true);
        var error = Assert.Throws<UnrollException>(() => FashionMnist.Load(_directory, train: false, PixelOrder.Rows, null));
        Assert.Contains("3 labels", error.Message, StringComparison.Ordinal);
    }

    /// <summary>28 x 28 images whose class c is drawn as a bright horizontal bar at rows 2c .. 2c + 2.</summary>
    internal static void WriteDataset(string directory, int train, int test, int seed)
    {
        var random = new SplitMix64(seed);
        foreach (var (prefix, count) in new[] { ("train", train), ("t10k", test) })
        {
            var pixels = new byte[count * 784];
            var labels = new byte[count];
            for (int n = 0; n < count; n++)
            {
                labels[n] = (byte)random.Next(10);
                for (int p = 0; p < 784; p++)
                {
                    int row = p / 28;
                    bool bar = row >= 2 * labels[n] + 2 && row < 2 * labels[n] + 5;
                    pixels[(n * 784) + p] = (byte)(bar ? 200 + random.Next(56) : random.Next(60));
                }
            }

            IdxFile.Write(Path.Combine(directory, $"{prefix}-images-idx3-ubyte.gz"), [count, 28, 28], pixels, compress: true);
            IdxFile.Write(Path.Combine(directory, $"{prefix}-labels-idx1-ubyte.gz"), [count], labels, compress: true);
        }
    }

    [Fact]
    public void ClassifierLearnsWhichRowIsBright()
    {
        // 4 x 6 images, class = the bright row; read row by row.
        var random = new SplitMix64(3);
        int count = 400;
        var pixels = new byte[count * 24];
        var labels = new byte[count];
        for (int n = 0; n < count; n++)
        {
            labels[n] = (byte)random.Next(4);
            for (int p = 0; p < 24; p++)
            {
                pixels[(n * 24) + p] = (byte)(p / 6 == labels[n] ? 255 : random.Next(80));
            }
        }

        var all = new SequentialImages(pixels, labels, 4, 6, 4, PixelOrder.Rows, null);
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = 6, HiddenSize = 16, OutputSize = 4, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        });
        Initializers.PyTorchDefault(model, new Random(2));
        var validation = new SequenceValidation(new ImageSequenceData(all.Slice(300, 100)), 64);
        var before = validation.Measure(model);
        var trainer = new Trainer(model, new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.02 }, Steps = 150, BatchSize = 32, ValidateEvery = 50,
        });
        var history = trainer.Run(new ShuffledBatches(new ImageSequenceData(all.Slice(0, 300)), 32, seed: 1), validation, []);
        var after = validation.Measure(model);
        Assert.True(after.Accuracy >= 0.95, $"accuracy {after.Accuracy} (before training {before.Accuracy})");
        Assert.True(after.Loss < before.Loss / 4);
        var measured = history.Where(m => !double.IsNaN(m.ValidationAccuracy)).ToList();
        Assert.Equal(3, measured.Count);
        Assert.Equal(after.Accuracy, measured[^1].ValidationAccuracy);
    }
}
