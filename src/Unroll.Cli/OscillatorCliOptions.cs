using System.CommandLine;
using Unroll.Data;

namespace Unroll.Cli;

/// <summary>The oscillator's options, shared by the commands that generate its data.</summary>
internal sealed class OscillatorCliOptions
{
    private static readonly OscillatorDatasetOptions Defaults = new();

    public Option<double> Mass { get; } = Options.Make("--mass", "Mass m in m x'' + eta x' + x = F(t)", Defaults.Mass);

    public Option<double> Damping { get; } = Options.Make("--damping", "Damping eta", Defaults.Damping);

    public Option<double> TimeStep { get; } = Options.Make("--dt", "Integration time step", Defaults.TimeStep);

    public Option<string> Integrator { get; } = Options.Make("--integrator", "Integrator that generates the data: euler, semi-implicit or rk4", "rk4");

    public Option<string> Forcing { get; } = Options.Make("--forcing", "Comma-separated forcing kinds drawn per sequence: none, sine, step, noise", "none,sine,step,noise");

    public Option<double> Amplitude { get; } = Options.Make("--amplitude-max", "Largest forcing amplitude (drawn uniformly from [0, A])", Defaults.AmplitudeMax);

    public Option<int> SequenceLength { get; } = Options.Make("--seq-length", "Steps per sequence", Defaults.Steps);

    public Option<int> TrainSequences { get; } = Options.Make("--train-count", "Training sequences", Defaults.TrainCount);

    public Option<int> ValidationSequences { get; } = Options.Make("--validation-count", "Validation sequences", Defaults.ValidationCount);

    public Option<int> TestSequences { get; } = Options.Make("--test-count", "Test sequences", Defaults.TestCount);

    public void AddTo(Command command)
    {
        command.Add(Mass);
        command.Add(Damping);
        command.Add(TimeStep);
        command.Add(Integrator);
        command.Add(Forcing);
        command.Add(Amplitude);
        command.Add(SequenceLength);
        command.Add(TrainSequences);
        command.Add(ValidationSequences);
        command.Add(TestSequences);
    }

    public OscillatorDatasetOptions Read(ParseResult parse)
    {
        RequireAtLeast("--seq-length", parse.GetValue(SequenceLength), 1);
        RequireAtLeast("--validation-count", parse.GetValue(ValidationSequences), 1);
        RequireAtLeast("--test-count", parse.GetValue(TestSequences), 1);
        var options = new OscillatorDatasetOptions
        {
            Mass = parse.GetValue(Mass),
            Damping = parse.GetValue(Damping),
            TimeStep = parse.GetValue(TimeStep),
            Integrator = ParseIntegrator(parse.GetValue(Integrator)!),
            ForcingKinds = ParseForcing(parse.GetValue(Forcing)!),
            AmplitudeMax = parse.GetValue(Amplitude),
            Steps = parse.GetValue(SequenceLength),
            TrainCount = parse.GetValue(TrainSequences),
            ValidationCount = parse.GetValue(ValidationSequences),
            TestCount = parse.GetValue(TestSequences),
        };
        options.Validate();
        return options;
    }

    private static void RequireAtLeast(string option, int value, int minimum)
    {
        if (value < minimum)
        {
            throw new UnrollException($"{option}: expected at least {minimum}, got {value}.");
        }
    }

    public static Integrator ParseIntegrator(string name) => name.Trim().ToUpperInvariant() switch
    {
        "EULER" or "EXPLICIT-EULER" => Data.Integrator.ExplicitEuler,
        "SEMI-IMPLICIT" or "SEMI-IMPLICIT-EULER" or "SYMPLECTIC" => Data.Integrator.SemiImplicitEuler,
        "RK4" or "RUNGE-KUTTA" => Data.Integrator.RungeKutta4,
        _ => throw new UnrollException($"--integrator: expected euler, semi-implicit or rk4, got '{name}'."),
    };

    public static IReadOnlyList<ForcingKind> ParseForcing(string list)
    {
        var kinds = new List<ForcingKind>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = part.ToUpperInvariant() switch
            {
                "NONE" => ForcingKind.None,
                "SINE" => ForcingKind.Sine,
                "STEP" => ForcingKind.Step,
                "NOISE" => ForcingKind.Noise,
                _ => throw new UnrollException($"--forcing: expected a comma-separated list of none, sine, step, noise, got '{part}'."),
            };
            if (!kinds.Contains(kind))
            {
                kinds.Add(kind);
            }
        }

        if (kinds.Count == 0)
        {
            throw new UnrollException("--forcing: expected at least one of none, sine, step, noise, got an empty list.");
        }

        return kinds;
    }
}
