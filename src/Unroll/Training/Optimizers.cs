using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Unroll.Kernels;

namespace Unroll.Training;

/// <summary>The optimisers offered by the trainer; each follows the torch.optim class of the same name (version 1.13).</summary>
public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay (torch.optim.SGD).</summary>
    Sgd,

    /// <summary>Adam (Kingma and Ba 2015) with bias correction, optional L2 weight decay and AMSGrad (torch.optim.Adam).</summary>
    Adam,

    /// <summary>Adagrad (Duchi et al. 2011) with learning-rate decay and L2 weight decay (torch.optim.Adagrad).</summary>
    Adagrad,

    /// <summary>RMSprop (Hinton's lecture notes; centred variant after Graves 2013) with optional momentum (torch.optim.RMSprop).</summary>
    RmsProp,

    /// <summary>Adam with decoupled weight decay (Loshchilov and Hutter 2019), default decay 0.01 (torch.optim.AdamW).</summary>
    AdamW,
}

/// <summary>An update rule over the flat parameter buffer.</summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal interface IOptimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The learning rate used by the next <see cref="Step"/>; a schedule sets it before every step.</summary>
    double LearningRate { get; set; }

    /// <summary>The hyper-parameters the optimiser was created with (its <see cref="OptimizerSettings.LearningRate"/> is the initial rate).</summary>
    OptimizerSettings Settings { get; }

    /// <summary>Steps taken so far (t in the update rules), including those of a loaded state.</summary>
    int StepCount { get; }

    /// <summary>
    /// A copy of the per-parameter state, as named flat arrays with torch's state names (for example
    /// <c>exp_avg</c> and <c>exp_avg_sq</c> for Adam); empty for plain SGD. Together with
    /// <see cref="StepCount"/> it is everything needed to resume bit-identically.
    /// </summary>
    IReadOnlyList<(string Name, T[] Values)> State { get; }

    /// <summary>Replaces the state with one exported by <see cref="State"/> and <see cref="StepCount"/> of an optimiser of the same settings and size.</summary>
    /// <exception cref="UnrollException">A buffer is missing, unknown or of the wrong length, or the step count is negative.</exception>
    void LoadState(int stepCount, IReadOnlyList<(string Name, T[] Values)> state);

    /// <summary>Updates <paramref name="parameters"/> in place from <paramref name="gradients"/>.</summary>
    void Step(Span<T> parameters, ReadOnlySpan<T> gradients);
}

/// <summary>
/// The hyper-parameters of an optimiser, named after torch.optim's keywords. Options an optimiser does
/// not use must keep their defaults (<see cref="Validate"/> rejects, say, Nesterov with Adam rather
/// than ignoring it).
/// </summary>
public sealed record OptimizerSettings
{
    /// <summary>The update rule.</summary>
    public required OptimizerKind Kind { get; init; }

    /// <summary>The initial learning rate (torch: lr), &gt;= 0.</summary>
    public required double LearningRate { get; init; }

    /// <summary>Momentum factor mu in [0, 1) for SGD and RMSprop; 0 turns momentum off.</summary>
    public double Momentum { get; init; }

    /// <summary>SGD only: dampening tau in [0, 1] of the gradient added to the momentum buffer.</summary>
    public double Dampening { get; init; }

    /// <summary>SGD only: Nesterov momentum (needs momentum &gt; 0 and dampening 0).</summary>
    public bool Nesterov { get; init; }

    /// <summary>
    /// Weight decay lambda &gt;= 0: added to the gradient as lambda theta (L2) by every optimiser but AdamW,
    /// which multiplies the parameters by 1 - lr lambda instead. Null takes the optimiser's default:
    /// 0.01 for AdamW, 0 for the others.
    /// </summary>
    public double? WeightDecay { get; init; }

    /// <summary>Adam and AdamW: decay of the first moment, in [0, 1).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam and AdamW: decay of the second moment, in [0, 1).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Added to the denominator for stability, &gt;= 0. Null takes the optimiser's default: 1e-10 for Adagrad, 1e-8 for the others.</summary>
    public double? Epsilon { get; init; }

    /// <summary>RMSprop only: smoothing constant of the squared-gradient average, in [0, 1).</summary>
    public double Alpha { get; init; } = 0.99;

    /// <summary>RMSprop only: normalise by the estimated variance (second moment minus squared mean) instead of the second moment.</summary>
    public bool Centered { get; init; }

    /// <summary>Adam and AdamW: use the running maximum of the second moment (AMSGrad, Reddi et al. 2018).</summary>
    public bool Amsgrad { get; init; }

    /// <summary>Adagrad only: the rate at step t is lr / (1 + (t - 1) lr_decay); &gt;= 0.</summary>
    public double LearningRateDecay { get; init; }

    /// <summary>Adagrad only: the starting value of the sum of squared gradients, &gt;= 0.</summary>
    public double InitialAccumulatorValue { get; init; }

    /// <summary>The weight decay in force: <see cref="WeightDecay"/>, or the optimiser's default.</summary>
    public double EffectiveWeightDecay => WeightDecay ?? (Kind == OptimizerKind.AdamW ? 0.01 : 0.0);

