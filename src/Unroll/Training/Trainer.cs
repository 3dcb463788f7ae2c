using System.Globalization;
using Unroll.Data;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Training;

/// <summary>
/// Everything a training run has accumulated besides the weights: the step reached, where the batch
/// source is, the random-number states, the optimiser's state, the state a stream carries into its next
/// window, and the metrics so far. With the weights it resumes a run bit for bit.
/// </summary>
internal sealed class TrainerState
{
    /// <summary>Steps completed.</summary>
    public int Step { get; init; }

    /// <summary>The current epoch's order of the training sequences (empty for a stream).</summary>
    public required int[] Order { get; init; }

    /// <summary>How many sequences of <see cref="Order"/> have been used this epoch, or a stream's next window.</summary>
    public int Position { get; init; }

    /// <summary>The state of the generator that shuffles the order.</summary>
    public ulong ShuffleState { get; init; }

    /// <summary>The state of the model's generator (dropout masks).</summary>
    public ulong ModelRandomState { get; init; }

    /// <summary>The optimiser's step count.</summary>
    public int OptimizerStepCount { get; init; }

    /// <summary>The optimiser's per-parameter buffers by torch's names.</summary>
    public required IReadOnlyList<(string Name, float[] Values)> OptimizerState { get; init; }

    /// <summary>What a stream carries into its next window (hidden state, re-run history); empty otherwise.</summary>
    public IReadOnlyList<(string Name, float[] Values)> Carry { get; init; } = [];

    /// <summary>The metrics of every completed step.</summary>
    public required IReadOnlyList<StepMetrics> History { get; init; }
}

/// <summary>Something that watches a training run step by step: progress, checkpoints, a clock.</summary>
internal interface ITrainingObserver
{
    /// <summary>Called after every completed step with its metrics; <paramref name="trainer"/> can capture its state.</summary>
    void OnStep(Trainer trainer, StepMetrics metrics);
}

/// <summary>
/// The training loop, the one every data source uses: each step takes the next minibatch from a batch
/// source, runs forward, the loss the model's head implies (<see cref="HeadLoss"/>: MSE for
/// regression, softmax cross-entropy for classification, at every step or the last), backward through
/// time, records the gradient norm, clips, checks for divergence and updates; validation, training-time
/// diagnostics and observers follow. With truncated BPTT (<see cref="TrainingOptions.Bptt"/>) or a
/// stream source, the batch is processed in windows with the state carried and one update per window
/// (<see cref="TruncatedBptt{T}"/>). The run can be captured after any step (<see cref="CaptureState"/>)
/// and continued from it (<see cref="Restore"/>) with identical results.
/// </summary>
public sealed class Trainer
{
    private readonly IRecurrentModel<float> _model;
    private readonly TrainingOptions _options;
    private readonly IOptimizer<float> _optimizer;
    private readonly Queue<double> _recentNorms = new();
    private readonly List<StepMetrics> _history = [];
    private int _diagnoseEvery;
    private TruncatedBptt<float>? _truncated;
    private IBatchSource? _source;
    private TrainerState? _pending;
    private int _step;
    private bool _stopRequested;

    /// <summary>Creates a trainer for <paramref name="model"/>, at step 0.</summary>
    /// <exception cref="UnrollException">An option is out of range or does not fit the model.</exception>
    public Trainer(IRecurrentModel<float> model, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _model = model;
        _options = options;
        _optimizer = Optimizers.Create<float>(options.Optimizer, model.Parameters.Count);
        model.SetDropoutSeed(options.Seed);
        if (options.Bptt is not null)
        {
            _ = TruncatedEngine(options.Bptt[0], options.Bptt[^1]);
        }
    }

    /// <summary>Steps completed so far.</summary>
    public int CompletedSteps => _step;

    /// <summary>The metrics of every completed step.</summary>
    public IReadOnlyList<StepMetrics> History => _history;

    /// <summary>
    /// Training time so far, in seconds, for <see cref="TrainingOptions.TimeBudgetSeconds"/>: a resumed run's caller
    /// includes the time of its earlier sessions. By default a stopwatch started by the first run.
    /// </summary>
    internal Func<double>? Clock { get; set; }

