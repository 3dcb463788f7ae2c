using Unroll.Data;
using Unroll.Training;

namespace Unroll.Tests;

public class OscillatorTests
{
    private static Trajectory Run(OscillatorParameters p, int noiseSeed = 0) => Oscillator.Simulate(p, noiseSeed);

    /// <summary>Eigenvalue moduli of a real 2x2 matrix from its trace and determinant (closed form).</summary>
    private static (double, double) EigenvalueModuli(double[,] w)
    {
        double trace = w[0, 0] + w[1, 1];
        double det = (w[0, 0] * w[1, 1]) - (w[0, 1] * w[1, 0]);
        double discriminant = (trace * trace) - (4 * det);
        if (discriminant < 0)
        {
            // Complex pair (trace/2 +- i sqrt(-disc)/2): |lambda|^2 = trace^2/4 - disc/4 = det.
            double re = trace / 2, im = Math.Sqrt(-discriminant) / 2;
            double modulus = Math.Sqrt((re * re) + (im * im));
            return (modulus, modulus);
        }

        double root = Math.Sqrt(discriminant);
        return (Math.Abs((trace + root) / 2), Math.Abs((trace - root) / 2));
    }

    [Fact]
    public void ExplicitEulerMatchesTheRecurrenceWrittenOutForThreeSteps()
    {
        // m = 2, eta = 0.5, dt = 0.1, constant force 0.8 (a step at t = 0), x0 = 1, v0 = -0.5.
        // v_{i+1} = v_i + 0.1 (0.4 - 0.25 v_i - 0.5 x_i), x_{i+1} = x_i + 0.1 v_i, worked by hand:
        //   x1 = 0.95,        v1 = -0.5 + 0.1 (0.4 + 0.125 - 0.5)            = -0.4975
        //   x2 = 0.90025,     v2 = -0.4975 + 0.1 (0.4 + 0.124375 - 0.475)    = -0.4925625
        //   x3 = 0.85099375,  v3 = -0.4925625 + 0.1 (0.4 + 0.123140625 - 0.450125) = -0.4852609375
        var p = new OscillatorParameters
        {
            Mass = 2, Damping = 0.5, TimeStep = 0.1, X0 = 1, V0 = -0.5, Steps = 3,
            Integrator = Integrator.ExplicitEuler,
            Forcing = new Forcing(ForcingKind.Step, Amplitude: 0.8, StepTime: 0),
        };
        Trajectory r = Run(p);
        double[] x = [1, 0.95, 0.90025, 0.85099375];
        double[] v = [-0.5, -0.4975, -0.4925625, -0.4852609375];
        for (int i = 0; i <= 3; i++)
        {
            Assert.Equal(x[i], r.X[i], 1e-14);
            Assert.Equal(v[i], r.V[i], 1e-14);
            Assert.Equal(0.8, r.Force[i]);
            Assert.Equal(i * 0.1, r.Time[i], 1e-15);
        }
    }

    [Fact]
    public void SemiImplicitEulerUsesTheNewVelocityForThePosition()
    {
        // m = 1, eta = 0, dt = 0.5, F = 0, x0 = 1, v0 = 0:
        //   v1 = 0 + 0.5 (-1) = -0.5, x1 = 1 + 0.5 (-0.5) = 0.75
        //   v2 = -0.5 + 0.5 (-0.75) = -0.875, x2 = 0.75 + 0.5 (-0.875) = 0.3125
        var p = new OscillatorParameters { Damping = 0, TimeStep = 0.5, Steps = 2, Integrator = Integrator.SemiImplicitEuler };
        Trajectory r = Run(p);
        Assert.Equal([1, 0.75, 0.3125], r.X);
        Assert.Equal([0, -0.5, -0.875], r.V);
    }

