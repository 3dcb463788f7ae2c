using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Unroll.Data;
using Unroll.Models;
using Unroll.Kernels;
using Unroll.Training;

namespace Unroll.ML;

/// <summary>
/// An Unroll recurrent network as an ML.NET estimator (made by <see cref="UnrollCatalog"/>): <see cref="Fit"/> reads the
/// sequences of the feature column (and the labels), trains a model with Unroll's <see cref="Trainer"/> and returns a
/// <see cref="UnrollSequenceTransformer"/> that adds its predictions to every row.
/// </summary>
public sealed class UnrollSequenceEstimator : IEstimator<UnrollSequenceTransformer>
{
    /// <summary>The steps a run takes when neither <see cref="UnrollSequenceOptions.Steps"/> nor a time limit is given.</summary>
    public const int DefaultSteps = 1000;

    private readonly MLContext _context;
    private readonly SequenceTarget _target;
    private readonly UnrollSequenceOptions _options;

    internal UnrollSequenceEstimator(MLContext context, SequenceTarget target, UnrollSequenceOptions options)
    {
        Check(options, target);
        _context = context;
        _target = target;
        _options = options;
    }

    /// <summary>The name of the output column.</summary>
    private string OutputColumn => _options.OutputColumnName ?? (_target == SequenceTarget.Forecasting ? "Forecast" : "Score");

    /// <summary>Trains the network on every row of <paramref name="input"/>.</summary>
    /// <exception cref="UnrollException">A column is missing or of the wrong type, a row does not fit, an option is out of range, or training diverged.</exception>
    public UnrollSequenceTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var data = SequenceData.Read(input, _options, _target);
        var config = new ModelConfig
        {
            Architecture = Architectures.Parse(_options.Architecture),
            InputSize = data.InputSize,
            HiddenSize = _options.HiddenSize,
            OutputSize = data.OutputSize,
            Layers = _options.Layers,
            Bidirectional = _options.Bidirectional,
            Dropout = _options.Dropout,
            HeadDropout = _options.HeadDropout,
            Head = _target == SequenceTarget.SequenceClassification ? HeadKind.Classification : HeadKind.Regression,
            Pooling = _target is SequenceTarget.SequenceRegression or SequenceTarget.SequenceClassification ? Pooling.LastStep : Pooling.EveryStep,
        };
        config.Validate();
        var model = RecurrentModels.Create<float>(config);
        Initializers.PyTorchDefault(model, new Random(_options.Seed));

