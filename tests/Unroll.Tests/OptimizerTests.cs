using System.Numerics;
using System.Text.Json;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>
/// SGD, Adagrad, RMSprop, Adam, AdamW and the learning-rate schedules against torch.optim 1.13
/// (Golden/optimizers.json, written by scripts/reference/optimizer_golden.py), plus checkpoint
/// round trips and the validation of settings.
/// </summary>
public class OptimizerTests
{
    private static readonly JsonElement Fixture =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "optimizers.json"))).RootElement;

    private static readonly double[] Initial = ReadVector(Fixture.GetProperty("initial"));

    private static readonly double[][] Gradients = Fixture.GetProperty("gradients").EnumerateArray().Select(ReadVector).ToArray();

    public static TheoryData<string> OptimizerCases => new(Fixture.GetProperty("optimizers").EnumerateObject().Select(p => p.Name));

    public static TheoryData<string> ScheduleCases => new(Fixture.GetProperty("schedules").EnumerateObject().Select(p => p.Name));

    /// <summary>Every configuration the fixture must hold, so a regenerated fixture cannot silently drop one.</summary>
    [Fact]
    public void FixtureCoversEveryOptimizerAndSchedule()
    {
        string[] optimizers =
        [
            "sgd", "sgd_momentum", "sgd_nesterov", "sgd_weight_decay", "adagrad", "adagrad_decay", "rmsprop", "rmsprop_centered",
            "rmsprop_momentum", "adam", "adam_amsgrad", "adam_weight_decay", "adamw", "adam_cosine", "adamw_warmup_cosine",
            "sgd_momentum_warmup_step",
        ];
        string[] schedules = ["constant", "step", "cosine", "cosine_min_rate", "linear", "warmup_constant", "warmup_cosine", "warmup_linear", "warmup_step"];
        Assert.All(optimizers, name => Assert.True(Fixture.GetProperty("optimizers").TryGetProperty(name, out _), name));
        Assert.All(schedules, name => Assert.True(Fixture.GetProperty("schedules").TryGetProperty(name, out _), name));
        Assert.True(Gradients.Length >= 6);
        Assert.Contains(Gradients, g => g.All(x => x == 0));
    }

    [Theory]
    [MemberData(nameof(OptimizerCases))]
    public void DoubleTrajectoryMatchesTorch(string name)
    {
        var entry = Fixture.GetProperty("optimizers").GetProperty(name);
        var optimizer = Optimizers.Create<double>(ReadSettings(entry.GetProperty("Settings")), Initial.Length);
        var expected = entry.GetProperty("Parameters").EnumerateArray().Select(ReadVector).ToArray();
        var expectedRates = ReadVector(entry.GetProperty("Rates"));
        var parameters = (double[])Initial.Clone();
        var schedule = ReadSchedule(entry, out int totalSteps);
        for (int step = 1; step <= Gradients.Length; step++)
        {
            optimizer.LearningRate = schedule.RateAt(optimizer.Settings.LearningRate, step, totalSteps);
            AssertClose(expectedRates[step - 1], optimizer.LearningRate, 1e-14, $"{name} rate at step {step}");
            optimizer.Step(parameters, Gradients[step - 1]);
            for (int i = 0; i < parameters.Length; i++)
            {
                AssertClose(expected[step - 1][i], parameters[i], 1e-12, $"{name} step {step}, parameter {i}");
            }
        }

        // The exported state has torch's names and values.
        var torchState = entry.GetProperty("State").EnumerateObject().ToDictionary(p => p.Name, p => ReadVector(p.Value));
        var state = optimizer.State;
        Assert.Equal(torchState.Keys.Order(StringComparer.Ordinal), state.Select(s => s.Name).Order(StringComparer.Ordinal));
        foreach (var (bufferName, values) in state)
        {
            for (int i = 0; i < values.Length; i++)
            {
                AssertClose(torchState[bufferName][i], values[i], 1e-12, $"{name} state {bufferName}[{i}]");
            }
        }

        if (entry.GetProperty("StepCount").ValueKind == JsonValueKind.Number)
        {
            Assert.Equal(entry.GetProperty("StepCount").GetInt32(), optimizer.StepCount);
        }
    }

    [Theory]
    [InlineData("sgd_nesterov")]
    [InlineData("adagrad_decay")]
    [InlineData("rmsprop_centered_momentum")]
    [InlineData("adam_amsgrad")]
    [InlineData("adamw_warmup_cosine")]
    public void FloatTrajectoryFollowsTorchToSinglePrecision(string name)
    {
        var entry = Fixture.GetProperty("optimizers").GetProperty(name);
        var optimizer = Optimizers.Create<float>(ReadSettings(entry.GetProperty("Settings")), Initial.Length);
        var expected = entry.GetProperty("Parameters").EnumerateArray().Select(ReadVector).ToArray();
        var parameters = Initial.Select(x => (float)x).ToArray();
        var schedule = ReadSchedule(entry, out int totalSteps);
        for (int step = 1; step <= Gradients.Length; step++)
        {
            optimizer.LearningRate = schedule.RateAt(optimizer.Settings.LearningRate, step, totalSteps);
            optimizer.Step(parameters, Gradients[step - 1].Select(g => (float)g).ToArray());
            for (int i = 0; i < parameters.Length; i++)
            {
                // A few single-precision roundings per step, compounded over eight steps.
                AssertClose(expected[step - 1][i], parameters[i], 1e-5, $"{name} step {step}, parameter {i}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(ScheduleCases))]
    public void ScheduleMatchesTorch(string name)
    {
        var entry = Fixture.GetProperty("schedules").GetProperty(name);
        var schedule = ReadSchedule(entry, out int totalSteps);
        double baseRate = entry.GetProperty("BaseRate").GetDouble();
        var expected = ReadVector(entry.GetProperty("Rates"));
        Assert.Equal(totalSteps, expected.Length);
        for (int step = 1; step <= totalSteps; step++)
        {
            // torch updates most schedules recursively (lr_t from lr_{t-1}); the closed form agrees to rounding.
            AssertClose(expected[step - 1], schedule.RateAt(baseRate, step, totalSteps), 1e-13, $"{name} step {step}");
        }
    }

    [Fact]
    public void EnumOverloadKeepsTheCosineAndConstantSchedules()
    {
        var expected = ReadVector(Fixture.GetProperty("schedules").GetProperty("cosine").GetProperty("Rates"));
        for (int step = 1; step <= expected.Length; step++)
        {
            AssertClose(expected[step - 1], LearningRateSchedules.RateAt(LearningRateSchedule.Cosine, 0.1, step, expected.Length), 1e-13, $"step {step}");
            Assert.Equal(0.1, LearningRateSchedules.RateAt(LearningRateSchedule.Constant, 0.1, step, expected.Length));
        }

        Assert.Contains("lr-step", Assert.Throws<UnrollException>(() => LearningRateSchedules.RateAt(LearningRateSchedule.Step, 0.1, 1, 10)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WarmupRampsLinearlyThenHandsOverToTheBaseScheduleAtItsStart()
    {
        // Five warm-up steps from 0.2 lr: 0.2, 0.36, 0.52, 0.68, 0.84 of lr, then cosine over the remaining 10 steps.
        var schedule = new ScheduleSettings { Kind = LearningRateSchedule.Cosine, WarmupSteps = 5, WarmupStartFactor = 0.2, MinRate = 0.5 };
        double[] factors = [0.2, 0.36, 0.52, 0.68, 0.84];
        for (int step = 1; step <= 5; step++)
        {
            Assert.Equal(2 * factors[step - 1], schedule.RateAt(2, step, 15), 14);
        }

        Assert.Equal(2, schedule.RateAt(2, 6, 15), 14);
        Assert.Equal(0.5 + (1.5 * 0.5), schedule.RateAt(2, 11, 15), 14); // halfway through the cosine
        Assert.True(schedule.RateAt(2, 15, 15) > 0.5);
    }

    [Fact]
    public void StepScheduleMultipliesByGammaEveryStepSizeSteps()
    {
        var schedule = new ScheduleSettings { Kind = LearningRateSchedule.Step, StepSize = 4, Gamma = 0.5 };
        double[] rates = Enumerable.Range(1, 12).Select(s => schedule.RateAt(8, s, 12)).ToArray();
        Assert.Equal([8, 8, 8, 8, 4, 4, 4, 4, 2, 2, 2, 2], rates);
    }

    [Theory]
    [MemberData(nameof(OptimizerCases))]
    public void ResumingFromExportedStateIsBitIdentical(string name) =>
        ResumeIsBitIdentical<double>(ReadSettings(Fixture.GetProperty("optimizers").GetProperty(name).GetProperty("Settings")));

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Adagrad)]
    [InlineData(OptimizerKind.RmsProp)]
    [InlineData(OptimizerKind.Adam)]
    [InlineData(OptimizerKind.AdamW)]
    public void ResumingInSinglePrecisionIsBitIdentical(OptimizerKind kind) =>
        ResumeIsBitIdentical<float>(new OptimizerSettings
        {
            Kind = kind,
            LearningRate = 0.01,
            Momentum = kind is OptimizerKind.Sgd or OptimizerKind.RmsProp ? 0.9 : 0,
            Centered = kind == OptimizerKind.RmsProp,
            Amsgrad = kind == OptimizerKind.Adam,
        });

    [Fact]
    public void LoadStateRejectsMismatchesAndLeavesTheOptimizerUntouched()
    {
        var settings = new OptimizerSettings { Kind = OptimizerKind.Adam, LearningRate = 0.01, Amsgrad = true };
        var optimizer = Optimizers.Create<double>(settings, 3);
        double[] parameters = [1, 2, 3];
        optimizer.Step(parameters, [0.5, -1, 2]);
        var before = optimizer.State;
        var good = before.ToList();

        var shortBuffer = good.Select(b => b.Name == "exp_avg" ? (b.Name, new double[2]) : b).ToList();
        Assert.Equal("optimizer state 'exp_avg': expected 3 values, got 2.", Assert.Throws<UnrollException>(() => optimizer.LoadState(5, shortBuffer)).Message);

        var missing = good.Where(b => b.Name != "max_exp_avg_sq").ToList();
        Assert.Equal(
            "optimizer state: expected exp_avg, exp_avg_sq, max_exp_avg_sq for adam, got exp_avg, exp_avg_sq.",
            Assert.Throws<UnrollException>(() => optimizer.LoadState(5, missing)).Message);

        var renamed = good.Select(b => b.Name == "exp_avg_sq" ? ("square_avg", b.Values) : b).ToList();
        Assert.Contains("got exp_avg, square_avg, max_exp_avg_sq", Assert.Throws<UnrollException>(() => optimizer.LoadState(5, renamed)).Message, StringComparison.Ordinal);

        var duplicated = good.Select(b => b.Name == "exp_avg_sq" ? ("exp_avg", b.Values) : b).ToList();
        Assert.Throws<UnrollException>(() => optimizer.LoadState(5, duplicated));
        Assert.Contains("step count >= 0", Assert.Throws<UnrollException>(() => optimizer.LoadState(-1, good)).Message, StringComparison.Ordinal);

        Assert.Equal(1, optimizer.StepCount);
        Assert.Equal(before.Select(b => b.Values), optimizer.State.Select(b => b.Values));

        // Plain SGD has no buffers; anything given is a mismatch.
        var sgd = Optimizers.Create<double>(OptimizerKind.Sgd, 0.1, 3);
        Assert.Empty(sgd.State);
        sgd.LoadState(7, []);
        Assert.Equal(7, sgd.StepCount);
        Assert.Equal("optimizer state: expected no buffers for sgd, got exp_avg.", Assert.Throws<UnrollException>(() => sgd.LoadState(1, [("exp_avg", new double[3])])).Message);
    }

    [Fact]
    public void ExportedStateIsACopy()
    {
        var optimizer = Optimizers.Create<double>(new OptimizerSettings { Kind = OptimizerKind.RmsProp, LearningRate = 0.01 }, 2);
        optimizer.Step(new double[] { 1, 1 }, [1, 2]);
        optimizer.State[0].Values[0] = 1e9;
        Assert.Equal(0.01 * 1, optimizer.State[0].Values[0], 15); // (1 - alpha) g^2 with alpha = 0.99
    }

    [Fact]
    public void AdamFirstStepMovesEachParameterByTheLearningRate()
    {
        // With m_hat = g and v_hat = g^2 after one step, the update is lr * g / (|g| + eps).
        var parameters = new[] { 1.0, 1.0, 1.0 };
        new Adam<double>(0.05, 3).Step(parameters, new[] { 3.0, -0.2, 1e-3 });
        Assert.Equal(1 - (0.05 * 3 / (3 + 1e-8)), parameters[0], 14);
        Assert.Equal(1 + (0.05 * 0.2 / (0.2 + 1e-8)), parameters[1], 14);
        Assert.Equal(1 - (0.05 * 1e-3 / (1e-3 + 1e-8)), parameters[2], 14);
    }

    [Fact]
    public void PlainSgdConstructorAcceptsAnyLength()
    {
        var sgd = new Sgd<float>(0.5);
        float[] parameters = [1, 2];
        sgd.Step(parameters, [2, -4]);
        Assert.Equal([0f, 4f], parameters);
        float[] longer = [1, 1, 1];
        sgd.Step(longer, [1, 1, 1]);
        Assert.Equal([0.5f, 0.5f, 0.5f], longer);
        Assert.Equal(2, sgd.StepCount);
        Assert.Empty(sgd.State);
    }

    [Fact]
    public void AdamWWithZeroGradientsOnlyDecaysTheWeights()
    {
        // m = v = 0, so the Adam step is 0 / eps = 0 and only theta (1 - lr lambda) remains, each step.
        var optimizer = Optimizers.Create<double>(new OptimizerSettings { Kind = OptimizerKind.AdamW, LearningRate = 0.1, WeightDecay = 0.5 }, 2);
        double[] parameters = [2, -4];
        for (int step = 0; step < 3; step++)
        {
            optimizer.Step(parameters, [0, 0]);
        }

        Assert.Equal(2 * Math.Pow(0.95, 3), parameters[0], 15);
        Assert.Equal(-4 * Math.Pow(0.95, 3), parameters[1], 15);
    }

    [Fact]
    public void SgdMomentumWithAConstantGradientSumsAGeometricSeries()
    {
        // b_1 = g, b_t = mu b_{t-1} + g, so after T steps theta moved by lr g sum_{t=1..T} (1 - mu^t) / (1 - mu).
        var optimizer = Optimizers.Create<double>(new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Momentum = 0.5 }, 1);
        double[] parameter = [0];
        double expected = 0;
        for (int t = 1; t <= 5; t++)
        {
            optimizer.Step(parameter, [2]);
            expected -= 0.1 * 2 * (1 - Math.Pow(0.5, t)) / 0.5;
            Assert.Equal(expected, parameter[0], 14);
        }
    }

    [Fact]
    public void AdagradWithConstantGradientTakesSteps()
    {
        // sum_t = t g^2, so the t-th step is lr g / (sqrt(t) |g| + eps) ~ lr / sqrt(t) in the gradient's direction.
        var optimizer = Optimizers.Create<double>(new OptimizerSettings { Kind = OptimizerKind.Adagrad, LearningRate = 0.3 }, 1);
        double[] parameter = [1];
        double expected = 1;
        for (int t = 1; t <= 4; t++)
        {
            optimizer.Step(parameter, [-4]);
            expected += 0.3 * 4 / ((Math.Sqrt(t) * 4) + 1e-10);
            Assert.Equal(expected, parameter[0], 14);
        }
    }

    [Fact]
    public void DefaultsFollowTorch()
    {
        var adamW = (AdamW<float>)Optimizers.Create<float>(OptimizerKind.AdamW, 1e-3, 4);
        Assert.Equal(0.01, adamW.Settings.EffectiveWeightDecay);
        Assert.Equal(1e-8, adamW.Settings.EffectiveEpsilon);
        var adagrad = Optimizers.Create<float>(OptimizerKind.Adagrad, 1e-2, 4);
        Assert.IsType<Adagrad<float>>(adagrad);
        Assert.Equal(1e-10, adagrad.Settings.EffectiveEpsilon);
        Assert.Equal(0, adagrad.Settings.EffectiveWeightDecay);
        var rmsProp = Optimizers.Create<float>(OptimizerKind.RmsProp, 1e-2, 4);
        Assert.Equal(0.99, rmsProp.Settings.Alpha);
        Assert.Equal(["square_avg"], rmsProp.State.Select(s => s.Name));
        var adam = (Adam<double>)Optimizers.Create<double>(OptimizerKind.Adam, 1e-3, 4);
        Assert.Equal((0.9, 0.999, 1e-8), (adam.Beta1, adam.Beta2, adam.Epsilon));
        Assert.Equal(0.05, Optimizers.Create<double>(OptimizerKind.Sgd, 0.05, 4).LearningRate);
    }

    [Theory]
    [InlineData("sgd", OptimizerKind.Sgd)]
    [InlineData("ADAM", OptimizerKind.Adam)]
    [InlineData(" AdamW ", OptimizerKind.AdamW)]
    [InlineData("adagrad", OptimizerKind.Adagrad)]
    [InlineData("RMSprop", OptimizerKind.RmsProp)]
    public void ParsesNames(string name, OptimizerKind kind)
    {
        Assert.Equal(kind, Optimizers.Parse(name));
        Assert.Equal(kind, Optimizers.Parse(Optimizers.Name(kind)));
    }

    [Fact]
    public void UnknownNamesAreNamed()
    {
        Assert.Equal("optimizer: expected sgd, adam, adamw, adagrad or rmsprop, got 'lbfgs'.", Assert.Throws<UnrollException>(() => Optimizers.Parse("lbfgs")).Message);
        Assert.Equal("lr-schedule: expected constant, step, cosine or linear, got 'cyclic'.", Assert.Throws<UnrollException>(() => LearningRateSchedules.Parse("cyclic")).Message);
        Assert.Equal(LearningRateSchedule.Step, LearningRateSchedules.Parse("Step"));
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd, "Momentum", 1.5, "momentum: expected a value in [0, 1), got 1.5.")]
    [InlineData(OptimizerKind.Sgd, "Momentum", -0.1, "momentum: expected a value in [0, 1), got -0.1.")]
    [InlineData(OptimizerKind.Sgd, "Dampening", 1.5, "dampening: expected a value in [0, 1], got 1.5.")]
    [InlineData(OptimizerKind.Sgd, "LearningRate", -1.0, "lr: expected a finite value >= 0, got -1.")]
    [InlineData(OptimizerKind.Sgd, "LearningRate", double.NaN, "lr: expected a finite value >= 0, got NaN.")]
    [InlineData(OptimizerKind.Adam, "WeightDecay", -0.01, "weight-decay: expected a finite value >= 0, got -0.01.")]
    [InlineData(OptimizerKind.Adam, "Beta1", 1.0, "beta1: expected a value in [0, 1), got 1.")]
    [InlineData(OptimizerKind.AdamW, "Beta2", -0.5, "beta2: expected a value in [0, 1), got -0.5.")]
    [InlineData(OptimizerKind.Adam, "Epsilon", double.PositiveInfinity, "eps: expected a finite value >= 0, got Infinity.")]
    [InlineData(OptimizerKind.RmsProp, "Alpha", 1.0, "alpha: expected a value in [0, 1), got 1.")]
    [InlineData(OptimizerKind.Adagrad, "LearningRateDecay", -1.0, "lr-decay: expected a finite value >= 0, got -1.")]
    [InlineData(OptimizerKind.Adagrad, "InitialAccumulatorValue", -1.0, "initial-accumulator: expected a finite value >= 0, got -1.")]
    [InlineData(OptimizerKind.Adam, "Momentum", 0.9, "momentum: expected only with sgd and rmsprop, got it with adam.")]
    [InlineData(OptimizerKind.Sgd, "Beta1", 0.8, "beta1: expected only with adam and adamw, got it with sgd.")]
    [InlineData(OptimizerKind.Adam, "Alpha", 0.9, "alpha: expected only with rmsprop, got it with adam.")]
    [InlineData(OptimizerKind.RmsProp, "LearningRateDecay", 0.1, "lr-decay: expected only with adagrad, got it with rmsprop.")]
    [InlineData(OptimizerKind.AdamW, "Dampening", 0.1, "dampening: expected only with sgd, got it with adamw.")]
    public void InvalidSettingsAreRejectedWithTheOptionName(OptimizerKind kind, string property, double value, string message)
    {
        var settings = new OptimizerSettings { Kind = kind, LearningRate = 0.01 };
        settings = property switch
        {
            "Momentum" => settings with { Momentum = value },
            "Dampening" => settings with { Dampening = value },
            "LearningRate" => settings with { LearningRate = value },
            "WeightDecay" => settings with { WeightDecay = value },
            "Beta1" => settings with { Beta1 = value },
            "Beta2" => settings with { Beta2 = value },
            "Epsilon" => settings with { Epsilon = value },
            "Alpha" => settings with { Alpha = value },
            "LearningRateDecay" => settings with { LearningRateDecay = value },
            "InitialAccumulatorValue" => settings with { InitialAccumulatorValue = value },
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        };
        var error = Assert.Throws<UnrollException>(() => Optimizers.Create<double>(settings, 3));
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void NesterovNeedsMomentumAndNoDampeningAndSgd()
    {
        var sgd = new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 0.1, Nesterov = true };
        Assert.Equal("nesterov: expected momentum > 0 and dampening 0, got momentum 0 and dampening 0.", Assert.Throws<UnrollException>(sgd.Validate).Message);
        Assert.Equal(
            "nesterov: expected momentum > 0 and dampening 0, got momentum 0.9 and dampening 0.1.",
            Assert.Throws<UnrollException>((sgd with { Momentum = 0.9, Dampening = 0.1 }).Validate).Message);
        (sgd with { Momentum = 0.9 }).Validate();
        Assert.Equal("nesterov: expected only with sgd, got it with adam.", Assert.Throws<UnrollException>((sgd with { Kind = OptimizerKind.Adam }).Validate).Message);
        Assert.Equal("amsgrad: expected only with adam and adamw, got it with rmsprop.", Assert.Throws<UnrollException>(new OptimizerSettings { Kind = OptimizerKind.RmsProp, LearningRate = 1, Amsgrad = true }.Validate).Message);
        Assert.Equal("centered: expected only with rmsprop, got it with sgd.", Assert.Throws<UnrollException>(new OptimizerSettings { Kind = OptimizerKind.Sgd, LearningRate = 1, Centered = true }.Validate).Message);
    }

    [Fact]
    public void StepRejectsMismatchedLengths()
    {
        var adam = Optimizers.Create<double>(OptimizerKind.Adam, 0.01, 3);
        Assert.Throws<ArgumentException>(() => adam.Step(new double[3], new double[2]));
        Assert.Throws<ArgumentException>(() => adam.Step(new double[4], new double[4]));
        Assert.Equal(0, adam.StepCount);
    }

    [Theory]
    [InlineData(LearningRateSchedule.Step, 0, 0.1, 0.0, 0, 1.0 / 3, 10, "lr-step: expected a step size >= 1 for the step schedule, got 0.")]
    [InlineData(LearningRateSchedule.Cosine, 5, 0.1, 0.0, 0, 1.0 / 3, 10, "lr-step: expected only with the step schedule, got it with cosine.")]
    [InlineData(LearningRateSchedule.Step, 5, 0.0, 0.0, 0, 1.0 / 3, 10, "lr-gamma: expected a finite factor > 0, got 0.")]
    [InlineData(LearningRateSchedule.Constant, 0, 0.5, 0.0, 0, 1.0 / 3, 10, "lr-gamma: expected only with the step schedule, got it with constant.")]
    [InlineData(LearningRateSchedule.Cosine, 0, 0.1, -1.0, 0, 1.0 / 3, 10, "lr-min: expected a finite rate >= 0, got -1.")]
    [InlineData(LearningRateSchedule.Step, 3, 0.1, 0.01, 0, 1.0 / 3, 10, "lr-min: expected only with the cosine and linear schedules, got it with step.")]
    [InlineData(LearningRateSchedule.Constant, 0, 0.1, 0.0, -2, 1.0 / 3, 10, "warmup: expected a number of steps >= 0, got -2.")]
    [InlineData(LearningRateSchedule.Constant, 0, 0.1, 0.0, 3, 0.0, 10, "warmup-start: expected a factor in (0, 1], got 0.")]
    [InlineData(LearningRateSchedule.Constant, 0, 0.1, 0.0, 0, 0.5, 10, "warmup-start: expected only with warmup > 0, got it without warm-up.")]
    [InlineData(LearningRateSchedule.Cosine, 0, 0.1, 0.0, 10, 1.0 / 3, 10, "warmup: expected fewer warm-up steps than the 10 steps of the run for the cosine schedule, got 10.")]
    [InlineData(LearningRateSchedule.Linear, 0, 0.1, 0.0, 12, 1.0 / 3, 10, "warmup: expected fewer warm-up steps than the 10 steps of the run for the linear schedule, got 12.")]
    [InlineData(LearningRateSchedule.Linear, 2, 0.1, 0.0, 0, 1.0 / 3, 10, "lr-step: expected only with the step schedule, got it with linear.")]
    [InlineData(LearningRateSchedule.Constant, 0, 0.1, 0.0, 0, 1.0 / 3, 0, "steps: expected at least 1, got 0.")]
    public void InvalidSchedulesAreRejectedWithTheOptionName(
        LearningRateSchedule kind, int stepSize, double gamma, double minRate, int warmup, double startFactor, int totalSteps, string message)
    {
        var schedule = new ScheduleSettings { Kind = kind, StepSize = stepSize, Gamma = gamma, MinRate = minRate, WarmupSteps = warmup, WarmupStartFactor = startFactor };
        Assert.Equal(message, Assert.Throws<UnrollException>(() => schedule.RateAt(0.1, 1, totalSteps)).Message);
    }

    [Fact]
    public void TheLinearScheduleFallsByEqualStepsToItsFloor()
    {
        // eta_min + (lr - eta_min)(1 - e/S), S = 10, lr = 0.1, eta_min = 0.01: 0.1, 0.091, ..., 0.019 at step 10.
        var schedule = new ScheduleSettings { Kind = LearningRateSchedule.Linear, MinRate = 0.01 };
        Assert.Equal(0.1, schedule.RateAt(0.1, 1, 10), 15);
        Assert.Equal(0.055, schedule.RateAt(0.1, 6, 10), 15);
        Assert.Equal(0.019, schedule.RateAt(0.1, 10, 10), 15);
        for (int step = 2; step <= 10; step++)
        {
            Assert.Equal(-0.009, schedule.RateAt(0.1, step, 10) - schedule.RateAt(0.1, step - 1, 10), 14);
        }

        Assert.Equal(LearningRateSchedule.Linear, LearningRateSchedules.Parse(" Linear "));
        Assert.Equal("linear", LearningRateSchedules.Name(LearningRateSchedule.Linear));
    }

    [Fact]
    public void WarmupMayOutlastTheRunForConstantAndStepSchedules()
    {
        var schedule = new ScheduleSettings { Kind = LearningRateSchedule.Step, StepSize = 2, WarmupSteps = 10, WarmupStartFactor = 0.5 };
        Assert.Equal(0.75, schedule.RateAt(1, 6, 5), 15);
    }

    /// <summary>Six steps in one go against three steps, an export, a fresh optimiser that loads it, and three more.</summary>
    private static void ResumeIsBitIdentical<T>(OptimizerSettings settings)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gradients = Gradients.Take(6).Select(g => g.Select(T.CreateChecked).ToArray()).ToArray();
        var rates = new[] { 1.0, 0.9, 0.5, 0.7, 0.3, 0.2 }.Select(f => f * settings.LearningRate).ToArray();
        var straight = Optimizers.Create<T>(settings, Initial.Length);
        var straightParameters = Initial.Select(T.CreateChecked).ToArray();
        for (int step = 0; step < 6; step++)
        {
            straight.LearningRate = rates[step];
            straight.Step(straightParameters, gradients[step]);
        }

        var first = Optimizers.Create<T>(settings, Initial.Length);
        var resumedParameters = Initial.Select(T.CreateChecked).ToArray();
        for (int step = 0; step < 3; step++)
        {
            first.LearningRate = rates[step];
            first.Step(resumedParameters, gradients[step]);
        }

        var exported = first.State;
        int stepCount = first.StepCount;
        var second = Optimizers.Create<T>(settings, Initial.Length);
        second.LoadState(stepCount, exported);
        Assert.Equal(3, second.StepCount);
        for (int step = 3; step < 6; step++)
        {
            second.LearningRate = rates[step];
            second.Step(resumedParameters, gradients[step]);
        }

        Assert.Equal(6, second.StepCount);
        Assert.Equal(Bits(straightParameters), Bits(resumedParameters));
        Assert.Equal(straight.State.Select(s => s.Name), second.State.Select(s => s.Name));
        Assert.Equal(straight.State.Select(s => Bits(s.Values)), second.State.Select(s => Bits(s.Values)));
    }

    private static long[] Bits<T>(T[] values)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        values.Select(v => BitConverter.DoubleToInt64Bits(double.CreateChecked(v))).ToArray();

    private static void AssertClose(double expected, double actual, double tolerance, string what) =>
        Assert.True(
            Math.Abs(actual - expected) <= tolerance * Math.Max(1, Math.Abs(expected)),
            $"{what}: expected {expected:R}, got {actual:R}");

    private static double[] ReadVector(JsonElement element) => element.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    private static OptimizerSettings ReadSettings(JsonElement settings)
    {
        double Number(string name, double fallback) => settings.TryGetProperty(name, out var value) ? value.GetDouble() : fallback;
        bool Flag(string name) => settings.TryGetProperty(name, out var value) && value.GetBoolean();
        return new OptimizerSettings
        {
            Kind = Optimizers.Parse(settings.GetProperty("Kind").GetString()!),
            LearningRate = settings.GetProperty("LearningRate").GetDouble(),
            Momentum = Number("Momentum", 0),
            Dampening = Number("Dampening", 0),
            Nesterov = Flag("Nesterov"),
            WeightDecay = settings.TryGetProperty("WeightDecay", out var decay) ? decay.GetDouble() : null,
            Beta1 = Number("Beta1", 0.9),
            Beta2 = Number("Beta2", 0.999),
            Epsilon = settings.TryGetProperty("Epsilon", out var epsilon) ? epsilon.GetDouble() : null,
            Alpha = Number("Alpha", 0.99),
            Centered = Flag("Centered"),
            Amsgrad = Flag("Amsgrad"),
            LearningRateDecay = Number("LearningRateDecay", 0),
            InitialAccumulatorValue = Number("InitialAccumulatorValue", 0),
        };
    }

    /// <summary>The entry's schedule (constant over the gradients when it has none) and the run length it was made for.</summary>
    private static ScheduleSettings ReadSchedule(JsonElement entry, out int totalSteps)
    {
        if (!entry.TryGetProperty("Schedule", out var schedule))
        {
            totalSteps = Gradients.Length;
            return new ScheduleSettings();
        }

        totalSteps = schedule.GetProperty("TotalSteps").GetInt32();
        return new ScheduleSettings
        {
            Kind = LearningRateSchedules.Parse(schedule.GetProperty("Kind").GetString()!),
            StepSize = schedule.TryGetProperty("StepSize", out var stepSize) ? stepSize.GetInt32() : 0,
            Gamma = schedule.TryGetProperty("Gamma", out var gamma) ? gamma.GetDouble() : 0.1,
            MinRate = schedule.TryGetProperty("MinRate", out var minRate) ? minRate.GetDouble() : 0,
            WarmupSteps = schedule.TryGetProperty("WarmupSteps", out var warmup) ? warmup.GetInt32() : 0,
            WarmupStartFactor = schedule.TryGetProperty("WarmupStartFactor", out var start) ? start.GetDouble() : 1.0 / 3,
        };
    }
}
