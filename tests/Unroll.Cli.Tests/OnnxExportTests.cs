using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Onnx;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// `unroll export --onnx`: every exported model runs in ONNX Runtime (Microsoft.ML.OnnxRuntime, in
/// this process) and gives Unroll's own forward within 1e-5: its predictions and its final states,
/// from zero initial states (the state inputs left out) and from given non-zero ones; a sequence
/// streamed in two calls, the first call's final states fed as the second's initial states, gives
/// the outputs of one call over the whole sequence. Every file also passes python3-onnx's checker
/// with full shape inference; without python3-onnx that test reports that it did not run, unless
/// UNROLL_REQUIRE_ONNX=1, which .ci/run sets after installing it. All models are exported once
/// (<see cref="OnnxExportFixture"/>) and checked by one python process.
/// </summary>
public class OnnxExportTests(OnnxExportFixture fixture, ITestOutputHelper log) : IClassFixture<OnnxExportFixture>
{
    /// <summary>The largest |ONNX Runtime - Unroll| allowed, float32 against float32.</summary>
    private const double Tolerance = 1e-5;

    public static TheoryData<string> CaseNames() => [.. OnnxExportFixture.Cases.Select(c => c.Name)];

    /// <summary>One-directional models without lengths: the ones whose sequences are streamed in pieces here.</summary>
    public static TheoryData<string> StreamableCaseNames() => [.. OnnxExportFixture.Cases.Where(c => !c.Config.Bidirectional && !c.Lengths).Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void OnnxRuntimeGivesUnrollsPredictionsAndFinalStates(string name)
    {
        var exported = fixture.Exported[name];
        using var session = new OnnxRuntimeSession(exported.OnnxPath);
        var config = fixture.Models[name].Config;
        bool hasCell = CellKinds.HasCellState(config.Cell);

        // Optional state inputs have defaults, so ONNX Runtime lists them apart from the inputs a caller must feed.
        string[] required = exported.Lengths is null ? [exported.InputName] : [exported.InputName, OnnxExporter.LengthsInputName];
        string[] states = hasCell ? [OnnxExporter.InitialStateName, OnnxExporter.InitialCellName] : [OnnxExporter.InitialStateName];
        Assert.Equal(exported.RequiredState ? [.. required, .. states] : required, session.InputNames);
        Assert.Equal(exported.RequiredState ? [] : states, session.InputsWithDefaults);
        Assert.Equal(hasCell ? [exported.OutputName, OnnxExporter.FinalStateName, OnnxExporter.FinalCellName] : [exported.OutputName, OnnxExporter.FinalStateName], session.OutputNames);

        var outputs = session.Run(exported.Feeds(), session.OutputNames);
        AssertAgrees(name, "predictions", exported.ExpectedDims, exported.FromZero.Predictions, outputs[exported.OutputName]);
        AssertAgrees(name, OnnxExporter.FinalStateName, exported.StateDims, exported.FromZero.FinalState, outputs[OnnxExporter.FinalStateName]);
        if (hasCell)
        {
            AssertAgrees(name, OnnxExporter.FinalCellName, exported.StateDims, exported.FromZero.FinalCell, outputs[OnnxExporter.FinalCellName]);
        }
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void OnnxRuntimeStartsFromTheInitialStatesItIsFed(string name)
    {
        var exported = fixture.Exported[name];
        using var session = new OnnxRuntimeSession(exported.OnnxPath);
        bool hasCell = exported.HasCell;
        var outputs = session.Run(exported.Feeds(state: exported.InitialState, cell: hasCell ? exported.InitialCell : null), session.OutputNames);
        AssertAgrees(name, "predictions", exported.ExpectedDims, exported.FromGivenState.Predictions, outputs[exported.OutputName]);
        AssertAgrees(name, OnnxExporter.FinalStateName, exported.StateDims, exported.FromGivenState.FinalState, outputs[OnnxExporter.FinalStateName]);
        if (hasCell)
        {
            AssertAgrees(name, OnnxExporter.FinalCellName, exported.StateDims, exported.FromGivenState.FinalCell, outputs[OnnxExporter.FinalCellName]);
        }

        // Guards against a graph that ignores its initial state: in Unroll the given state moves the predictions.
        double moved = exported.FromGivenState.Predictions.Zip(exported.FromZero.Predictions, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-3, $"{name}: the initial state barely changes Unroll's predictions ({moved}); the test cannot tell whether ONNX reads it.");
    }

    [Theory]
    [MemberData(nameof(StreamableCaseNames))]
    public void FeedingTheFinalStatesBackStreamsASequenceInPieces(string name)
    {
        var exported = fixture.Exported[name];
        using var session = new OnnxRuntimeSession(exported.OnnxPath);
        bool hasCell = exported.HasCell;
        var whole = session.Run(exported.Feeds(), session.OutputNames);

        int steps = OnnxExportFixture.Steps, split = steps / 2;
        var first = session.Run(exported.Feeds(0, split), session.OutputNames);
        var second = session.Run(exported.Feeds(split, steps, first[OnnxExporter.FinalStateName].Values, hasCell ? first[OnnxExporter.FinalCellName].Values : null), session.OutputNames);
        var predictions = whole[exported.OutputName];
        if (exported.ExpectedDims.Length == 3)
        {
            // Every-step outputs: the two pieces' outputs, one after the other, are the whole sequence's.
            float[] joined = [.. first[exported.OutputName].Values, .. second[exported.OutputName].Values];
            AssertAgrees(name, "streamed predictions", predictions.Shape, [.. predictions.Values.Select(v => (double)v)], new OrtOutput(predictions.Shape, joined));
        }
        else
        {
            // Last-step pooling: the second piece ends where the whole sequence ends.
            AssertAgrees(name, "streamed prediction", predictions.Shape, [.. predictions.Values.Select(v => (double)v)], second[exported.OutputName]);
        }

        AssertAgrees(name, "streamed " + OnnxExporter.FinalStateName, exported.StateDims, [.. whole[OnnxExporter.FinalStateName].Values.Select(v => (double)v)], second[OnnxExporter.FinalStateName]);
        if (hasCell)
        {
            AssertAgrees(name, "streamed " + OnnxExporter.FinalCellName, exported.StateDims, [.. whole[OnnxExporter.FinalCellName].Values.Select(v => (double)v)], second[OnnxExporter.FinalCellName]);
        }

        // Guards against a vacuous pass: without the carried state the second piece would differ.
        var restarted = session.Run(exported.Feeds(split, steps), [OnnxExporter.FinalStateName])[OnnxExporter.FinalStateName].Values;
        double moved = restarted.Zip(second[OnnxExporter.FinalStateName].Values, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(moved > 1e-3, $"{name}: the carried state barely changes the second piece ({moved}).");
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
        Assert.Equal(["input", "initial_h", "initial_c"], dense.Graph.Input.Select(i => i.Name));
        var input = dense.Graph.Input[0];
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Float, input.Type.TensorType.ElemType);
        Assert.Equal(["time", "batch", "3"], input.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(["output", "final_h", "final_c"], dense.Graph.Output.Select(o => o.Name));
        Assert.Equal(["time", "batch", "2"], dense.Graph.Output[0].Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(["LSTM", "LSTM"], dense.Graph.Node.Where(n => n.OpType.EndsWith("STM", StringComparison.Ordinal)).Select(n => n.OpType));
        Assert.Contains(dense.MetadataProps, p => p.Key == "unroll.config" && p.Value.Contains("\"bidirectional\":true", StringComparison.Ordinal));

        var tokens = fixture.Proto("rnn_tokens_classification_last_step");
        Assert.Equal(["tokens", "initial_h"], tokens.Graph.Input.Select(i => i.Name));
        var tokenInput = tokens.Graph.Input[0];
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Int64, tokenInput.Type.TensorType.ElemType);
        Assert.Equal(["time", "batch"], tokenInput.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal(["logits", "final_h"], tokens.Graph.Output.Select(o => o.Name));
        Assert.Equal(["batch", "4"], tokens.Graph.Output[0].Type.TensorType.Shape.Dim.Select(DimText));
        Assert.Equal("Gather", tokens.Graph.Node[0].OpType);

        var withLengths = fixture.Proto("lstm_2layer_bidirectional_lengths");
        Assert.Equal(["input", "lengths", "initial_h", "initial_c"], withLengths.Graph.Input.Select(i => i.Name));
        var lengths = withLengths.Graph.Input[1];
        Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Int32, lengths.Type.TensorType.ElemType);
        Assert.Equal(["batch"], lengths.Type.TensorType.Shape.Dim.Select(DimText));
        Assert.All(withLengths.Graph.Node.Where(n => n.OpType == "LSTM"), n => Assert.Equal("lengths", n.Input[4]));
        Assert.All(dense.Graph.Node.Where(n => n.OpType == "LSTM"), n => Assert.Equal(string.Empty, n.Input[4]));
    }

    [Theory]
    [InlineData("lstm_2layer_bidirectional", "LSTM", 4, 5)]
    [InlineData("gru_2layer", "GRU", 2, 5)]
    [InlineData("rnn_tanh_1layer", "RNN", 1, 5)]
    public void StatesAreStackedLikeTorchAndDefaultToZeros(string name, string op, int stacked, int hidden)
    {
        var proto = fixture.Proto(name);
        bool lstm = op == "LSTM";
        string[] states = lstm ? ["initial_h", "initial_c"] : ["initial_h"];
        foreach (var state in states)
        {
            var declared = proto.Graph.Input.Single(i => i.Name == state);
            Assert.Equal([stacked.ToString(CultureInfo.InvariantCulture), "batch", hidden.ToString(CultureInfo.InvariantCulture)], declared.Type.TensorType.Shape.Dim.Select(DimText));
            // The initializer of the same name is the input's default: zeros for one sequence, broadcast to the batch.
            var initializer = proto.Graph.Initializer.Single(t => t.Name == state);
            Assert.Equal([stacked, 1L, hidden], initializer.Dims);
            Assert.All(Floats(proto, state), value => Assert.Equal(0f, value));
        }

        foreach (var state in lstm ? new[] { "final_h", "final_c" } : ["final_h"])
        {
            var declared = proto.Graph.Output.Single(o => o.Name == state);
            Assert.Equal([stacked.ToString(CultureInfo.InvariantCulture), "batch", hidden.ToString(CultureInfo.InvariantCulture)], declared.Type.TensorType.Shape.Dim.Select(DimText));
        }

        // Each layer's node reads its own slice of the stacked state (ONNX inputs 5 and 6: initial_h, initial_c)
        // and writes Y_h (and Y_c), which the final states concatenate in layer order.
        var nodes = proto.Graph.Node.Where(n => n.OpType == op).ToList();
        Assert.Equal(lstm ? 7 : 6, nodes[0].Input.Count);
        Assert.Equal(lstm ? 3 : 2, nodes[0].Output.Count);
        var concat = proto.Graph.Node.Single(n => n.OpType == "Concat" && n.Output.Single() == "final_h");
        Assert.Equal(nodes.Select(n => n.Output[1]), concat.Input);
    }

    [Fact]
    public void RequiredStatesAreInputsWithoutDefaults()
    {
        var proto = fixture.Proto("lstm_2layer_required_state");
        Assert.Equal(["input", "initial_h", "initial_c"], proto.Graph.Input.Select(i => i.Name));
        Assert.DoesNotContain(proto.Graph.Initializer, t => t.Name is "initial_h" or "initial_c");
        Assert.DoesNotContain(proto.Graph.Node, n => n.OpType == "Expand");
        Assert.Equal(["2", "batch", "5"], proto.Graph.Input[1].Type.TensorType.Shape.Dim.Select(DimText));
        // Layer 1 reads rows [1, 2) of the state as fed.
        var slice = proto.Graph.Node.Single(n => n.OpType == "Slice" && n.Output.Single() == "initial_h_l1");
        Assert.Equal("initial_h", slice.Input[0]);
        Assert.Equal([1L], proto.Graph.Initializer.Single(t => t.Name == slice.Input[1]).Int64Data);
        Assert.Equal([2L], proto.Graph.Initializer.Single(t => t.Name == slice.Input[2]).Int64Data);
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
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 3, OutputSize = 1, InputNames = ["x", "force"], OutputNames = ["x_next"] });
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("m.onnx"));
        Assert.True(code == 0, error);
        Assert.Contains("input 'input' float [time, batch, 2]", output, StringComparison.Ordinal);
        Assert.Contains("output 'output' float [time, batch, 1]", output, StringComparison.Ordinal);
        Assert.Contains("state inputs 'initial_h' float [1, batch, 3] (zeros when left out), state outputs 'final_h'.", output, StringComparison.Ordinal);
        Assert.True(new FileInfo(temp.File("m.onnx")).Length > 0);
    }

