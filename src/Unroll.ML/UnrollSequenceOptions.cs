using Unroll.Training;

namespace Unroll.ML;

/// <summary>
/// The columns, the network and the training of an Unroll estimator (<see cref="UnrollCatalog"/>), in the style of
/// ML.NET's trainer options. A sequence is one row: its <see cref="FeatureColumnName"/> holds T steps of
/// <see cref="InputSize"/> values each, step after step (<c>x[0,0], x[0,1], ..., x[1,0], ...</c>), as a vector column of
/// fixed size (<c>[VectorType(T * I)] float[]</c>) or of variable size (a plain <c>float[]</c>, one T per row).
/// </summary>
public sealed record UnrollSequenceOptions
{
    /// <summary>The column of the input sequences: a vector of float, T * <see cref="InputSize"/> values per row.</summary>
    public string FeatureColumnName { get; init; } = "Features";

    /// <summary>
    /// The column of the targets: a float (one value per sequence) or a vector of float (several values per sequence, or
    /// T * O values for per-step regression) for regression; a key (<c>MapValueToKey</c>) for classification; not read by forecasting.
    /// </summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>
    /// The output column: the predicted values (regression), the class probabilities in key order (classification), or
    /// the forecast of the next step (forecasting). Null takes "Score", or "Forecast" for forecasting.
    /// </summary>
    public string? OutputColumnName { get; init; }

    /// <summary>Classification only: the output column of the most probable class, a key numbered as the label with its key values.</summary>
    public string PredictedLabelColumnName { get; init; } = "PredictedLabel";

    /// <summary>I, the values per time step; each row's feature vector holds a whole number of steps of this width.</summary>
    public int InputSize { get; init; } = 1;

    /// <summary>The recurrent cell: "rnn" (Elman, tanh), "lstm" or "gru", as <c>unroll train --model</c>.</summary>
    public string Architecture { get; init; } = "lstm";

    /// <summary>Hidden units per layer and direction (H).</summary>
    public int HiddenSize { get; init; } = 32;

    /// <summary>Stacked recurrent layers.</summary>
    public int Layers { get; init; } = 1;

    /// <summary>Whether each layer also reads the sequence backwards (one answer per sequence only: sequence regression and classification).</summary>
    public bool Bidirectional { get; init; }

    /// <summary>Dropout between stacked layers while training, in [0, 1).</summary>
    public double Dropout { get; init; }

    /// <summary>Dropout on the last layer's outputs before the head while training, in [0, 1) (Keras's Dropout before Dense).</summary>
    public double HeadDropout { get; init; }

    /// <summary>Optimiser steps (minibatches); with <see cref="TimeLimit"/> alone, training runs until the time is spent.</summary>
    public int? Steps { get; init; }

    /// <summary>When set, training stops after this much time (and after <see cref="Steps"/> if that is set too).</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>Adam's learning rate, annealed by a cosine schedule over the run.</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>Sequences per minibatch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Clip the global gradient norm to this value when set (as <c>torch.nn.utils.clip_grad_norm_</c>).</summary>
    public double? ClipNorm { get; init; }

    /// <summary>Seeds the initial weights, the minibatch order, the validation split and dropout: the same data and options give the same model.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Threads of the matrix products while training (null: every core); the results do not depend on it.</summary>
    public int? Threads { get; init; }

    /// <summary>The share of the rows (chosen by <see cref="Seed"/>) held out to measure the validation loss, in [0, 1).</summary>
    public double ValidationFraction { get; init; }

    /// <summary>Measure the validation loss every this many steps (sequences of one length only; see docs/mlnet.md).</summary>
    public int ValidateEvery { get; init; } = 50;

    /// <summary>Stop once this many validations in a row have not lowered the best validation loss (sequences of one length only).</summary>
    public int? Patience { get; init; }

    /// <summary>Called after every training step with its metrics (progress, logging).</summary>
    public Action<StepMetrics>? Progress { get; init; }
}
