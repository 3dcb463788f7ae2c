using Unroll.Models;

namespace Unroll.Cli.Tests;

/// <summary>
/// `unroll export --onnx FILE --verify`: the exported graph runs in ONNX Runtime beside Unroll's forward pass on the
/// model's validation data (or a seeded random input), and a difference beyond the tolerance fails the command.
/// </summary>
public sealed class OnnxVerifyTests
{
    [Fact]
    public void ATrainedModelIsVerifiedOnItsTasksValidationSequences()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (trained, _, trainError) = CliRunner.Run("train", "--model", "gru", "--hidden", "6", "--steps", "5", "--validate-every", "5", "-o", run);
        Assert.True(trained == 0, trainError);

        var (code, output, error) = CliRunner.Run("export", Path.Combine(run, "model.safetensors"), "--onnx", temp.File("m.onnx"), "--verify", "--onnx-lengths");
        Assert.True(code == 0, error);
        Assert.Contains("Verified in ONNX Runtime: largest |ONNX Runtime - Unroll| ", output, StringComparison.Ordinal);
        Assert.Contains("of the oscillator task's 8 validation sequences of", output, StringComparison.Ordinal);
        Assert.True(File.Exists(temp.File("m.onnx")));
    }

    [Fact]
    public void AModelWithoutATaskIsVerifiedOnASeededRandomInputAndSaysSo()
    {
        using var temp = new TempDirectory();
        var model = RecurrentModels.Create<float>(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 5, VocabularySize = 11, HiddenSize = 6, OutputSize = 3, Layers = 2,
            Bidirectional = true, Head = HeadKind.Classification, Pooling = Pooling.LastStep,
        });
        Initializers.PyTorchDefault(model, new Random(3));
        ModelFile.Save(temp.File("m.safetensors"), model);

        var (code, output, error) = CliRunner.Run("export", temp.File("m.safetensors"), "--onnx", temp.File("m.onnx"), "--verify", "--onnx-required-state");
        Assert.True(code == 0, error);
        Assert.Contains("over 204 values of a seeded random input (4 sequences of 16 steps, seed 1: the model names no task)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void AModelWhoseDataIsGoneIsVerifiedOnARandomInputWithTheReason()
    {
        using var temp = new TempDirectory();
        string corpus = temp.File("corpus.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 40)));
        var (trained, _, trainError) = CliRunner.Run("train", "text", corpus, "--hidden", "8", "--embedding", "4", "--bptt", "10", "--batch-size", "4", "--steps", "3", "--validate-every", "3", "-o", temp.File("run"));
        Assert.True(trained == 0, trainError);
        File.Delete(corpus);

        var (code, output, error) = CliRunner.Run("export", temp.File("run", "model.safetensors"), "--onnx", temp.File("m.onnx"), "--verify");
        Assert.True(code == 0, error);
        Assert.Contains("a seeded random input (4 sequences of 16 steps, seed 1: the model's task data cannot be read (", output, StringComparison.Ordinal);
        Assert.Contains("corpus.txt", output, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyWithoutOnnxIsAUsageError()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("export", temp.File("m.safetensors"), "--verify");
        Assert.Equal(2, code);
        Assert.Contains("--verify applies to --onnx; expected --onnx PATH as well.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TheComparisonFailsBeyondTheToleranceAndNamesTheValue()
    {
        float[] expected = [1f, -2f, 100f, 0f];
        var within = OnnxVerification.Compare([("output", expected)], [[1f + 1e-5f, -2f - 2e-4f, 100.005f, 9e-5f]]);
        Assert.Null(within.Failure);
        Assert.Equal(0.005, within.MaxAbsolute, 1e-4);

        // 100.02 is 2e-4 relative: beyond 1e-4 x (1 + 100).
        var beyond = OnnxVerification.Compare([("output", expected), ("final_h", [0.5f])], [[1f, -2f, 100.02f, 0f], [0.5f]]);
        Assert.Equal("'output'[2] is 100.019997 in ONNX Runtime and 100 in Unroll", beyond.Failure);

        var nan = OnnxVerification.Compare([("final_h", [0.5f])], [[float.NaN]]);
        Assert.NotNull(nan.Failure);
        Assert.Equal(double.PositiveInfinity, nan.MaxAbsolute);

        var shape = OnnxVerification.Compare([("output", expected)], [[1f]]);
        Assert.Equal("'output' has 1 values in ONNX Runtime; expected 4", shape.Failure);
    }

    [Fact]
    public void AMissingNativeLibraryIsRecognisedWhereverItSurfaces()
    {
        Assert.True(OnnxVerification.IsMissingNativeLibrary(new DllNotFoundException("libonnxruntime.so")));
        Assert.True(OnnxVerification.IsMissingNativeLibrary(new TypeInitializationException("Microsoft.ML.OnnxRuntime.NativeMethods", new DllNotFoundException("onnxruntime"))));
        Assert.True(OnnxVerification.IsMissingNativeLibrary(new InvalidOperationException("wrapped", new EntryPointNotFoundException("OrtGetApiBase"))));
        Assert.False(OnnxVerification.IsMissingNativeLibrary(new InvalidOperationException("something else")));
    }
}
