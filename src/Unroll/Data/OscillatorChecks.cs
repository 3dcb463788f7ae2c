namespace Unroll.Data;

/// <summary>The oscillator's enum checks and spellings, as the command line writes them.</summary>
internal static class OscillatorChecks
{
    public static string Spelling(Integrator integrator) => integrator switch
    {
        Integrator.ExplicitEuler => "explicit-euler",
        Integrator.SemiImplicitEuler => "semi-implicit-euler",
        Integrator.RungeKutta4 => "rk4",
        _ => integrator.ToString(),
    };

    public static void Defined(Integrator integrator)
    {
        if (!Enum.IsDefined(integrator))
        {
            throw new UnrollException($"integrator: expected one of explicit-euler, semi-implicit-euler, rk4, got {(int)integrator}.");
        }
    }

    public static void Defined(ForcingKind kind)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new UnrollException($"forcing: expected one of none, sine, step, noise, got {(int)kind}.");
        }
    }
}