    [Fact]
    public void ExportingTwiceGivesTheSameBytes()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 3, OutputSize = 1, Layers = 2, Bidirectional = true });
        Assert.Equal(0, CliRunner.Run("export", model, "--onnx", temp.File("a.onnx")).ExitCode);
        Assert.Equal(0, CliRunner.Run("export", model, "--onnx", temp.File("b.onnx")).ExitCode);
        Assert.Equal(File.ReadAllBytes(temp.File("a.onnx")), File.ReadAllBytes(temp.File("b.onnx")));
    }

    [Fact]
    public void ARunDirectoryExportsItsModelAsEveryCommandReadsIt()
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.File("run"));
        string model = Save(temp, "run/model.safetensors", new ModelConfig { Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        Assert.Equal(0, CliRunner.Run("export", model, "--onnx", temp.File("file.onnx")).ExitCode);
        var (code, _, error) = CliRunner.Run("export", temp.File("run"), "--onnx", temp.File("run.onnx"));
        Assert.True(code == 0, error);
        Assert.Contains($"Using {model}, the run's last model", error, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(temp.File("file.onnx")), File.ReadAllBytes(temp.File("run.onnx")));

        Directory.CreateDirectory(temp.File("empty"));
        (code, _, error) = CliRunner.Run("export", temp.File("empty"), "--onnx", temp.File("empty.onnx"));
        Assert.Equal(1, code);
        Assert.Contains("a directory without model.safetensors or best.safetensors", error, StringComparison.Ordinal);
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
        string model = Save(temp, "jordan.safetensors", new ModelConfig { Architecture = Architecture.Jordan, InputSize = 2, HiddenSize = 3, OutputSize = 1 });
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
        Assert.Contains("--onnx: expected a value, got an empty one.", error, StringComparison.Ordinal);
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
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = Architecture.Lstm, VocabularySize = 5, InputSize = 2, HiddenSize = 3, OutputSize = 3, Pooling = Pooling.LastStep, Head = HeadKind.Classification });
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("m.onnx"), "--onnx-lengths");
        Assert.True(code == 0, error);
        Assert.Contains("inputs 'tokens' int64 [time, batch] and 'lengths' int32 [batch], output 'logits' float [batch, 3]", output, StringComparison.Ordinal);
        Assert.DoesNotContain("(required)", output, StringComparison.Ordinal);
        Assert.Contains("state inputs 'initial_h' and 'initial_c' float [1, batch, 3] (zeros when left out), state outputs 'final_h' and 'final_c'.", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ExportWithRequiredStateSaysSo()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { Architecture = Architecture.Gru, InputSize = 2, HiddenSize = 3, OutputSize = 1, Bidirectional = true });
        var (code, output, error) = CliRunner.Run("export", model, "--onnx", temp.File("m.onnx"), "--onnx-required-state");
        Assert.True(code == 0, error);
        Assert.Contains("state inputs 'initial_h' float [2, batch, 3] (required), state outputs 'final_h'.", output, StringComparison.Ordinal);
    }

    [Fact]
    public void RequiredStateWithoutOnnxIsAUsageError()
    {
        using var temp = new TempDirectory();
        string model = Save(temp, "m.safetensors", new ModelConfig { InputSize = 2, HiddenSize = 3, OutputSize = 1 });
        var (code, _, error) = CliRunner.Run("export", model, "--onnx-required-state");
        Assert.Equal(2, code);
        Assert.Contains("--onnx-required-state applies to --onnx", error, StringComparison.Ordinal);
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

    private void AssertAgrees(string name, string what, long[] expectedDims, double[] expected, OrtOutput actual)
    {
        Assert.Equal(expectedDims, actual.Shape);
        Assert.Equal(expected.Length, actual.Values.Length);
        double maxDifference = 0;
        int worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double difference = Math.Abs(actual.Values[i] - expected[i]);
            if (difference > maxDifference || double.IsNaN(difference))
            {
                maxDifference = double.IsNaN(difference) ? double.PositiveInfinity : difference;
                worst = i;
            }
        }

        double scale = expected.Max(Math.Abs);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {what}: max |onnxruntime - expected| = {maxDifference:E2} over {expected.Length} values (max |y| = {scale:G3})"));
        Assert.True(maxDifference <= Tolerance,
            string.Create(CultureInfo.InvariantCulture, $"{name} {what}: ONNX Runtime gives {actual.Values[worst]} at index {worst}, expected {expected[worst]} (|difference| {maxDifference:E2} > {Tolerance:E0})."));
        // Guards against a vacuous pass on values that are all (nearly) zero.
        Assert.True(scale > 1e-2, $"{name} {what}: the values are too small ({scale}) to tell a wrong graph from a right one.");
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
/// Exports every test model once through `unroll export --onnx`, computes Unroll's predictions and
/// final states for a fixed input from zero and from random initial states, and checks all files
/// in one python3-onnx process.
/// </summary>
public sealed class OnnxExportFixture : IDisposable
{
    /// <summary>Set to 1 (by .ci/run) to fail, rather than skip, when python3-onnx is missing.</summary>
    public const string RequireVariable = "UNROLL_REQUIRE_ONNX";

    public const int Steps = 6;
    private const int Batch = 3;
    private const string Python = "/usr/bin/python3";

    private readonly TempDirectory _temp = new();

    public OnnxExportFixture()
    {
        for (int index = 0; index < Cases.Count; index++)
        {
            var (name, config, withLengths, requiredState) = Cases[index];
            var model = new SequenceModel<float>(config);
            // Every parameter drawn at random (biases too), so a misplaced gate block changes the outputs.
            Initializers.PyTorchDefault(model, new Random(100 + index));
            Models[name] = model;
            string modelPath = _temp.File(name + ".safetensors");
            ModelFile.Save(modelPath, model);
            string onnxPath = _temp.File(name + ".onnx");
            string[] args = ["export", modelPath, "--onnx", onnxPath, .. withLengths ? ["--onnx-lengths"] : Array.Empty<string>(), .. requiredState ? ["--onnx-required-state"] : Array.Empty<string>()];
            var (code, _, error) = CliRunner.Run(args);
            if (code != 0)
            {
                throw new InvalidOperationException($"unroll export failed for {name}: {error}");
            }

            Exported[name] = Run(model, onnxPath, withLengths, requiredState, new Random(1000 + index));
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
    public static IReadOnlyList<OnnxCase> Cases { get; } = BuildCases();

    public Dictionary<string, SequenceModel<float>> Models { get; } = [];

    public Dictionary<string, ExportedCase> Exported { get; } = [];

    /// <summary>Why the checker could not be run, or null when it ran.</summary>
    public string? CheckerUnavailable { get; }

    public Dictionary<string, string> CheckerResults { get; } = [];

    internal global::Onnx.ModelProto Proto(string name) => global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Exported[name].OnnxPath));

    public void Dispose() => _temp.Dispose();

    private static List<OnnxCase> BuildCases()
    {
        var cases = new List<OnnxCase>();
        foreach (var (cell, activation) in new[] { ("rnn", Activation.Tanh), ("rnn", Activation.Relu), ("lstm", Activation.Tanh), ("gru", Activation.Tanh) })
        {
            string prefix = cell == "rnn" ? $"rnn_{activation.ToString().ToLowerInvariant()}" : cell;
            foreach (var (layers, bidirectional) in new[] { (1, false), (2, false), (1, true), (2, true) })
            {
                string name = $"{prefix}_{layers}layer{(bidirectional ? "_bidirectional" : string.Empty)}";
                cases.Add(new(name, new ModelConfig
                {
                    Architecture = Architectures.Parse(cell), Activation = activation, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = layers, Bidirectional = bidirectional,
                }));
            }
        }

        cases.Add(new("rnn_sigmoid_1layer_bidirectional", new ModelConfig { Activation = Activation.Sigmoid, InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true }));
        cases.Add(new("rnn_identity_2layer", new ModelConfig { Activation = Activation.Identity, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2 }));
        cases.Add(new("gru_tokens_2layer", new ModelConfig { Architecture = Architecture.Gru, VocabularySize = 7, InputSize = 4, HiddenSize = 5, OutputSize = 2, Layers = 2 }));
        cases.Add(new("rnn_tokens_classification_last_step", new ModelConfig
        {
            VocabularySize = 9, InputSize = 3, HiddenSize = 5, OutputSize = 4, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }));
        cases.Add(new("lstm_2layer_bidirectional_last_step", new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 3, HiddenSize = 5, OutputSize = 4, Layers = 2, Bidirectional = true, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }));
        cases.Add(new("gru_bidirectional_regression_last_step", new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true, Pooling = Pooling.LastStep,
        }));

        // --onnx-lengths: sequences of different lengths in one batch (Lengths below).
        cases.Add(new("lstm_2layer_bidirectional_lengths", new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2, Bidirectional = true,
        }, Lengths: true));
        cases.Add(new("gru_bidirectional_last_step_lengths", new ModelConfig
        {
            Architecture = Architecture.Gru, InputSize = 3, HiddenSize = 5, OutputSize = 2, Bidirectional = true, Pooling = Pooling.LastStep,
        }, Lengths: true));
        cases.Add(new("rnn_tokens_2layer_bidirectional_last_step_lengths", new ModelConfig
        {
            VocabularySize = 9, InputSize = 3, HiddenSize = 5, OutputSize = 4, Layers = 2, Bidirectional = true, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }, Lengths: true));

        // --onnx-required-state: the state inputs have no default and are always fed.
        cases.Add(new("lstm_2layer_required_state", new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2,
        }, RequiredState: true));
        cases.Add(new("gru_tokens_last_step_required_state", new ModelConfig
        {
            Architecture = Architecture.Gru, VocabularySize = 7, InputSize = 4, HiddenSize = 5, OutputSize = 3, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        }, RequiredState: true));
        cases.Add(new("rnn_2layer_bidirectional_lengths_required_state", new ModelConfig
        {
            InputSize = 3, HiddenSize = 5, OutputSize = 2, Layers = 2, Bidirectional = true,
        }, Lengths: true, RequiredState: true));
        return cases;
    }

    private static ExportedCase Run(SequenceModel<float> model, string onnxPath, bool withLengths, bool requiredState, Random random)
    {
        var config = model.Config;
        // The full length, a middle one and a single step, in an order that is not sorted.
        int[]? lengths = withLengths ? [3, Steps, 1] : null;
        int stateLength = config.Layers * config.Directions * Batch * config.HiddenSize;
        bool hasCell = CellKinds.HasCellState(config.Cell);
        float[] initialState = RandomValues(random, stateLength, 1);
        float[] initialCell = hasCell ? RandomValues(random, stateLength, 2) : [];
        float[] inputs;
        long[] tokens;
        UnrollOutputs Forward(ReadOnlySpan<float> state, ReadOnlySpan<float> cell)
        {
            if (config.VocabularySize > 0)
            {
                model.ForwardTokens([.. tokens.Select(t => (int)t)], Steps, Batch, state, lengths, cell);
            }
            else
            {
                model.Forward(inputs, Steps, Batch, state, lengths, cell);
            }

            return new UnrollOutputs(Doubles(model.Predictions), Doubles(model.FinalState), Doubles(model.FinalCell));
        }

        if (config.VocabularySize > 0)
        {
            inputs = [];
            // Cover every token id, in a scrambled order.
            tokens = [.. Enumerable.Range(0, Steps * Batch).Select(i => (long)(((i * 5) + 2) % config.VocabularySize))];
        }
        else
        {
            inputs = RandomValues(random, Steps * Batch * config.InputSize, 2);
            tokens = [];
        }

        var fromZero = Forward(default, default);
        var fromGivenState = Forward(initialState, initialCell);
        long[] expectedDims = config.Pooling == Pooling.LastStep ? [Batch, config.OutputSize] : [Steps, Batch, config.OutputSize];
        return new ExportedCase(onnxPath, OnnxExporter.InputName(config), inputs, tokens, config.InputSize, lengths, requiredState,
            OnnxExporter.OutputName(config), expectedDims, [config.Layers * config.Directions, Batch, config.HiddenSize],
            initialState, initialCell, fromZero, fromGivenState);
    }

    private static float[] RandomValues(Random random, int count, double range) =>
        [.. Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 * range) - range))];

    private static double[] Doubles(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = values[i];
        }

        return result;
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

