using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Unroll.Cells;
using Unroll.Models;
using Unroll.Onnx;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll export --onnx FILE --verify</c>: runs the exported graph in ONNX Runtime (in this process) on the model's own
/// validation data (the sequences <c>unroll diagnose</c> reads), or on a seeded random input of the right shape for a
/// model that names no task, and compares its outputs and final states with Unroll's forward pass.
/// </summary>
internal static class OnnxVerification
{
    /// <summary>The sequences verified.</summary>
    public const int Sequences = 8;

    /// <summary>The random input of a task-less model: this many steps, seeded by <see cref="Seed"/>.</summary>
    public const int RandomSteps = 16;

    /// <summary>The seed of the random input.</summary>
    public const int Seed = 1;

    /// <summary>
    /// The tolerance: every value must satisfy |ONNX - Unroll| &lt;= Tolerance * (1 + |Unroll|), numpy's
    /// allclose with rtol = atol = 1e-4. Float32 operators summing in another order differ by far less.
    /// </summary>
    public const double Tolerance = 1e-4;

    /// <summary>The data a verification runs on: inputs [T, B, I] (token ids as numbers for token models) and where they come from.</summary>
    public sealed record Input(float[] Values, int Steps, int Batch, string Description);

    /// <summary>The model's validation sequences, or a seeded random input (saying why) when it names no task or its data cannot be read.</summary>
    public static Input Data(LoadedModel<float> loaded, string path)
    {
        var config = loaded.Model.Config;
        string why;
        try
        {
            var task = TrainingTask.FromMetadata(loaded.Metadata, path);
            if (task is not null)
            {
                task.CheckModel(config, path);
                var sample = task.Sample(Sequences, new EvaluationOptions());
                return new Input(sample.Inputs, sample.Steps, sample.Batch, $"the {task.Name} task's {sample.Description}");
            }

            why = "the model names no task";
        }
        catch (UnrollException e)
        {
            why = $"the model's task data cannot be read ({e.Message.TrimEnd('.')})";
        }

        var random = new Random(Seed);
        int width = Unroll.Training.HeadLoss.InputWidth(config), batch = 4;
        var values = new float[RandomSteps * batch * width];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = config.VocabularySize > 0 ? random.Next(config.VocabularySize) : (float)((2 * random.NextDouble()) - 1);
        }