    /// <summary>The step with the lowest validation loss so far, and that loss; step 0 before the first validation.</summary>
    public (int Step, double Loss) Best
    {
        get
        {
            (int Step, double Loss) best = (0, double.PositiveInfinity);
            foreach (var m in _history)
            {
                if (m.ValidationLoss < best.Loss)
                {
                    best = (m.Step, m.ValidationLoss);
                }
            }

            return best;
        }
    }

    /// <summary>Whether <see cref="TrainingOptions.Patience"/> validations in a row have not improved on the best (the run is over).</summary>
    public bool PatienceExhausted
    {
        get
        {
            if (_options.Patience is not { } patience)
            {
                return false;
            }

            int since = 0;
            double best = double.PositiveInfinity;
            foreach (var m in _history)
            {
                if (double.IsNaN(m.ValidationLoss))
                {
                    continue;
                }

                (best, since) = m.ValidationLoss < best ? (m.ValidationLoss, 0) : (best, since + 1);
            }

            return since >= patience;
        }
    }

    /// <summary>The learning rate of the step just taken.</summary>
    internal double LearningRate => _optimizer.LearningRate;

    /// <summary>Ends the run after the current step (an observer's early stop).</summary>
    internal void RequestStop() => _stopRequested = true;

    /// <summary>A copy of the run's state after the last completed step.</summary>
    internal TrainerState CaptureState()
    {
        var position = _source?.Position ?? (_pending is { } p ? new BatchPosition(p.Order, p.Position, p.ShuffleState) : new BatchPosition([], 0, 0));
        return new()
        {
            Step = _step,
            Order = position.Order,
            Position = position.Position,
            ShuffleState = position.ShuffleState,
            ModelRandomState = _model.RandomState,
            OptimizerStepCount = _optimizer.StepCount,
            OptimizerState = _optimizer.State,
            Carry = _source is { CarriesState: true } && _truncated is not null ? _truncated.CaptureCarry() : _pending?.Carry ?? [],
            History = [.. _history],
        };
    }

    /// <summary>
    /// Continues from a captured state (the model's weights must be restored separately); the batch
    /// source's position and a stream's carried state are applied when <see cref="Run(SequenceSet, SequenceSet?, Action{StepMetrics}?, CancellationToken)"/> starts.
    /// </summary>
    /// <exception cref="UnrollException">The state does not fit this run.</exception>
    internal void Restore(TrainerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Step < 0 || state.Step > _options.Steps || state.History.Count != state.Step)
        {
            throw new UnrollException($"checkpoint: expected a step in [0, {_options.Steps}] with one metrics row per step, got step {state.Step} with {state.History.Count} rows.");
        }

        for (int i = 0; i < state.History.Count; i++)
        {
            if (state.History[i].Step != i + 1)
            {
                throw new UnrollException($"checkpoint: metrics row {i + 1} is for step {state.History[i].Step}; expected the steps 1 to {state.Step} in order.");
            }
        }

        _optimizer.LoadState(state.OptimizerStepCount, state.OptimizerState);
        _model.RandomState = state.ModelRandomState;
        _step = state.Step;
        _history.Clear();
        _history.AddRange(state.History);
        _pending = state;
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
    /// <exception cref="TrainingDivergedException">The loss, a gradient or a weight stopped being finite, or the loss exploded.</exception>
    public IReadOnlyList<StepMetrics> Run(
        SequenceSet train, SequenceSet? validation, Action<StepMetrics>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckCompatible(train, "training");
        if (validation is not null)
        {
            CheckCompatible(validation, "validation");
        }

        var source = new ShuffledBatches(new SequenceSetData(train), _options.BatchSize, _options.Seed);
        var validator = validation is null || validation.Count == 0 ? null : new SequenceValidation(new SequenceSetData(validation), _options.BatchSize);
        return Run(source, validator, onStep is null ? [] : [new CallbackObserver(onStep)], cancellation);
    }

    /// <summary>Steps per window of <see cref="RunOnTokens"/> when <see cref="TrainingOptions.Bptt"/> is not set.</summary>
    public const int DefaultTokenWindow = 50;