    /// <summary>The epsilon in force: <see cref="Epsilon"/>, or the optimiser's default.</summary>
    public double EffectiveEpsilon => Epsilon ?? (Kind == OptimizerKind.Adagrad ? 1e-10 : 1e-8);

    /// <summary>Checks every setting against its range and against the optimiser it belongs to.</summary>
    /// <exception cref="UnrollException">A setting is out of range or does not apply to <see cref="Kind"/>.</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind))
        {
            throw new UnrollException($"optimizer: expected {Optimizers.Names}, got {(int)Kind}.");
        }

        string name = Optimizers.Name(Kind);
        RequireAtLeastZero("lr", LearningRate);
        RequireUnitInterval("momentum", Momentum, includeOne: false);
        RequireUnitInterval("dampening", Dampening, includeOne: true);
        RequireAtLeastZero("weight-decay", EffectiveWeightDecay);
        RequireAtLeastZero("eps", EffectiveEpsilon);
        RequireUnitInterval("beta1", Beta1, includeOne: false);
        RequireUnitInterval("beta2", Beta2, includeOne: false);
        RequireUnitInterval("alpha", Alpha, includeOne: false);
        RequireAtLeastZero("lr-decay", LearningRateDecay);
        RequireAtLeastZero("initial-accumulator", InitialAccumulatorValue);

        bool sgd = Kind == OptimizerKind.Sgd, rmsProp = Kind == OptimizerKind.RmsProp, adagrad = Kind == OptimizerKind.Adagrad;
        bool adam = Kind is OptimizerKind.Adam or OptimizerKind.AdamW;
        RequireApplies("momentum", Momentum != 0, sgd || rmsProp, "sgd and rmsprop", name);
        RequireApplies("dampening", Dampening != 0, sgd, "sgd", name);
        RequireApplies("nesterov", Nesterov, sgd, "sgd", name);
        RequireApplies("beta1", Beta1 != 0.9, adam, "adam and adamw", name);
        RequireApplies("beta2", Beta2 != 0.999, adam, "adam and adamw", name);
        RequireApplies("amsgrad", Amsgrad, adam, "adam and adamw", name);
        RequireApplies("alpha", Alpha != 0.99, rmsProp, "rmsprop", name);
        RequireApplies("centered", Centered, rmsProp, "rmsprop", name);
        RequireApplies("lr-decay", LearningRateDecay != 0, adagrad, "adagrad", name);
        RequireApplies("initial-accumulator", InitialAccumulatorValue != 0, adagrad, "adagrad", name);

        // torch.optim.SGD: "Nesterov momentum requires a momentum and zero dampening".
        if (Nesterov && (Momentum <= 0 || Dampening != 0))
        {
            throw new UnrollException(
                $"nesterov: expected momentum > 0 and dampening 0, got momentum {Format(Momentum)} and dampening {Format(Dampening)}.");
        }
    }

    private static void RequireAtLeastZero(string option, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value))
        {
            throw new UnrollException($"{option}: expected a finite value >= 0, got {Format(value)}.");
        }
    }

    private static void RequireUnitInterval(string option, double value, bool includeOne)
    {
        if (!(value >= 0 && (includeOne ? value <= 1 : value < 1)))
        {
            throw new UnrollException($"{option}: expected a value in [0, 1{(includeOne ? "]" : ")")}, got {Format(value)}.");
        }
    }

    private static void RequireApplies(string option, bool isSet, bool applies, string owners, string kind)
    {
        if (isSet && !applies)
        {
            throw new UnrollException($"{option}: expected only with {owners}, got it with {kind}.");
        }
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>Parses optimiser names and creates optimisers.</summary>
internal static class Optimizers
{
    /// <summary>The accepted names, for messages and help text.</summary>
    public const string Names = "sgd, adam, adamw, adagrad or rmsprop";

    /// <summary>Parses an optimiser name (sgd, adam, adamw, adagrad, rmsprop; case-insensitive).</summary>
    /// <exception cref="UnrollException">Unknown name.</exception>
    public static OptimizerKind Parse(string name) => name.Trim().ToUpperInvariant() switch
    {
        "SGD" => OptimizerKind.Sgd,
        "ADAM" => OptimizerKind.Adam,
        "ADAMW" => OptimizerKind.AdamW,
        "ADAGRAD" => OptimizerKind.Adagrad,
        "RMSPROP" => OptimizerKind.RmsProp,
        _ => throw new UnrollException($"optimizer: expected {Names}, got '{name}'."),
    };

    /// <summary>The name <see cref="Parse"/> accepts for <paramref name="kind"/> (lower case).</summary>
    public static string Name(OptimizerKind kind) => kind switch
    {
        OptimizerKind.Sgd => "sgd",
        OptimizerKind.Adam => "adam",
        OptimizerKind.AdamW => "adamw",
        OptimizerKind.Adagrad => "adagrad",
        OptimizerKind.RmsProp => "rmsprop",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimiser."),
    };

    /// <summary>A new optimiser of the given kind with torch's defaults for everything but the learning rate.</summary>
    public static IOptimizer<T> Create<T>(OptimizerKind kind, double learningRate, int parameterCount)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Create<T>(new OptimizerSettings { Kind = kind, LearningRate = learningRate }, parameterCount);

    /// <summary>A new optimiser for <paramref name="parameterCount"/> parameters with zero (or, for Adagrad, the initial accumulator) state.</summary>
    /// <exception cref="UnrollException">The settings are invalid.</exception>
    public static IOptimizer<T> Create<T>(OptimizerSettings settings, int parameterCount)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        return settings.Kind switch
        {
            OptimizerKind.Sgd => new Sgd<T>(settings, parameterCount),
            OptimizerKind.Adam => new Adam<T>(settings, parameterCount),
            OptimizerKind.AdamW => new AdamW<T>(settings, parameterCount),
            OptimizerKind.Adagrad => new Adagrad<T>(settings, parameterCount),
            OptimizerKind.RmsProp => new RmsProp<T>(settings, parameterCount),
            _ => throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, "Unknown optimiser."),
        };
    }
}