/// <summary>What Unroll's forward gives: predictions, final hidden states and (LSTM) final cell states.</summary>
public sealed record UnrollOutputs(double[] Predictions, double[] FinalState, double[] FinalCell);

/// <summary>A test model: its config, and whether it is exported with --onnx-lengths and --onnx-required-state.</summary>
public sealed record OnnxCase(string Name, ModelConfig Config, bool Lengths = false, bool RequiredState = false);

/// <summary>
/// One exported model, the input it is run on (dense values [T, B, I] or token ids [T, B]), the
/// lengths (or null), the random initial states, and what Unroll gives from zero and from those states.
/// </summary>
public sealed record ExportedCase(
    string OnnxPath, string InputName, float[] Inputs, long[] Tokens, int InputSize, int[]? Lengths, bool RequiredState,
    string OutputName, long[] ExpectedDims, long[] StateDims,
    float[] InitialState, float[] InitialCell, UnrollOutputs FromZero, UnrollOutputs FromGivenState)
{
    public bool HasCell => InitialCell.Length > 0;

    /// <summary>
    /// The inputs for steps [<paramref name="from"/>, <paramref name="to"/>) of every sequence (all
    /// steps by default), starting from <paramref name="state"/> and <paramref name="cell"/>: when
    /// they are null the state inputs are left out, or fed zeros if the export requires them.
    /// </summary>
    public List<OnnxFeed> Feeds(int from = 0, int to = OnnxExportFixture.Steps, float[]? state = null, float[]? cell = null)
    {
        int batch = (int)StateDims[1], steps = to - from;
        var feeds = new List<OnnxFeed>
        {
            Tokens.Length > 0
                ? new OnnxFeed(InputName, Tokens[(from * batch)..(to * batch)], [steps, batch])
                : new OnnxFeed(InputName, Inputs[(from * batch * InputSize)..(to * batch * InputSize)], [steps, batch, InputSize]),
        };
        if (Lengths is not null)
        {
            if (from != 0 || to != OnnxExportFixture.Steps)
            {
                throw new InvalidOperationException("Pieces of sequences with their own lengths are not streamed in these tests.");
            }

            feeds.Add(new OnnxFeed(OnnxExporter.LengthsInputName, Lengths, [batch]));
        }

        state ??= RequiredState ? new float[InitialState.Length] : null;
        cell ??= RequiredState && HasCell ? new float[InitialCell.Length] : null;
        if (state is not null)
        {
            feeds.Add(new OnnxFeed(OnnxExporter.InitialStateName, state, StateDims));
        }

        if (cell is not null)
        {
            feeds.Add(new OnnxFeed(OnnxExporter.InitialCellName, cell, StateDims));
        }

        return feeds;
    }
}
