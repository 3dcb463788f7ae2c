using Microsoft.ML;
using Microsoft.ML.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.ML;

/// <summary>
/// A trained Unroll network in an ML.NET pipeline: adds its predictions to every row (each row's sequence run from a zero
/// state), in <c>Transform</c> and in a <c>PredictionEngine</c>. <c>mlContext.Model.Save</c> writes it as a chain of
/// ML.NET's own transformers that holds the Unroll model file, and <c>mlContext.Model.Load</c> gives that chain back,
/// predicting the same values (docs/mlnet.md).
/// </summary>
public sealed class UnrollSequenceTransformer : ITransformer
{
    private readonly ITransformer _chain;
    private readonly byte[] _modelFile;

    internal UnrollSequenceTransformer(ITransformer chain, byte[] modelFile, ModelConfig config, IReadOnlyList<StepMetrics> history, double? validationLoss)
    {
        _chain = chain;
        _modelFile = modelFile;
        Config = config;
        History = history;
        ValidationLoss = validationLoss;
    }

    /// <summary>The trained model's architecture and sizes.</summary>
    public ModelConfig Config { get; }

    /// <summary>The metrics of every training step.</summary>
    public IReadOnlyList<StepMetrics> History { get; }

    /// <summary>The loss (MSE, or cross-entropy for classification) of the trained model on the held-out rows; null without <see cref="UnrollSequenceOptions.ValidationFraction"/>.</summary>
    public double? ValidationLoss { get; }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => _chain.IsRowToRowMapper;

    /// <summary>
    /// Writes the model as an Unroll model file (safetensors with PyTorch's names), which <c>unroll predict</c>,
    /// <c>unroll eval --input</c>, <c>unroll export --onnx</c> and PyTorch read.
    /// </summary>
    public void SaveModelFile(string path) => AtomicFile.WriteAllBytes(path, _modelFile);

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _chain.GetOutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => _chain.GetRowToRowMapper(inputSchema);

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => _chain.Transform(input);

    /// <summary>Saves the chain of ML.NET transformers that holds the model (ML.NET calls this from <c>mlContext.Model.Save</c>).</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => _chain.Save(ctx);
}
