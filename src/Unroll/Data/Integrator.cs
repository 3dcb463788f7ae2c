namespace Unroll.Data;

/// <summary>
/// How <see cref="Oscillator.Simulate"/> advances the state <c>s = (x, v)</c> of
/// <c>m x'' + eta x' + x = F(t)</c> by one time step <c>dt</c>.
/// </summary>
internal enum Integrator
{
    /// <summary>
    /// Explicit (forward) Euler, exactly the recurrence of the lecture notes:
    /// <c>x_{i+1} = x_i + dt v_i</c>, <c>v_{i+1} = v_i + dt (F_i/m - (eta/m) v_i - (1/m) x_i)</c>.
    /// First order; on an undamped oscillator its eigenvalues <c>1 +- i dt/sqrt(m)</c> have
    /// modulus <c>sqrt(1 + dt^2/m) &gt; 1</c>, so the energy grows every step.
    /// </summary>
    ExplicitEuler,

    /// <summary>
    /// Semi-implicit (symplectic) Euler: the velocity first, from the old position,
    /// <c>v_{i+1} = v_i + dt (F_i/m - (eta/m) v_i - (1/m) x_i)</c>, then the position with the
    /// new velocity, <c>x_{i+1} = x_i + dt v_{i+1}</c>. First order; on an undamped oscillator
    /// its transition matrix has determinant 1 and eigenvalues of modulus 1 (for dt &lt; 2 sqrt(m)).
    /// </summary>
    SemiImplicitEuler,

    /// <summary>
    /// The classic fourth-order Runge-Kutta method on <c>(x, v)' = (v, (F(t) - eta v - x)/m)</c>,
    /// with stages at <c>t_i</c>, <c>t_i + dt/2</c> (twice) and <c>t_i + dt</c>. Sine and step forcing
    /// are evaluated at those stage times; noise forcing is piecewise constant, <c>F_i</c> at every
    /// stage of step i. Global error O(dt^4).
    /// </summary>
    RungeKutta4,
}
