using Unroll.Training;
namespace Unroll.Data;

/// <summary>
/// Forecasting baselines for the oscillator data, each a mean squared error over the predicted
/// position x only, averaged over every (sequence, step) pair counted. A trained network should beat
/// persistence; the Euler oracles show what the notes' discretised model itself achieves against the
/// (RK4) ground truth.
/// </summary>
internal static class OscillatorBaselines
{
    /// <summary>
    /// One-step persistence: predict <c>x_{t+1} = x_t</c>. Returns
    /// <c>1/(N T) sum_n sum_{t=0..T-1} (x_next[n,t] - x[n,t])^2</c> over the set's "x" input and "x_next" target columns.
    /// </summary>
    /// <exception cref="UnrollException">The set has no "x" input or no "x_next" target column.</exception>
    public static double PersistenceOneStepMse(SequenceSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        int xColumn = set.InputColumn(OscillatorDataset.PositionColumn);
        int nextColumn = set.TargetColumn(OscillatorDataset.NextPositionColumn);
        if (set.Count == 0)
        {
            return double.NaN;
        }

        double sum = 0.0;
        for (int n = 0; n < set.Count; n++)
        {
            for (int t = 0; t < set.Length; t++)
            {
                double error = set.Target(n, t, nextColumn) - set.Input(n, t, xColumn);
                sum += error * error;
            }
        }

        return sum / ((double)set.Count * set.Length);
    }

    /// <summary>
    /// Free-running persistence: predict <c>x_0</c> for every future step. Returns
    /// <c>1/(N H) sum_n sum_{k=1..H} (x_k - x_0)^2</c> with H = <paramref name="horizon"/>.
    /// </summary>
    /// <exception cref="UnrollException">The horizon is not in 1..Steps of every trajectory.</exception>
    public static double PersistenceFreeRunMse(IReadOnlyList<Trajectory> trajectories, int horizon)
    {
        CheckTrajectories(trajectories, horizon);
        double sum = 0.0;
        foreach (Trajectory trajectory in trajectories)
        {
            double x0 = trajectory.X[0];
            for (int k = 1; k <= horizon; k++)
            {
                double error = trajectory.X[k] - x0;
                sum += error * error;
            }
        }

        return Mean(sum, trajectories.Count, horizon);
    }

    /// <summary>
    /// One-step explicit-Euler oracle: knowing the true state <c>(x_t, v_t)</c> and force, take one explicit
    /// Euler step and compare its position with the truth. Returns
    /// <c>1/(N T) sum_n sum_{t=0..T-1} (x_{t+1} - (x_t + dt v_t))^2</c>, T = each trajectory's Steps.
    /// </summary>
    /// <remarks>
    /// The Euler position update <c>x_{t+1} = x_t + dt v_t</c> does not involve m, eta or F; they are
    /// validated and kept in the signature so the oracle names the whole model it stands for.
    /// </remarks>
    /// <exception cref="UnrollException">A parameter is invalid.</exception>
    public static double EulerOneStepMse(IReadOnlyList<Trajectory> trajectories, double mass, double damping, double dt)
    {
        Oscillator.CheckSystem(mass, damping, dt);
        ArgumentNullException.ThrowIfNull(trajectories);
        double sum = 0.0;
        long terms = 0;
        foreach (Trajectory trajectory in trajectories)
        {
            ArgumentNullException.ThrowIfNull(trajectory);
            for (int t = 0; t < trajectory.Steps; t++)
            {
                double predicted = trajectory.X[t] + (dt * trajectory.V[t]);
                double error = trajectory.X[t + 1] - predicted;
                sum += error * error;
            }

            terms += trajectory.Steps;
        }

        return terms == 0 ? double.NaN : sum / terms;
    }

    /// <summary>
    /// Free-running explicit Euler: start from the true <c>(x_0, v_0)</c>, apply
    /// <c>x_{k+1} = x_k + dt v_k</c>, <c>v_{k+1} = v_k + dt (F_k/m - (eta/m) v_k - (1/m) x_k)</c> with the
    /// trajectory's true force <c>F_k</c>, never looking at the true state again. Returns
    /// <c>1/(N H) sum_n sum_{k=1..H} (x_k - x^_k)^2</c> with H = <paramref name="horizon"/>.
    /// </summary>
    /// <exception cref="UnrollException">A parameter is invalid, or the horizon is not in 1..Steps of every trajectory.</exception>
    public static double EulerFreeRunMse(IReadOnlyList<Trajectory> trajectories, double mass, double damping, double dt, int horizon)
    {
        Oscillator.CheckSystem(mass, damping, dt);
        CheckTrajectories(trajectories, horizon);
        double alpha = damping / mass;
        double delta = 1.0 / mass;
        double sum = 0.0;
        foreach (Trajectory trajectory in trajectories)
        {
            double x = trajectory.X[0];
            double v = trajectory.V[0];
            for (int k = 0; k < horizon; k++)
            {
                double nextX = x + (dt * v);
                double nextV = v + (dt * ((trajectory.Force[k] / mass) - (alpha * v) - (delta * x)));
                x = nextX;
                v = nextV;
                double error = trajectory.X[k + 1] - x;
                sum += error * error;
            }
        }

        return Mean(sum, trajectories.Count, horizon);
    }

    private static void CheckTrajectories(IReadOnlyList<Trajectory> trajectories, int horizon)
    {
        ArgumentNullException.ThrowIfNull(trajectories);
        int shortest = int.MaxValue;
        foreach (Trajectory trajectory in trajectories)
        {
            ArgumentNullException.ThrowIfNull(trajectory);
            shortest = Math.Min(shortest, trajectory.Steps);
        }

        if (horizon < 1 || horizon > shortest)
        {
            string limit = trajectories.Count == 0 ? "the trajectories' steps" : shortest.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new UnrollException($"horizon: expected a number of steps in 1..{limit}, got {horizon}.");
        }
    }

    private static double Mean(double sum, int count, int horizon) =>
        count == 0 ? double.NaN : sum / ((double)count * horizon);
}