        var (trainRows, validationRows) = Split(data.Rows.Count);
        var train = data.Sets(trainRows);
        var validation = data.Sets(validationRows);
        var training = new TrainingOptions
        {
            Optimizer = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = _options.LearningRate },
            Steps = _options.Steps ?? (_options.TimeLimit is null ? DefaultSteps : int.MaxValue),
            TimeBudgetSeconds = _options.TimeLimit?.TotalSeconds,
            BatchSize = _options.BatchSize,
            Seed = _options.Seed,
            ClipNorm = _options.ClipNorm,
            ValidateEvery = _options.ValidateEvery,
            Patience = _options.Patience,
            DiagnoseEvery = 0,
        };

        int threadsBefore = Parallelism.ThreadCount;
        IReadOnlyList<StepMetrics> history;
        try
        {
            if (_options.Threads is { } threads)
            {
                Parallelism.ThreadCount = threads;
            }

            var trainer = new Trainer(model, training);
            bool oneLength = train.Count == 1 && validation.All(set => set.Length == train[0].Length);
            history = oneLength
                ? trainer.Run(train[0], validation.SingleOrDefault(), _options.Progress)
                : LengthBuckets.Train(trainer, train, training, _options.Progress);
        }
        catch (TrainingDivergedException e)
        {
            throw new UnrollException($"{e.Message} (UnrollSequenceOptions: LearningRate, ClipNorm)", e);
        }
        finally
        {
            Parallelism.ThreadCount = threadsBefore;
        }

        double? validationLoss = validation.Count == 0 ? null
            : validation.Sum(set => Trainer.Evaluate(model, set, _options.BatchSize) * set.Count) / validation.Sum(set => set.Count);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [ModelBytes.FeatureColumnKey] = _options.FeatureColumnName,
            [ModelBytes.TargetKey] = TargetName(_target),
        };
        byte[] file = ModelBytes.Write(model, metadata);
        var chain = BuildChain(file, data.ScalarLabel, data.ClassNames).Fit(input);
        return new UnrollSequenceTransformer(chain, file, config, history, validationLoss);
    }

    /// <summary>The schema after the transformer: the input's columns and the output column(s).</summary>
    /// <exception cref="UnrollException">The feature or label column is missing or of another type.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        var features = inputSchema.LastOrDefault(c => c.Name == _options.FeatureColumnName);
        if (features.Name is null || features.Kind == SchemaShape.Column.VectorKind.Scalar || features.ItemType != NumberDataViewType.Single)
        {
            throw new UnrollException($"{_options.FeatureColumnName}: expected a vector of float column (T * InputSize values per row) in the data, got {(features.Name is null ? "no such column" : $"a column of {features.ItemType}")}.");
        }

        bool scalarLabel = _target == SequenceTarget.SequenceRegression
            && inputSchema.LastOrDefault(c => c.Name == _options.LabelColumnName) is { Name: not null, Kind: SchemaShape.Column.VectorKind.Scalar };
        return BuildChain([], scalarLabel, ["1"]).GetOutputSchema(inputSchema);
    }

    /// <summary>
    /// The chain the transformer runs, all of ML.NET's own saveable parts: the features copied to the mappings' column,
    /// a constant key on every row, a value map from that key to the model file (base64), the prediction mapping, the
    /// output copied to the user's column (a classifier's class index mapped to a key with the label's key values, so
    /// that MapKeyToValue gives the label back), and the internal columns dropped.
    /// </summary>
    private IEstimator<ITransformer> BuildChain(byte[] modelFile, bool scalarLabel, IReadOnlyList<string> classNames)
    {
        var transforms = _context.Transforms;
        IEstimator<ITransformer> prediction = _target switch
        {
            SequenceTarget.SequenceClassification => transforms.CustomMapping<UnrollSequenceRow, UnrollClassRow>(RowMappings.Classes, Contracts.Classes),
            SequenceTarget.Forecasting => transforms.CustomMapping<UnrollSequenceRow, UnrollVectorScoreRow>(RowMappings.Forecast, Contracts.Forecast),
            SequenceTarget.SequenceRegression when scalarLabel => transforms.CustomMapping<UnrollSequenceRow, UnrollScalarScoreRow>(RowMappings.ScalarScore, Contracts.ScalarScore),
            _ => transforms.CustomMapping<UnrollSequenceRow, UnrollVectorScoreRow>(RowMappings.VectorScore, Contracts.VectorScore),
        };
        IEstimator<ITransformer> chain = transforms.CopyColumns(InternalColumns.Features, _options.FeatureColumnName)
            .Append(transforms.CustomMapping<UnrollNoInput, UnrollModelKeyRow>(RowMappings.ModelKey, Contracts.ModelKey))
            .Append(transforms.Conversion.MapValue(
                InternalColumns.Model, [new KeyValuePair<string, string>(InternalColumns.ModelKeyValue, Convert.ToBase64String(modelFile))], InternalColumns.ModelKey))
            .Append(prediction)
            .Append(transforms.CopyColumns(OutputColumn, InternalColumns.Score));
        var dropped = new List<string> { InternalColumns.Features, InternalColumns.ModelKey, InternalColumns.Model, InternalColumns.Score };
        if (_target == SequenceTarget.SequenceClassification)
        {
            // A value map that treats its values as a key numbers them in the order given: class k is key k + 1, as in the label.
            var classes = classNames.Select((name, k) => new KeyValuePair<uint, string>((uint)k + 1, name));
            chain = chain.Append(transforms.Conversion.MapValue(_options.PredictedLabelColumnName, classes, InternalColumns.PredictedLabel, treatValuesAsKeyType: true));
            dropped.Add(InternalColumns.PredictedLabel);
        }

        return chain.Append(transforms.DropColumns([.. dropped]));
    }

    // A seeded choice of the held-out rows; the rest train, in their original order.
    private (int[] Train, int[] Validation) Split(int rows)
    {
        int held = (int)Math.Round(rows * _options.ValidationFraction, MidpointRounding.AwayFromZero);
        if (_options.ValidationFraction > 0 && (held == 0 || held == rows))
        {
            throw new UnrollException(
                $"ValidationFraction: {_options.ValidationFraction.ToString(CultureInfo.InvariantCulture)} of {rows} rows holds out {held}; expected at least one row for validation and one for training.");
        }

        var order = Enumerable.Range(0, rows).ToArray();
        new Random(_options.Seed).Shuffle(order);
        var validation = order[..held].Order().ToArray();
        return (order[held..].Order().ToArray(), validation);
    }

    private static string TargetName(SequenceTarget target) => target switch
    {
        SequenceTarget.SequenceRegression => "sequence-regression",
        SequenceTarget.StepRegression => "step-regression",
        SequenceTarget.SequenceClassification => "sequence-classification",
        _ => "forecasting",
    };

    private static void Check(UnrollSequenceOptions options, SequenceTarget target)
    {
        ArgumentNullException.ThrowIfNull(options);
        static void Require(bool condition, string message)
        {
            if (!condition)
            {
                throw new UnrollException(message);
            }
        }

        var culture = CultureInfo.InvariantCulture;
        Require(options.InputSize >= 1, $"InputSize: expected at least 1 value per step, got {options.InputSize}.");
        Require(options.HiddenSize >= 1, $"HiddenSize: expected at least 1 unit, got {options.HiddenSize}.");
        Require(options.Layers >= 1, $"Layers: expected at least 1, got {options.Layers}.");
        Require(options.Steps is null or >= 1, $"Steps: expected at least 1, got {options.Steps}.");
        Require(options.TimeLimit is null || options.TimeLimit > TimeSpan.Zero, $"TimeLimit: expected a duration above zero, got {options.TimeLimit}.");
        Require(options.BatchSize >= 1, $"BatchSize: expected at least 1 sequence, got {options.BatchSize}.");
        Require(double.IsFinite(options.LearningRate) && options.LearningRate > 0, $"LearningRate: expected a rate above zero, got {options.LearningRate.ToString(culture)}.");
        Require(options.ValidationFraction is >= 0 and < 1, $"ValidationFraction: expected a share in [0, 1), got {options.ValidationFraction.ToString(culture)}.");
        Require(options.Patience is null || options.ValidationFraction > 0, "Patience: expected ValidationFraction above zero as well (patience counts validations).");
        Require(options.Threads is null or (>= 1 and <= 1024), $"Threads: expected 1 to 1024, got {options.Threads}.");
        Require(!options.Bidirectional || target is SequenceTarget.SequenceRegression or SequenceTarget.SequenceClassification,
            "Bidirectional: a model that answers at every step (step regression, forecasting) would read the future backwards; expected a unidirectional model.");
        Require(!string.IsNullOrEmpty(options.OutputColumnName ?? "x") && !string.IsNullOrEmpty(options.PredictedLabelColumnName),
            "OutputColumnName, PredictedLabelColumnName: expected column names, got an empty one.");
    }
}