/// <summary>
/// What every optimiser shares: the settings, the step count, named per-parameter buffers that can be
/// exported and loaded, and the checks on the spans handed to <see cref="Step"/>.
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal abstract class OptimizerBase<T> : IOptimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly List<(string Name, T[] Values)> _buffers = [];

    /// <summary>Validates <paramref name="settings"/> and records them.</summary>
    /// <param name="settings">The hyper-parameters; their kind must be <paramref name="expectedKind"/>.</param>
    /// <param name="expectedKind">The kind the derived class implements.</param>
    /// <param name="parameterCount">The length of the parameter buffer, or -1 for a stateless rule that accepts any length.</param>
    /// <exception cref="UnrollException">The settings are invalid.</exception>
    protected OptimizerBase(OptimizerSettings settings, OptimizerKind expectedKind, int parameterCount)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameterCount, -1);
        if (settings.Kind != expectedKind)
        {
            throw new ArgumentException($"Settings for {settings.Kind} given to the {expectedKind} optimiser.", nameof(settings));
        }

        settings.Validate();
        Settings = settings;
        LearningRate = settings.LearningRate;
        ParameterCount = parameterCount;
    }

    /// <inheritdoc/>
    public double LearningRate { get; set; }

    /// <inheritdoc/>
    public OptimizerSettings Settings { get; }

    /// <summary>The length of the parameter buffer this optimiser updates (-1 when it keeps no state and accepts any length).</summary>
    public int ParameterCount { get; }

    /// <inheritdoc/>
    public int StepCount { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, T[] Values)> State => _buffers.Select(b => (b.Name, (T[])b.Values.Clone())).ToArray();

    /// <inheritdoc/>
    public void LoadState(int stepCount, IReadOnlyList<(string Name, T[] Values)> state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string kind = Optimizers.Name(Settings.Kind);
        if (stepCount < 0)
        {
            throw new UnrollException($"optimizer state: expected a step count >= 0, got {stepCount}.");
        }

        string expectedNames = _buffers.Count == 0 ? "no buffers" : string.Join(", ", _buffers.Select(b => b.Name));
        string givenNames = state.Count == 0 ? "none" : string.Join(", ", state.Select(b => b.Name));
        if (state.Count != _buffers.Count || state.Select(b => b.Name).Distinct(StringComparer.Ordinal).Count() != state.Count)
        {
            throw new UnrollException($"optimizer state: expected {expectedNames} for {kind}, got {givenNames}.");
        }

        foreach (var (name, values) in state)
        {
            int index = _buffers.FindIndex(b => b.Name == name);
            if (index < 0)
            {
                throw new UnrollException($"optimizer state: expected {expectedNames} for {kind}, got {givenNames}.");
            }

            if (values is null || values.Length != _buffers[index].Values.Length)
            {
                throw new UnrollException(
                    $"optimizer state '{name}': expected {_buffers[index].Values.Length} values, got {values?.Length ?? 0}.");
            }
        }

        // Copy only after every check so a rejected state leaves the optimiser untouched.
        foreach (var (name, values) in state)
        {
            values.CopyTo(_buffers.Find(b => b.Name == name).Values, 0);
        }

        StepCount = stepCount;
    }

    /// <inheritdoc/>
    public void Step(Span<T> parameters, ReadOnlySpan<T> gradients)
    {
        if (gradients.Length != parameters.Length)
        {
            throw new ArgumentException($"{gradients.Length} gradients for {parameters.Length} parameters.", nameof(gradients));
        }

        if (ParameterCount >= 0 && parameters.Length != ParameterCount)
        {
            throw new ArgumentException($"Expected {ParameterCount} parameters, got {parameters.Length}.", nameof(parameters));
        }

        StepCount++;
        Update(parameters, gradients, StepCount);
    }

    /// <summary>Applies one update; <paramref name="step"/> is the 1-based step number t.</summary>
    /// <param name="parameters">The parameters, updated in place.</param>
    /// <param name="gradients">The gradients, of the same length.</param>
    /// <param name="step">t, already counting this step.</param>
    protected abstract void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step);

    /// <summary>Registers a per-parameter buffer (filled with <paramref name="initialValue"/>) under torch's state name.</summary>
    /// <param name="name">The state name, such as <c>exp_avg</c>.</param>
    /// <param name="initialValue">The value of every element before the first step.</param>
    /// <returns>The live buffer, which the derived class updates.</returns>
    protected T[] AddBuffer(string name, double initialValue = 0)
    {
        var values = new T[Math.Max(ParameterCount, 0)];
        Array.Fill(values, T.CreateChecked(initialValue));
        _buffers.Add((name, values));
        return values;
    }

    /// <summary>Converts a scalar hyper-parameter to <typeparamref name="T"/> (torch multiplies tensors by Python floats the same way).</summary>
    /// <param name="value">The value in double precision.</param>
    /// <returns>The value rounded to <typeparamref name="T"/>.</returns>
    protected static T Scalar(double value) => T.CreateChecked(value);
}

