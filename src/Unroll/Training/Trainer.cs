using Unroll.Data;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>How to train: optimiser, learning rate, clipping, length of the run, batching.</summary>
public sealed record TrainingOptions
{
    /// <summary>The update rule and its hyper-parameters, including the base learning rate.</summary>
    public OptimizerSettings Optimizer { get; init; } = new() { Kind = OptimizerKind.Adam, LearningRate = 0.01 };

    /// <summary>How the learning rate changes over the run.</summary>
    public ScheduleSettings Schedule { get; init; } = new() { Kind = LearningRateSchedule.Cosine };

    /// <summary>The base learning rate (from <see cref="Optimizer"/>).</summary>
    public double LearningRate => Optimizer.LearningRate;

    /// <summary>
    /// Truncated BPTT when set: (k1, k2) = update every k1 steps, back-propagating k2 &gt;= k1 steps
    /// (k1 = k2 = K is stateful TBPTT over windows of K). Each training step then processes its
    /// minibatch in windows with one optimiser update per window, carrying the state across windows.
    /// </summary>
    public int[]? Bptt { get; init; }

    /// <summary>Clip the global gradient norm to this value when set (if ||g|| &gt;= eps, g &lt;- eps g/||g||).</summary>
    public double? ClipNorm { get; init; }

    /// <summary>Clamp every gradient component to [-v, v] when set.</summary>
    public double? ClipValue { get; init; }

    /// <summary>Optimiser steps (minibatches) to take.</summary>
    public int Steps { get; init; } = 4000;

    /// <summary>Sequences per minibatch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Seeds the minibatch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Measure the validation loss every this many steps (and at the last step).</summary>
    public int ValidateEvery { get; init; } = 50;