    [Theory]
    [InlineData("ExplicitEuler", "None")]
    [InlineData("SemiImplicitEuler", "None")]
    [InlineData("ExplicitEuler", "Noise")]
    [InlineData("SemiImplicitEuler", "Sine")]
    public void TransitionMatrixReproducesSimulate(string integratorName, string kindName)
    {
        var integrator = Enum.Parse<Integrator>(integratorName);
        var kind = Enum.Parse<ForcingKind>(kindName);
        const double m = 1.7, eta = 0.3, dt = 0.05;
        var p = new OscillatorParameters
        {
            Mass = m, Damping = eta, TimeStep = dt, X0 = 0.4, V0 = -1.2, Steps = 50, Integrator = integrator,
            Forcing = new Forcing(kind, Amplitude: 0.7, Frequency: 0.3),
        };
        Trajectory r = Run(p, noiseSeed: 11);
        double[,] w = integrator == Integrator.ExplicitEuler
            ? Oscillator.EulerTransitionMatrix(m, eta, dt)
            : Oscillator.SemiImplicitEulerTransitionMatrix(m, eta, dt);
        double x = p.X0, v = p.V0;
        for (int i = 0; i < p.Steps; i++)
        {
            // Forcing enters as dt (0, F/m) for explicit Euler and (dt^2 F/m, dt F/m) for semi-implicit.
            double f = r.Force[i];
            double bx = integrator == Integrator.ExplicitEuler ? 0 : dt * dt * f / m;
            double bv = dt * f / m;
            (x, v) = ((w[0, 0] * x) + (w[0, 1] * v) + bx, (w[1, 0] * x) + (w[1, 1] * v) + bv);
            Assert.Equal(x, r.X[i + 1], 1e-12);
            Assert.Equal(v, r.V[i + 1], 1e-12);
        }
    }

    [Theory]
    [InlineData(1.0, 0.1)]
    [InlineData(0.5, 0.01)]
    [InlineData(3.0, 0.5)]
    [InlineData(2.0, 1.0)]
    public void UndampedEigenvalueModuli(double m, double dt)
    {
        var (e1, e2) = EigenvalueModuli(Oscillator.EulerTransitionMatrix(m, 0, dt));
        double expected = Math.Sqrt(1 + (dt * dt / m));
        Assert.Equal(expected, e1, 1e-12);
        Assert.Equal(expected, e2, 1e-12);
        Assert.True(e1 > 1);

        var (s1, s2) = EigenvalueModuli(Oscillator.SemiImplicitEulerTransitionMatrix(m, 0, dt));
        Assert.Equal(1.0, s1, 1e-12);
        Assert.Equal(1.0, s2, 1e-12);
    }

    [Fact]
    public void ExplicitEulerEnergyGrowsBySquaredModulusPerStepWhenUndamped()
    {
        // With W = [[1, dt], [-dt/m, 1]], E = m v^2/2 + x^2/2 is multiplied by exactly 1 + dt^2/m each step.
        const double m = 2, dt = 0.2;
        Trajectory r = Run(new OscillatorParameters { Mass = m, Damping = 0, TimeStep = dt, X0 = 0.3, V0 = 0.9, Steps = 40, Integrator = Integrator.ExplicitEuler });
        for (int i = 0; i < r.Steps; i++)
        {
            double ratio = Oscillator.Energy(m, r.X[i + 1], r.V[i + 1]) / Oscillator.Energy(m, r.X[i], r.V[i]);
            Assert.Equal(1 + (dt * dt / m), ratio, 1e-12);
        }
    }

    private static double MaxErrorAgainstFreeUndamped(double m, double x0, double v0, double dt, double duration)
    {
        int steps = (int)Math.Round(duration / dt);
        Trajectory r = Run(new OscillatorParameters { Mass = m, Damping = 0, TimeStep = dt, X0 = x0, V0 = v0, Steps = steps });
        double omega = 1 / Math.Sqrt(m);
        double worst = 0;
        for (int i = 0; i <= steps; i++)
        {
            double t = r.Time[i];
            double exact = (x0 * Math.Cos(omega * t)) + (v0 / omega * Math.Sin(omega * t));
            worst = Math.Max(worst, Math.Abs(r.X[i] - exact));
        }

        return worst;
    }

    [Fact]
    public void RungeKutta4MatchesTheAnalyticFreeOscillatorWithFourthOrderError()
    {
        const double m = 1.5, x0 = 0.8, v0 = -0.6, duration = 20;
        double coarse = MaxErrorAgainstFreeUndamped(m, x0, v0, 0.2, duration);
        double fine = MaxErrorAgainstFreeUndamped(m, x0, v0, 0.1, duration);
        Assert.True(coarse < 1e-3, $"coarse error {coarse}");
        double ratio = coarse / fine;
        Assert.InRange(ratio, 13.0, 19.0); // 2^4 = 16 for a fourth-order method
    }