/// <summary>
/// Stochastic gradient descent as torch.optim.SGD:
/// <code>
/// g = grad + lambda theta                                   (when weight decay lambda != 0)
/// b = g at t = 1, else mu b + (1 - tau) g                   (when momentum mu != 0)
/// g = g + mu b (Nesterov) or g = b
/// theta = theta - lr g
/// </code>
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal sealed class Sgd<T> : OptimizerBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[]? _momentumBuffer;
    private readonly SgdUpdate<T> _update = new();

    /// <summary>Plain gradient descent, <c>theta &lt;- theta - lr g</c>, for a buffer of any length.</summary>
    public Sgd(double learningRate)
        : base(new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = learningRate }, OptimizerKind.Sgd, -1)
    {
    }

    /// <summary>Creates the optimiser; with momentum it keeps the buffer <c>momentum_buffer</c>.</summary>
    public Sgd(OptimizerSettings settings, int parameterCount)
        : base(settings, OptimizerKind.Sgd, parameterCount)
    {
        if (settings.Momentum != 0)
        {
            _momentumBuffer = AddBuffer("momentum_buffer");
        }
    }

    /// <inheritdoc/>
    protected override void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step) =>
        _update.Update(parameters, gradients, _momentumBuffer, LearningRate, Settings, first: step == 1);
}

/// <summary>The SGD update of <see cref="Sgd{T}"/>, vectorised and threaded (see <see cref="ParallelUpdate{T}"/>).</summary>
internal sealed unsafe class SgdUpdate<T> : ParallelUpdate<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[]? _momentumBuffer;
    private T _rate, _weightDecay, _momentum, _keep;
    private bool _decay, _first, _nesterov;

    public void Update(Span<T> parameters, ReadOnlySpan<T> gradients, T[]? momentumBuffer, double learningRate, OptimizerSettings settings, bool first)
    {
        _momentumBuffer = momentumBuffer;
        _rate = T.CreateChecked(learningRate);
        _weightDecay = T.CreateChecked(settings.EffectiveWeightDecay);
        _decay = settings.EffectiveWeightDecay != 0;
        _momentum = T.CreateChecked(settings.Momentum);
        _keep = T.CreateChecked(1 - settings.Dampening);
        _first = first;
        _nesterov = settings.Nesterov;
        Apply(parameters, gradients);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void UpdateRange(T* parameters, T* gradients, int start, int end)
    {
        fixed (T* buffer = _momentumBuffer)
        {
            UpdateWithBuffer(parameters, gradients, buffer, start, end);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void UpdateWithBuffer(T* parameters, T* gradients, T* buffer, int start, int end)
    {
        T rate = _rate, weightDecay = _weightDecay, momentum = _momentum, keep = _keep;
        bool decay = _decay, first = _first, nesterov = _nesterov;
        int i = start;

        // The same operations in 512-bit lanes where the CPU has them; the 256-bit and scalar loops finish the rest.
        if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
        {
            var rateV = Vector512.Create(rate);
            var weightDecayV = Vector512.Create(weightDecay);
            var momentumV = Vector512.Create(momentum);
            var keepV = Vector512.Create(keep);
            for (; i + Vector512<T>.Count <= end; i += Vector512<T>.Count)
            {
                var p = Vector512.Load(parameters + i);
                var g = Vector512.Load(gradients + i);
                if (decay)
                {
                    g += weightDecayV * p;
                }

                if (buffer != null)
                {
                    // torch starts the buffer at the (undampened) first gradient.
                    var b = first ? g : (Vector512.Load(buffer + i) * momentumV) + (keepV * g);
                    b.Store(buffer + i);
                    g = nesterov ? g + (momentumV * b) : b;
                }

                (p - (rateV * g)).Store(parameters + i);
            }
        }

        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
        {
            var rateV = Vector256.Create(rate);
            var weightDecayV = Vector256.Create(weightDecay);
            var momentumV = Vector256.Create(momentum);
            var keepV = Vector256.Create(keep);
            for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
            {
                var p = Vector256.Load(parameters + i);
                var g = Vector256.Load(gradients + i);
                if (decay)
                {
                    g += weightDecayV * p;
                }

                if (buffer != null)
                {
                    // torch starts the buffer at the (undampened) first gradient.
                    var b = first ? g : (Vector256.Load(buffer + i) * momentumV) + (keepV * g);
                    b.Store(buffer + i);
                    g = nesterov ? g + (momentumV * b) : b;
                }

                (p - (rateV * g)).Store(parameters + i);
            }
        }

        for (; i < end; i++)
        {
            T g = decay ? gradients[i] + (weightDecay * parameters[i]) : gradients[i];
            if (buffer != null)
            {
                T b = buffer[i] = first ? g : (buffer[i] * momentum) + (keep * g);
                g = nesterov ? g + (momentum * b) : b;
            }

            parameters[i] -= rate * g;
        }
    }
}

/// <summary>
/// Adagrad as torch.optim.Adagrad (buffer <c>sum</c>, starting at the initial accumulator value):
/// <code>
/// g = grad + lambda theta;   lr_t = lr / (1 + (t - 1) lr_decay)
/// sum = sum + g^2;           theta = theta - lr_t g / (sqrt(sum) + eps)
/// </code>
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal sealed class Adagrad<T> : OptimizerBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly AdagradUpdate<T> _update;

    /// <summary>Creates the optimiser.</summary>
    public Adagrad(OptimizerSettings settings, int parameterCount)
        : base(settings, OptimizerKind.Adagrad, parameterCount) =>
        _update = new AdagradUpdate<T>(AddBuffer("sum", settings.InitialAccumulatorValue));

    /// <inheritdoc/>
    protected override void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step) =>
        _update.Update(parameters, gradients, LearningRate / (1 + ((step - 1) * Settings.LearningRateDecay)), Settings);
}

