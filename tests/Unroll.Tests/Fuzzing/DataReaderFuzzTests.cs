using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Unroll.Data.Images;
using Unroll.Data.Tables;
using Unroll.Data.Tasks;
using Unroll.Data.Text;
using Unroll.Models;
using Unroll.Onnx;
using Xunit.Abstractions;

namespace Unroll.Tests.Fuzzing;

/// <summary>
/// The dataset readers (IDX, text corpora, time-series CSV), the metadata documents stored in model
/// files for them, and the ONNX exporter fed with mutated model files (docs/fuzzing.md). Each budget
/// is a fraction of the default so that these campaigns add well under 20 s to the suite.
/// </summary>
public sealed class DataReaderFuzzTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("unroll-fuzz-data-seeds-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void IdxReader() => Check(new FuzzTarget("idx", IdxSeeds(), path =>
    {
        // The same bytes as images (rank 3) and, when refused as such, as labels (rank 1).
        try
        {
            IdxFile.Read(path, 3);
        }
        catch (UnrollException)
        {
            IdxFile.Read(path, 1);
        }
    })
    {
        Extension = ".gz",
        Forgers = [ForgeIdxHeader],
        BudgetFactor = 0.7,
    });

    [Fact]
    public void TextCorpusReader() => Check(new FuzzTarget(
        "text-corpus",
        [
            Encoding.UTF8.GetBytes("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"),
            Encoding.UTF8.GetBytes("\uFEFFcafé naïve — 日本語 😀 tab\there\r\nline two\r\n\r\nline four\n"),
            Encoding.UTF8.GetBytes("a b a b a b c\na b a b a b c d\n"),
        ],
        path =>
        {
            string text = Utf8Text.ReadFile(path);
            TextCorpus.FromText(text, path, new TextCorpusOptions());
            var words = TextCorpus.FromText(text, path, new TextCorpusOptions { Level = TextLevel.Word, MaxVocabulary = 8, MinCount = 2, ValidationFraction = 0.3 });
            TextCorpus.Encode(text, words.Vocabulary, out _);
        })
    {
        Extension = ".txt",
        Text = true,
        BudgetFactor = 0.5,
    });

    [Fact]
    public void TimeSeriesCsvReader() => Check(new FuzzTarget(
        "time-series-csv",
        [
            Encoding.UTF8.GetBytes("date,load,temp\n2020-01-01,1.5,3\n2020-01-02,1.7,2.5\n2020-01-03,1.2,2\n2020-01-04,1.1,1e-1\n2020-01-05,0.9,-1\n2020-01-06,1.0,0\n"),
            Encoding.UTF8.GetBytes("\uFEFF\"temp\",\"load\",note\r\n1,2,a b\r\n3,4,c\r\n5,6,\r\n7,8,d\r\n9,10,e\r\n11,12,f\r\n"),
        ],
        path =>
        {
            var task = new TimeSeriesTask { Inputs = ["load", "temp"], Targets = ["load"], Window = 2, ValidationFraction = 0.25 };
            task.Prepare(task.ReadColumns(path));
        })
    {
        Extension = ".csv",
        Text = true,
        BudgetFactor = 0.5,
    });

    [Fact]
    public void DataMetadataJson() => Check(new FuzzTarget(
        "data-metadata-json",
        [
            Encoding.UTF8.GetBytes("V" + Vocabulary.Build(Vocabulary.Tokenize("hello, wörld\n", TextLevel.Char), TextLevel.Char).ToJson()),
            Encoding.UTF8.GetBytes("V" + Vocabulary.Build(Vocabulary.Tokenize("the cat\nthe dog\n", TextLevel.Word), TextLevel.Word).ToJson()),
            Encoding.UTF8.GetBytes("C" + new TextCorpusOptions { Level = TextLevel.Word, MaxVocabulary = 100, MinCount = 2 }.ToJson("/data/corpus.txt")),
            Encoding.UTF8.GetBytes("S" + new TimeSeriesTask
            {
                Source = "/data/load.csv", Inputs = ["load", "temp"], Targets = ["load"], Window = 8,
                InputMeans = [1.5, 2], InputStds = [0.5, 1], TargetMeans = [1.5], TargetStds = [0.5],
            }.ToJson()),
            Encoding.UTF8.GetBytes("I" + new ImageSequenceDescription("fashion-mnist", PixelOrder.Permuted, 3, 3, 7, SequentialImages.Permutation(9, 7), "/data").ToJson()),
            Encoding.UTF8.GetBytes("I" + new ImageSequenceDescription("fashion-mnist", PixelOrder.Rows, 28, 28, 0, null, "/data").ToJson()),
            Encoding.UTF8.GetBytes("K" + new TaskDataDescription { Task = CopyMemory.TaskName, Length = 10, TrainCount = 100, ValidationCount = 10, TestCount = 10, Seed = 3 }.ToJson()),
        ],
        path =>
        {
            // One target for the five documents: the first character says which one.
            string text = File.ReadAllText(path);
            string json = text.Length > 0 ? text[1..] : text;
            switch (text.FirstOrDefault())
            {
                case 'V': Vocabulary.FromJson(json); break;
                case 'C': TextCorpusOptions.FromJson(json); break;
                case 'S': TimeSeriesTask.FromJson(json); break;
                case 'I': UseImageDescription(ImageSequenceDescription.FromJson(json)); break;
                default: TaskDataDescription.FromJson(json); break;
            }
        })
    {
        Extension = ".json",
        Text = true,
        Forgers = [ReplaceJsonValue],
    });

    [Fact]
    public void OnnxExportOfModelFiles() => Check(new FuzzTarget("onnx-export", OnnxSeeds(), path =>
    {
        var model = ModelFile.Load(path).Model;
        OnnxExporter.ToBytes(model);
        OnnxExporter.ToBytes(model, new OnnxExportOptions { SequenceLengths = true });
    })
    {
        Extension = ".safetensors",
        Forgers = [ReaderFuzzTests.MutateSafeTensorsHeader],
        BudgetFactor = 0.7,
    });

    private void Check(FuzzTarget target)
    {
        var report = Fuzzer.Run(target);
        log.WriteLine(report.ToString());
        foreach (var failure in report.Failures.Take(20))
        {
            log.WriteLine(failure);
        }

        Assert.True(report.Inputs > target.Seeds.Count, $"{report}: the budget allowed no mutated input");
        Assert.True(report.Refused > 0, $"{report}: no input was refused, so the mutations never reached a check");
        Assert.True(report.Failures.Count == 0, $"{report}\n{string.Join("\n", report.Failures.Take(10))}");
    }

    /// <summary>What `unroll eval` does with an accepted image description before it reads any image.</summary>
    private static void UseImageDescription(ImageSequenceDescription description)
    {
        _ = Path.Combine(description.DataDirectory, "t10k-images-idx3-ubyte.gz");
        _ = description.Dataset.Length;
        if (!Enum.IsDefined(description.Order))
        {
            throw new InvalidOperationException($"an undefined pixel order {(int)description.Order} was accepted");
        }

        if ((long)description.Rows * description.Columns > Array.MaxLength)
        {
            throw new InvalidOperationException($"{description.Rows} x {description.Columns} pixels per image were accepted");
        }
    }

    /// <summary>Replaces one JSON value (what follows a ':') by null, an empty or wrong-typed value or an extreme number: members a reader must not trust.</summary>
    private static byte[] ReplaceJsonValue(byte[] data, Random random)
    {
        string text = Encoding.UTF8.GetString(data);
        var colons = Enumerable.Range(0, text.Length).Where(i => text[i] == ':').ToList();
        if (colons.Count == 0)
        {
            return data;
        }

        int start = colons[random.Next(colons.Count)] + 1;
        int end = start;
        int depth = 0;
        bool inString = false;
        for (; end < text.Length; end++)
        {
            char c = text[end];
            if (inString)
            {
                if (c == '\\')
                {
                    end++;
                }
                else if (c == '"')
                {
                    inString = false;
                    if (depth == 0)
                    {
                        end++;
                        break;
                    }
                }
            }
            else if (c == '"')
            {
                inString = true;
            }
            else if (c is '[' or '{')
            {
                depth++;
            }
            else if (c is ']' or '}')
            {
                if (depth == 0)
                {
                    break;
                }

                if (--depth == 0)
                {
                    end++;
                    break;
                }
            }
            else if (c == ',' && depth == 0)
            {
                break;
            }
        }

        string[] values = ["null", "[]", "{}", "[null]", "\"\"", "\" \"", "0", "-1", "7", "65536", "2147483647", "-2147483648", "1e309", "true", "\"x\"", "[\"x\"]", "[1e308,-1e308]"];
        return Encoding.UTF8.GetBytes(text[..start] + values[random.Next(values.Length)] + text[Math.Min(end, text.Length)..]);
    }

    private byte[][] IdxSeeds()
    {
        var random = new Random(4);
        var pixels = new byte[4 * 3 * 3];
        random.NextBytes(pixels);
        return
        [
            Saved(path => IdxFile.Write(path, [4, 3, 3], pixels, compress: true)),
            Saved(path => IdxFile.Write(path, [4, 3, 3], pixels, compress: false)),
            Saved(path => IdxFile.Write(path, [4], [0, 9, 3, 1], compress: true)),
        ];
    }

    private byte[][] OnnxSeeds()
    {
        var seeds = new List<byte[]>();
        foreach (var config in new[]
        {
            new ModelConfig { Architecture = Architecture.Rnn, InputSize = 2, HiddenSize = 3, OutputSize = 1, InputNames = ["x", "force"], OutputNames = ["y"] },
            new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 2, OutputSize = 2, Layers = 2, Bidirectional = true },
            new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 2, OutputSize = 3, VocabularySize = 4, Head = HeadKind.Classification, Pooling = Pooling.LastStep },
        })
        {
            var model = RecurrentModels.Create<float>(config);
            Initializers.PyTorchDefault(model, new Random(5));
            seeds.Add(Saved(path => ModelFile.Save(path, model)));
        }

        return [.. seeds];
    }

    private byte[] Saved(Action<string> write)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N"));
        write(path);
        return File.ReadAllBytes(path);
    }

    /// <summary>
    /// Writes a big-endian size or type byte into the IDX header under the gzip layer (the file is
    /// decompressed, forged and compressed again), so a forged size reaches the reader's checks
    /// instead of a gzip CRC error.
    /// </summary>
    private static byte[] ForgeIdxHeader(byte[] data, Random random)
    {
        bool gzip = data.Length >= 2 && data[0] == 0x1F && data[1] == 0x8B;
        byte[] raw = data;
        if (gzip)
        {
            try
            {
                using var input = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
                using var copy = new MemoryStream();
                input.CopyTo(copy);
                raw = copy.ToArray();
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                return data; // already broken by an earlier mutation
            }
        }

        if (raw.Length < 8)
        {
            return data;
        }

        raw = (byte[])raw.Clone();
        if (random.Next(4) == 0)
        {
            raw[random.Next(4)] = (byte)random.Next(256); // magic: zero bytes, type code, rank
        }
        else
        {
            uint[] sizes = [0, 1, 3, 4, 28, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 60000, 46341];
            int offset = 4 + (4 * random.Next(Math.Min(3, (raw.Length - 4) / 4)));
            BinaryPrimitives.WriteUInt32BigEndian(raw.AsSpan(offset), sizes[random.Next(sizes.Length)]);
        }

        if (!gzip)
        {
            return raw;
        }

        using var output = new MemoryStream();
        using (var compressor = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(raw);
        }

        return output.ToArray();
    }
}
