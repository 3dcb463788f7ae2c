using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Data;
using Unroll.Training;

using Unroll.Models;

namespace Unroll.Data;

/// <summary>
/// A forecaster's test figures on the oscillator beside the two baselines.
/// </summary>
/// <param name="Sequences">Test sequences evaluated.</param>
/// <param name="Steps">Steps per sequence.</param>
/// <param name="Horizon">Steps of the free-running forecast.</param>
/// <param name="OneStepMse">The model's one-step MSE (true inputs at every step).</param>
/// <param name="FreeRunMse">The model's free-running MSE (its own predictions of x fed back).</param>
/// <param name="PersistenceOneStepMse">Predicting x_{t+1} = x_t.</param>
/// <param name="PersistenceFreeRunMse">Predicting x_0 for the whole horizon.</param>
/// <param name="EulerOneStepMse">One explicit Euler step from the true (x_t, v_t) with the true m and eta.</param>
/// <param name="EulerFreeRunMse">Explicit Euler from the true (x_0, v_0) with the true m, eta and forcing.</param>
internal sealed record OscillatorEvaluation(
    int Sequences, int Steps, int Horizon,
    double OneStepMse, double FreeRunMse,
    double PersistenceOneStepMse, double PersistenceFreeRunMse,
    double EulerOneStepMse, double EulerFreeRunMse)
{
    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    }, IO.EnumNames.Numbers, DataJsonContext.Default, DataJson.Enums);

    /// <summary>How many times lower the model's one-step MSE is than persistence's.</summary>
    public double OneStepGainOverPersistence => PersistenceOneStepMse / OneStepMse;

    /// <summary>Evaluates <paramref name="model"/> on the dataset's test split.</summary>
    /// <param name="model">A model with inputs (x, force) and output x_next.</param>
    /// <param name="dataset">The dataset whose test split and physical parameters are used.</param>
    /// <param name="horizon">Free-running steps; null for the whole sequence.</param>
    public static OscillatorEvaluation Evaluate(IRecurrentModel<float> model, OscillatorDataset dataset, int? horizon = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dataset);
        var test = dataset.Test;
        int steps = horizon ?? test.Length;
        var options = dataset.Options;
        var oneStep = Forecasting.OneStep(model, test);
        var freeRun = Forecasting.FreeRun(model, test,
            test.InputColumn(OscillatorDataset.PositionColumn), test.TargetColumn(OscillatorDataset.NextPositionColumn), steps);
        return new OscillatorEvaluation(
            test.Count, test.Length, steps,
            Forecasting.MeanSquaredError(oneStep, test, test.Length),
            Forecasting.MeanSquaredError(freeRun, test, steps),
            OscillatorBaselines.PersistenceOneStepMse(test),
            OscillatorBaselines.PersistenceFreeRunMse(dataset.TestTrajectories, steps),
            OscillatorBaselines.EulerOneStepMse(dataset.TestTrajectories, options.Mass, options.Damping, options.TimeStep),
            OscillatorBaselines.EulerFreeRunMse(dataset.TestTrajectories, options.Mass, options.Damping, options.TimeStep, steps));
    }

    /// <summary>The figures as indented JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<OscillatorEvaluation>(JsonOptions));
}

/// <summary>The oscillator data a model was trained on, stored in its file so evaluation can rebuild the test set.</summary>
/// <param name="Options">The dataset options.</param>
/// <param name="Seed">The dataset seed.</param>
/// <param name="Horizon">The free-running forecast horizon the run is evaluated with; null for the whole sequence.</param>
internal sealed record OscillatorDataDescription(OscillatorDatasetOptions Options, int Seed, int? Horizon = null)
{
    /// <summary>The model-file metadata key.</summary>
    public const string MetadataKey = "unroll.data";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    }, IO.EnumNames.Declared, DataJsonContext.Default, DataJson.Enums);

    /// <summary>As compact JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<OscillatorDataDescription>(JsonOptions));

    /// <summary>Reads the description from JSON.</summary>
    /// <exception cref="UnrollException">The JSON does not describe oscillator data.</exception>
    public static OscillatorDataDescription FromJson(string json)
    {
        try
        {
            var description = IO.Json.Deserialize(json, JsonOptions, new OscillatorDataDescription(new OscillatorDatasetOptions(), 0))
                ?? throw new UnrollException("data description: expected a JSON object, got null.");
            if (description.Options is null)
            {
                // JSON null or a missing "options" leaves the property null; the record's type cannot say so.
                throw new UnrollException("data description: expected an 'options' object with the dataset options, got none.");
            }

            description.Options.Validate();
            if (description.Horizon is { } horizon && (horizon < 1 || horizon > description.Options.Steps))
            {
                throw new UnrollException($"data description: expected a horizon of 1 to {description.Options.Steps} steps (the sequence length), got {horizon}.");
            }

            return description;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"data description: expected oscillator dataset options as JSON, got invalid JSON ({e.Message}).", e);
        }
    }
}
