using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Onnx;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// `unroll export --onnx`: every exported model runs in ONNX Runtime (the onnxruntime-node npm
/// package, run by Scripts/onnx_run.mjs) and gives Unroll's own forward within 1e-5, and passes
/// python3-onnx's checker with full shape inference. Without node + onnxruntime-node or
/// python3-onnx those tests report that they did not run, unless UNROLL_REQUIRE_ONNX=1, which
/// .ci/run sets after installing them. All models are exported once and run by one node process
/// and one python process (<see cref="OnnxExportFixture"/>).
/// </summary>
public class OnnxExportTests(OnnxExportFixture fixture, ITestOutputHelper log) : IClassFixture<OnnxExportFixture>
{
    /// <summary>The largest |ONNX Runtime - Unroll| allowed, float32 against float32.</summary>
    private const double Tolerance = 1e-5;

    public static TheoryData<string> CaseNames() => [.. OnnxExportFixture.Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void OnnxRuntimeGivesUnrollsPredictions(string name)
    {
        if (fixture.RuntimeUnavailable is { } reason)
        {
            Assert.NotEqual("1", Environment.GetEnvironmentVariable(OnnxExportFixture.RequireVariable));
            log.WriteLine($"not run: {reason}");
            return;
        }

        var exported = fixture.Exported[name];
        Assert.True(fixture.RuntimeResults.TryGetPropertyValue(name, out var node) && node is JsonObject, $"ONNX Runtime returned nothing for {name}.");
        var result = node!.AsObject();
        Assert.False(result.ContainsKey("error"), $"ONNX Runtime failed on {name}: {result["error"]}");
        string[] inputNames = exported.Lengths is null ? [exported.InputName] : [exported.InputName, "lengths"];
        Assert.Equal(inputNames, result["inputNames"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal([exported.OutputName], result["outputNames"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal(exported.ExpectedDims, result["dims"]!.AsArray().Select(v => v!.GetValue<int>()));
        var actual = result["data"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        Assert.Equal(exported.Expected.Length, actual.Length);
        double maxDifference = 0;
        int worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double difference = Math.Abs(actual[i] - exported.Expected[i]);
            if (difference > maxDifference || double.IsNaN(difference))
            {
                maxDifference = double.IsNaN(difference) ? double.PositiveInfinity : difference;
                worst = i;
            }
        }

        double scale = exported.Expected.Max(Math.Abs);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: max |onnxruntime - unroll| = {maxDifference:E2} over {actual.Length} values (max |y| = {scale:G3})"));
        Assert.True(maxDifference <= Tolerance,
            string.Create(CultureInfo.InvariantCulture, $"{name}: ONNX Runtime gives {actual[worst]} at index {worst}, Unroll {exported.Expected[worst]} (|difference| {maxDifference:E2} > {Tolerance:E0})."));
        // Guards against a vacuous pass on outputs that are all (nearly) zero.
        Assert.True(scale > 1e-2, $"{name}: the outputs are too small ({scale}) to tell a wrong graph from a right one.");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void OnnxCheckerAcceptsTheExport(string name)
    {
        if (fixture.CheckerUnavailable is { } reason)
        {
            Assert.NotEqual("1", Environment.GetEnvironmentVariable(OnnxExportFixture.RequireVariable));
            log.WriteLine($"not run: {reason}");
            return;
        }

        string path = fixture.Exported[name].OnnxPath;
        Assert.True(fixture.CheckerResults.TryGetValue(path, out var verdict), $"onnx.checker reported nothing for {path}.");
        Assert.True(verdict == "ok", $"onnx.checker rejects {name}: {verdict}");
    }

    [Fact]
    public void TheGraphDeclaresTimeMajorInputsAndOutputsWithSymbolicTimeAndBatch()
    {
        var dense = fixture.Proto("lstm_2layer_bidirectional");
        Assert.Equal(OnnxExporter.OpsetVersion, dense.OpsetImport.Single().Version);
        var input = dense.Graph.Input.Single();
        Assert.Equal("input", input.Name);
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Float, input.Type.TensorType.ElemType);
        Assert.Equal(["time", "batch", "3"], input.Type.TensorType.Shape.Dim.Select(DimText));
        var output = dense.Graph.Output.Single();
        Assert.Equal("output", output.Name);
        Assert.Equal(["time", "batch", "2"], output.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(["LSTM", "LSTM"], dense.Graph.Node.Where(n => n.OpType.EndsWith("STM", StringComparison.Ordinal)).Select(n => n.OpType));
        Assert.Contains(dense.MetadataProps, p => p.Key == "unroll.config" && p.Value.Contains("\"bidirectional\":true", StringComparison.Ordinal));

        var tokens = fixture.Proto("rnn_tokens_classification_last_step");
        var tokenInput = tokens.Graph.Input.Single();
        Assert.Equal("tokens", tokenInput.Name);
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Int64, tokenInput.Type.TensorType.ElemType);
        Assert.Equal(["time", "batch"], tokenInput.Type.TensorType.Shape.Dim.Select(DimText));
        var logits = tokens.Graph.Output.Single();
        Assert.Equal("logits", logits.Name);
        Assert.Equal(["batch", "4"], logits.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal("Gather", tokens.Graph.Node[0].OpType);

        var withLengths = fixture.Proto("lstm_2layer_bidirectional_lengths");
        Assert.Equal(["input", "lengths"], withLengths.Graph.Input.Select(i => i.Name));
        var lengths = withLengths.Graph.Input[1];
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Int32, lengths.Type.TensorType.ElemType);
        Assert.Equal(["batch"], lengths.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.All(withLengths.Graph.Node.Where(n => n.OpType == "LSTM"), n => Assert.Equal("lengths", n.Input[4]));
        Assert.All(dense.Graph.Node.Where(n => n.OpType == "LSTM"), n => Assert.Equal(4, n.Input.Count));
    }

    [Theory]
    [InlineData("lstm_1layer", "LSTM", new[] { 0, 3, 1, 2 })]
    [InlineData("gru_1layer", "GRU", new[] { 1, 0, 2 })]
    [InlineData("rnn_tanh_1layer", "RNN", new[] { 0 })]
    public void GateBlocksAreReorderedFromTorchToOnnx(string name, string op, int[] torchBlockOfOnnxBlock)
    {
        // ONNX: LSTM i, o, f, c and GRU z, r, h; torch: LSTM i, f, g, o and GRU r, z, n.
        var proto = fixture.Proto(name);
        var model = fixture.Models[name];
        int hidden = model.Config.HiddenSize, input = model.Config.InputSize, gates = torchBlockOfOnnxBlock.Length;
        var node = proto.Graph.Node.Single(n => n.OpType == op);
        var weight = Floats(proto, node.Input[1]);
        var recurrence = Floats(proto, node.Input[2]);
        var bias = Floats(proto, node.Input[3]);
        var torchIh = model.Parameters.Value("rnn.weight_ih_l0").ToArray();
        var torchHh = model.Parameters.Value("rnn.weight_hh_l0").ToArray();
        var torchBih = model.Parameters.Value("rnn.bias_ih_l0").ToArray();
        var torchBhh = model.Parameters.Value("rnn.bias_hh_l0").ToArray();
        for (int k = 0; k < gates; k++)
        {
            int t = torchBlockOfOnnxBlock[k];
            Assert.Equal(torchIh.AsSpan(t * hidden * input, hidden * input), weight.AsSpan(k * hidden * input, hidden * input));
            Assert.Equal(torchHh.AsSpan(t * hidden * hidden, hidden * hidden), recurrence.AsSpan(k * hidden * hidden, hidden * hidden));
            Assert.Equal(torchBih.AsSpan(t * hidden, hidden), bias.AsSpan(k * hidden, hidden));
            Assert.Equal(torchBhh.AsSpan(t * hidden, hidden), bias.AsSpan((gates + k) * hidden, hidden));
        }

        Assert.Equal(op == "GRU" ? 1 : (long?)null, node.Attribute.SingleOrDefault(a => a.Name == "linear_before_reset")?.I);
    }

    [Fact]
    public void ExportPrintsTheInputAndOutputItWrote()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = "gru", InputSize = 2, HiddenSize = 3, OutputSize = 1, InputNames = ["x", "force"], OutputNames = ["x_next"] });
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("m.onnx"));
        Assert.True(code == 0, error);
        Assert.Contains("input 'input' float [time, batch, 2]", output, StringComparison.Ordinal);
        Assert.Contains("output 'output' float [time, batch, 1]", output, StringComparison.Ordinal);
        Assert.True(new FileInfo(temp.File("m.onnx")).Length > 0);
    }

    [Fact]
    public void ExportingTwiceGivesTheSameBytes()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = "lstm", InputSize = 2, HiddenSize = 3, OutputSize = 1, Layers = 2, Bidirectional = true });
        Assert.Equal(0, CliRunner.Run("export", model, "--onnx", temp.File("a.onnx")).ExitCode);
        Assert.Equal(0, CliRunner.Run("export", model, "--onnx", temp.File("b.onnx")).ExitCode);
        Assert.Equal(File.ReadAllBytes(temp.File("a.onnx")), File.ReadAllBytes(temp.File("b.onnx")));
    }

    [Fact]
    public void ExportOfAMissingModelFailsNamingTheFile()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("export", temp.File("absent.safetensors"), "--onnx", temp.File("out.onnx"));
        Assert.Equal(1, code);
        Assert.Contains("absent.safetensors", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("out.onnx")));
    }

    [Fact]
    public void ExportIntoAMissingDirectoryFailsAndWritesNothing()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        string target = Path.Combine(temp.Path, "no-such-dir", "out.onnx");
        var (code, _, error) = CliRunner.Run("export", model, "--onnx", target);
        Assert.Equal(1, code);
        Assert.Contains("no-such-dir", error, StringComparison.Ordinal);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        Assert.Equal(["m.safetensors"], Directory.GetFiles(temp.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ExportOntoADirectoryFails()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        Directory.CreateDirectory(temp.File("out.onnx"));
        var (code, _, error) = CliRunner.Run("export", model, "--onnx", temp.File("out.onnx"));
        Assert.Equal(1, code);
        Assert.Contains("is a directory", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportOfAJordanNetworkIsRefusedAndWritesNothing()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "jordan.safetensors", new ModelConfig { Architecture = "jordan", InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        File.WriteAllText(temp.File("out.onnx"), "previous");
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("out.onnx"));
        Assert.Equal(1, code);
        Assert.Equal(string.Empty, output);
        Assert.Contains("jordan.safetensors", error, StringComparison.Ordinal);
        Assert.Contains("cannot export a jordan model to ONNX", error, StringComparison.Ordinal);
        Assert.Equal("previous", File.ReadAllText(temp.File("out.onnx")));
    }

    [Fact]
    public void ExportWithoutAFormatIsAUsageError()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        var (code, _, error) = CliRunner.Run("export", model);
        Assert.Equal(2, code);
        Assert.Contains("--onnx PATH", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportToAnEmptyPathNamesTheOption()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        var (code, _, error) = CliRunner.Run("export", model, "--onnx", " ");
        Assert.Equal(1, code);
        Assert.Contains("--onnx: expected the path of the file to write", error, StringComparison.Ordinal);
    }

    [Fact]
    public void LengthsWithoutOnnxIsAUsageError()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        var (code, _, error) = CliRunner.Run("export", model, "--onnx-lengths");
        Assert.Equal(2, code);
        Assert.Contains("--onnx-lengths applies to --onnx", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportWithLengthsSaysSo()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = "lstm", VocabularySize = 5, InputSize = 2, HiddenSize = 3, OutputSize = 3, Pooling = Pooling.LastStep, Head = HeadKind.Classification });
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("m.onnx"), "--onnx-lengths");
        Assert.True(code == 0, error);
        Assert.Contains("inputs 'tokens' int64 [time, batch] and 'lengths' int32 [batch], output 'logits' float [batch, 3]", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportOfANonModelFileFails()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("notes.safetensors"), "not a model");
        var (code, _, error) = CliRunner.Run("export", temp.File("notes.safetensors"), "--onnx", temp.File("out.onnx"));
        Assert.Equal(1, code);
        Assert.Contains("notes.safetensors", error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("out.onnx")));
    }

    private static string Save(TempDirectory temp, string name, ModelConfig config)
    {
        var model = RecurrentModels.Create<float>(config);
        Initializers.PyTorchDefault(model, new Random(5));
        string path = temp.File(name);
        ModelFile.Save(path, model);
        return path;
    }

    private static string DimText(global::Onnx.TensorShapeProto.Types.Dimension dimension) =>
        dimension.HasDimParam ? dimension.DimParam : dimension.DimValue.ToString(CultureInfo.InvariantCulture);

    private static float[] Floats(global::Onnx.ModelProto proto, string initializer)
    {
        var tensor = proto.Graph.Initializer.Single(t => t.Name == initializer);
        var bytes = tensor.RawData.ToByteArray();
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}