    [Fact]
    public void RungeKutta4MatchesTheAnalyticDampedFreeOscillator()
    {
        // Underdamped: x(t) = e^{-g t} (x0 cos(wd t) + (v0 + g x0)/wd sin(wd t)), g = eta/(2m), wd = sqrt(1/m - g^2).
        const double m = 0.8, eta = 0.3, x0 = -0.5, v0 = 1.1, dt = 0.02;
        Trajectory r = Run(new OscillatorParameters { Mass = m, Damping = eta, TimeStep = dt, X0 = x0, V0 = v0, Steps = 1000 });
        double g = eta / (2 * m), wd = Math.Sqrt((1 / m) - (g * g));
        for (int i = 0; i <= r.Steps; i++)
        {
            double t = r.Time[i];
            double exact = Math.Exp(-g * t) * ((x0 * Math.Cos(wd * t)) + ((v0 + (g * x0)) / wd * Math.Sin(wd * t)));
            Assert.Equal(exact, r.X[i], 1e-8);
        }
    }

    [Fact]
    public void RungeKutta4EvaluatesSineForcingContinuously()
    {
        // m = 1, eta = 0, F = A sin(W t), W = 2 pi f: x = x0 cos t + D sin t + A sin(W t)/(1 - W^2),
        // D = v0 - A W/(1 - W^2). Piecewise-constant forcing would leave an O(dt) error, far above 1e-8.
        const double a = 0.9, f = 0.3, x0 = 0.2, v0 = 0.4, dt = 0.01;
        double w = 2 * Math.PI * f;
        Trajectory r = Run(new OscillatorParameters
        {
            Damping = 0, TimeStep = dt, X0 = x0, V0 = v0, Steps = 1500,
            Forcing = new Forcing(ForcingKind.Sine, a, f),
        });
        double d = v0 - (a * w / (1 - (w * w)));
        for (int i = 0; i <= r.Steps; i++)
        {
            double t = r.Time[i];
            double exact = (x0 * Math.Cos(t)) + (d * Math.Sin(t)) + (a * Math.Sin(w * t) / (1 - (w * w)));
            Assert.Equal(exact, r.X[i], 1e-8);
        }
    }

    [Fact]
    public void RungeKutta4StepForcingMovesTheEquilibrium()
    {
        // m = 1, eta = 0, F = A for t >= 0: x = A + (x0 - A) cos t + v0 sin t.
        const double a = 0.6, x0 = -0.3, v0 = 0.5;
        Trajectory r = Run(new OscillatorParameters
        {
            Damping = 0, TimeStep = 0.01, X0 = x0, V0 = v0, Steps = 1000,
            Forcing = new Forcing(ForcingKind.Step, a, StepTime: 0),
        });
        for (int i = 0; i <= r.Steps; i++)
        {
            double t = r.Time[i];
            Assert.Equal(a + ((x0 - a) * Math.Cos(t)) + (v0 * Math.Sin(t)), r.X[i], 1e-9);
        }
    }

    [Fact]
    public void RungeKutta4HoldsNoiseConstantOverEachStep()
    {
        // One RK4 step under noise must equal one RK4 step under a constant force of the same value.
        var noisy = new OscillatorParameters { X0 = 0.3, V0 = -0.2, Steps = 5, Forcing = new Forcing(ForcingKind.Noise, 2.0) };
        Trajectory r = Run(noisy, noiseSeed: 5);
        for (int i = 0; i < r.Steps; i++)
        {
            // A unit step switched on at t = 0 is F = 1 at every RK4 stage; the step is linear in F, so the
            // response to a constant F_i is the free response plus F_i times (unit response - free response).
            Trajectory single = Run(noisy with
            {
                X0 = r.X[i], V0 = r.V[i], Steps = 1,
                Forcing = new Forcing(ForcingKind.Step, Amplitude: 1.0, StepTime: 0),
            });
            Trajectory free = Run(noisy with { X0 = r.X[i], V0 = r.V[i], Steps = 1, Forcing = new Forcing(ForcingKind.None) });
            double expectedX = free.X[1] + (r.Force[i] * (single.X[1] - free.X[1]));
            double expectedV = free.V[1] + (r.Force[i] * (single.V[1] - free.V[1]));
            Assert.Equal(expectedX, r.X[i + 1], 1e-12);
            Assert.Equal(expectedV, r.V[i + 1], 1e-12);
        }
    }

