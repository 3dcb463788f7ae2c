namespace Unroll.Data;

/// <summary>
/// The damped, driven oscillator <c>m x'' + eta x' + x = F(t)</c> with <c>v = x'</c>, written as the
/// first-order system <c>x' = v</c>, <c>v' = F(t)/m - (eta/m) v - (1/m) x</c> (the notes' alpha = eta/m,
/// delta = 1/m), and the discrete recurrences that integrate it.
/// </summary>
internal static class Oscillator
{
    /// <summary>
    /// Integrates the oscillator with <see cref="OscillatorParameters.Integrator"/> and returns the
    /// <c>Steps + 1</c> points <c>t_i = i dt</c>.
    /// </summary>
    /// <param name="parameters">The system, the initial state, the step and the forcing; validated first.</param>
    /// <param name="noiseSeed">Seeds the <see cref="Random"/> that draws noise forcing <c>F_i ~ N(0, A^2)</c>,
    /// one value per point <c>i = 0..Steps</c>; ignored for the other kinds.</param>
    /// <exception cref="UnrollException">A parameter is invalid, or the integration overflowed (an unstable
    /// integrator/step combination); the message says which.</exception>
    /// <remarks>
    /// <c>Force[i]</c> is <c>F(t_i)</c>. Explicit and semi-implicit Euler use <c>F_i</c> over step i. RK4 evaluates
    /// sine and step forcing continuously at its stage times <c>t_i</c>, <c>t_i + dt/2</c>, <c>t_i + dt</c>; noise
    /// forcing is piecewise constant, so every RK4 stage of step i uses <c>F_i</c>.
    /// </remarks>
    public static Trajectory Simulate(OscillatorParameters parameters, int noiseSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();

        int steps = parameters.Steps;
        double m = parameters.Mass;
        double eta = parameters.Damping;
        double dt = parameters.TimeStep;
        Forcing forcing = parameters.Forcing;
        bool noise = forcing.Kind == ForcingKind.Noise;

        var time = new double[steps + 1];
        var x = new double[steps + 1];
        var v = new double[steps + 1];
        var force = new double[steps + 1];

        // t_i = i dt computed by multiplication, not accumulation, so times do not drift.
        for (int i = 0; i <= steps; i++)
        {
            time[i] = i * dt;
        }

        if (noise)
        {
            var random = new Random(noiseSeed);
            for (int i = 0; i <= steps; i++)
            {
                force[i] = forcing.Amplitude * StandardNormal(random);
            }
        }
        else
        {
            for (int i = 0; i <= steps; i++)
            {
                force[i] = forcing.ValueAt(time[i]);
            }
        }

        x[0] = parameters.X0;
        v[0] = parameters.V0;
        double alpha = eta / m;
        double delta = 1.0 / m;

        for (int i = 0; i < steps; i++)
        {
            double xi = x[i];
            double vi = v[i];
            switch (parameters.Integrator)
            {
                case Integrator.ExplicitEuler:
                    // x_{i+1} = x_i + dt v_i;  v_{i+1} = v_i + dt (F_i/m - alpha v_i - delta x_i)
                    x[i + 1] = xi + dt * vi;
                    v[i + 1] = vi + dt * (force[i] / m - alpha * vi - delta * xi);
                    break;

                case Integrator.SemiImplicitEuler:
                    // v_{i+1} from x_i first, then x_{i+1} = x_i + dt v_{i+1}.
                    v[i + 1] = vi + dt * (force[i] / m - alpha * vi - delta * xi);
                    x[i + 1] = xi + dt * v[i + 1];
                    break;

                default:
                    {
                        double fStart = force[i];
                        double fMid = noise ? force[i] : forcing.ValueAt(time[i] + 0.5 * dt);
                        double fEnd = noise ? force[i] : forcing.ValueAt(time[i + 1]);

                        // k = (dx/dt, dv/dt) at each stage.
                        double k1x = vi;
                        double k1v = (fStart - eta * vi - xi) / m;
                        double k2x = vi + 0.5 * dt * k1v;
                        double k2v = (fMid - eta * k2x - (xi + 0.5 * dt * k1x)) / m;
                        double k3x = vi + 0.5 * dt * k2v;
                        double k3v = (fMid - eta * k3x - (xi + 0.5 * dt * k2x)) / m;
                        double k4x = vi + dt * k3v;
                        double k4v = (fEnd - eta * k4x - (xi + dt * k3x)) / m;
                        x[i + 1] = xi + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x);
                        v[i + 1] = vi + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v);
                        break;
                    }
            }