/// <summary>
/// Training on sequences of several lengths: each step takes a minibatch of sequences of one length (a bucket, drawn at
/// random in proportion to its sequences, seeded), so every sequence is read at its true length from a zero state.
/// The one <see cref="Trainer"/> takes every step: the optimiser's state and the schedule run over the whole run, and
/// each bucket's shuffled order continues where that bucket's last step left it (restored before each step).
/// </summary>
internal static class LengthBuckets
{
    public static IReadOnlyList<StepMetrics> Train(Trainer trainer, IReadOnlyList<SequenceSet> buckets, TrainingOptions options, Action<StepMetrics>? progress)
    {
        var positions = new TrainerState?[buckets.Count];
        var draw = new Random(options.Seed);
        int total = buckets.Sum(b => b.Count);
        var clock = Stopwatch.StartNew();
        while (trainer.CompletedSteps < options.Steps && !(options.TimeBudgetSeconds is { } budget && clock.Elapsed.TotalSeconds >= budget))
        {
            int pick = draw.Next(total), bucket = 0;
            while (pick >= buckets[bucket].Count)
            {
                pick -= buckets[bucket].Count;
                bucket++;
            }

            if (positions[bucket] is { } position)
            {
                var now = trainer.CaptureState();
                trainer.Restore(new TrainerState
                {
                    Step = now.Step,
                    Order = position.Order,
                    Position = position.Position,
                    ShuffleState = position.ShuffleState,
                    ModelRandomState = now.ModelRandomState,
                    OptimizerStepCount = now.OptimizerStepCount,
                    OptimizerState = now.OptimizerState,
                    History = now.History,
                });
            }

            using var oneStep = new CancellationTokenSource();
            trainer.Run(buckets[bucket], null, metrics =>
            {
                progress?.Invoke(metrics);
                oneStep.Cancel();
            }, oneStep.Token);
            positions[bucket] = trainer.CaptureState();
        }

        return trainer.History;
    }
}