    /// <summary>
    /// Trains a token model (a language model, whose output at step t is the logits of token t + 1) on a stream of token
    /// ids until <see cref="TrainingOptions.Steps"/> steps are complete: the stream is cut into
    /// <see cref="TrainingOptions.BatchSize"/> parallel streams read in windows of <see cref="TrainingOptions.Bptt"/>'s
    /// first value (<see cref="DefaultTokenWindow"/> when unset), the hidden state carried from one window to the next
    /// (truncated BPTT, as a char-RNN is trained). Validation reads <paramref name="validation"/> the same way from a
    /// zero state.
    /// </summary>
    /// <param name="train">Training token ids, each in [0, <see cref="ModelConfig.VocabularySize"/>).</param>
    /// <param name="validation">Validation token ids, or null.</param>
    /// <param name="onStep">Called after every step.</param>
    /// <param name="cancellation">Stops the run after the current step.</param>
    /// <returns>The metrics of every step taken.</returns>
    /// <exception cref="UnrollException">The model reads dense inputs, or the stream is shorter than a batch of streams.</exception>
    /// <exception cref="TrainingDivergedException">The loss, a gradient or a weight stopped being finite, or the loss exploded.</exception>
    public IReadOnlyList<StepMetrics> RunOnTokens(
        int[] train, int[]? validation, Action<StepMetrics>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        int vocabulary = _model.Config.VocabularySize;
        if (vocabulary == 0)
        {
            throw new UnrollException($"tokens: this model reads dense inputs ({_model.Config.InputSize} per step); expected a model with a vocabulary (ModelConfig.VocabularySize).");
        }

        if (train.Length - 1 < _options.BatchSize)
        {
            throw new UnrollException($"tokens: the training stream has {train.Length} tokens; expected more than the batch size ({_options.BatchSize} parallel streams).");
        }

        foreach (var (stream, name) in new[] { (train, "training"), (validation ?? [], "validation") })
        {
            int bad = Array.FindIndex(stream, token => (uint)token >= (uint)vocabulary);
            if (bad >= 0)
            {
                throw new UnrollException($"tokens: the {name} stream's token {bad} is {stream[bad]}; expected an id in [0, {vocabulary}).");
            }
        }

        var source = new StreamBatchSource(StreamBatches.OfTokens(train, _options.BatchSize, _options.Bptt?[0] ?? DefaultTokenWindow));
        var validator = validation is null || validation.Length < 2 ? null : StreamValidation.ForTokens(validation);
        return Run(source, validator, onStep is null ? [] : [new CallbackObserver(onStep)], cancellation);
    }

    /// <summary>The loop itself: see the class remarks.</summary>
    internal IReadOnlyList<StepMetrics> Run(
        IBatchSource source, IValidation? validation, IReadOnlyList<ITrainingObserver> observers, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(observers);
        var config = _model.Config;
        if (source.InputWidth != HeadLoss.InputWidth(config) || source.TargetWidth != HeadLoss.TargetWidth(config))
        {
            throw new UnrollException(
                $"training data: expected {HeadLoss.InputWidth(config)} input and {HeadLoss.TargetWidth(config)} target columns per step for this model, got {source.InputWidth} and {source.TargetWidth}.");
        }

        var truncated = _truncated;
        if (truncated is not null && source.HasVaryingLengths)
        {
            throw new UnrollException(
                "bptt: the training sequences have different lengths; truncated BPTT cuts sequences of one length into windows. Train them whole (no --bptt / TruncatedBptt), or cut them to one length.");
        }

        if (source.CarriesState && truncated is null)
        {
            // A stream without --bptt: its windows are the truncation (stateful TBPTT(K)).
            truncated = TruncatedEngine(source.MaxSteps, source.MaxSteps);
        }

        if (_pending is { } pending)
        {
            source.Position = new BatchPosition(pending.Order, pending.Position, pending.ShuffleState);
            if (source.CarriesState)
            {
                truncated!.RestoreCarry(source.BatchSize, pending.Carry);
            }
            else if (pending.Carry.Count != 0)
            {
                throw new UnrollException("checkpoint: holds the carried state of a stream, but this run trains on whole sequences.");
            }

            _pending = null;
        }

        _source = source;
        _stopRequested = false;
        _diagnoseEvery = _options.DiagnoseEvery ?? AutomaticDiagnosticInterval(_model, source.MaxSteps * source.BatchSize);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var clock = Clock ?? (() => stopwatch.Elapsed.TotalSeconds);
        MemoryBudget.Check(config.TrainingBytes(source.MaxSteps, source.BatchSize),
            $"training: batches of {source.BatchSize} sequences of {source.MaxSteps} steps through {config.Layers} layer(s) of {config.HiddenSize} units");
        var batch = new Batch(source.MaxSteps, source.BatchSize, source.InputWidth, source.TargetWidth);
        var predictionGradients = new float[HeadLoss.PredictionLength(config, source.MaxSteps, source.BatchSize)];
        try
        {
            while (_step < _options.Steps && !cancellation.IsCancellationRequested && !_stopRequested && !PatienceExhausted
                && !(_options.TimeBudgetSeconds is { } budget && clock() >= budget))
            {
                var metrics = TrainStep(source, batch, truncated, predictionGradients, validation, clock);
                _history.Add(metrics);
                _step = metrics.Step;
                foreach (var observer in observers)
                {
                    observer.OnStep(this, metrics);
                }
            }
        }
        finally
        {
            _model.Training = false;
        }

        return _history;
    }

