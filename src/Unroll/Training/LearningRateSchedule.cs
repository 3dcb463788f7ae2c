using System.Globalization;

namespace Unroll.Training;

/// <summary>How the learning rate changes over a run (after an optional linear warm-up, see <see cref="ScheduleSettings"/>).</summary>
public enum LearningRateSchedule
{
    /// <summary>The same rate at every step.</summary>
    Constant,

    /// <summary>
    /// Cosine annealing (Loshchilov and Hutter 2017) as torch.optim.lr_scheduler.CosineAnnealingLR with
    /// T_max = the steps after warm-up, S: <c>lr_s = eta_min + (lr - eta_min) (1 + cos(pi (s - 1) / S)) / 2</c>
    /// for step s = 1..S.
    /// </summary>
    Cosine,

    /// <summary>
    /// Step decay as torch.optim.lr_scheduler.StepLR: <c>lr_s = lr gamma^floor((s - 1) / step_size)</c>.
    /// </summary>
    Step,

    /// <summary>
    /// Linear decay over the steps after warm-up, S, as torch.optim.lr_scheduler.PolynomialLR(total_iters = S,
    /// power = 1) with a floor: <c>lr_s = eta_min + (lr - eta_min) (1 - (s - 1) / S)</c> for step s = 1..S. Against
    /// cosine over the same steps it is lower through the first half and higher through the second, and meets the floor
    /// at a constant slope instead of flattening onto it (Bergsma et al. 2025, "Straight to zero: why linearly decaying
    /// the learning rate to zero works best").
    /// </summary>
    Linear,
}

/// <summary>
/// A learning-rate schedule with torch.optim.lr_scheduler's semantics. The rate used at step s (1-based)
/// is the scheduler's value after s - 1 calls of <c>scheduler.step()</c>. With <see cref="WarmupSteps"/>
/// W &gt; 0 the schedule is torch's <c>SequentialLR([LinearLR(start_factor, total_iters=W), main], milestones=[W])</c>:
/// the first W steps ramp linearly from <c>start_factor lr</c> towards <c>lr</c>, and the base schedule
/// then starts afresh (its own step 1 is step W + 1 of the run; the cosine anneals over the remaining
/// steps).
/// </summary>
public sealed record ScheduleSettings
{
    /// <summary>The schedule after warm-up.</summary>
    public LearningRateSchedule Kind { get; init; } = LearningRateSchedule.Constant;

    /// <summary>Step schedule only: multiply the rate by <see cref="Gamma"/> every this many steps (torch: step_size), &gt;= 1.</summary>
    public int StepSize { get; init; }

    /// <summary>Step schedule only: the factor applied every <see cref="StepSize"/> steps (torch's default 0.1), &gt; 0.</summary>
    public double Gamma { get; init; } = 0.1;

    /// <summary>Cosine and linear schedules only: the rate reached at the end (torch: eta_min), an absolute rate &gt;= 0.</summary>
    public double MinRate { get; init; }

    /// <summary>Steps of linear warm-up before the base schedule, &gt;= 0 (0: none).</summary>
    public int WarmupSteps { get; init; }

    /// <summary>The fraction of the base rate used at the first warm-up step (torch LinearLR's start_factor, default 1/3), in (0, 1].</summary>
    public double WarmupStartFactor { get; init; } = 1.0 / 3;

    /// <summary>Checks every setting against its range, the schedule kind and the length of the run.</summary>
    /// <param name="totalSteps">The optimiser steps in the run, &gt;= 1.</param>
    /// <exception cref="UnrollException">A setting is out of range or does not apply to <see cref="Kind"/>.</exception>
    public void Validate(int totalSteps)
    {
        if (!Enum.IsDefined(Kind))
        {
            throw new UnrollException($"lr-schedule: expected {LearningRateSchedules.Names}, got {(int)Kind}.");
        }

        if (totalSteps < 1)
        {
            throw new UnrollException($"steps: expected at least 1, got {totalSteps}.");
        }

        string kind = LearningRateSchedules.Name(Kind);
        if (Kind == LearningRateSchedule.Step && StepSize < 1)
        {
            throw new UnrollException($"lr-step: expected a step size >= 1 for the step schedule, got {StepSize}.");
        }

        if (Kind != LearningRateSchedule.Step && StepSize != 0)
        {
            throw new UnrollException($"lr-step: expected only with the step schedule, got it with {kind}.");
        }

        if (!(Gamma > 0) || double.IsInfinity(Gamma))
        {
            throw new UnrollException($"lr-gamma: expected a finite factor > 0, got {Format(Gamma)}.");
        }

        if (Kind != LearningRateSchedule.Step && Gamma != 0.1)
        {
            throw new UnrollException($"lr-gamma: expected only with the step schedule, got it with {kind}.");
        }

        if (!(MinRate >= 0) || double.IsInfinity(MinRate))
        {
            throw new UnrollException($"lr-min: expected a finite rate >= 0, got {Format(MinRate)}.");
        }

        if (Kind is not (LearningRateSchedule.Cosine or LearningRateSchedule.Linear) && MinRate != 0)
        {
            throw new UnrollException($"lr-min: expected only with the cosine and linear schedules, got it with {kind}.");
        }

        if (WarmupSteps < 0)
        {
            throw new UnrollException($"warmup: expected a number of steps >= 0, got {WarmupSteps}.");
        }

        // torch's LinearLR divides by the start factor, so 0 is not usable.
        if (!(WarmupStartFactor > 0 && WarmupStartFactor <= 1))
        {
            throw new UnrollException($"warmup-start: expected a factor in (0, 1], got {Format(WarmupStartFactor)}.");
        }

        if (WarmupSteps == 0 && WarmupStartFactor != 1.0 / 3)
        {
            throw new UnrollException("warmup-start: expected only with warmup > 0, got it without warm-up.");
        }

        if (Kind is LearningRateSchedule.Cosine or LearningRateSchedule.Linear && WarmupSteps >= totalSteps)
        {
            throw new UnrollException(
                $"warmup: expected fewer warm-up steps than the {totalSteps} steps of the run for the {kind} schedule, got {WarmupSteps}.");
        }
    }

