using Unroll.Data.Text;
using Unroll.Models;

namespace Unroll.Training;

/// <summary>
/// Language-model training on one long token stream (char-rnn style): the stream is cut into B
/// parallel parts (<see cref="Data.StreamBatches"/>), read in windows of K tokens with the hidden
/// (and LSTM cell) state carried from window to window and the gradient cut at window boundaries
/// (stateful TBPTT(K), docs/truncated-bptt.md). Every window is one optimiser step whose loss is the
/// softmax cross-entropy of the next token at every step, in nats. After the last window of the
/// stream the state is reset to zero and a new pass begins.
/// </summary>
public sealed class TokenStreamTrainer
{
    private readonly SequenceModel<float> _model;
    private readonly TrainingOptions _options;
    private readonly IOptimizer<float> _optimizer;
    private readonly List<StepMetrics> _history = [];
    private readonly Queue<double> _recentNorms = new();

    /// <summary>Creates a trainer. <see cref="TrainingOptions.Bptt"/> sets K (default 50); <see cref="TrainingOptions.BatchSize"/> is B.</summary>
    /// <exception cref="UnrollException">The model is not a unidirectional token model with a per-step classification head over its vocabulary, or an option is out of range.</exception>
    public TokenStreamTrainer(SequenceModel<float> model, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var config = model.Config;
        if (config.VocabularySize < 1 || config.Head != HeadKind.Classification || config.Pooling != Pooling.EveryStep
            || config.OutputSize != config.VocabularySize || config.Bidirectional)
        {
            throw new UnrollException(
                "text training: expected a unidirectional model reading token ids with a per-step classification head over the same vocabulary; " +
                $"got vocabulary {config.VocabularySize}, outputs {config.OutputSize}, head {config.Head}, pooling {config.Pooling}, bidirectional {config.Bidirectional}.");
        }

        int[] bptt = options.Bptt ?? [DefaultWindow, DefaultWindow];
        if (bptt[1] != bptt[0])
        {
            throw new UnrollException($"bptt: text training uses stateful TBPTT(K) (--bptt K); got K1,K2 = {bptt[0]},{bptt[1]}.");
        }

        _model = model;
        _options = options;
        Window = bptt[0];
        _optimizer = Optimizers.Create<float>(options.Optimizer, model.Parameters.Count);
        model.SetDropoutSeed(options.Seed);
    }

    /// <summary>K when no --bptt is given: 50 steps, char-rnn's seq_length.</summary>
    public const int DefaultWindow = 50;

    /// <summary>K, the tokens per window.</summary>
    public int Window { get; }

    /// <summary>The metrics of every completed step; losses in nats per token.</summary>
    public IReadOnlyList<StepMetrics> History => _history;

    /// <summary>Trains for <see cref="TrainingOptions.Steps"/> windows, measuring the validation loss every <see cref="TrainingOptions.ValidateEvery"/> steps and at the last.</summary>
    /// <param name="train">The training token stream.</param>
    /// <param name="validation">The validation stream, or null.</param>
    /// <param name="onStep">Called after every step.</param>
    /// <param name="cancellation">Stops after the current step.</param>
    /// <exception cref="TrainingDivergedException">The loss or the gradient stopped being finite.</exception>
    public IReadOnlyList<StepMetrics> Run(int[] train, int[]? validation, Action<StepMetrics>? onStep = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckTokens(train, "training");
        if (validation is not null)
        {
            CheckTokens(validation, "validation");
        }

        int batch = _options.BatchSize, vocabulary = _model.Config.VocabularySize;
        var stream = TextCorpus.Stream(train, batch, Window);
        var windowInputs = new double[Window * batch];
        var windowTargets = new double[Window * batch];
        var tokens = new int[Window * batch];
        var classes = new int[Window * batch];
        var logitGradients = new float[Window * batch * vocabulary];
        var state = new float[_model.Config.Layers * batch * _model.Config.HiddenSize];
        var cell = CellState(state.Length);
        int window = 0;
        while (_history.Count < _options.Steps && !cancellation.IsCancellationRequested)
        {
            int step = _history.Count + 1;
            if (window == 0)
            {
                Array.Clear(state);
                Array.Clear(cell);
            }

            int steps = stream.WindowLength(window), rows = steps * batch;
            stream.CopyWindow<double>(window, windowInputs.AsSpan(0, rows), windowTargets.AsSpan(0, rows));
            for (int r = 0; r < rows; r++)
            {
                tokens[r] = (int)windowInputs[r];
                classes[r] = (int)windowTargets[r];
            }

            _optimizer.LearningRate = _options.Schedule.RateAt(_options.LearningRate, step, _options.Steps);
            _model.Parameters.ZeroGradients();
            _model.Training = true;
            _model.ForwardTokens(tokens.AsSpan(0, rows), steps, batch, state, default, cell);
            var gradients = logitGradients.AsSpan(0, rows * vocabulary);
            double loss = Losses.SoftmaxCrossEntropy<float>(_model.Predictions, classes.AsSpan(0, rows), vocabulary, gradients);
            _model.Backward(gradients);
            _model.FinalState.CopyTo(state);
            _model.FinalCell.CopyTo(cell);
            var (norm, clipped) = ClipAndStep(step, loss);
            window = (window + 1) % stream.WindowCount;

            _model.Training = false;
            double validationLoss = double.NaN;
            if (validation is not null && (step % _options.ValidateEvery == 0 || step == _options.Steps))
            {
                validationLoss = Evaluate(_model, validation).Nats;
            }

            var metrics = new StepMetrics(step, loss, validationLoss, norm, clipped);
            _history.Add(metrics);
            onStep?.Invoke(metrics);
        }

        return _history;
    }