/// <summary>
/// Exports every test model once through `unroll export --onnx`, computes Unroll's predictions for
/// a fixed input, runs all models in one node process with onnxruntime-node and checks all files in
/// one python3-onnx process.
/// </summary>
public sealed class OnnxExportFixture : IDisposable
{
    /// <summary>Set to 1 (by .ci/run) to fail, rather than skip, when a tool is missing.</summary>
    public const string RequireVariable = "UNROLL_REQUIRE_ONNX";

    private const int Steps = 6;
    private const int Batch = 3;
    private const string Python = "/usr/bin/python3";

    private readonly TempDirectory _temp = new();

    public OnnxExportFixture()
    {
        for (int index = 0; index < Cases.Count; index++)
        {
            var (name, config, withLengths) = Cases[index];
            var model = new SequenceModel<float>(config);
            // Every parameter drawn at random (biases too), so a misplaced gate block changes the outputs.
            Initializers.PyTorchDefault(model, new Random(100 + index));
            Models[name] = model;
            string modelPath = _temp.File(name + ".safetensors");
            ModelFile.Save(modelPath, model);
            string onnxPath = _temp.File(name + ".onnx");
            string[] args = withLengths ? ["export", modelPath, "--onnx", onnxPath, "--onnx-lengths"] : ["export", modelPath, "--onnx", onnxPath];
            var (code, _, error) = CliRunner.Run(args);
            if (code != 0)
            {
                throw new InvalidOperationException($"unroll export failed for {name}: {error}");
            }

            Exported[name] = Run(model, onnxPath, withLengths);
        }

        RuntimeUnavailable = FindRuntime(out string? node, out string? runtimeDirectory);
        if (RuntimeUnavailable is null)
        {
            RuntimeResults = RunOnnxRuntime(node!, runtimeDirectory!);
        }

        CheckerUnavailable = File.Exists(Python) && RunProcess(Python, ["-c", "import onnx"]).Code == 0
            ? null
            : $"{Python} with the onnx module is not installed (apt-get install python3-onnx).";
        if (CheckerUnavailable is null)
        {
            var (_, output, error) = RunProcess(Python, [Path.Combine(AppContext.BaseDirectory, "Scripts", "onnx_check.py"), .. Exported.Values.Select(e => e.OnnxPath)]);
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split('\t');
                CheckerResults[fields[1]] = fields[0] == "ok" ? "ok" : string.Join(' ', fields.Skip(2));
            }

            if (CheckerResults.Count == 0)
            {
                throw new InvalidOperationException($"onnx_check.py printed nothing: {error}");
            }
        }
    }

    /// <summary>The test models: every cell, stacked and bidirectional, dense and token inputs, both heads.</summary>
    public static IReadOnlyList<(string Name, ModelConfig Config, bool Lengths)> Cases { get; } = BuildCases();

    public Dictionary<string, SequenceModel<float>> Models { get; } = [];

    public Dictionary<string, ExportedCase> Exported { get; } = [];

    /// <summary>Why ONNX Runtime could not be run, or null when it ran.</summary>
    public string? RuntimeUnavailable { get; }

    public JsonObject RuntimeResults { get; } = [];

    /// <summary>Why the checker could not be run, or null when it ran.</summary>
    public string? CheckerUnavailable { get; }

    public Dictionary<string, string> CheckerResults { get; } = [];

    internal global::Onnx.ModelProto Proto(string name) => global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Exported[name].OnnxPath));

    public void Dispose() => _temp.Dispose();

    private static List<(string, ModelConfig, bool)> BuildCases()
    {
        var cases = new List<(string, ModelConfig, bool)>();
        foreach (var (cell, activation) in new[] { ("rnn", Activation.Tanh), ("rnn", Activation.Relu), ("lstm", Activation.Tanh), ("gru", Activation.Tanh) })
        {
            string prefix = cell == "rnn" ? $"rnn_{activation.ToString().ToLowerInvariant()}" : cell;
            foreach (var (layers, bidirectional) in new[] { (1, false), (2, false), (1, true), (2, true) })
            {
                string name = $"{prefix}_{layers}layer{(bidirectional ? "_bidirectional" : string.Empty)}";
                cases.Add((name, new ModelConfig
                {
                    Architecture = cell, Activation = activation, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = layers, Bidirectional = bidirectional,
                }, false));
            }
        }

        cases.Add(("rnn_sigmoid_1layer_bidirectional", new ModelConfig { Activation = Activation.Sigmoid, InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true }, false));
        cases.Add(("rnn_identity_2layer", new ModelConfig { Activation = Activation.Identity, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2 }, false));
        cases.Add(("gru_tokens_2layer", new ModelConfig { Architecture = "gru", VocabularySize = 7, InputSize = 4, HiddenSize = 5, OutputSize = 2, Layers = 2 }, false));
        cases.Add(("rnn_tokens_classification_last_step", new ModelConfig
        {
            VocabularySize = 9, InputSize = 3, HiddenSize = 5, OutputSize = 4, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }, false));
        cases.Add(("lstm_2layer_bidirectional_last_step", new ModelConfig
        {
            Architecture = "lstm", InputSize = 3, HiddenSize = 5, OutputSize = 4, Layers = 2, Bidirectional = true, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }, false));
        cases.Add(("gru_bidirectional_regression_last_step", new ModelConfig
        {
            Architecture = "gru", InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true, Pooling = Pooling.LastStep,
        }, false));

        // --onnx-lengths: sequences of different lengths in one batch (Lengths below).
        cases.Add(("lstm_2layer_bidirectional_lengths", new ModelConfig
        {
            Architecture = "lstm", InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2, Bidirectional = true,
        }, true));
        cases.Add(("gru_bidirectional_last_step_lengths", new ModelConfig
        {
            Architecture = "gru", InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true, Pooling = Pooling.LastStep,
        }, true));
        cases.Add(("rnn_tokens_2layer_bidirectional_last_step_lengths", new ModelConfig
        {
            VocabularySize = 9, InputSize = 3, HiddenSize = 5, OutputSize = 4, Layers = 2, Bidirectional = true, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }, true));
        return cases;
    }

    private static ExportedCase Run(SequenceModel<float> model, string onnxPath, bool withLengths)
    {
        var config = model.Config;
        // The full length, a middle one and a single step, in an order that is not sorted.
        int[]? lengths = withLengths ? [3, Steps, 1] : null;
        var random = new Random(17);
        double[] inputData;
        if (config.VocabularySize > 0)
        {
            var tokens = new int[Steps * Batch];
            for (int i = 0; i < tokens.Length; i++)
            {
                // Cover every token id, in a scrambled order.
                tokens[i] = (i * 5 + 2) % config.VocabularySize;
            }

            model.ForwardTokens(tokens, Steps, Batch, lengths: lengths);
            inputData = [.. tokens.Select(t => (double)t)];
        }
        else
        {
            var inputs = new float[Steps * Batch * config.InputSize];
            for (int i = 0; i < inputs.Length; i++)
            {
                inputs[i] = (float)((random.NextDouble() * 4) - 2);
            }

            model.Forward(inputs, Steps, Batch, lengths: lengths);
            inputData = [.. inputs.Select(v => (double)v)];
        }

        int[] dims = config.VocabularySize > 0 ? [Steps, Batch] : [Steps, Batch, config.InputSize];
        int[] expectedDims = config.Pooling == Pooling.LastStep ? [Batch, config.OutputSize] : [Steps, Batch, config.OutputSize];
        return new ExportedCase(onnxPath, OnnxExporter.InputName(config), config.VocabularySize > 0 ? "int64" : "float32", dims, inputData, lengths,
            OnnxExporter.OutputName(config), expectedDims, [.. model.Predictions.ToArray().Select(v => (double)v)]);
    }

    private string? FindRuntime(out string? node, out string? runtimeDirectory)
    {
        node = FindOnPath("node");
        string home = Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        runtimeDirectory = Environment.GetEnvironmentVariable("UNROLL_ONNXRUNTIME_DIR") is { Length: > 0 } configured
            ? configured
            : Path.Combine(home, ".cache", "unroll-onnx");
        if (node is null)
        {
            return "node is not installed (apt-get install nodejs npm).";
        }

        if (!File.Exists(Path.Combine(runtimeDirectory, "node_modules", "onnxruntime-node", "package.json")))
        {
            return $"onnxruntime-node is not installed in {runtimeDirectory} (npm install --prefix {runtimeDirectory} onnxruntime-node, as .ci/run does; or set UNROLL_ONNXRUNTIME_DIR).";
        }

        return null;
    }

    private JsonObject RunOnnxRuntime(string node, string runtimeDirectory)
    {
        var cases = new JsonArray();
        foreach (var (name, exported) in Exported)
        {
            cases.Add(new JsonObject
            {
                ["name"] = name,
                ["model"] = exported.OnnxPath,
                ["input"] = exported.InputName,
                ["type"] = exported.InputType,
                ["dims"] = new JsonArray([.. exported.InputDims.Select(d => (JsonNode)d)]),
                ["data"] = new JsonArray([.. exported.InputData.Select(v => (JsonNode)v)]),
                ["lengths"] = exported.Lengths is null ? null : new JsonArray([.. exported.Lengths.Select(v => (JsonNode)v)]),
                ["output"] = exported.OutputName,
            });
        }

        string casesPath = _temp.File("cases.json"), resultsPath = _temp.File("results.json");
        File.WriteAllText(casesPath, cases.ToJsonString());
        var (code, _, error) = RunProcess(node, [Path.Combine(AppContext.BaseDirectory, "Scripts", "onnx_run.mjs"), runtimeDirectory, casesPath, resultsPath]);
        if (code != 0 || !File.Exists(resultsPath))
        {
            throw new InvalidOperationException($"node onnx_run.mjs failed (exit {code}): {error}");
        }

        return JsonNode.Parse(File.ReadAllText(resultsPath))!.AsObject();
    }

    private static string? FindOnPath(string program)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static (int Code, string Output, string Error) RunProcess(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var errorTask = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, errorTask.Result);
    }
}

/// <summary>One exported model, the input it is run on and what Unroll predicts for it.</summary>
public sealed record ExportedCase(
    string OnnxPath, string InputName, string InputType, int[] InputDims, double[] InputData, int[]? Lengths,
    string OutputName, int[] ExpectedDims, double[] Expected);
