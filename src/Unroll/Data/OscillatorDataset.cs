using Unroll.Tensors;
using Unroll.Training;
namespace Unroll.Data;

/// <summary>
/// How <see cref="OscillatorDataset.Generate"/> draws its sequences. Every sequence shares the system
/// (mass, damping, dt, integrator, length); each draws its own initial state and forcing:
/// <c>x0, v0 ~ U[-InitialRange, InitialRange]</c>, a kind uniformly from <see cref="ForcingKinds"/>,
/// amplitude <c>~ U[0, AmplitudeMax]</c>, frequency <c>~ U[FrequencyMin, FrequencyMax]</c>,
/// step time <c>~ U[0, Steps dt]</c> and a noise seed.
/// </summary>
internal sealed record OscillatorDatasetOptions
{
    /// <summary>The number of training sequences (CLI: <c>train-count</c>), &gt;= 1.</summary>
    public int TrainCount { get; init; } = 512;

    /// <summary>The number of validation sequences (CLI: <c>validation-count</c>), &gt;= 0.</summary>
    public int ValidationCount { get; init; } = 64;

    /// <summary>The number of test sequences (CLI: <c>test-count</c>), &gt;= 0.</summary>
    public int TestCount { get; init; } = 64;

    /// <summary>Integration steps per trajectory (CLI: <c>steps</c>); each sequence has this many (input, target) steps.</summary>
    public int Steps { get; init; } = 100;

    /// <summary>m (CLI: <c>mass</c>).</summary>
    public double Mass { get; init; } = 1.0;

    /// <summary>eta (CLI: <c>damping</c>).</summary>
    public double Damping { get; init; } = 0.1;

    /// <summary>dt (CLI: <c>dt</c>).</summary>
    public double TimeStep { get; init; } = 0.1;

    /// <summary>The integrator that produces the ground truth (CLI: <c>integrator</c>).</summary>
    public Integrator Integrator { get; init; } = Integrator.RungeKutta4;

    /// <summary>The forcing kinds to draw from, uniformly (CLI: <c>forcing</c>); not empty.</summary>
    public IReadOnlyList<ForcingKind> ForcingKinds { get; init; } =
        [ForcingKind.None, ForcingKind.Sine, ForcingKind.Step, ForcingKind.Noise];

    /// <summary>The amplitude is drawn from <c>U[0, AmplitudeMax]</c> (CLI: <c>amplitude-max</c>).</summary>
    public double AmplitudeMax { get; init; } = 1.0;

    /// <summary>The lower end of the sine frequency range, cycles per unit time (CLI: <c>frequency-min</c>).</summary>
    public double FrequencyMin { get; init; } = 0.05;

    /// <summary>The upper end of the sine frequency range, cycles per unit time (CLI: <c>frequency-max</c>).</summary>
    public double FrequencyMax { get; init; } = 0.3;

    /// <summary>x0 and v0 are drawn from <c>U[-InitialRange, InitialRange]</c> (CLI: <c>initial-range</c>).</summary>
    public double InitialRange { get; init; } = 1.0;

    /// <summary>Throws <see cref="UnrollException"/> naming the first bad option by its CLI spelling.</summary>
    public void Validate()
    {
        Checks.IntegerRange(TrainCount, 1, int.MaxValue, "train-count", "a number of sequences");
        Checks.IntegerRange(ValidationCount, 0, int.MaxValue, "validation-count", "a number of sequences");
        Checks.IntegerRange(TestCount, 0, int.MaxValue, "test-count", "a number of sequences");

        // The system itself: the same checks and messages as a single run.
        new OscillatorParameters
        {
            Mass = Mass,
            Damping = Damping,
            TimeStep = TimeStep,
            Steps = Steps,
            Integrator = Integrator,
        }.Validate();

        CheckSplitSize(TrainCount, "train-count");
        CheckSplitSize(ValidationCount, "validation-count");
        CheckSplitSize(TestCount, "test-count");
        // A step of a sequence holds x, v and the force of its trajectory and the set's inputs and target, as doubles,
        // some of them twice while a split is built, and the model's predictions when it is evaluated: about 24 doubles.
        MemoryBudget.Check(((double)TrainCount + ValidationCount + TestCount) * (Steps + 1) * 8 * 24,
            $"train-count, validation-count, test-count and seq-length: {(double)TrainCount + ValidationCount + TestCount} sequences of {Steps} steps");

        if (ForcingKinds is null || ForcingKinds.Count == 0)
        {
            throw new UnrollException("forcing: expected at least one of none, sine, step, noise, got none.");
        }

        foreach (ForcingKind kind in ForcingKinds)
        {
            OscillatorChecks.Defined(kind);
        }

        Checks.NonNegative(AmplitudeMax, "amplitude-max", "amplitude");
        Checks.NonNegative(FrequencyMin, "frequency-min", "frequency (cycles per unit time)");
        Checks.NonNegative(FrequencyMax, "frequency-max", "frequency (cycles per unit time)");
        if (FrequencyMax < FrequencyMin)
        {
            throw new UnrollException(
                $"frequency-max: expected a frequency >= frequency-min ({Checks.Format(FrequencyMin)}), got {Checks.Format(FrequencyMax)}.");
        }

        Checks.NonNegative(InitialRange, "initial-range", "initial range");
    }

    private void CheckSplitSize(int count, string name)
    {
        // Inputs hold 2 values per step; the flat array must stay addressable.
        long values = (long)count * Steps * 2;
        if (values > Array.MaxLength)
        {
            throw new UnrollException(
                $"{name}: expected {name} x steps x 2 <= {Array.MaxLength} values, got {count} x {Steps} x 2 = {values}.");
        }
    }
}