    private StepMetrics TrainStep(IBatchSource source, Batch batch, TruncatedBptt<float>? truncated, float[] predictionGradients, IValidation? validation, Func<double> clock)
    {
        int step = _step + 1;
        source.Next(batch);
        bool last = step == _options.Steps;
        int scheduled = _options.Steps;
        if (_options.TimeBudgetSeconds is { } budget)
        {
            // The schedule laid over the budget: the steps the whole budget takes at the pace of the steps so far
            // ((step - 1) in the time spent), so a run of steps of equal length follows the schedule of that many steps.
            double elapsed = clock();
            double estimate = elapsed > 0 ? Math.Ceiling((step - 1) * budget / elapsed) : double.MaxValue;
            scheduled = (int)Math.Clamp(estimate, Math.Max(step, _options.Schedule.WarmupSteps + 1), _options.Steps);
            // The last step the budget holds at this pace (or the time is already up): validate and diagnose it.
            last |= elapsed >= budget || (scheduled == step && step > 1);
        }

        _optimizer.LearningRate = _options.Schedule.RateAt(_options.LearningRate, step, scheduled);
        bool diagnose = _diagnoseEvery > 0 && (step % _diagnoseEvery == 0 || step == 1 || last);
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
            (loss, norm, clipped) = truncated is null
                ? Update(batch, predictionGradients, step)
                : UpdateTruncated(truncated, batch, step);
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
        // A budgeted run's last step is the one after which the time is up.
        last |= _options.TimeBudgetSeconds is { } limit && clock() >= limit;
        var validationResult = validation is not null && (step % _options.ValidateEvery == 0 || last)
            ? validation.Measure(_model)
            : new ValidationResult(double.NaN, double.NaN, 0);
        var metrics = new StepMetrics(step, loss, validationResult.Loss, norm, clipped) { ValidationAccuracy = validationResult.Accuracy };
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

        return metrics;
    }

    private TruncatedBptt<float> TruncatedEngine(int k1, int k2)
    {
        var config = _model.Config;
        if (_model is not SequenceModel<float> sequenceModel)
        {
            throw new UnrollException($"bptt: truncated BPTT carries a hidden state; expected a hidden-state network (rnn, lstm, gru), got {config.Architecture.Name()}.");
        }

        _truncated = new TruncatedBptt<float>(sequenceModel, k1, k2);
        return _truncated;
    }