    [Fact]
    public void DampedFreeOscillationLosesEnergyUnderRungeKutta4()
    {
        const double m = 1.3, eta = 0.2;
        Trajectory r = Run(new OscillatorParameters { Mass = m, Damping = eta, TimeStep = 0.05, X0 = 1, V0 = 0.5, Steps = 600 });
        double previous = Oscillator.Energy(m, r.X[0], r.V[0]);
        double initial = previous;
        for (int i = 1; i <= r.Steps; i++)
        {
            double energy = Oscillator.Energy(m, r.X[i], r.V[i]);
            Assert.True(energy <= previous, $"energy rose at step {i}: {previous} -> {energy}");
            previous = energy;
        }

        // dE/dt = -eta v^2 averages to -(eta/m) E for light damping: E(30) ~ E0 e^{-0.2*30/1.3} ~ 0.01 E0.
        Assert.InRange(previous / initial, 0.002, 0.05);
    }

    [Fact]
    public void ForcingKindsProduceTheirForce()
    {
        var basis = new OscillatorParameters { TimeStep = 0.25, Steps = 40 };

        Assert.All(Run(basis).Force, f => Assert.Equal(0.0, f));

        Trajectory sine = Run(basis with { Forcing = new Forcing(ForcingKind.Sine, 1.5, 0.1) });
        for (int i = 0; i <= basis.Steps; i++)
        {
            Assert.Equal(1.5 * Math.Sin(2 * Math.PI * 0.1 * i * 0.25), sine.Force[i], 1e-14);
        }

        // Frequency 0.1 cycles per unit time: a quarter period at t = 2.5 gives the peak.
        Assert.Equal(1.5, sine.Force[10], 1e-12);

        Trajectory step = Run(basis with { Forcing = new Forcing(ForcingKind.Step, 0.7, StepTime: 2.5) });
        for (int i = 0; i <= basis.Steps; i++)
        {
            Assert.Equal(i >= 10 ? 0.7 : 0.0, step.Force[i]);
        }
    }

    [Fact]
    public void NoiseForcingIsSeededGaussianWithTheAmplitudeAsStandardDeviation()
    {
        var p = new OscillatorParameters { Damping = 1, TimeStep = 0.01, Steps = 20000, Forcing = new Forcing(ForcingKind.Noise, 0.5) };
        Trajectory a = Run(p, noiseSeed: 3);
        Assert.Equal(a.Force, Run(p, noiseSeed: 3).Force);
        Assert.NotEqual(a.Force, Run(p, noiseSeed: 4).Force);

        double mean = a.Force.Average();
        double variance = a.Force.Select(f => (f - mean) * (f - mean)).Average();
        // 20001 draws: standard error of the mean 0.5/sqrt(20001) ~ 0.0035; of the variance ~ 0.25*sqrt(2/20001) ~ 0.0025.
        Assert.InRange(mean, -0.015, 0.015);
        Assert.InRange(variance, 0.25 - 0.012, 0.25 + 0.012);
        double fractionBeyondTwoSigma = a.Force.Count(f => Math.Abs(f) > 1.0) / (double)a.Force.Length;
        Assert.InRange(fractionBeyondTwoSigma, 0.0455 - 0.008, 0.0455 + 0.008);
    }

    [Theory]
    [InlineData("mass", "mass: expected a mass > 0, got 0.")]
    [InlineData("damping", "damping: expected a damping coefficient >= 0, got -0.5.")]
    [InlineData("dt", "dt: expected a time step > 0, got -0.1.")]
    [InlineData("dt-infinite", "dt: expected a finite time step, got Infinity.")]
    [InlineData("x0", "x0: expected a finite initial position, got NaN.")]
    [InlineData("v0", "v0: expected a finite initial velocity, got -Infinity.")]
    [InlineData("steps", "steps: expected a number of steps in 1..10000000, got 0.")]
    [InlineData("amplitude", "amplitude: expected an amplitude >= 0, got -1.")]
    [InlineData("frequency", "frequency: expected a frequency (cycles per unit time) >= 0, got NaN.")]
    public void ValidationNamesTheParameter(string which, string message)
    {
        var good = new OscillatorParameters();
        good.Validate();
        OscillatorParameters bad = which switch
        {
            "mass" => good with { Mass = 0 },
            "damping" => good with { Damping = -0.5 },
            "dt" => good with { TimeStep = -0.1 },
            "dt-infinite" => good with { TimeStep = double.PositiveInfinity },
            "x0" => good with { X0 = double.NaN },
            "v0" => good with { V0 = double.NegativeInfinity },
            "steps" => good with { Steps = 0 },
            "amplitude" => good with { Forcing = new Forcing(ForcingKind.Sine, -1) },
            "frequency" => good with { Forcing = new Forcing(ForcingKind.Sine, 1, double.NaN) },
            _ => throw new ArgumentException(which),
        };
        Assert.Equal(message, Assert.Throws<UnrollException>(bad.Validate).Message);
        Assert.Equal(message, Assert.Throws<UnrollException>(() => Oscillator.Simulate(bad)).Message);
    }

