namespace Unroll.Training;

/// <summary>How the learning rate changes over a run.</summary>
public enum LearningRateSchedule
{
    /// <summary>The same rate at every step.</summary>
    Constant,

    /// <summary>
    /// Cosine annealing to zero over the run (Loshchilov and Hutter 2017, as
    /// torch.optim.lr_scheduler.CosineAnnealingLR with T_max = steps, eta_min = 0):
    /// <c>lr_s = lr * (1 + cos(pi (s - 1) / S)) / 2</c> for step s = 1..S.
    /// </summary>
    Cosine,
}

/// <summary>Evaluates and parses learning-rate schedules.</summary>
public static class LearningRateSchedules
{
    /// <summary>The learning rate at 1-based <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public static double RateAt(LearningRateSchedule schedule, double baseRate, int step, int totalSteps) => schedule switch
    {
        LearningRateSchedule.Constant => baseRate,
        LearningRateSchedule.Cosine => baseRate * 0.5 * (1 + Math.Cos(Math.PI * (step - 1) / totalSteps)),
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown schedule."),
    };

    /// <summary>Parses a schedule name (constant, cosine).</summary>
    /// <exception cref="UnrollException">Unknown name.</exception>
    public static LearningRateSchedule Parse(string name) => name.Trim().ToUpperInvariant() switch
    {
        "CONSTANT" => LearningRateSchedule.Constant,
        "COSINE" => LearningRateSchedule.Cosine,
        _ => throw new UnrollException($"lr-schedule: expected constant or cosine, got '{name}'."),
    };
}