    /// <summary>
    /// Record the training-time diagnostics of <see cref="StepMetrics"/> (spectra of W_hh, share of
    /// clipped steps, gradient ratio) every this many steps, and at the first and last step; 0 turns
    /// them off.
    /// </summary>
    public int DiagnoseEvery { get; init; } = 100;

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The options as JSON (stored in checkpoints and model files).</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads options written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON does not describe valid training options.</exception>
    public static TrainingOptions FromJson(string json)
    {
        try
        {
            var options = System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>(json, JsonOptions)
                ?? throw new UnrollException("training options: expected a JSON object, got null.");
            if (options.Optimizer is null || options.Schedule is null)
            {
                throw new UnrollException("training options: expected 'optimizer' and 'schedule' objects, got null.");
            }

            options.Validate();
            return options;
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new UnrollException($"training options: expected the JSON of training options, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>Checks every option.</summary>
    /// <exception cref="UnrollException">An option is out of range.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Optimizer);
        ArgumentNullException.ThrowIfNull(Schedule);
        Optimizer.Validate();

        if (ClipNorm is { } norm && (!(norm > 0) || double.IsInfinity(norm)))
        {
            throw new UnrollException($"clip-norm: expected a threshold > 0, got {norm}.");
        }

        if (ClipValue is { } value && (!(value > 0) || double.IsInfinity(value)))
        {
            throw new UnrollException($"clip-value: expected a limit > 0, got {value}.");
        }

        if (Steps < 1)
        {
            throw new UnrollException($"steps: expected at least 1, got {Steps}.");
        }

        if (BatchSize < 1)
        {
            throw new UnrollException($"batch-size: expected at least 1, got {BatchSize}.");
        }

        if (ValidateEvery < 1)
        {
            throw new UnrollException($"validate-every: expected at least 1, got {ValidateEvery}.");
        }

        if (DiagnoseEvery < 0)
        {
            throw new UnrollException($"diagnose-every: expected 0 (off) or a positive number of steps, got {DiagnoseEvery}.");
        }

        Schedule.Validate(Steps);
        if (Bptt is { } bptt && (bptt.Length != 2 || bptt[0] < 1 || bptt[1] < bptt[0]))
        {
            throw new UnrollException($"bptt: expected K or K1,K2 with 1 <= K1 <= K2, got {string.Join(",", bptt)}.");
        }
    }
}

/// <summary>What one optimiser step measured.</summary>
/// <param name="Step">1-based step number.</param>
/// <param name="TrainLoss">The minibatch loss before the update.</param>
/// <param name="ValidationLoss">The validation loss after the update, or NaN when not measured at this step.</param>
/// <param name="GradientNorm">The global L2 norm of the gradient before clipping.</param>
/// <param name="Clipped">Whether clipping changed the gradient.</param>
public sealed record StepMetrics(int Step, double TrainLoss, double ValidationLoss, double GradientNorm, bool Clipped)
{
    /// <summary>
    /// On diagnostic steps (<see cref="TrainingOptions.DiagnoseEvery"/>), the largest spectral radius
    /// over every H x H gate block of every <c>rnn.weight_hh_l*</c>, of the weights the step's forward
    /// and backward passes used (before its update); NaN on other steps and for the Jordan network.
    /// </summary>
    public double SpectralRadius { get; init; } = double.NaN;

    /// <summary>On diagnostic steps, the largest singular value sigma_max over the same blocks as <see cref="SpectralRadius"/>; NaN otherwise.</summary>
    public double LargestSingularValue { get; init; } = double.NaN;

    /// <summary>On diagnostic steps, the share of steps whose gradient was clipped since the previous diagnostic step (this one included); NaN otherwise.</summary>
    public double ClippedShare { get; init; } = double.NaN;

    /// <summary>
    /// On diagnostic steps, ||dL/dh_1|| / ||dL/dh_T|| of the first layer's forward direction from the
    /// step's backward pass (its last window's with truncated BPTT): well below 1, the early steps get
    /// little of the gradient. NaN otherwise and for the Jordan network.
    /// </summary>
    public double GradientRatio { get; init; } = double.NaN;

    /// <summary>Whether the diagnostics were recorded at this step.</summary>
    public bool HasDiagnostics => !double.IsNaN(ClippedShare);
}

/// <summary>Training stopped because the loss or a gradient stopped being finite.</summary>
public sealed class TrainingDivergedException : UnrollException
{
    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>Creates the exception with a generic message.</summary>
    public TrainingDivergedException() : base("Training diverged.") { }

    /// <summary>Creates the exception with its cause.</summary>
    public TrainingDivergedException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>
/// Everything a training run has accumulated besides the weights: the step reached, the batch
/// order and position, the random-number states, the optimiser's state and the metrics so far.
/// With the weights it resumes a run bit for bit.
/// </summary>
public sealed class TrainerState
{
    /// <summary>Steps completed.</summary>
    public int Step { get; init; }

    /// <summary>The current epoch's order of the training sequences.</summary>
    public required int[] Order { get; init; }

    /// <summary>How many sequences of <see cref="Order"/> have been used this epoch.</summary>
    public int Position { get; init; }

    /// <summary>The state of the generator that shuffles the order.</summary>
    public ulong ShuffleState { get; init; }

    /// <summary>The state of the model's generator (dropout masks).</summary>
    public ulong ModelRandomState { get; init; }

    /// <summary>The optimiser's step count.</summary>
    public int OptimizerStepCount { get; init; }

    /// <summary>The optimiser's per-parameter buffers by torch's names.</summary>
    public required IReadOnlyList<(string Name, float[] Values)> OptimizerState { get; init; }

    /// <summary>The metrics of every completed step.</summary>
    public required IReadOnlyList<StepMetrics> History { get; init; }
}

/// <summary>
/// Minibatch training with full BPTT: for each step, forward over the batch, the loss the head
/// implies (<see cref="HeadLoss"/>: MSE for regression, softmax cross-entropy for classification,
/// at every step or the last), backward
/// through time, record the gradient norm, clip, update. The run can be captured after any step
/// (<see cref="CaptureState"/>) and continued from it (<see cref="Restore"/>) with identical results.
/// </summary>
public sealed class Trainer
{
    private readonly IRecurrentModel<float> _model;
    private readonly TrainingOptions _options;
    private readonly IOptimizer<float> _optimizer;
    private readonly Queue<double> _recentNorms = new();
    private readonly SplitMix64 _shuffle;
    private readonly List<StepMetrics> _history = [];
    private readonly TruncatedBptt<float>? _truncated;
    private int[] _order = [];
    private int _position;
    private int _step;

    /// <summary>Creates a trainer for <paramref name="model"/>, at step 0.</summary>
    /// <exception cref="UnrollException">An option is out of range.</exception>
    public Trainer(IRecurrentModel<float> model, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _model = model;
        _options = options;
        _optimizer = Optimizers.Create<float>(options.Optimizer, model.Parameters.Count);
        _shuffle = new SplitMix64(options.Seed);
        model.SetDropoutSeed(options.Seed);
        if (options.Bptt is { } bptt)
        {
            if (model.Config.Head != HeadKind.Regression || model.Config.Pooling != Pooling.EveryStep)
            {
                throw new UnrollException("bptt: truncated BPTT trains a per-step regression head; expected full BPTT for this model's classification or last-step head.");
            }

            _truncated = model is SequenceModel<float> sequenceModel
                ? new TruncatedBptt<float>(sequenceModel, bptt[0], bptt[1])
                : throw new UnrollException($"bptt: truncated BPTT needs a hidden-state network (rnn, lstm, gru), got {model.Config.Architecture}.");
        }
    }

    /// <summary>Steps completed so far.</summary>
    public int CompletedSteps => _step;

    /// <summary>The metrics of every completed step.</summary>
    public IReadOnlyList<StepMetrics> History => _history;

    /// <summary>A copy of the run's state after the last completed step.</summary>
    public TrainerState CaptureState() => new()
    {
        Step = _step,
        Order = (int[])_order.Clone(),
        Position = _position,
        ShuffleState = _shuffle.State,
        ModelRandomState = _model.RandomState,
        OptimizerStepCount = _optimizer.StepCount,
        OptimizerState = _optimizer.State,
        History = [.. _history],
    };

    /// <summary>Continues from a captured state (the model's weights must be restored separately).</summary>
    /// <exception cref="UnrollException">The state does not fit this run.</exception>
    public void Restore(TrainerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Step < 0 || state.Step > _options.Steps || state.History.Count != state.Step)
        {
            throw new UnrollException($"checkpoint: expected a step in [0, {_options.Steps}] with one metrics row per step, got step {state.Step} with {state.History.Count} rows.");
        }

        _optimizer.LoadState(state.OptimizerStepCount, state.OptimizerState);
        _order = (int[])state.Order.Clone();
        _position = state.Position;
        _shuffle.State = state.ShuffleState;
        _model.RandomState = state.ModelRandomState;
        _step = state.Step;
        _history.Clear();
        _history.AddRange(state.History);
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Steps"/> steps are complete, visiting the training
    /// sequences in a seeded random order, reshuffled every epoch.
    /// </summary>
    /// <param name="train">Training sequences.</param>
    /// <param name="validation">Validation sequences, or null.</param>
    /// <param name="onStep">Called after every step (progress, metrics, checkpoints).</param>
    /// <param name="cancellation">Stops the run after the current step.</param>
    /// <returns>The metrics of every step taken, including those before a restore.</returns>
    /// <exception cref="TrainingDivergedException">The loss or a gradient became NaN or infinite.</exception>
    public IReadOnlyList<StepMetrics> Run(
        SequenceSet train, SequenceSet? validation, Action<StepMetrics>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckCompatible(train, "training");
        if (validation is not null)
        {
            CheckCompatible(validation, "validation");
        }

        if (_order.Length == 0)
        {
            _order = Enumerable.Range(0, train.Count).ToArray();
            _position = _order.Length; // forces a shuffle before the first batch
        }
        else if (_order.Length != train.Count)
        {
            throw new UnrollException($"checkpoint: its batch order covers {_order.Length} training sequences; expected {train.Count}.");
        }

        int batch = Math.Min(_options.BatchSize, train.Count);
        int steps = train.Length;
        var inputs = new float[steps * batch * HeadLoss.InputWidth(_model.Config)];
        var targets = new float[steps * batch * HeadLoss.TargetWidth(_model.Config)];
        var predictionGradients = new float[HeadLoss.PredictionLength(_model.Config, steps, batch)];

        while (_step < _options.Steps && !cancellation.IsCancellationRequested)
        {
            int step = _step + 1;
            if (_position + batch > _order.Length)
            {
                _shuffle.Shuffle(_order.AsSpan());
                _position = 0;
            }

            train.CopyBatchTimeMajor<float>(_order.AsSpan(_position, batch), inputs, targets);
            _position += batch;

            _optimizer.LearningRate = _options.Schedule.RateAt(_options.LearningRate, step, _options.Steps);
            bool diagnose = _options.DiagnoseEvery > 0 && (step % _options.DiagnoseEvery == 0 || step == 1 || step == _options.Steps);
            var (radius, largest) = diagnose ? LargestSpectra() : (double.NaN, double.NaN);
            var sequenceModel = diagnose ? _model as SequenceModel<float> : null;
            bool wasRecording = sequenceModel?.RecordGradientFlow ?? false;
            if (sequenceModel is not null)
            {
                sequenceModel.RecordGradientFlow = true;
            }

            double loss, norm, gradientRatio = double.NaN;
            bool clipped;
            try
            {
                (loss, norm, clipped) = _truncated is null
                    ? Update(inputs, targets, predictionGradients, steps, batch, step)
                    : UpdateTruncated(inputs, targets, steps, batch, step);
                if (sequenceModel is not null)
                {
                    var flow = sequenceModel.StateGradientNorms(0);
                    gradientRatio = flow.Length == 0 ? double.NaN : flow[0] / flow[^1];
                }
            }
            finally
            {
                if (sequenceModel is not null)
                {
                    sequenceModel.RecordGradientFlow = wasRecording;
                }
            }

            _model.Training = false;
            double validationLoss = double.NaN;
            if (validation is not null && (step % _options.ValidateEvery == 0 || step == _options.Steps))
            {
                validationLoss = Evaluate(_model, validation, _options.BatchSize);
            }

            var metrics = new StepMetrics(step, loss, validationLoss, norm, clipped);
            if (diagnose)
            {
                metrics = metrics with
                {
                    SpectralRadius = radius,
                    LargestSingularValue = largest,
                    ClippedShare = ClippedShareSinceLastDiagnostic(clipped),
                    GradientRatio = gradientRatio,
                };
            }

            _history.Add(metrics);
            _step = step;
            onStep?.Invoke(metrics);
        }

        return _history;
    }
    // The largest spectral radius and singular value over every recurrent block; NaN when there is
    // none (Jordan) or the weights are no longer finite.
    private (double Radius, double Largest) LargestSpectra()
    {
        try
        {
            var spectra = Diagnostics.Spectra.Of(_model);
            return spectra.Count == 0
                ? (double.NaN, double.NaN)
                : (spectra.Max(s => s.SpectralRadius), spectra.Max(s => s.LargestSingularValue));
        }
        catch (UnrollException)
        {
            return (double.NaN, double.NaN);
        }
    }

    // The steps since the previous diagnostic step (read from the history, so a resumed run gives the same share).
    private double ClippedShareSinceLastDiagnostic(bool clippedNow)
    {
        int count = 1, clippedCount = clippedNow ? 1 : 0;
        for (int i = _history.Count - 1; i >= 0 && !_history[i].HasDiagnostics; i--)
        {
            count++;
            clippedCount += _history[i].Clipped ? 1 : 0;
        }

        return (double)clippedCount / count;
    }

    // One optimiser update from one forward and backward pass over the minibatch (full BPTT).
    private (double Loss, double Norm, bool Clipped) Update(float[] inputs, float[] targets, float[] predictionGradients, int steps, int batch, int step)
    {
        _model.Parameters.ZeroGradients();
        _model.Training = true;
        _model.Run(inputs, targets, steps, batch);
        double loss = HeadLoss.Compute<float>(_model.Config, _model.Predictions, targets, steps, batch, predictionGradients).Loss;
        _model.Backward(predictionGradients);
        var (norm, clipped) = ClipAndStep(step, loss);
        return (loss, norm, clipped);
    }

    // Truncated BPTT: the minibatch in windows of k1 steps, one update per window, the state carried
    // across windows. Reports the step-weighted mean loss and the largest pre-clip norm.
    private (double Loss, double Norm, bool Clipped) UpdateTruncated(float[] inputs, float[] targets, int steps, int batch, int step)
    {
        var truncated = _truncated!;
        int window = truncated.UpdateInterval, inputWidth = batch * _model.Config.InputSize, targetWidth = batch * _model.Config.OutputSize;
        truncated.Reset(batch);
        double weightedLoss = 0, largestNorm = 0;
        bool clipped = false;
        for (int start = 0; start < steps; start += window)
        {
            int length = Math.Min(window, steps - start);
            _model.Training = true;
            double loss = truncated.ComputeWindowGradients(
                inputs.AsSpan(start * inputWidth, length * inputWidth), targets.AsSpan(start * targetWidth, length * targetWidth), length, batch);
            var (norm, windowClipped) = ClipAndStep(step, loss);
            weightedLoss += loss * length;
            largestNorm = Math.Max(largestNorm, norm);
            clipped |= windowClipped;
        }

        return (weightedLoss / steps, largestNorm, clipped);
    }

    private (double Norm, bool Clipped) ClipAndStep(int step, double loss)
    {
        var gradients = _model.Parameters.Gradients.AsSpan();
        double norm = GradientClipping.GlobalNorm<float>(gradients);
        RememberNorm(norm);
        if (!double.IsFinite(loss) || !double.IsFinite(norm))
        {
            throw Diverged(step, loss, norm);
        }

        bool clipped = GradientClipping.Apply(gradients, norm, _options.ClipNorm, _options.ClipValue);
        _optimizer.Step(_model.Parameters.Values, gradients);
        return (norm, clipped);
    }

    /// <summary>The head's loss of <paramref name="model"/> over a whole set (MSE, or cross-entropy for classification).</summary>
    public static double Evaluate<T>(IRecurrentModel<T> model, SequenceSet set, int batchSize)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => Measure(model, set, batchSize).Loss;

    /// <summary>
    /// The head's loss over a whole set, the mean over every scored row, and for classification
    /// the fraction of rows whose largest logit is the target class (NaN for regression).
    /// </summary>
    public static (double Loss, double Accuracy) Measure<T>(IRecurrentModel<T> model, SequenceSet set, int batchSize)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        int batch = Math.Max(1, Math.Min(batchSize, set.Count));
        int inputWidth = HeadLoss.InputWidth(model.Config), targetWidth = HeadLoss.TargetWidth(model.Config);
        var inputs = new T[set.Length * batch * inputWidth];
        var targets = new T[set.Length * batch * targetWidth];
        var indices = new int[batch];
        double weightedSum = 0;
        long rows = 0, correct = 0;
        for (int start = 0; start < set.Count; start += batch)
        {
            int count = Math.Min(batch, set.Count - start);
            for (int i = 0; i < count; i++)
            {
                indices[i] = start + i;
            }

            var inputSpan = inputs.AsSpan(0, set.Length * count * inputWidth);
            var targetSpan = targets.AsSpan(0, set.Length * count * targetWidth);
            set.CopyBatchTimeMajor<T>(indices.AsSpan(0, count), inputSpan, targetSpan);
            model.Training = false;
            model.Run(inputSpan, targetSpan, set.Length, count);
            var result = HeadLoss.Compute<T>(model.Config, model.Predictions, targetSpan, set.Length, count, Span<T>.Empty);
            // Every batch's loss is a mean over its rows. Regression scores the same rows per sequence, so
            // weighting by sequences gives the mean over the set; classification may ignore rows, so weight by rows.
            bool classification = model.Config.Head == HeadKind.Classification;
            weightedSum += result.Loss * (classification ? result.Rows : count);
            rows += classification ? result.Rows : count;
            correct += result.Correct;
        }

        double accuracy = model.Config.Head == HeadKind.Classification && rows > 0 ? (double)correct / rows : double.NaN;
        return (rows > 0 ? weightedSum / rows : 0, accuracy);
    }

    private void CheckCompatible(SequenceSet set, string what)
    {
        int inputWidth = HeadLoss.InputWidth(_model.Config), targetWidth = HeadLoss.TargetWidth(_model.Config);
        if (set.InputSize != inputWidth || set.TargetSize != targetWidth)
        {
            throw new UnrollException(
                $"{what} data: expected {inputWidth} inputs and {targetWidth} targets per step for this model, got {set.InputSize} and {set.TargetSize}.");
        }

        if (set.Count == 0 || set.Length == 0)
        {
            throw new UnrollException($"{what} data: expected at least one sequence of at least one step, got {set.Count} sequences of {set.Length} steps.");
        }
    }

    private void RememberNorm(double norm)
    {
        _recentNorms.Enqueue(norm);
        if (_recentNorms.Count > 5)
        {
            _recentNorms.Dequeue();
        }
    }

    private TrainingDivergedException Diverged(int step, double loss, double norm)
    {
        string parameter = "none";
        var gradients = _model.Parameters.Gradients;
        foreach (var view in _model.Parameters.Views)
        {
            bool bad = false;
            for (int i = view.Offset; i < view.Offset + view.Length && !bad; i++)
            {
                bad = !float.IsFinite(gradients[i]);
            }

            if (bad)
            {
                parameter = view.Name;
                break;
            }
        }

        string norms = string.Join(", ", _recentNorms.Select(n => n.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)));
        return new TrainingDivergedException(
            $"training diverged at step {step}: loss {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}, gradient norm {norm.ToString(System.Globalization.CultureInfo.InvariantCulture)}; " +
            $"first non-finite gradient in {parameter}; recent gradient norms {norms}. " +
            "Lower the learning rate or clip the gradient (--clip-norm).");
    }
}
