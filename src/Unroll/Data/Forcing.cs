namespace Unroll.Data;

/// <summary>The shape of the external force <c>F(t)</c> driving the oscillator.</summary>
internal enum ForcingKind
{
    /// <summary>No force: <c>F(t) = 0</c> (free oscillation).</summary>
    None,

    /// <summary>A sine: <c>F(t) = A sin(2 pi f t)</c>, f in cycles per unit time.</summary>
    Sine,

    /// <summary>A step: <c>F(t) = A</c> for <c>t &gt;= StepTime</c>, else 0.</summary>
    Step,

    /// <summary>
    /// White noise held over each step: <c>F(t) = F_i</c> on <c>[t_i, t_{i+1})</c>, with independent
    /// <c>F_i ~ N(0, A^2)</c> drawn from a seeded <see cref="Random"/>.
    /// </summary>
    Noise,
}

/// <summary>The external force <c>F(t)</c> of <c>m x'' + eta x' + x = F(t)</c>.</summary>
/// <param name="Kind">The shape of the force.</param>
/// <param name="Amplitude">A: the sine's amplitude, the step's height, or the noise's standard deviation. Must be finite and &gt;= 0.</param>
/// <param name="Frequency">f in cycles per unit time, used by <see cref="ForcingKind.Sine"/>. Must be finite and &gt;= 0.</param>
/// <param name="StepTime">The time at which <see cref="ForcingKind.Step"/> switches on. Must be finite.</param>
internal sealed record Forcing(ForcingKind Kind, double Amplitude = 1.0, double Frequency = 0.2, double StepTime = 0.0)
{
    /// <summary>
    /// The force at time <paramref name="time"/> for the deterministic kinds (none, sine, step).
    /// </summary>
    /// <exception cref="InvalidOperationException">The kind is <see cref="ForcingKind.Noise"/>, which has no closed form.</exception>
    public double ValueAt(double time) => Kind switch
    {
        ForcingKind.None => 0.0,
        ForcingKind.Sine => Amplitude * Math.Sin(2.0 * Math.PI * Frequency * time),
        ForcingKind.Step => time >= StepTime ? Amplitude : 0.0,
        ForcingKind.Noise => throw new InvalidOperationException("Noise forcing has no closed form; it is drawn per step by Oscillator.Simulate."),
        _ => throw new InvalidOperationException($"Unknown forcing kind {Kind}."),
    };
}
