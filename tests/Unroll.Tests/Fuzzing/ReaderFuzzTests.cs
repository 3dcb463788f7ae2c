using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;
using Xunit.Abstractions;

namespace Unroll.Tests.Fuzzing;

/// <summary>
/// Every file reader against seeded random and mutated inputs (docs/fuzzing.md). Each test prints
/// how many inputs it tried; UNROLL_FUZZ_SECONDS and UNROLL_FUZZ_ITERATIONS make the campaign longer.
/// </summary>
public sealed class ReaderFuzzTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("unroll-fuzz-seeds-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void SafeTensorsReader() => Check(new FuzzTarget("safetensors", SafeTensorsSeeds(), path => SafeTensors.Read(path))
    {
        Extension = ".safetensors",
        Forgers = [MutateSafeTensorsHeader],
    });

    [Fact]
    public void ModelFileReader() => Check(new FuzzTarget("model-file", ModelSeeds(), path => ModelFile.Load(path))
    {
        Extension = ".safetensors",
        Forgers = [MutateSafeTensorsHeader],
    });

    [Fact]
    public void CheckpointReader() => Check(new FuzzTarget("checkpoint", [CheckpointSeed()], path => Checkpoint.Load(path))
    {
        Extension = ".safetensors",
        Forgers = [MutateSafeTensorsHeader],
    });

    [Fact]
    public void LongFormatCsvReader() => Check(new FuzzTarget(
        "long-format-csv",
        [
            Encoding.UTF8.GetBytes("seq,t,x,v\nrun-a,0,1.0,0.0\nrun-a,1,0.99,-0.1\nrun-a,2,0.97,-0.19\nrun-b,0,-0.5,0.2\nrun-b,1,-0.48,0.21\n"),
            Encoding.UTF8.GetBytes("\uFEFFseq,t,force,x\r\n\"a\",0,1.5e-3,2\r\na,1,-2E+2,3\r\n\r\n"),
            Encoding.UTF8.GetBytes("seq,t,y\n1,0,1\n2,0,2\n2,1,3\n"),
        ],
        path => LongFormatCsv.Read(path))
    {
        Extension = ".csv",
        Text = true,
    });

    [Fact]
    public void ModelConfigJson() => Check(new FuzzTarget(
        "model-config-json",
        [
            Encoding.UTF8.GetBytes(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 8, OutputSize = 1, Layers = 2, InputNames = ["x", "force"], OutputNames = ["x_next"] }.ToJson()),
            Encoding.UTF8.GetBytes(new ModelConfig { Architecture = Architecture.Gru, InputSize = 3, HiddenSize = 4, OutputSize = 5, Bidirectional = true, VocabularySize = 9, Head = HeadKind.Classification, Pooling = Pooling.LastStep }.ToJson()),
        ],
        path => ModelConfig.FromJson(File.ReadAllText(path)))
    {
        Extension = ".json",
        Text = true,
    });

    [Fact]
    public void ModelMetadataJson() => Check(new FuzzTarget(
        "metadata-json",
        [
            Encoding.UTF8.GetBytes(new OscillatorDataDescription(new OscillatorDatasetOptions(), 1).ToJson()),
            Encoding.UTF8.GetBytes("T" + new TrainingOptions { Steps = 10, BatchSize = 4 }.ToJson()),
        ],
        path =>
        {
            // One target for both metadata documents: a leading 'T' selects the training options.
            string text = File.ReadAllText(path);
            if (text.StartsWith('T'))
            {
                TrainingOptions.FromJson(text[1..]);
            }
            else
            {
                OscillatorDataDescription.FromJson(text);
            }
        })
    {
        Extension = ".json",
        Text = true,
    });

    [Fact]
    public void NpzReader() => Check(new FuzzTarget("npz", NpzSeeds(), path => Npz.Read(path))
    {
        Extension = ".npz",
        Forgers = [MutateNpyEntry],
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

    private byte[][] SafeTensorsSeeds()
    {
        var seeds = new List<byte[]>();
        seeds.Add(Saved(path => SafeTensors.Write(path, [StoredTensor.FromSingles("a", [2, 3], [1, 2, 3, 4, 5, 6]), new StoredTensor("b", TensorDType.F64, [], [Math.E])], new Dictionary<string, string> { ["k"] = "{\"json\": [1, 2]}" })));
        seeds.Add(Saved(path => SafeTensors.Write(path, [new StoredTensor("empty", TensorDType.F32, [0, 5], []), StoredTensor.FromSingles("v", [4], [0, -0f, float.MaxValue, float.Epsilon])])));
        seeds.Add(Saved(path => SafeTensors.Write(path, [])));
        return [.. seeds];
    }

    private byte[][] ModelSeeds()
    {
        var seeds = new List<byte[]>();
        foreach (var config in new[]
        {
            new ModelConfig { Architecture = Architecture.Rnn, InputSize = 2, HiddenSize = 3, OutputSize = 1, InputNames = ["x", "force"], OutputNames = ["y"] },
            new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 2, OutputSize = 2, Layers = 2, Bidirectional = true },
            new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 2, OutputSize = 3, VocabularySize = 4, Head = HeadKind.Classification, Pooling = Pooling.LastStep },
            new ModelConfig { Architecture = Architecture.Jordan, InputSize = 2, HiddenSize = 3, OutputSize = 1 },
        })
        {
            var model = RecurrentModels.Create<float>(config);
            Initializers.PyTorchDefault(model, new Random(1));
            seeds.Add(Saved(path => ModelFile.Save(path, model)));
        }

        return [.. seeds];
    }

    private byte[] CheckpointSeed()
    {
        var model = RecurrentModels.Create<float>(new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 2, OutputSize = 1 });
        Initializers.PyTorchDefault(model, new Random(2));
        var state = new TrainerState
        {
            Step = 3,
            Order = [2, 0, 1],
            Position = 1,
            ShuffleState = 12345,
            ModelRandomState = 678,
            OptimizerStepCount = 3,
            OptimizerState = [("exp_avg", new float[model.Parameters.Count]), ("exp_avg_sq", Enumerable.Repeat(0.5f, model.Parameters.Count).ToArray())],
            History = [new StepMetrics(1, 0.5, double.NaN, 1.5, false), new StepMetrics(2, 0.4, 0.45, 1.2, true), new StepMetrics(3, 0.3, double.NaN, 0.9, false)],
        };
        return Saved(path => Checkpoint.Save(path, model, state, new Dictionary<string, string>()));
    }

    private byte[][] NpzSeeds()
    {
        var model = new SequenceModel<float>(new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 2, OutputSize = 1, Bidirectional = true });
        Initializers.PyTorchDefault(model, new Random(3));
        var seeds = new List<byte[]>
        {
            Saved(path => Npz.Write(path, WeightImportTests.ToKerasLayout(model))),
            Saved(path => Npz.Write(path, [new StoredTensor("s", TensorDType.F64, [], [1]), new StoredTensor("e", TensorDType.F32, [0], [])])),
        };
        // numpy.savez_compressed: deflated entries.
        seeds.Add(Saved(path =>
        {
            using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
            using var stream = zip.CreateEntry("w.npy", CompressionLevel.Optimal).Open();
            stream.Write(NpzTests.Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", NpzTests.Floats(1, 2, 3, 4)));
        }));
        return [.. seeds];
    }

    private byte[] Saved(Action<string> write)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N"));
        write(path);
        return File.ReadAllBytes(path);
    }

    /// <summary>A text mutation inside the JSON header, with the length prefix kept consistent so the mutation reaches the parser.</summary>
    internal static byte[] MutateSafeTensorsHeader(byte[] data, Random random)
    {
        if (data.Length < 8)
        {
            return data;
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(data);
        if (length > (ulong)(data.Length - 8))
        {
            return data;
        }

        byte[] header = Fuzzer.MutateText(data[8..(8 + (int)length)], random);
        var result = new byte[8 + header.Length + (data.Length - 8 - (int)length)];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
        header.CopyTo(result, 8);
        data.AsSpan(8 + (int)length).CopyTo(result.AsSpan(8 + header.Length));
        return result;
    }

    /// <summary>Rewrites the archive with one entry's .npy bytes mutated, so the zip stays valid and the mutation reaches the .npy parser.</summary>
    private static byte[] MutateNpyEntry(byte[] data, Random random)
    {
        var entries = new List<(string Name, byte[] Bytes)>();
        try
        {
            using var zip = new ZipArchive(new MemoryStream(data), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                using var stream = entry.Open();
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                entries.Add((entry.FullName, copy.ToArray()));
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            return data; // already broken by an earlier mutation
        }

        if (entries.Count == 0)
        {
            return data;
        }

        int index = random.Next(entries.Count);
        var bytes = entries[index].Bytes;
        entries[index] = (entries[index].Name, random.Next(2) == 0 ? Fuzzer.MutateText(bytes, random) : bytes[..random.Next(bytes.Length + 1)]);
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var stream = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                stream.Write(content);
            }
        }

        return output.ToArray();
    }
}
