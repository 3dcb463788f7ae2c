using Unroll.Data.Images;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>Accuracy and mean cross-entropy of a classifier over a dataset.</summary>
/// <param name="Accuracy">The fraction of sequences whose largest logit is the true class.</param>
/// <param name="Loss">The mean softmax cross-entropy in nats.</param>
/// <param name="Count">Sequences scored.</param>
/// <param name="PerClassAccuracy">Accuracy within each true class (NaN for a class with no sequence).</param>
public sealed record ClassificationResult(double Accuracy, double Loss, int Count, double[] PerClassAccuracy);

/// <summary>
/// Many-to-one sequence classification by full BPTT: minibatches of whole sequences in a seeded
/// random order (reshuffled every epoch), softmax cross-entropy on the head's output after each
/// sequence's last step (<see cref="Pooling.LastStep"/>), global-norm clipping and one optimiser step
/// per minibatch.
/// </summary>
public sealed class SequenceClassifierTrainer
{
    private readonly SequenceModel<float> _model;
    private readonly TrainingOptions _options;
    private readonly IOptimizer<float> _optimizer;
    private readonly SplitMix64 _shuffle;
    private readonly List<StepMetrics> _history = [];

    /// <summary>Creates a trainer for a model with a classification head reading the last step.</summary>
    /// <exception cref="UnrollException">The model is not such a classifier, or an option is out of range.</exception>
    public SequenceClassifierTrainer(SequenceModel<float> model, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.Config.Head != HeadKind.Classification || model.Config.Pooling != Pooling.LastStep || model.Config.VocabularySize != 0)
        {
            throw new UnrollException(
                $"classifier training: expected a model with dense inputs and a classification head on the last step, got head {model.Config.Head}, pooling {model.Config.Pooling}, vocabulary {model.Config.VocabularySize}.");
        }

        if (options.Bptt is not null)
        {
            throw new UnrollException("bptt: sequence classification back-propagates through whole sequences; expected no --bptt.");
        }

