using System.CommandLine;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>The optimiser and learning-rate schedule options (see docs/training.md).</summary>
internal sealed class OptimizerCliOptions
{
    private static readonly OptimizerSettings OptimizerDefaults = new() { Kind = OptimizerKind.Adam, LearningRate = 0.01 };
    private static readonly ScheduleSettings ScheduleDefaults = new();

    public Option<string> Optimizer { get; } = Options.Make("--optimizer", $"Optimiser: {Optimizers.Names}", "adam");

    /// <summary>The options, with <paramref name="learningRate"/> as the default of --lr (tasks differ in what trains well).</summary>
    public OptimizerCliOptions(double? learningRate = null) =>
        LearningRate = Options.Make("--lr", "Base learning rate", learningRate ?? OptimizerDefaults.LearningRate);

    public Option<double> LearningRate { get; }

    public Option<double> Momentum { get; } = Options.Make("--momentum", "Momentum (sgd, rmsprop)", OptimizerDefaults.Momentum);

    public Option<double> Dampening { get; } = Options.Make("--dampening", "Dampening of the momentum (sgd)", OptimizerDefaults.Dampening);

    public Option<bool> Nesterov { get; } = Options.Make("--nesterov", "Nesterov momentum (sgd)", false);

    public Option<double?> WeightDecay { get; } = Options.Optional<double>("--weight-decay", "Weight decay: L2 added to the gradient, or decoupled for adamw (default 0; 0.01 for adamw)");

    public Option<double> Beta1 { get; } = Options.Make("--beta1", "First-moment decay (adam, adamw)", OptimizerDefaults.Beta1);

    public Option<double> Beta2 { get; } = Options.Make("--beta2", "Second-moment decay (adam, adamw)", OptimizerDefaults.Beta2);

    public Option<double?> Epsilon { get; } = Options.Optional<double>("--eps", "Added to denominators (default 1e-8; 1e-10 for adagrad)");

    public Option<bool> Amsgrad { get; } = Options.Make("--amsgrad", "AMSGrad variant (adam, adamw)", false);

    public Option<double> Alpha { get; } = Options.Make("--alpha", "Smoothing of the squared gradient (rmsprop)", OptimizerDefaults.Alpha);

    public Option<bool> Centered { get; } = Options.Make("--centered", "Centred RMSProp (rmsprop)", false);

    public Option<double> LearningRateDecay { get; } = Options.Make("--lr-decay", "Learning-rate decay (adagrad)", OptimizerDefaults.LearningRateDecay);

    public Option<double> InitialAccumulator { get; } = Options.Make("--initial-accumulator", "Initial accumulator value (adagrad)", OptimizerDefaults.InitialAccumulatorValue);

    public Option<string> Schedule { get; } = Options.Make("--lr-schedule", $"Learning-rate schedule: {LearningRateSchedules.Names}", "cosine");

    public Option<int> StepSize { get; } = Options.Make("--lr-step", "Steps between decays (step schedule)", ScheduleDefaults.StepSize);

    public Option<double> Gamma { get; } = Options.Make("--lr-gamma", "Decay factor (step schedule)", ScheduleDefaults.Gamma);

    public Option<double> MinRate { get; } = Options.Make("--lr-min", "Final learning rate (cosine schedule)", ScheduleDefaults.MinRate);

    public Option<int> Warmup { get; } = Options.Make("--warmup", "Linear warm-up steps before the schedule", ScheduleDefaults.WarmupSteps);

    public Option<double> WarmupStart { get; } = Options.Make("--warmup-start", "Warm-up's starting fraction of the learning rate", ScheduleDefaults.WarmupStartFactor);

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[]
        {
            Optimizer, LearningRate, Momentum, Dampening, Nesterov, WeightDecay, Beta1, Beta2, Epsilon, Amsgrad, Alpha, Centered,
            LearningRateDecay, InitialAccumulator, Schedule, StepSize, Gamma, MinRate, Warmup, WarmupStart,
        })
        {
            command.Add(option);
        }
    }

    public OptimizerSettings ReadOptimizer(ParseResult parse) => new()
    {
        Kind = Optimizers.Parse(parse.GetValue(Optimizer)!),
        LearningRate = parse.GetValue(LearningRate),
        Momentum = parse.GetValue(Momentum),
        Dampening = parse.GetValue(Dampening),
        Nesterov = parse.GetValue(Nesterov),
        WeightDecay = parse.GetValue(WeightDecay),
        Beta1 = parse.GetValue(Beta1),
        Beta2 = parse.GetValue(Beta2),
        Epsilon = parse.GetValue(Epsilon),
        Amsgrad = parse.GetValue(Amsgrad),
        Alpha = parse.GetValue(Alpha),
        Centered = parse.GetValue(Centered),
        LearningRateDecay = parse.GetValue(LearningRateDecay),
        InitialAccumulatorValue = parse.GetValue(InitialAccumulator),
    };

    public ScheduleSettings ReadSchedule(ParseResult parse) => new()
    {
        Kind = LearningRateSchedules.Parse(parse.GetValue(Schedule)!),
        StepSize = parse.GetValue(StepSize),
        Gamma = parse.GetValue(Gamma),
        MinRate = parse.GetValue(MinRate),
        WarmupSteps = parse.GetValue(Warmup),
        WarmupStartFactor = parse.GetValue(WarmupStart),
    };
}
