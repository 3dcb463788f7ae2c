namespace Unroll.Data;

/// <summary>
/// One run of the damped, driven oscillator <c>m x'' + eta x' + x = F(t)</c>, <c>v = x'</c>,
/// from <c>x(0) = X0</c>, <c>v(0) = V0</c>, integrated for <see cref="Steps"/> steps of
/// <see cref="TimeStep"/> (times <c>t_i = i dt</c>, <c>i = 0..Steps</c>).
/// </summary>
internal sealed record OscillatorParameters
{
    /// <summary>The largest accepted <see cref="Steps"/>: keeps a trajectory's four arrays well inside memory.</summary>
    public const int MaxSteps = 10_000_000;

    /// <summary>m, the mass (CLI: <c>mass</c>). Must be finite and &gt; 0.</summary>
    public double Mass { get; init; } = 1.0;

    /// <summary>eta, the damping coefficient (CLI: <c>damping</c>). Must be finite and &gt;= 0.</summary>
    public double Damping { get; init; } = 0.1;

    /// <summary>dt, the integration time step (CLI: <c>dt</c>). Must be finite and &gt; 0.</summary>
    public double TimeStep { get; init; } = 0.1;

    /// <summary>x0, the initial position (CLI: <c>x0</c>). Must be finite.</summary>
    public double X0 { get; init; } = 1.0;

    /// <summary>v0, the initial velocity (CLI: <c>v0</c>). Must be finite.</summary>
    public double V0 { get; init; }

    /// <summary>The number of integration steps (CLI: <c>steps</c>); the trajectory has <c>Steps + 1</c> points.</summary>
    public int Steps { get; init; } = 200;

    /// <summary>The integration scheme (CLI: <c>integrator</c>).</summary>
    public Integrator Integrator { get; init; } = Integrator.RungeKutta4;

    /// <summary>The external force F(t).</summary>
    public Forcing Forcing { get; init; } = new(ForcingKind.None);

    /// <summary>
    /// Checks every value and throws <see cref="UnrollException"/> on the first bad one, with a
    /// message naming the parameter by its command-line spelling and saying what was expected,
    /// e.g. <c>"dt: expected a time step &gt; 0, got -0.1."</c>.
    /// </summary>
    public void Validate()
    {
        Checks.Positive(Mass, "mass", "mass");
        Checks.NonNegative(Damping, "damping", "damping coefficient");
        Checks.Positive(TimeStep, "dt", "time step");
        Checks.Finite(X0, "x0", "initial position");
        Checks.Finite(V0, "v0", "initial velocity");
        Checks.IntegerRange(Steps, 1, MaxSteps, "steps", "a number of steps");
        if (!double.IsFinite(TimeStep * Steps))
        {
            throw new UnrollException($"dt: expected dt x steps to be finite, got {Checks.Format(TimeStep)} x {Steps}.");
        }

        OscillatorChecks.Defined(Integrator);
        if (Forcing is null)
        {
            throw new UnrollException("forcing: expected a forcing (none, sine, step or noise), got nothing.");
        }

        OscillatorChecks.Defined(Forcing.Kind);
        Checks.NonNegative(Forcing.Amplitude, "amplitude", "amplitude");
        Checks.NonNegative(Forcing.Frequency, "frequency", "frequency (cycles per unit time)");
        Checks.Finite(Forcing.StepTime, "step-time", "step time");
    }
}
