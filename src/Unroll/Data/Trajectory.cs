namespace Unroll.Data;

/// <summary>
/// A simulated run of the oscillator: the state and the force at the times <c>t_i = i dt</c>,
/// <c>i = 0..Steps</c>. Every array has <c>Steps + 1</c> elements.
/// </summary>
internal sealed class Trajectory
{
    /// <summary>Wraps arrays already computed (by <see cref="Oscillator.Simulate"/> or by hand).</summary>
    /// <param name="parameters">The parameters the trajectory was produced with; <see cref="OscillatorParameters.Steps"/> fixes the length.</param>
    /// <param name="time">t_i.</param>
    /// <param name="x">x_i, the position.</param>
    /// <param name="v">v_i, the velocity.</param>
    /// <param name="force">F_i, the force at t_i (for noise, the value held over [t_i, t_{i+1})).</param>
    /// <exception cref="ArgumentException">An array does not have <c>Steps + 1</c> elements.</exception>
    public Trajectory(OscillatorParameters parameters, double[] time, double[] x, double[] v, double[] force)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(force);
        int points = parameters.Steps + 1;
        if (time.Length != points || x.Length != points || v.Length != points || force.Length != points)
        {
            throw new ArgumentException(
                $"Expected {points} points (steps + 1) in time, x, v and force, got {time.Length}, {x.Length}, {v.Length}, {force.Length}.");
        }

        Parameters = parameters;
        Time = time;
        X = x;
        V = v;
        Force = force;
    }

    /// <summary>The parameters used.</summary>
    public OscillatorParameters Parameters { get; }

    /// <summary>The number of integration steps; the arrays have <c>Steps + 1</c> points.</summary>
    public int Steps => Parameters.Steps;

    /// <summary>t_i = i dt.</summary>
    public double[] Time { get; }

    /// <summary>x_i, the position at t_i.</summary>
    public double[] X { get; }

    /// <summary>v_i, the velocity at t_i.</summary>
    public double[] V { get; }

    /// <summary>F_i, the force at t_i; for noise forcing, the value held constant over [t_i, t_{i+1}).</summary>
    public double[] Force { get; }
}