    /// <summary>The learning rate at 1-based <paramref name="step"/> of a run of <paramref name="totalSteps"/> steps.</summary>
    /// <param name="baseRate">The optimiser's initial learning rate (torch: the param group's initial lr).</param>
    /// <param name="step">The step about to be taken, 1-based.</param>
    /// <param name="totalSteps">The steps in the run (sets the cosine's period).</param>
    /// <returns>torch's closed form of the scheduled rate after <paramref name="step"/> - 1 scheduler steps.</returns>
    /// <exception cref="UnrollException">The settings are invalid for a run of <paramref name="totalSteps"/> steps.</exception>
    public double RateAt(double baseRate, int step, int totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        Validate(totalSteps);
        int epoch = step - 1;
        if (epoch < WarmupSteps)
        {
            // LinearLR: base * (start + (end - start) * min(total_iters, epoch) / total_iters), end = 1.
            return baseRate * (WarmupStartFactor + ((1 - WarmupStartFactor) * epoch / WarmupSteps));
        }

        // SequentialLR restarts the base schedule at the milestone with step(0).
        epoch -= WarmupSteps;
        int period = totalSteps - WarmupSteps;
        return Kind switch
        {
            LearningRateSchedule.Constant => baseRate,
            LearningRateSchedule.Step => baseRate * Math.Pow(Gamma, epoch / StepSize),
            LearningRateSchedule.Cosine => MinRate + ((baseRate - MinRate) * (1 + Math.Cos(Math.PI * epoch / period)) / 2),
            LearningRateSchedule.Linear => MinRate + ((baseRate - MinRate) * (1 - ((double)Math.Min(epoch, period) / period))),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "Unknown schedule."),
        };
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>Evaluates and parses learning-rate schedules.</summary>
internal static class LearningRateSchedules
{
    /// <summary>The accepted names, for messages and help text.</summary>
    public const string Names = "constant, step, cosine or linear";

    /// <summary>
    /// The learning rate at 1-based <paramref name="step"/> of <paramref name="totalSteps"/> for a schedule with
    /// torch's defaults and no warm-up (cosine: eta_min = 0). The step schedule needs a step size: use
    /// <see cref="ScheduleSettings.RateAt"/>.
    /// </summary>
    /// <exception cref="UnrollException">The schedule needs settings this overload cannot give.</exception>
    public static double RateAt(LearningRateSchedule schedule, double baseRate, int step, int totalSteps) =>
        new ScheduleSettings { Kind = schedule }.RateAt(baseRate, step, totalSteps);

    /// <summary>The learning rate at 1-based <paramref name="step"/> of <paramref name="totalSteps"/> (see <see cref="ScheduleSettings.RateAt"/>).</summary>
    /// <exception cref="UnrollException">The settings are invalid.</exception>
    public static double RateAt(ScheduleSettings schedule, double baseRate, int step, int totalSteps)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return schedule.RateAt(baseRate, step, totalSteps);
    }

    /// <summary>Parses a schedule name (constant, step, cosine, linear; case-insensitive).</summary>
    /// <exception cref="UnrollException">Unknown name.</exception>
    public static LearningRateSchedule Parse(string name) => name.Trim().ToUpperInvariant() switch
    {
        "CONSTANT" => LearningRateSchedule.Constant,
        "COSINE" => LearningRateSchedule.Cosine,
        "STEP" => LearningRateSchedule.Step,
        "LINEAR" => LearningRateSchedule.Linear,
        _ => throw new UnrollException($"lr-schedule: expected {Names}, got '{name}'."),
    };

    /// <summary>The name <see cref="Parse"/> accepts for <paramref name="schedule"/> (lower case).</summary>
    public static string Name(LearningRateSchedule schedule) => schedule switch
    {
        LearningRateSchedule.Constant => "constant",
        LearningRateSchedule.Cosine => "cosine",
        LearningRateSchedule.Step => "step",
        LearningRateSchedule.Linear => "linear",
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown schedule."),
    };
}