        _model = model;
        _options = options;
        _optimizer = Optimizers.Create<float>(options.Optimizer, model.Parameters.Count);
        _shuffle = new SplitMix64(options.Seed);
        model.SetDropoutSeed(options.Seed);
    }

    /// <summary>The metrics of every completed step; the validation loss is the validation cross-entropy.</summary>
    public IReadOnlyList<StepMetrics> History => _history;

    /// <summary>Validation accuracies measured so far, by step.</summary>
    public IReadOnlyList<(int Step, double Accuracy)> ValidationAccuracy => _validationAccuracy;

    private readonly List<(int Step, double Accuracy)> _validationAccuracy = [];

    /// <summary>Trains for <see cref="TrainingOptions.Steps"/> minibatches.</summary>
    /// <exception cref="TrainingDivergedException">The loss or the gradient stopped being finite.</exception>
    public IReadOnlyList<StepMetrics> Run(
        ISequenceClassificationData train, ISequenceClassificationData? validation, Action<StepMetrics>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        Check(train, "training");
        if (validation is not null)
        {
            Check(validation, "validation");
        }

        int batch = Math.Min(_options.BatchSize, train.Count), steps = train.Steps, classes = train.ClassCount;
        var order = Enumerable.Range(0, train.Count).ToArray();
        int position = order.Length;
        var inputs = new float[steps * batch * train.InputSize];
        var labels = new int[batch];
        var gradients = new float[batch * classes];
        while (_history.Count < _options.Steps && !cancellation.IsCancellationRequested)
        {
            int step = _history.Count + 1;
            if (position + batch > order.Length)
            {
                _shuffle.Shuffle(order.AsSpan());
                position = 0;
            }

            train.CopyBatch(order.AsSpan(position, batch), inputs, labels);
            position += batch;
            _optimizer.LearningRate = _options.Schedule.RateAt(_options.LearningRate, step, _options.Steps);
            _model.Parameters.ZeroGradients();
            _model.Training = true;
            _model.Forward(inputs, steps, batch);
            double loss = Losses.SoftmaxCrossEntropy<float>(_model.Predictions, labels, classes, gradients);
            _model.Backward(gradients);
            var (norm, clipped) = ClipAndStep(step, loss);
            _model.Training = false;
            double validationLoss = double.NaN;
            if (validation is not null && (step % _options.ValidateEvery == 0 || step == _options.Steps))
            {
                var result = Evaluate(_model, validation, _options.BatchSize);
                validationLoss = result.Loss;
                _validationAccuracy.Add((step, result.Accuracy));
            }

            var metrics = new StepMetrics(step, loss, validationLoss, norm, clipped);
            _history.Add(metrics);
            onStep?.Invoke(metrics);
        }

        return _history;
    }

    /// <summary>Accuracy (argmax of the logits; ties to the lower class) and mean cross-entropy over every sequence of <paramref name="data"/>.</summary>
    public static ClassificationResult Evaluate(SequenceModel<float> model, ISequenceClassificationData data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        int classes = data.ClassCount;
        if (model.Config.OutputSize != classes || model.Config.InputSize != data.InputSize)
        {
            throw new UnrollException($"evaluation: the model reads {model.Config.InputSize} features and predicts {model.Config.OutputSize} classes; the data has {data.InputSize} features and {classes} classes.");
        }

        int batch = Math.Max(1, Math.Min(batchSize, data.Count));
        var inputs = new float[data.Steps * batch * data.InputSize];
        var labels = new int[batch];
        var indices = new int[batch];
        var correctPerClass = new int[classes];
        var countPerClass = new int[classes];
        double lossSum = 0;
        int correct = 0;
        bool wasTraining = model.Training;
        model.Training = false;
        for (int start = 0; start < data.Count; start += batch)
        {
            int count = Math.Min(batch, data.Count - start);
            for (int i = 0; i < count; i++)
            {
                indices[i] = start + i;
            }

            var x = inputs.AsSpan(0, data.Steps * count * data.InputSize);
            data.CopyBatch(indices.AsSpan(0, count), x, labels.AsSpan(0, count));
            model.Forward(x, data.Steps, count);
            var logits = model.Predictions;
            lossSum += Losses.SoftmaxCrossEntropy<float>(logits, labels.AsSpan(0, count), classes, Span<float>.Empty) * (double)count;
            for (int b = 0; b < count; b++)
            {
                var row = logits.Slice(b * classes, classes);
                int best = 0;
                for (int c = 1; c < classes; c++)
                {
                    if (row[c] > row[best])
                    {
                        best = c;
                    }
                }

                countPerClass[labels[b]]++;
                if (best == labels[b])
                {
                    correct++;
                    correctPerClass[labels[b]]++;
                }
            }
        }

        model.Training = wasTraining;
        var perClass = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            perClass[c] = countPerClass[c] == 0 ? double.NaN : (double)correctPerClass[c] / countPerClass[c];
        }

        return new ClassificationResult((double)correct / data.Count, lossSum / data.Count, data.Count, perClass);
    }

    private void Check(ISequenceClassificationData data, string what)
    {
        if (data.Count < 1)
        {
            throw new UnrollException($"{what} data: expected at least one sequence, got none.");
        }

        if (data.InputSize != _model.Config.InputSize || data.ClassCount != _model.Config.OutputSize)
        {
            throw new UnrollException(
                $"{what} data: {data.InputSize} features and {data.ClassCount} classes per sequence; this model reads {_model.Config.InputSize} and predicts {_model.Config.OutputSize}.");
        }
    }

    private (double Norm, bool Clipped) ClipAndStep(int step, double loss)
    {
        var gradients = _model.Parameters.Gradients.AsSpan();
        double norm = GradientClipping.GlobalNorm<float>(gradients);
        if (!double.IsFinite(loss) || !double.IsFinite(norm))
        {
            throw new TrainingDivergedException(
                $"training diverged at step {step}: loss {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}, gradient norm {norm.ToString(System.Globalization.CultureInfo.InvariantCulture)}. Lower the learning rate or clip the gradient (--clip-norm).");
        }

        bool clipped = GradientClipping.Apply(gradients, norm, _options.ClipNorm, _options.ClipValue);
        _optimizer.Step(_model.Parameters.Values, gradients);
        return (norm, clipped);
    }
}