    /// <summary>
    /// Every 100 steps, or the multiple of 100 at which the diagnostics cost about 5% of the steps between them.
    /// A diagnostic step takes the eigenvalues (Hessenberg QR, scalar double: about 10 n^3 flops) and a power
    /// iteration of every n x n recurrent block; a training step about 6 flops per parameter per row, in the
    /// vectorised, threaded GEMM. Measured on Zen 5 (2 cores), an n^3 of the diagnostics costs as much time as
    /// about 1,000 flops of training (an H = 512 block: 0.7 s, 9 training steps of its LSTM on 3,200 characters).
    /// Only the model and the batch shape enter, so the interval, like the run, is the same on every machine.
    /// </summary>
    internal static int AutomaticDiagnosticInterval(IRecurrentModel<float> model, int rowsPerStep)
    {
        const int Base = 100;
        const double TrainingFlopsPerCubedUnit = 1000, Share = 0.05;
        double cubes;
        try
        {
            cubes = RecurrentBlocks.Of(model).Sum(b => Math.Pow(b.Size, 3));
        }
        catch (UnrollException)
        {
            // A custom cell's recurrent weight need not be square gate blocks: its spectra are NaN (LargestSpectra), and cost nothing.
            return Base;
        }

        double stepFlops = 6.0 * Math.Max(1, rowsPerStep) * model.Parameters.Count;
        double steps = TrainingFlopsPerCubedUnit * cubes / (Share * stepFlops);
        return steps <= Base ? Base : (int)Math.Min(Math.Ceiling(steps / Base) * Base, 1_000_000);
    }

    // The largest spectral radius and singular value over every recurrent block; NaN when there is
    // none (Jordan), the weights are not square gate blocks (a custom cell) or are no longer finite.
    private (double Radius, double Largest) LargestSpectra()
    {
        List<RecurrentBlock> blocks;
        try
        {
            blocks = RecurrentBlocks.Of(_model);
        }
        catch (UnrollException)
        {
            // A recurrent weight that is not G square blocks (a custom cell's): nothing to measure.
            return (double.NaN, double.NaN);
        }

        if (blocks.Count == 0)
        {
            return (double.NaN, double.NaN);
        }

        // The blocks are independent: one part each over the kernel threads, which wait here otherwise.
        var spectra = new (double Radius, double Largest)[blocks.Count];
        WorkerPool.Run(new SpectraJob(blocks, spectra), blocks.Count);
        return spectra.Any(s => double.IsNaN(s.Radius) || double.IsNaN(s.Largest))
            ? (double.NaN, double.NaN)
            : (spectra.Max(s => s.Radius), spectra.Max(s => s.Largest));
    }