/// <summary>
/// RMSprop as torch.optim.RMSprop (buffers <c>square_avg</c>, and <c>grad_avg</c> when centred,
/// <c>momentum_buffer</c> with momentum):
/// <code>
/// g = grad + lambda theta;          v = alpha v + (1 - alpha) g^2
/// centred: m = alpha m + (1 - alpha) g;   d = sqrt(v - m^2) + eps;   else d = sqrt(v) + eps
/// momentum mu &gt; 0: b = mu b + g / d;  theta = theta - lr b;   else theta = theta - lr g / d
/// </code>
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal sealed class RmsProp<T> : OptimizerBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly RmsPropUpdate<T> _update;

    /// <summary>Creates the optimiser.</summary>
    public RmsProp(OptimizerSettings settings, int parameterCount)
        : base(settings, OptimizerKind.RmsProp, parameterCount)
    {
        // Named and ordered as in torch's state dict.
        var squareAverage = AddBuffer("square_avg");
        var momentumBuffer = settings.Momentum > 0 ? AddBuffer("momentum_buffer") : null;
        var gradientAverage = settings.Centered ? AddBuffer("grad_avg") : null;
        _update = new RmsPropUpdate<T>(squareAverage, gradientAverage, momentumBuffer);
    }

    /// <inheritdoc/>
    protected override void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step) =>
        _update.Update(parameters, gradients, LearningRate, Settings);
}

/// <summary>
/// Adam as torch.optim.Adam (buffers <c>exp_avg</c>, <c>exp_avg_sq</c>, and <c>max_exp_avg_sq</c> with AMSGrad):
/// <code>
/// g = grad + lambda theta                      (L2 weight decay)
/// m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2;   AMSGrad: v_max = max(v_max, v), used for v
/// theta = theta - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// </code>
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal sealed class Adam<T> : OptimizerBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly AdamMoments<T> _moments;

    /// <summary>Creates the optimiser with zero moments.</summary>
    public Adam(double learningRate, int parameterCount, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
        : this(new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = learningRate, Beta1 = beta1, Beta2 = beta2, Epsilon = epsilon }, parameterCount)
    {
    }

    /// <summary>Creates the optimiser with zero moments.</summary>
    public Adam(OptimizerSettings settings, int parameterCount)
        : base(settings, OptimizerKind.Adam, parameterCount) =>
        _moments = new AdamMoments<T>(AddBuffer("exp_avg"), AddBuffer("exp_avg_sq"), settings.Amsgrad ? AddBuffer("max_exp_avg_sq") : null);

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 => Settings.Beta1;

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 => Settings.Beta2;

    /// <summary>Added to the denominator for stability.</summary>
    public double Epsilon => Settings.EffectiveEpsilon;

    /// <inheritdoc/>
    protected override void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step) =>
        _moments.Update(parameters, gradients, step, LearningRate, Settings, decoupled: false);
}

/// <summary>
/// AdamW as torch.optim.AdamW: Adam without L2 in the gradient but with decoupled weight decay
/// (default lambda = 0.01) applied first, <c>theta = theta (1 - lr lambda)</c>; buffers as Adam's.
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
internal sealed class AdamW<T> : OptimizerBase<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly AdamMoments<T> _moments;

    /// <summary>Creates the optimiser with zero moments.</summary>
    public AdamW(OptimizerSettings settings, int parameterCount)
        : base(settings, OptimizerKind.AdamW, parameterCount) =>
        _moments = new AdamMoments<T>(AddBuffer("exp_avg"), AddBuffer("exp_avg_sq"), settings.Amsgrad ? AddBuffer("max_exp_avg_sq") : null);

    /// <inheritdoc/>
    protected override void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step) =>
        _moments.Update(parameters, gradients, step, LearningRate, Settings, decoupled: true);
}