    [Fact]
    public void OverflowIsReportedAsAUserError()
    {
        // RK4 is unstable for dt beyond ~2.8 sqrt(m): dt = 5 explodes within a few hundred steps.
        var p = new OscillatorParameters { Damping = 0, TimeStep = 5, Steps = 2000 };
        var error = Assert.Throws<UnrollException>(() => Oscillator.Simulate(p));
        Assert.Contains("overflowed", error.Message, StringComparison.Ordinal);
        Assert.Contains("rk4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TransitionMatricesValidateTheirParameters()
    {
        Assert.StartsWith("mass:", Assert.Throws<UnrollException>(() => Oscillator.EulerTransitionMatrix(-1, 0, 0.1)).Message, StringComparison.Ordinal);
        Assert.StartsWith("dt:", Assert.Throws<UnrollException>(() => Oscillator.SemiImplicitEulerTransitionMatrix(1, 0, 0)).Message, StringComparison.Ordinal);
    }

    // ---- dataset ----

    private static readonly OscillatorDatasetOptions SmallOptions = new() { TrainCount = 20, ValidationCount = 5, TestCount = 7, Steps = 30 };

    [Fact]
    public void DatasetHasTheDocumentedShapesNamesAndValues()
    {
        OscillatorDataset data = OscillatorDataset.Generate(SmallOptions, seed: 1);
        Assert.Equal((20, 5, 7), (data.Train.Count, data.Validation.Count, data.Test.Count));
        Assert.Equal(20, data.TrainTrajectories.Count);
        foreach (SequenceSet set in new[] { data.Train, data.Validation, data.Test })
        {
            Assert.Equal(30, set.Length);
            Assert.Equal(["x", "force"], set.InputNames);
            Assert.Equal(["x_next"], set.TargetNames);
        }

        for (int n = 0; n < data.Test.Count; n++)
        {
            Trajectory trajectory = data.TestTrajectories[n];
            Assert.Equal(31, trajectory.X.Length);
            for (int t = 0; t < 30; t++)
            {
                Assert.Equal(trajectory.X[t], data.Test.Input(n, t, 0));
                Assert.Equal(trajectory.Force[t], data.Test.Input(n, t, 1));
                Assert.Equal(trajectory.X[t + 1], data.Test.Target(n, t, 0));
            }
        }

        // Initial states within the range, amplitudes and frequencies within theirs.
        foreach (Trajectory trajectory in data.TrainTrajectories)
        {
            Assert.InRange(trajectory.X[0], -1.0, 1.0);
            Assert.InRange(trajectory.V[0], -1.0, 1.0);
            Assert.InRange(trajectory.Parameters.Forcing.Amplitude, 0.0, 1.0);
            Assert.InRange(trajectory.Parameters.Forcing.Frequency, 0.05, 0.3);
            Assert.InRange(trajectory.Parameters.Forcing.StepTime, 0.0, 3.0);
        }
    }

    [Fact]
    public void DatasetIsDeterministicPerSeed()
    {
        OscillatorDataset a = OscillatorDataset.Generate(SmallOptions, seed: 42);
        OscillatorDataset b = OscillatorDataset.Generate(SmallOptions, seed: 42);
        OscillatorDataset c = OscillatorDataset.Generate(SmallOptions, seed: 43);
        Assert.True(a.Train.Inputs.SequenceEqual(b.Train.Inputs));
        Assert.True(a.Test.Targets.SequenceEqual(b.Test.Targets));
        Assert.True(a.Validation.Inputs.SequenceEqual(b.Validation.Inputs));
        Assert.False(a.Train.Inputs.SequenceEqual(c.Train.Inputs));
        Assert.False(a.Test.Inputs.SequenceEqual(c.Test.Inputs));
    }

    [Fact]
    public void ChangingTrainCountLeavesTheOtherSplitsUnchanged()
    {
        OscillatorDataset a = OscillatorDataset.Generate(SmallOptions, seed: 9);
        OscillatorDataset b = OscillatorDataset.Generate(SmallOptions with { TrainCount = 3 }, seed: 9);
        Assert.True(a.Test.Inputs.SequenceEqual(b.Test.Inputs));
        Assert.True(a.Test.Targets.SequenceEqual(b.Test.Targets));
        Assert.True(a.Validation.Inputs.SequenceEqual(b.Validation.Inputs));
        // The smaller training split is a prefix of the larger one.
        Assert.True(a.Train.Slice(0, 3).Inputs.SequenceEqual(b.Train.Inputs));
    }

    [Fact]
    public void SplitsDrawDifferentSequences()
    {
        OscillatorDataset data = OscillatorDataset.Generate(SmallOptions with { TestCount = 20 }, seed: 0);
        var trainStarts = data.TrainTrajectories.Select(t => (t.X[0], t.V[0])).ToHashSet();
        Assert.DoesNotContain(data.TestTrajectories, t => trainStarts.Contains((t.X[0], t.V[0])));
        Assert.DoesNotContain(data.ValidationTrajectories, t => trainStarts.Contains((t.X[0], t.V[0])));
        Assert.False(data.Train.Slice(0, 20).Inputs.SequenceEqual(data.Test.Inputs));
    }

    [Fact]
    public void DatasetUsesEveryRequestedForcingKindAndOnlyThose()
    {
        OscillatorDataset all = OscillatorDataset.Generate(SmallOptions with { TrainCount = 80 }, seed: 5);
        Assert.Equal(4, all.TrainTrajectories.Select(t => t.Parameters.Forcing.Kind).Distinct().Count());

        OscillatorDataset sineOnly = OscillatorDataset.Generate(SmallOptions with { ForcingKinds = [ForcingKind.Sine] }, seed: 5);
        Assert.All(sineOnly.TrainTrajectories, t => Assert.Equal(ForcingKind.Sine, t.Parameters.Forcing.Kind));
    }

    [Theory]
    [InlineData("train-count", "train-count: expected a number of sequences in 1..2147483647, got 0.")]
    [InlineData("test-count", "test-count: expected a number of sequences in 0..2147483647, got -1.")]
    [InlineData("dt", "dt: expected a time step > 0, got 0.")]
    [InlineData("forcing", "forcing: expected at least one of none, sine, step, noise, got none.")]
    [InlineData("frequency-max", "frequency-max: expected a frequency >= frequency-min (0.5), got 0.3.")]
    [InlineData("initial-range", "initial-range: expected an initial range >= 0, got -2.")]
    [InlineData("amplitude-max", "amplitude-max: expected a finite amplitude, got Infinity.")]
    public void DatasetOptionsValidationNamesTheOption(string which, string message)
    {
        OscillatorDatasetOptions bad = which switch
        {
            "train-count" => SmallOptions with { TrainCount = 0 },
            "test-count" => SmallOptions with { TestCount = -1 },
            "dt" => SmallOptions with { TimeStep = 0 },
            "forcing" => SmallOptions with { ForcingKinds = [] },
            "frequency-max" => SmallOptions with { FrequencyMin = 0.5 },
            "initial-range" => SmallOptions with { InitialRange = -2 },
            "amplitude-max" => SmallOptions with { AmplitudeMax = double.PositiveInfinity },
            _ => throw new ArgumentException(which),
        };
        Assert.Equal(message, Assert.Throws<UnrollException>(() => OscillatorDataset.Generate(bad, 0)).Message);
    }

    // ---- baselines on a hand-made case ----

    private static readonly OscillatorParameters HandParameters = new() { Mass = 1, Damping = 0, TimeStep = 0.1, Steps = 2 };

    private static Trajectory[] HandTrajectories() =>
    [
        new(HandParameters, [0, 0.1, 0.2], [1, 0.8, 0.4], [-1, -3, -2], [0, 1, 0]),
        new(HandParameters, [0, 0.1, 0.2], [0, 0.5, 0.5], [2, 1, 0], [2, 0, 0]),
    ];

    [Fact]
    public void PersistenceBaselinesOnAHandMadeCase()
    {
        Trajectory[] trajectories = HandTrajectories();

        // Free run from x0: A errors 0.2^2, 0.6^2; B errors 0.5^2, 0.5^2.
        Assert.Equal((0.04 + 0.25) / 2, OscillatorBaselines.PersistenceFreeRunMse(trajectories, 1), 1e-15);
        Assert.Equal((0.04 + 0.36 + 0.25 + 0.25) / 4, OscillatorBaselines.PersistenceFreeRunMse(trajectories, 2), 1e-15);

        // One step from the set: inputs x = (1, 0.8), (0, 0.5); targets (0.8, 0.4), (0.5, 0.5).
        var set = new SequenceSet(2, 2, ["x", "force"], ["x_next"], [1, 0, 0.8, 1, 0, 2, 0.5, 0], [0.8, 0.4, 0.5, 0.5]);
        Assert.Equal((0.04 + 0.16 + 0.25 + 0) / 4, OscillatorBaselines.PersistenceOneStepMse(set), 1e-15);
    }

    [Fact]
    public void EulerBaselinesOnAHandMadeCase()
    {
        Trajectory[] trajectories = HandTrajectories();

        // One step, x + 0.1 v: A predicts 0.9, 0.5 (truth 0.8, 0.4); B predicts 0.2, 0.6 (truth 0.5, 0.5).
        Assert.Equal((0.01 + 0.01 + 0.09 + 0.01) / 4, OscillatorBaselines.EulerOneStepMse(trajectories, 1, 0, 0.1), 1e-15);

        // Free run with m = 2, eta = 0.5, dt = 0.1:
        //   A: x1 = 0.9, v1 = -1 + 0.1 (0 + 0.25 - 0.5) = -1.025, x2 = 0.7975 -> errors 0.1^2, 0.3975^2
        //   B: x1 = 0.2, v1 = 2 + 0.1 (1 - 0.5 - 0) = 2.05, x2 = 0.405   -> errors 0.3^2, 0.095^2
        double expected = (0.01 + 0.15800625 + 0.09 + 0.009025) / 4;
        Assert.Equal(expected, OscillatorBaselines.EulerFreeRunMse(trajectories, 2, 0.5, 0.1, 2), 1e-14);
        Assert.Equal((0.01 + 0.09) / 2, OscillatorBaselines.EulerFreeRunMse(trajectories, 2, 0.5, 0.1, 1), 1e-15);
    }

    [Fact]
    public void EulerFreeRunIsExactOnExplicitEulerData()
    {
        var p = new OscillatorParameters { Mass = 1.4, Damping = 0.3, TimeStep = 0.07, Steps = 60, Integrator = Integrator.ExplicitEuler, Forcing = new Forcing(ForcingKind.Noise, 0.8) };
        Trajectory[] trajectories = [Oscillator.Simulate(p, 1), Oscillator.Simulate(p with { X0 = -0.4, V0 = 0.6 }, 2)];
        Assert.Equal(0.0, OscillatorBaselines.EulerFreeRunMse(trajectories, 1.4, 0.3, 0.07, 60));
        Assert.Equal(0.0, OscillatorBaselines.EulerOneStepMse(trajectories, 1.4, 0.3, 0.07));
        Assert.True(OscillatorBaselines.EulerFreeRunMse(trajectories, 1.4, 0.0, 0.07, 60) > 1e-6); // wrong damping shows
    }

    [Fact]
    public void BaselineHorizonIsChecked()
    {
        Trajectory[] trajectories = HandTrajectories();
        Assert.Equal("horizon: expected a number of steps in 1..2, got 3.",
            Assert.Throws<UnrollException>(() => OscillatorBaselines.PersistenceFreeRunMse(trajectories, 3)).Message);
        Assert.Throws<UnrollException>(() => OscillatorBaselines.EulerFreeRunMse(trajectories, 1, 0, 0.1, 0));
    }

    [Fact]
    public void PersistenceNeedsThePositionColumns()
    {
        var set = new SequenceSet(1, 1, ["a"], ["b"], [1.0], [2.0]);
        Assert.Equal("Sequence set: expected an input column named 'x', got columns 'a'.",
            Assert.Throws<UnrollException>(() => OscillatorBaselines.PersistenceOneStepMse(set)).Message);
    }
}