        return new Input(values, RandomSteps, batch,
            string.Create(CultureInfo.InvariantCulture, $"a seeded random input ({batch} sequences of {RandomSteps} steps, seed {Seed}: {why})"));
    }

    /// <summary>The largest differences over every compared value, and the value where the tolerance is most exceeded.</summary>
    public sealed record Comparison(double MaxAbsolute, double MaxRelative, int Values, string? Failure);

    /// <summary>Runs <paramref name="onnx"/> in ONNX Runtime and the model in Unroll on <paramref name="input"/> and compares them.</summary>
    /// <exception cref="UnrollException">ONNX Runtime cannot be loaded or cannot run the graph.</exception>
    public static Comparison Verify(IRecurrentModel<float> model, byte[] onnx, OnnxExportOptions options, Input input)
    {
        var config = model.Config;
        model.Training = false;
        model.Run(input.Values, ReadOnlySpan<float>.Empty, input.Steps, input.Batch);
        var expected = new List<(string Name, float[] Values)> { (OnnxExporter.OutputName(config), model.Predictions.ToArray()) };
        if (model is SequenceModel<float> sequenceModel)
        {
            expected.Add((OnnxExporter.FinalStateName, sequenceModel.FinalState.ToArray()));
            if (CellKinds.HasCellState(config.Cell))
            {
                expected.Add((OnnxExporter.FinalCellName, sequenceModel.FinalCell.ToArray()));
            }
        }

        var actual = RunOnnx(onnx, config, options, input, [.. expected.Select(e => e.Name)]);
        return Compare(expected, actual);
    }

    /// <summary>Compares every output value against <see cref="Tolerance"/>; the first value out of it is named.</summary>
    public static Comparison Compare(IReadOnlyList<(string Name, float[] Values)> expected, IReadOnlyList<float[]> actual)
    {
        double maxAbsolute = 0, maxRelative = 0, worstExcess = 1;
        int count = 0;
        string? failure = null;
        for (int o = 0; o < expected.Count; o++)
        {
            var (name, want) = expected[o];
            var got = actual[o];
            if (got.Length != want.Length)
            {
                return new Comparison(double.PositiveInfinity, double.PositiveInfinity, count, $"'{name}' has {got.Length} values in ONNX Runtime; expected {want.Length}");
            }

            for (int i = 0; i < want.Length; i++)
            {
                double difference = Math.Abs((double)got[i] - want[i]);
                difference = double.IsNaN(difference) ? double.PositiveInfinity : difference;
                maxAbsolute = Math.Max(maxAbsolute, difference);
                // Relative to values of at least 1e-3; below that the absolute part of the tolerance decides.
                maxRelative = Math.Max(maxRelative, difference / Math.Max(Math.Abs((double)want[i]), 1e-3));
                double excess = difference / (Tolerance * (1 + Math.Abs((double)want[i])));
                if (excess > worstExcess)
                {
                    worstExcess = excess;
                    failure = string.Create(CultureInfo.InvariantCulture, $"'{name}'[{i}] is {got[i]:G9} in ONNX Runtime and {want[i]:G9} in Unroll");
                }

                count++;
            }
        }

        return new Comparison(maxAbsolute, maxRelative, count, failure);
    }

    private static List<float[]> RunOnnx(byte[] onnx, ModelConfig config, OnnxExportOptions options, Input input, IReadOnlyList<string> outputs)
    {
        var disposables = new List<IDisposable>();
        try
        {
            var sessionOptions = Track(new SessionOptions
            {
                IntraOpNumThreads = 1,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                // The state inputs' defaults make ONNX Runtime warn on every load (docs/onnx.md); errors still show.
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            }, disposables);
            var session = Track(new InferenceSession(onnx, sessionOptions), disposables);
            var names = new List<string>();
            var values = new List<OrtValue>();
            long steps = input.Steps, batch = input.Batch;
            if (config.VocabularySize > 0)
            {
                values.Add(Track(OrtValue.CreateTensorValueFromMemory(input.Values.Select(v => (long)v).ToArray(), [steps, batch]), disposables));
            }
            else
            {
                values.Add(Track(OrtValue.CreateTensorValueFromMemory(input.Values, [steps, batch, config.InputSize]), disposables));
            }

            names.Add(OnnxExporter.InputName(config));
            if (options.SequenceLengths)
            {
                names.Add(OnnxExporter.LengthsInputName);
                values.Add(Track(OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(input.Steps, input.Batch).ToArray(), [batch]), disposables));
            }

            if (options.RequiredInitialStates)
            {
                long[] shape = [config.Layers * config.Directions, batch, config.HiddenSize];
                names.Add(OnnxExporter.InitialStateName);
                values.Add(Track(OrtValue.CreateTensorValueFromMemory(new float[shape[0] * shape[1] * shape[2]], shape), disposables));
                if (CellKinds.HasCellState(config.Cell))
                {
                    names.Add(OnnxExporter.InitialCellName);
                    values.Add(Track(OrtValue.CreateTensorValueFromMemory(new float[shape[0] * shape[1] * shape[2]], shape), disposables));
                }
            }

            var runOptions = Track(new RunOptions(), disposables);
            using var results = session.Run(runOptions, names, values, outputs);
            return [.. results.Select(r => r.GetTensorDataAsSpan<float>().ToArray())];
        }
        catch (OnnxRuntimeException e)
        {
            throw new UnrollException($"--verify: ONNX Runtime could not run the exported model: {e.Message}", e);
        }
        catch (Exception e) when (IsMissingNativeLibrary(e))
        {
            throw new UnrollException(
                $"--verify: ONNX Runtime's native library (onnxruntime) cannot be loaded on this machine ({FirstSentence(Innermost(e).Message)}); the ONNX file was written but not verified. Export without --verify, or verify it where ONNX Runtime runs.", e);
        }
        finally
        {
            for (int i = disposables.Count - 1; i >= 0; i--)
            {
                disposables[i].Dispose();
            }
        }
    }

    /// <summary>Whether <paramref name="error"/> says that ONNX Runtime's native library (or one it needs) is missing or does not load here.</summary>
    internal static bool IsMissingNativeLibrary(Exception error) =>
        Innermost(error) is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException
        || error is TypeInitializationException or DllNotFoundException;

    // The loader's first sentence ("Unable to load shared library 'onnxruntime' or one of its dependencies"), without the paths it tried.
    private static string FirstSentence(string message)
    {
        int end = message.IndexOfAny(['.', '\n']);
        return (end > 0 ? message[..end] : message).Trim();
    }

    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is not null)
        {
            error = error.InnerException;
        }

        return error;
    }

    private static T Track<T>(T disposable, List<IDisposable> disposables)
        where T : IDisposable
    {
        disposables.Add(disposable);
        return disposable;
    }
}