/// <summary>
/// The moment buffers and update shared by Adam and AdamW (torch's _single_tensor_adam / _single_tensor_adamw),
/// vectorised and split over the kernel threads.
/// </summary>
/// <remarks>
/// Each element's update is the same sequence of IEEE operations (no fused multiply-add) in the vector body,
/// the scalar tail and on every thread, so the result does not depend on the vector width or thread count.
/// See <see cref="ParallelUpdate{T}"/>.
/// </remarks>
internal sealed unsafe class AdamMoments<T>(T[] firstMoment, T[] secondMoment, T[]? maxSecondMoment) : ParallelUpdate<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _stepSize, _sqrtCorrection2, _epsilon, _l2, _shrink;
    private bool _coupledDecay, _decoupled;

    public void Update(Span<T> parameters, ReadOnlySpan<T> gradients, int step, double learningRate, OptimizerSettings settings, bool decoupled)
    {
        double weightDecay = settings.EffectiveWeightDecay;
        _beta1 = T.CreateChecked(settings.Beta1);
        _beta2 = T.CreateChecked(settings.Beta2);
        _oneMinusBeta1 = T.CreateChecked(1 - settings.Beta1);
        _oneMinusBeta2 = T.CreateChecked(1 - settings.Beta2);
        // torch computes the bias corrections in Python floats: step_size = lr / (1 - beta1^t),
        // denominator = sqrt(v) / sqrt(1 - beta2^t) + eps.
        _stepSize = T.CreateChecked(learningRate / (1 - Math.Pow(settings.Beta1, step)));
        _sqrtCorrection2 = T.CreateChecked(Math.Sqrt(1 - Math.Pow(settings.Beta2, step)));
        _epsilon = T.CreateChecked(settings.EffectiveEpsilon);
        _coupledDecay = !decoupled && weightDecay != 0;
        _decoupled = decoupled;
        _l2 = T.CreateChecked(weightDecay);
        _shrink = T.CreateChecked(1 - (learningRate * weightDecay));
        Apply(parameters, gradients);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void UpdateRange(T* parameters, T* gradients, int start, int end)
    {
        T beta1 = _beta1, beta2 = _beta2, oneMinusBeta1 = _oneMinusBeta1, oneMinusBeta2 = _oneMinusBeta2;
        T stepSize = _stepSize, sqrtCorrection2 = _sqrtCorrection2, epsilon = _epsilon, l2 = _l2, shrink = _shrink;
        bool coupledDecay = _coupledDecay, decoupled = _decoupled;
        fixed (T* first = firstMoment)
        fixed (T* second = secondMoment)
        fixed (T* maxSecond = maxSecondMoment)
        {
            int i = start;

            // The same operations in 512-bit lanes where the CPU has them; the 256-bit and scalar loops finish the rest.
            if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            {
                var beta1V = Vector512.Create(beta1);
                var beta2V = Vector512.Create(beta2);
                var oneMinusBeta1V = Vector512.Create(oneMinusBeta1);
                var oneMinusBeta2V = Vector512.Create(oneMinusBeta2);
                var stepSizeV = Vector512.Create(stepSize);
                var sqrtCorrection2V = Vector512.Create(sqrtCorrection2);
                var epsilonV = Vector512.Create(epsilon);
                var l2V = Vector512.Create(l2);
                var shrinkV = Vector512.Create(shrink);
                for (; i + Vector512<T>.Count <= end; i += Vector512<T>.Count)
                {
                    var p = Vector512.Load(parameters + i);
                    var g = Vector512.Load(gradients + i);
                    if (coupledDecay)
                    {
                        g += l2V * p;
                    }
                    else if (decoupled)
                    {
                        p *= shrinkV;
                    }

                    var m = (Vector512.Load(first + i) * beta1V) + (oneMinusBeta1V * g);
                    var v = (Vector512.Load(second + i) * beta2V) + (oneMinusBeta2V * g * g);
                    m.Store(first + i);
                    v.Store(second + i);
                    if (maxSecond != null)
                    {
                        v = Vector512.Max(Vector512.Load(maxSecond + i), v);
                        v.Store(maxSecond + i);
                    }

                    p -= stepSizeV * (m / ((Vector512.Sqrt(v) / sqrtCorrection2V) + epsilonV));
                    p.Store(parameters + i);
                }
            }

            if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            {
                var beta1V = Vector256.Create(beta1);
                var beta2V = Vector256.Create(beta2);
                var oneMinusBeta1V = Vector256.Create(oneMinusBeta1);
                var oneMinusBeta2V = Vector256.Create(oneMinusBeta2);
                var stepSizeV = Vector256.Create(stepSize);
                var sqrtCorrection2V = Vector256.Create(sqrtCorrection2);
                var epsilonV = Vector256.Create(epsilon);
                var l2V = Vector256.Create(l2);
                var shrinkV = Vector256.Create(shrink);
                for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
                {
                    var p = Vector256.Load(parameters + i);
                    var g = Vector256.Load(gradients + i);
                    if (coupledDecay)
                    {
                        g += l2V * p;
                    }
                    else if (decoupled)
                    {
                        p *= shrinkV;
                    }

                    var m = (Vector256.Load(first + i) * beta1V) + (oneMinusBeta1V * g);
                    var v = (Vector256.Load(second + i) * beta2V) + (oneMinusBeta2V * g * g);
                    m.Store(first + i);
                    v.Store(second + i);
                    if (maxSecond != null)
                    {
                        v = Vector256.Max(Vector256.Load(maxSecond + i), v);
                        v.Store(maxSecond + i);
                    }

                    p -= stepSizeV * (m / ((Vector256.Sqrt(v) / sqrtCorrection2V) + epsilonV));
                    p.Store(parameters + i);
                }
            }

            for (; i < end; i++)
            {
                T g = gradients[i];
                if (coupledDecay)
                {
                    g += l2 * parameters[i];
                }
                else if (decoupled)
                {
                    parameters[i] *= shrink;
                }

                T m = first[i] = (first[i] * beta1) + (oneMinusBeta1 * g);
                T v = second[i] = (second[i] * beta2) + (oneMinusBeta2 * g * g);
                if (maxSecond != null)
                {
                    v = maxSecond[i] = T.Max(maxSecond[i], v);
                }

                parameters[i] -= stepSize * (m / ((T.Sqrt(v) / sqrtCorrection2) + epsilon));
            }
        }
    }
}

