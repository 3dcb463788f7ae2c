using Microsoft.ML.OnnxRuntime;

namespace Unroll.Cli.Tests;

/// <summary>One named input of an ONNX model: float32, int64 or int32 values and their shape.</summary>
public sealed record OnnxFeed(string Name, Array Values, long[] Shape);

/// <summary>One float32 output of an ONNX model: its shape and its values, copied out of ONNX Runtime.</summary>
public sealed record OrtOutput(long[] Shape, float[] Values);

/// <summary>
/// An exported model loaded in ONNX Runtime (Microsoft.ML.OnnxRuntime, CPU, in this process), on one
/// thread so that the test run does not compete with itself for the two cores.
/// </summary>
internal sealed class OnnxRuntimeSession : IDisposable
{
    private readonly SessionOptions _options;
    private readonly InferenceSession _session;

    public OnnxRuntimeSession(string path)
    {
        _options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            // ONNX Runtime warns on every load that the state inputs' default initializers "will not be
            // treated as constant": that is what makes them inputs (docs/onnx.md). Errors still show.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        _session = new InferenceSession(path, _options);
    }

    /// <summary>The inputs a caller must feed, in graph order.</summary>
    public IReadOnlyList<string> InputNames => _session.InputNames;

    /// <summary>The inputs that have a default (an initializer of the same name), in graph order.</summary>
    public IReadOnlyList<string> InputsWithDefaults => [.. _session.OverridableInitializerMetadata.Keys];

    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>Runs the model on <paramref name="feeds"/> and returns the outputs asked for by name.</summary>
    public Dictionary<string, OrtOutput> Run(IEnumerable<OnnxFeed> feeds, IReadOnlyList<string> outputNames)
    {
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var feed in feeds)
            {
                names.Add(feed.Name);
                values.Add(feed.Values switch
                {
                    float[] floats => OrtValue.CreateTensorValueFromMemory(floats, feed.Shape),
                    long[] longs => OrtValue.CreateTensorValueFromMemory(longs, feed.Shape),
                    int[] ints => OrtValue.CreateTensorValueFromMemory(ints, feed.Shape),
                    _ => throw new ArgumentException($"Expected float, long or int values for '{feed.Name}', got {feed.Values.GetType().Name}."),
                });
            }

            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, names, values, outputNames);
            var result = new Dictionary<string, OrtOutput>();
            int index = 0;
            foreach (var output in outputs)
            {
                result[outputNames[index++]] = new OrtOutput(output.GetTensorTypeAndShape().Shape, output.GetTensorDataAsSpan<float>().ToArray());
            }

            return result;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _options.Dispose();
    }
}