            if (!double.IsFinite(x[i + 1]) || !double.IsFinite(v[i + 1]))
            {
                throw new UnrollException(
                    $"The oscillator overflowed at step {i + 1} (t = {Checks.Format(time[i + 1])}): expected finite x and v, " +
                    $"got x = {Checks.Format(x[i + 1])}, v = {Checks.Format(v[i + 1])}. " +
                    $"The {OscillatorChecks.Spelling(parameters.Integrator)} integrator is unstable with dt = {Checks.Format(dt)}, " +
                    $"mass = {Checks.Format(m)}, damping = {Checks.Format(eta)}; use a smaller dt or fewer steps.");
            }
        }

        return new Trajectory(parameters, time, x, v, force);
    }

    /// <summary>
    /// The 2x2 matrix W of the explicit-Euler recurrence <c>s_{i+1} = W s_i + dt (0, F_i/m)</c>, <c>s = (x, v)</c>:
    /// <c>W = [[1, dt], [-dt/m, 1 - dt eta/m]]</c>. Undamped, its eigenvalues are <c>1 +- i dt/sqrt(m)</c>.
    /// </summary>
    /// <exception cref="UnrollException">A parameter is invalid.</exception>
    public static double[,] EulerTransitionMatrix(double mass, double damping, double dt)
    {
        CheckSystem(mass, damping, dt);
        return new double[,]
        {
            { 1.0, dt },
            { -dt / mass, 1.0 - dt * damping / mass },
        };
    }

    /// <summary>
    /// The 2x2 matrix W of the semi-implicit Euler recurrence <c>s_{i+1} = W s_i + (dt^2 F_i/m, dt F_i/m)</c>,
    /// <c>s = (x, v)</c>: substituting <c>v_{i+1} = -(dt/m) x_i + (1 - dt eta/m) v_i + dt F_i/m</c> into
    /// <c>x_{i+1} = x_i + dt v_{i+1}</c> gives
    /// <c>W = [[1 - dt^2/m, dt (1 - dt eta/m)], [-dt/m, 1 - dt eta/m]]</c>, with <c>det W = 1 - dt eta/m</c>
    /// (exactly 1 when undamped: area-preserving).
    /// </summary>
    /// <exception cref="UnrollException">A parameter is invalid.</exception>
    public static double[,] SemiImplicitEulerTransitionMatrix(double mass, double damping, double dt)
    {
        CheckSystem(mass, damping, dt);
        double keep = 1.0 - dt * damping / mass;
        return new double[,]
        {
            { 1.0 - dt * dt / mass, dt * keep },
            { -dt / mass, keep },
        };
    }

    /// <summary>The mechanical energy <c>E = m v^2 / 2 + x^2 / 2</c> (kinetic plus spring, unit stiffness).</summary>
    public static double Energy(double mass, double x, double v) => 0.5 * mass * v * v + 0.5 * x * x;

    /// <summary>A standard normal draw by the Box-Muller transform (one value per call, two uniforms).</summary>
    internal static double StandardNormal(Random random)
    {
        double u1 = 1.0 - random.NextDouble(); // in (0, 1], so the log is finite
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    internal static void CheckSystem(double mass, double damping, double dt)
    {
        Checks.Positive(mass, "mass", "mass");
        Checks.NonNegative(damping, "damping", "damping coefficient");
        Checks.Positive(dt, "dt", "time step");
    }
}