/// <summary>
/// An element-wise optimiser update split over the kernel threads in whole Vector256 lanes (the last part
/// also takes the scalar tail). Each derived rule performs the scalar rule's operations in its order in
/// both its vector and scalar loops (no fused multiply-add), so the result does not depend on the vector
/// width or the thread count. The update object is the job handed to the worker pool: nothing is allocated.
/// </summary>
internal abstract unsafe class ParallelUpdate<T> : IParallelJob
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T* _parameters, _gradients;
    private int _length;

    /// <summary>Runs the update over every element.</summary>
    public void Run(int part, int parts)
    {
        int lanes = Vector256<T>.IsSupported ? Vector256<T>.Count : 1;
        var (first, end) = ParallelReductions.Split((_length + lanes - 1) / lanes, part, parts);
        UpdateRange(_parameters, _gradients, first * lanes, Math.Min(_length, end * lanes));
    }

    /// <summary>Pins the spans and runs <see cref="UpdateRange"/> over them on the kernel threads.</summary>
    protected void Apply(Span<T> parameters, ReadOnlySpan<T> gradients)
    {
        _length = parameters.Length;
        fixed (T* p = parameters)
        fixed (T* g = gradients)
        {
            _parameters = p;
            _gradients = g;
            try
            {
                WorkerPool.Run(this, ParallelReductions.PartsFor(_length));
            }
            finally
            {
                _parameters = _gradients = null;
            }
        }
    }

    /// <summary>Updates elements [start, end).</summary>
    protected abstract void UpdateRange(T* parameters, T* gradients, int start, int end);
}

/// <summary>The Adagrad update of <see cref="Adagrad{T}"/>, vectorised and threaded (see <see cref="ParallelUpdate{T}"/>).</summary>
internal sealed unsafe class AdagradUpdate<T>(T[] sum) : ParallelUpdate<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T _rate, _weightDecay, _epsilon;
    private bool _decay;

    public void Update(Span<T> parameters, ReadOnlySpan<T> gradients, double rate, OptimizerSettings settings)
    {
        _rate = T.CreateChecked(rate);
        _weightDecay = T.CreateChecked(settings.EffectiveWeightDecay);
        _decay = settings.EffectiveWeightDecay != 0;
        _epsilon = T.CreateChecked(settings.EffectiveEpsilon);
        Apply(parameters, gradients);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void UpdateRange(T* parameters, T* gradients, int start, int end)
    {
        T rate = _rate, weightDecay = _weightDecay, epsilon = _epsilon;
        bool decay = _decay;
        fixed (T* sums = sum)
        {
            int i = start;

            // The same operations in 512-bit lanes where the CPU has them; the 256-bit and scalar loops finish the rest.
            if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            {
                var rateV = Vector512.Create(rate);
                var weightDecayV = Vector512.Create(weightDecay);
                var epsilonV = Vector512.Create(epsilon);
                for (; i + Vector512<T>.Count <= end; i += Vector512<T>.Count)
                {
                    var p = Vector512.Load(parameters + i);
                    var g = Vector512.Load(gradients + i);
                    if (decay)
                    {
                        g += weightDecayV * p;
                    }

                    var s = Vector512.Load(sums + i) + (g * g);
                    s.Store(sums + i);
                    (p - (rateV * (g / (Vector512.Sqrt(s) + epsilonV)))).Store(parameters + i);
                }
            }

            if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            {
                var rateV = Vector256.Create(rate);
                var weightDecayV = Vector256.Create(weightDecay);
                var epsilonV = Vector256.Create(epsilon);
                for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
                {
                    var p = Vector256.Load(parameters + i);
                    var g = Vector256.Load(gradients + i);
                    if (decay)
                    {
                        g += weightDecayV * p;
                    }

                    var s = Vector256.Load(sums + i) + (g * g);
                    s.Store(sums + i);
                    (p - (rateV * (g / (Vector256.Sqrt(s) + epsilonV)))).Store(parameters + i);
                }
            }

            for (; i < end; i++)
            {
                T g = decay ? gradients[i] + (weightDecay * parameters[i]) : gradients[i];
                T s = sums[i] += g * g;
                parameters[i] -= rate * (g / (T.Sqrt(s) + epsilon));
            }
        }
    }
}