/// <summary>
/// Forecasting data from the damped, driven oscillator: three splits of trajectories and the
/// matching <see cref="SequenceSet"/>s. Sequence step t (t = 0..Steps-1) has inputs
/// <c>("x", "force") = (x_t, F_t)</c> and target <c>"x_next" = x_{t+1}</c>.
/// </summary>
/// <remarks>
/// Each split draws from its own <see cref="Random"/>, seeded by a hash of (seed, split), so the splits are
/// independent draws, each is reproducible from the seed alone, and changing one split's count leaves the
/// other splits unchanged.
/// </remarks>
internal sealed class OscillatorDataset
{
    /// <summary>The name of the position input column.</summary>
    public const string PositionColumn = "x";

    /// <summary>The name of the force input column.</summary>
    public const string ForceColumn = "force";

    /// <summary>The name of the target column, the next position.</summary>
    public const string NextPositionColumn = "x_next";

    private readonly int _seed;
    private readonly (Trajectory[] Trajectories, SequenceSet Set)?[] _splits = new (Trajectory[], SequenceSet)?[3];

    private OscillatorDataset(OscillatorDatasetOptions options, int seed)
    {
        Options = options;
        _seed = seed;
    }

    /// <summary>The options the data were generated with.</summary>
    public OscillatorDatasetOptions Options { get; }

    /// <summary>The training sequences.</summary>
    public SequenceSet Train => Split(0).Set;

    /// <summary>The validation sequences.</summary>
    public SequenceSet Validation => Split(1).Set;

    /// <summary>The test sequences.</summary>
    public SequenceSet Test => Split(2).Set;

    /// <summary>The trajectories behind <see cref="Train"/>, in the same order.</summary>
    public IReadOnlyList<Trajectory> TrainTrajectories => Split(0).Trajectories;

    /// <summary>The trajectories behind <see cref="Validation"/>, in the same order.</summary>
    public IReadOnlyList<Trajectory> ValidationTrajectories => Split(1).Trajectories;

    /// <summary>The trajectories behind <see cref="Test"/>, in the same order.</summary>
    public IReadOnlyList<Trajectory> TestTrajectories => Split(2).Trajectories;

    /// <summary>
    /// The three splits, each simulated when it is first used (evaluating a model needs only its test split).
    /// The same options and seed always give the same data.
    /// </summary>
    /// <exception cref="UnrollException">An option is invalid; a trajectory that overflows is reported when its split is simulated.</exception>
    public static OscillatorDataset Generate(OscillatorDatasetOptions options, int seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new OscillatorDataset(options, seed);
    }

    private (Trajectory[] Trajectories, SequenceSet Set) Split(int split)
    {
        if (_splits[split] is not { } made)
        {
            int count = split switch { 0 => Options.TrainCount, 1 => Options.ValidationCount, _ => Options.TestCount };
            var trajectories = GenerateSplit(Options, count, SplitSeed(_seed, split));
            made = (trajectories, ToSequenceSet(trajectories, Options.Steps));
            _splits[split] = made;
        }

        return made;
    }

    /// <summary>
    /// A well-mixed seed for split <paramref name="split"/> (0 train, 1 validation, 2 test): the SplitMix64
    /// finaliser of (seed, split), so nearby seeds and splits give unrelated streams.
    /// </summary>
    internal static int SplitSeed(int seed, int split)
    {
        ulong z = ((ulong)(uint)seed << 8) ^ (ulong)(split + 1);
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z >> 33);
    }

    private static Trajectory[] GenerateSplit(OscillatorDatasetOptions options, int count, int splitSeed)
    {
        var random = new Random(splitSeed);
        var trajectories = new Trajectory[count];
        double range = options.InitialRange;
        double duration = options.Steps * options.TimeStep;
        for (int n = 0; n < count; n++)
        {
            // Always the same seven draws per sequence, whatever the kind, so sequence n depends only on (seed, split, n).
            double x0 = Uniform(random, -range, range);
            double v0 = Uniform(random, -range, range);
            ForcingKind kind = options.ForcingKinds[random.Next(options.ForcingKinds.Count)];
            double amplitude = Uniform(random, 0.0, options.AmplitudeMax);
            double frequency = Uniform(random, options.FrequencyMin, options.FrequencyMax);
            double stepTime = Uniform(random, 0.0, duration);
            int noiseSeed = random.Next();

            var parameters = new OscillatorParameters
            {
                Mass = options.Mass,
                Damping = options.Damping,
                TimeStep = options.TimeStep,
                X0 = x0,
                V0 = v0,
                Steps = options.Steps,
                Integrator = options.Integrator,
                Forcing = new Forcing(kind, amplitude, frequency, stepTime),
            };
            trajectories[n] = Oscillator.Simulate(parameters, noiseSeed);
        }

        return trajectories;
    }

    private static double Uniform(Random random, double low, double high) => low + ((high - low) * random.NextDouble());

    private static SequenceSet ToSequenceSet(Trajectory[] trajectories, int steps)
    {
        var inputs = new double[trajectories.Length * steps * 2];
        var targets = new double[trajectories.Length * steps];
        for (int n = 0; n < trajectories.Length; n++)
        {
            Trajectory trajectory = trajectories[n];
            for (int t = 0; t < steps; t++)
            {
                int row = (n * steps) + t;
                inputs[2 * row] = trajectory.X[t];
                inputs[(2 * row) + 1] = trajectory.Force[t];
                targets[row] = trajectory.X[t + 1];
            }
        }

        return new SequenceSet(
            trajectories.Length, steps,
            [PositionColumn, ForceColumn], [NextPositionColumn],
            inputs, targets);
    }
}
