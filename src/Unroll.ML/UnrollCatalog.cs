using Microsoft.ML;

namespace Unroll.ML;

/// <summary>The Unroll estimators of an <see cref="MLContext"/>: <c>mlContext.Unroll().SequenceRegression(...)</c>.</summary>
public static class UnrollMLContextExtensions
{
    /// <summary>Unroll's recurrent-network estimators for this context.</summary>
    public static UnrollCatalog Unroll(this MLContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new UnrollCatalog(context);
    }
}

/// <summary>
/// Recurrent networks as ML.NET estimators, one per kind of answer. Each trains an Unroll model (RNN, LSTM or GRU) with
/// Unroll's training loop when the pipeline is fitted, and its transformer adds the predictions to every row; the
/// fitted model saves with <c>mlContext.Model.Save</c> and loads with <c>mlContext.Model.Load</c> (see docs/mlnet.md).
/// </summary>
public sealed class UnrollCatalog
{
    private readonly MLContext _context;

    internal UnrollCatalog(MLContext context) => _context = context;

    /// <summary>
    /// One answer per sequence: the label is a float (the output column is a float) or a vector of O floats (a vector of O).
    /// The network reads the whole sequence and answers from its last state.
    /// </summary>
    public UnrollSequenceEstimator SequenceRegression(UnrollSequenceOptions? options = null) =>
        new(_context, SequenceTarget.SequenceRegression, options ?? new UnrollSequenceOptions());

    /// <summary>
    /// An answer at every step: the label holds T * O floats for a sequence of T steps (O values per step, the same O for
    /// every row), and so does the output column. The answer at step t reads steps 0 to t only.
    /// </summary>
    public UnrollSequenceEstimator StepRegression(UnrollSequenceOptions? options = null) =>
        new(_context, SequenceTarget.StepRegression, options ?? new UnrollSequenceOptions());

    /// <summary>
    /// One class per sequence: the label is a key (ML.NET's <c>MapValueToKey</c>) with K values; the output column holds
    /// the K class probabilities in key order and <see cref="UnrollSequenceOptions.PredictedLabelColumnName"/> the most
    /// probable class, a key with the label's key values (so <c>MapKeyToValue</c> gives the label back).
    /// </summary>
    public UnrollSequenceEstimator SequenceClassification(UnrollSequenceOptions? options = null) =>
        new(_context, SequenceTarget.SequenceClassification, options ?? new UnrollSequenceOptions());

    /// <summary>
    /// One step ahead: trained to predict every step of the feature column from the steps before it (no label), the
    /// output column (default "Forecast") holds the I values of the step after each row's last.
    /// </summary>
    public UnrollSequenceEstimator Forecasting(UnrollSequenceOptions? options = null) =>
        new(_context, SequenceTarget.Forecasting, options ?? new UnrollSequenceOptions());
}

/// <summary>What an Unroll estimator predicts.</summary>
internal enum SequenceTarget
{
    /// <summary>One value or vector per sequence.</summary>
    SequenceRegression,

    /// <summary>Values at every step.</summary>
    StepRegression,

    /// <summary>One class per sequence.</summary>
    SequenceClassification,

    /// <summary>The next step of the sequence itself.</summary>
    Forecasting,
}