/// <summary>The RMSprop update of <see cref="RmsProp{T}"/>, vectorised and threaded (see <see cref="ParallelUpdate{T}"/>).</summary>
internal sealed unsafe class RmsPropUpdate<T>(T[] squareAverage, T[]? gradientAverage, T[]? momentumBuffer) : ParallelUpdate<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private T _rate, _weightDecay, _alpha, _oneMinusAlpha, _epsilon, _momentum;
    private bool _decay;

    public void Update(Span<T> parameters, ReadOnlySpan<T> gradients, double learningRate, OptimizerSettings settings)
    {
        _rate = T.CreateChecked(learningRate);
        _weightDecay = T.CreateChecked(settings.EffectiveWeightDecay);
        _decay = settings.EffectiveWeightDecay != 0;
        _alpha = T.CreateChecked(settings.Alpha);
        _oneMinusAlpha = T.CreateChecked(1 - settings.Alpha);
        _epsilon = T.CreateChecked(settings.EffectiveEpsilon);
        _momentum = T.CreateChecked(settings.Momentum);
        Apply(parameters, gradients);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void UpdateRange(T* parameters, T* gradients, int start, int end)
    {
        T rate = _rate, weightDecay = _weightDecay, alpha = _alpha, oneMinusAlpha = _oneMinusAlpha, epsilon = _epsilon, momentum = _momentum;
        bool decay = _decay;
        fixed (T* square = squareAverage)
        fixed (T* mean = gradientAverage)
        fixed (T* buffer = momentumBuffer)
        {
            int i = start;

            // The same operations in 512-bit lanes where the CPU has them; the 256-bit and scalar loops finish the rest.
            if (Vector512.IsHardwareAccelerated && Vector512<T>.IsSupported)
            {
                var rateV = Vector512.Create(rate);
                var weightDecayV = Vector512.Create(weightDecay);
                var alphaV = Vector512.Create(alpha);
                var oneMinusAlphaV = Vector512.Create(oneMinusAlpha);
                var epsilonV = Vector512.Create(epsilon);
                var momentumV = Vector512.Create(momentum);
                for (; i + Vector512<T>.Count <= end; i += Vector512<T>.Count)
                {
                    var p = Vector512.Load(parameters + i);
                    var g = Vector512.Load(gradients + i);
                    if (decay)
                    {
                        g += weightDecayV * p;
                    }

                    var v = (Vector512.Load(square + i) * alphaV) + (oneMinusAlphaV * g * g);
                    v.Store(square + i);
                    if (mean != null)
                    {
                        var m = (Vector512.Load(mean + i) * alphaV) + (oneMinusAlphaV * g);
                        m.Store(mean + i);
                        v -= m * m;
                    }

                    var denominator = Vector512.Sqrt(v) + epsilonV;
                    if (buffer != null)
                    {
                        var b = (Vector512.Load(buffer + i) * momentumV) + (g / denominator);
                        b.Store(buffer + i);
                        p -= rateV * b;
                    }
                    else
                    {
                        p -= rateV * (g / denominator);
                    }

                    p.Store(parameters + i);
                }
            }

            if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            {
                var rateV = Vector256.Create(rate);
                var weightDecayV = Vector256.Create(weightDecay);
                var alphaV = Vector256.Create(alpha);
                var oneMinusAlphaV = Vector256.Create(oneMinusAlpha);
                var epsilonV = Vector256.Create(epsilon);
                var momentumV = Vector256.Create(momentum);
                for (; i + Vector256<T>.Count <= end; i += Vector256<T>.Count)
                {
                    var p = Vector256.Load(parameters + i);
                    var g = Vector256.Load(gradients + i);
                    if (decay)
                    {
                        g += weightDecayV * p;
                    }

                    var v = (Vector256.Load(square + i) * alphaV) + (oneMinusAlphaV * g * g);
                    v.Store(square + i);
                    if (mean != null)
                    {
                        var m = (Vector256.Load(mean + i) * alphaV) + (oneMinusAlphaV * g);
                        m.Store(mean + i);
                        v -= m * m;
                    }

                    var denominator = Vector256.Sqrt(v) + epsilonV;
                    if (buffer != null)
                    {
                        var b = (Vector256.Load(buffer + i) * momentumV) + (g / denominator);
                        b.Store(buffer + i);
                        p -= rateV * b;
                    }
                    else
                    {
                        p -= rateV * (g / denominator);
                    }

                    p.Store(parameters + i);
                }
            }

            for (; i < end; i++)
            {
                T g = decay ? gradients[i] + (weightDecay * parameters[i]) : gradients[i];
                T v = square[i] = (square[i] * alpha) + (oneMinusAlpha * g * g);
                if (mean != null)
                {
                    T m = mean[i] = (mean[i] * alpha) + (oneMinusAlpha * g);
                    v -= m * m;
                }

                T denominator = T.Sqrt(v) + epsilon;
                if (buffer != null)
                {
                    T b = buffer[i] = (buffer[i] * momentum) + (g / denominator);
                    parameters[i] -= rate * b;
                }
                else
                {
                    parameters[i] -= rate * (g / denominator);
                }
            }
        }
    }
}
