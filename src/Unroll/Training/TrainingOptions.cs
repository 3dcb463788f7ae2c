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
    /// Truncated BPTT when set: [k1, k2] = update every k1 steps, back-propagating k2 &gt;= k1 steps ([K] is [K, K]
    /// and is stateful TBPTT over windows of K). Each training step then processes its
    /// minibatch in windows with one optimiser update per window, carrying the state across windows.
    /// </summary>
    public int[]? Bptt { get; init; }

    /// <summary>Clip the global gradient norm to this value when set (if ||g|| &gt;= eps, g &lt;- eps g/||g||).</summary>
    public double? ClipNorm { get; init; }

    /// <summary>Clamp every gradient component to [-v, v] when set.</summary>
    public double? ClipValue { get; init; }

    /// <summary>Optimiser steps (minibatches) to take; with <see cref="TimeBudgetSeconds"/> alone, <see cref="int.MaxValue"/>.</summary>
    public int Steps { get; init; } = 4000;

    /// <summary>
    /// When set, the run trains for this much time (in seconds of training, resumed sessions included) and
    /// the learning-rate schedule is laid over it: the total steps it assumes are estimated from the fraction
    /// of the budget spent, so the rate reaches its final value as the budget ends. The run also ends after
    /// <see cref="Steps"/>. Such a run depends on the machine's speed, so it is not reproducible bit for bit.
    /// </summary>
    public double? TimeBudgetSeconds { get; init; }

    /// <summary>
    /// When set, early stopping: the run ends once this many validations in a row have not lowered the best
    /// validation loss (Keras' EarlyStopping patience, counted in validations).
    /// </summary>
    public int? Patience { get; init; }

    /// <summary>Sequences per minibatch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Seeds the minibatch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Measure the validation loss every this many steps (and at the last step).</summary>
    public int ValidateEvery { get; init; } = 50;

    /// <summary>
    /// Record the training-time diagnostics of <see cref="StepMetrics"/> (spectra of W_hh, share of
    /// clipped steps, gradient ratio) every this many steps, and at the first and last step; 0 turns
    /// them off. Null (the default) chooses every 100 steps, or fewer for recurrent weights so large that their
    /// eigenvalues would cost more than about 5% of the training time (an H = 512 LSTM on windows of 3,200
    /// characters: every 500); the choice depends only on the model and the batch shape, so runs stay reproducible.
    /// </summary>
    public int? DiagnoseEvery { get; init; }

    /// <summary>
    /// Stop the run as diverged when a step's training loss exceeds this multiple of the first step's
    /// (a loss that is still finite but has exploded); null turns the check off.
    /// </summary>
    public double? MaxLossGrowth { get; init; } = DefaultMaxLossGrowth;

    /// <summary>The default of <see cref="MaxLossGrowth"/>: far above any loss a healthy run reaches from its first step.</summary>
    public const double DefaultMaxLossGrowth = 1e4;

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
    }, IO.EnumNames.CamelCase, TrainingJsonContext.Default, TrainingJson.Enums);

    /// <summary>The options as JSON (stored in checkpoints and model files).</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, IO.Json.Info<TrainingOptions>(JsonOptions));

    /// <summary>Reads options written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON does not describe valid training options.</exception>
    public static TrainingOptions FromJson(string json)
    {
        try
        {
            var options = IO.Json.Deserialize(json, JsonOptions, new TrainingOptions())
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

        if (TimeBudgetSeconds is { } budget && !(budget > 0 && budget <= 1000 * 86400.0))
        {
            throw new UnrollException($"time-limit: expected a duration above zero and at most 1000 days, got {budget} s.");
        }

        if (Patience is < 1)
        {
            throw new UnrollException($"patience: expected at least 1 validation, got {Patience}.");
        }

        if (MaxLossGrowth is { } growth && (!(growth > 1) || double.IsInfinity(growth)))
        {
            throw new UnrollException($"max-loss-growth: expected a factor > 1 (or 0 to turn the check off), got {growth}.");
        }

        if (DiagnoseEvery < 0)
        {
            throw new UnrollException($"diagnose-every: expected 0 (off) or a positive number of steps, got {DiagnoseEvery}.");
        }

        Schedule.Validate(Steps);
        if (Bptt is { } bptt && (bptt.Length is < 1 or > 2 || bptt[0] < 1 || bptt[^1] < bptt[0]))
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

    /// <summary>For a classification head, the validation accuracy measured with <see cref="ValidationLoss"/>; NaN otherwise.</summary>
    public double ValidationAccuracy { get; init; } = double.NaN;

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