    /// <summary>Parallel parts a stream is scored in by <see cref="Evaluate"/>, whatever the training batch.</summary>
    public const int EvaluationStreams = 16;

    /// <summary>
    /// The mean cross-entropy (nats per predicted token) of <paramref name="model"/> over a token
    /// stream, read as <paramref name="batch"/> parallel parts, each from a zero state with the state
    /// carried through the part (the last N - 1 - B P pairs, fewer than B, are not scored).
    /// </summary>
    /// <returns>The mean loss and the number of tokens scored.</returns>
    public static (double Nats, long Tokens) Evaluate(SequenceModel<float> model, ReadOnlySpan<int> tokens, int batch = EvaluationStreams)
    {
        ArgumentNullException.ThrowIfNull(model);
        const int window = 128;
        batch = Math.Max(1, Math.Min(batch, tokens.Length - 1));
        var stream = TextCorpus.Stream(tokens, batch, window);
        int vocabulary = model.Config.VocabularySize;
        var windowInputs = new double[window * batch];
        var windowTargets = new double[window * batch];
        var ids = new int[window * batch];
        var classes = new int[window * batch];
        var state = new float[model.Config.Layers * batch * model.Config.HiddenSize];
        var cell = new float[Cells.CellKinds.HasCellState(model.Config.Cell) ? state.Length : 0];
        bool wasTraining = model.Training;
        model.Training = false;
        double total = 0;
        long count = 0;
        for (int w = 0; w < stream.WindowCount; w++)
        {
            int steps = stream.WindowLength(w), rows = steps * batch;
            stream.CopyWindow<double>(w, windowInputs.AsSpan(0, rows), windowTargets.AsSpan(0, rows));
            for (int r = 0; r < rows; r++)
            {
                ids[r] = (int)windowInputs[r];
                classes[r] = (int)windowTargets[r];
                if ((uint)ids[r] >= (uint)vocabulary || (uint)classes[r] >= (uint)vocabulary)
                {
                    throw new UnrollException($"text evaluation: expected token ids in [0, {vocabulary}), got {Math.Max(ids[r], classes[r])}.");
                }
            }

            model.ForwardTokens(ids.AsSpan(0, rows), steps, batch, state, default, cell.Length > 0 ? cell : default);
            total += Losses.SoftmaxCrossEntropy<float>(model.Predictions, classes.AsSpan(0, rows), vocabulary, Span<float>.Empty) * (double)rows;
            count += rows;
            model.FinalState.CopyTo(state);
            model.FinalCell.CopyTo(cell);
        }

        model.Training = wasTraining;
        return (total / count, count);
    }

    private float[] CellState(int length) => Cells.CellKinds.HasCellState(_model.Config.Cell) ? new float[length] : [];

    private void CheckTokens(int[] tokens, string what)
    {
        int vocabulary = _model.Config.VocabularySize;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)vocabulary)
            {
                throw new UnrollException($"{what} text: token {i} has id {tokens[i]}; expected ids in [0, {vocabulary}) for this model's vocabulary.");
            }
        }
    }

    private (double Norm, bool Clipped) ClipAndStep(int step, double loss)
    {
        var gradients = _model.Parameters.Gradients.AsSpan();
        double norm = GradientClipping.GlobalNorm<float>(gradients);
        _recentNorms.Enqueue(norm);
        if (_recentNorms.Count > 5)
        {
            _recentNorms.Dequeue();
        }

        if (!double.IsFinite(loss) || !double.IsFinite(norm))
        {
            string norms = string.Join(", ", _recentNorms.Select(n => n.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)));
            throw new TrainingDivergedException(
                $"training diverged at step {step}: loss {loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}, gradient norm {norm.ToString(System.Globalization.CultureInfo.InvariantCulture)}; recent gradient norms {norms}. Lower the learning rate or clip the gradient (--clip-norm).");
        }

        bool clipped = GradientClipping.Apply(gradients, norm, _options.ClipNorm, _options.ClipValue);
        _optimizer.Step(_model.Parameters.Values, gradients);
        return (norm, clipped);
    }
}