    /// <summary>One block's spectral radius and sigma_max per part; NaN for a block whose weights are not finite.</summary>
    private sealed class SpectraJob(List<RecurrentBlock> blocks, (double Radius, double Largest)[] spectra) : IParallelJob
    {
        public void Run(int part, int parts)
        {
            var block = blocks[part];
            try
            {
                // sigma_max by power iteration on W^T W (4 n^2 flops an iteration) rather than every singular value
                // (one-sided Jacobi, about 16 n^3: 2.3 s for n = 512, four times the eigenvalues' cost).
                spectra[part] = (Eigen.SpectralRadius(block.Matrix, block.Size), SingularValues.Largest(block.Matrix, block.Size, block.Size, 1e-10));
            }
            catch (UnrollException)
            {
                spectra[part] = (double.NaN, double.NaN);
            }
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
    private (double Loss, double Norm, bool Clipped) Update(Batch batch, float[] predictionGradients, int step)
    {
        int steps = batch.Steps, size = batch.Size;
        var targets = batch.CurrentTargets;
        var gradients = predictionGradients.AsSpan(0, HeadLoss.PredictionLength(_model.Config, steps, size));
        Kernels.ParallelReductions.Clear<float>(_model.Parameters.Gradients);
        _model.Training = true;
        _model.Run(batch.CurrentInputs, targets, steps, size, batch.CurrentLengths);
        double loss = HeadLoss.Compute<float>(_model.Config, _model.Predictions, targets, steps, size, gradients, batch.CurrentLengths).Loss;
        _model.Backward(gradients);
        var (norm, clipped) = ClipAndStep(step, loss);
        return (loss, norm, clipped);
    }

    // Truncated BPTT: the batch in windows of k1 steps, one update per window, the state carried across
    // windows (and, for a stream, across batches). Reports the step-weighted mean loss and the largest pre-clip norm.
    private (double Loss, double Norm, bool Clipped) UpdateTruncated(TruncatedBptt<float> truncated, Batch batch, int step)
    {
        int window = truncated.UpdateInterval, steps = batch.Steps, size = batch.Size;
        int inputRow = size * batch.InputWidth, targetRow = size * batch.TargetWidth;
        if (!batch.ContinuesState)
        {
            truncated.Reset(size);
        }

        var inputs = batch.CurrentInputs;
        var targets = batch.CurrentTargets;
        double weightedLoss = 0, largestNorm = 0;
        bool clipped = false;
        for (int start = 0; start < steps; start += window)
        {
            int length = Math.Min(window, steps - start);
            _model.Training = true;
            double loss = truncated.ComputeWindowGradients(
                inputs.Slice(start * inputRow, length * inputRow), targets.Slice(start * targetRow, length * targetRow), length, size);
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
            throw Diverged(step, loss, norm, NonFinite(_model.Parameters.Gradients) is { } parameter
                ? $"first non-finite gradient in {parameter}"
                : "the loss is not finite");
        }

        double first = _history.Count > 0 ? _history[0].TrainLoss : double.NaN;
        if (_options.MaxLossGrowth is { } growth && first > 0 && loss > growth * first)
        {
            throw Diverged(step, loss, norm, string.Create(CultureInfo.InvariantCulture,
                $"the loss grew to {loss / first:G3} times the first step's ({Format(first)}), above the limit of {growth:G3} (--max-loss-growth)"));
        }

        bool clipped = GradientClipping.Apply(gradients, norm, _options.ClipNorm, _options.ClipValue);
        _optimizer.Step(_model.Parameters.Values, gradients);
        if (!FiniteValues.All(_model.Parameters.Values))
        {
            // The loss and the gradient were finite, but the update overflowed a weight (a huge learning rate, say):
            // stop before anything could save those weights.
            throw Diverged(step, loss, norm, $"the update made a weight non-finite, first in {NonFinite(_model.Parameters.Values)}");
        }

        return (norm, clipped);
    }

    /// <summary>The head's loss of <paramref name="model"/> over a whole set (MSE, or cross-entropy for classification).</summary>
    public static double Evaluate(IRecurrentModel<float> model, SequenceSet set, int batchSize) => Measure(model, set, batchSize).Loss;

    /// <summary>
    /// The head's loss over a whole set, the mean over every scored row, and for classification
    /// the fraction of rows whose largest logit is the target class (NaN for regression).
    /// </summary>
    public static (double Loss, double Accuracy) Measure(IRecurrentModel<float> model, SequenceSet set, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(set);
        var result = new SequenceValidation(new SequenceSetData(set), batchSize).Measure(model);
        return (result.Loss, result.Accuracy);
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

    private string? NonFinite(float[] values)
    {
        foreach (var view in _model.Parameters.Views)
        {
            if (!FiniteValues.All(values.AsSpan(view.Offset, view.Length)))
            {
                return view.Name;
            }
        }

        return null;
    }

    private TrainingDivergedException Diverged(int step, double loss, double norm, string cause)
    {
        string norms = string.Join(", ", _recentNorms.Select(n => n.ToString("G4", CultureInfo.InvariantCulture)));
        // At the first step no update has happened yet: the learning rate cannot be the cause.
        string advice = step == 1 && _history.Count == 0
            ? "The initial weights give this on the first batch: check the initialisation options (--init-hh, --init-ih, --forget-bias) and the data's scale."
            : "Lower the learning rate, clip the gradient (--clip-norm), or check the data's scale.";
        return new TrainingDivergedException(
            $"training diverged at step {step}: {cause}; loss {Format(loss)}, gradient norm {Format(norm)}, recent gradient norms {norms}. {advice}");
    }

    private static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>Adapts a per-step callback to an observer.</summary>
    private sealed class CallbackObserver(Action<StepMetrics> onStep) : ITrainingObserver
    {
        public void OnStep(Trainer trainer, StepMetrics metrics) => onStep(metrics);
    }
}
