using Unroll.Models;

namespace Unroll.ML;

/// <summary>
/// An Unroll model file as bytes: the safetensors file <see cref="ModelFile"/> writes and reads (the same file
/// <c>unroll predict</c>, <c>eval</c> and <c>export</c> take), passed through a temporary file because the library
/// reads and writes model files by path.
/// </summary>
internal static class ModelBytes
{
    /// <summary>Metadata key: the name of the feature column the model was trained on (for messages).</summary>
    public const string FeatureColumnKey = "unroll.ml.features";

    /// <summary>Metadata key: what the model predicts (sequence-regression, step-regression, sequence-classification, forecasting).</summary>
    public const string TargetKey = "unroll.ml.target";

    public static byte[] Write(IRecurrentModel<float> model, IReadOnlyDictionary<string, string> metadata)
    {
        string path = TemporaryPath();
        try
        {
            ModelFile.Save(path, model, metadata);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static LoadedModel<float> Read(byte[] bytes)
    {
        string path = TemporaryPath();
        try
        {
            File.WriteAllBytes(path, bytes);
            return ModelFile.Load(path);
        }
        catch (UnrollException e)
        {
            // The temporary path means nothing to the user: the model came from an ML.NET model.
            throw new UnrollException($"the Unroll model inside the ML.NET model: {e.Message.Replace(path, "model", StringComparison.Ordinal)}", e);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string TemporaryPath() => Path.Combine(Path.GetTempPath(), $"unroll-ml-{Guid.NewGuid():N}.safetensors");
}
