using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.ML;

/// <summary>
/// The names of the columns an Unroll transformer works on inside its chain. The mappings that ML.NET rebuilds when it
/// loads a model know only their own classes, so they read and write these fixed names; copies at the chain's ends
/// connect them to the user's columns, and the chain drops them before it ends.
/// </summary>
internal static class InternalColumns
{
    public const string Features = "__Unroll.Features";
    public const string ModelKey = "__Unroll.ModelKey";
    public const string Model = "__Unroll.Model";
    public const string Score = "__Unroll.Score";
    public const string PredictedLabel = "__Unroll.PredictedLabel";

    /// <summary>The one key of the chain's value map: every row maps it to the model.</summary>
    public const string ModelKeyValue = "model";

    public static readonly string[] All = [Features, ModelKey, Model, Score, PredictedLabel];
}

/// <summary>A row that reads nothing (the model key's mapping needs no input).</summary>
internal sealed class UnrollNoInput
{
}

/// <summary>The model key of every row: the value map's key that yields the model.</summary>
internal sealed class UnrollModelKeyRow
{
    /// <summary>Always <c>"model"</c>.</summary>
    [ColumnName(InternalColumns.ModelKey)]
    public string ModelKey { get; set; } = InternalColumns.ModelKeyValue;
}

/// <summary>What the prediction mapping reads from a row: the sequence and the model (a safetensors file in base64).</summary>
internal sealed class UnrollSequenceRow
{
    /// <summary>T * I values, step after step.</summary>
    [ColumnName(InternalColumns.Features)]
    public VBuffer<float> Features { get; set; }

    /// <summary>The model file, base64.</summary>
    [ColumnName(InternalColumns.Model)]
    public ReadOnlyMemory<char> Model { get; set; }
}

/// <summary>One value per sequence.</summary>
internal sealed class UnrollScalarScoreRow
{
    /// <summary>The prediction.</summary>
    [ColumnName(InternalColumns.Score)]
    public float Score { get; set; }
}

/// <summary>Several values per sequence or per step, or a forecast.</summary>
internal sealed class UnrollVectorScoreRow
{
    /// <summary>The predictions.</summary>
    [ColumnName(InternalColumns.Score)]
    public float[] Score { get; set; } = [];
}

/// <summary>Class probabilities and the most probable class.</summary>
internal sealed class UnrollClassRow
{
    /// <summary>The class probabilities, in key order.</summary>
    [ColumnName(InternalColumns.Score)]
    public float[] Score { get; set; } = [];

    /// <summary>The most probable class as its key value (1 to K); the chain turns it into a key with the label's key values.</summary>
    [ColumnName(InternalColumns.PredictedLabel)]
    public uint PredictedLabel { get; set; }
}

/// <summary>The contract names ML.NET saves for the mappings, and finds the factories below by when it loads a model.</summary>
internal static class Contracts
{
    public const string ModelKey = "Unroll.ML.ModelKey";
    public const string ScalarScore = "Unroll.ML.ScalarScore";
    public const string VectorScore = "Unroll.ML.VectorScore";
    public const string Forecast = "Unroll.ML.Forecast";
    public const string Classes = "Unroll.ML.Classes";
}

/// <summary>ML.NET's factory for the model key's mapping (found by its contract name when a model loads).</summary>
[CustomMappingFactoryAttribute(Contracts.ModelKey)]
internal sealed class UnrollModelKeyFactory : CustomMappingFactory<UnrollNoInput, UnrollModelKeyRow>
{
    /// <inheritdoc/>
    public override Action<UnrollNoInput, UnrollModelKeyRow> GetMapping() => RowMappings.ModelKey;
}

/// <summary>ML.NET's factory for one value per sequence.</summary>
[CustomMappingFactoryAttribute(Contracts.ScalarScore)]
internal sealed class UnrollScalarScoreFactory : CustomMappingFactory<UnrollSequenceRow, UnrollScalarScoreRow>
{
    /// <inheritdoc/>
    public override Action<UnrollSequenceRow, UnrollScalarScoreRow> GetMapping() => RowMappings.ScalarScore;
}

/// <summary>ML.NET's factory for vectors per sequence or per step.</summary>
[CustomMappingFactoryAttribute(Contracts.VectorScore)]
internal sealed class UnrollVectorScoreFactory : CustomMappingFactory<UnrollSequenceRow, UnrollVectorScoreRow>
{
    /// <inheritdoc/>
    public override Action<UnrollSequenceRow, UnrollVectorScoreRow> GetMapping() => RowMappings.VectorScore;
}

/// <summary>ML.NET's factory for the forecast of the next step.</summary>
[CustomMappingFactoryAttribute(Contracts.Forecast)]
internal sealed class UnrollForecastFactory : CustomMappingFactory<UnrollSequenceRow, UnrollVectorScoreRow>
{
    /// <inheritdoc/>
    public override Action<UnrollSequenceRow, UnrollVectorScoreRow> GetMapping() => RowMappings.Forecast;
}

/// <summary>ML.NET's factory for class probabilities.</summary>
[CustomMappingFactoryAttribute(Contracts.Classes)]
internal sealed class UnrollClassesFactory : CustomMappingFactory<UnrollSequenceRow, UnrollClassRow>
{
    /// <inheritdoc/>
    public override Action<UnrollSequenceRow, UnrollClassRow> GetMapping() => RowMappings.Classes;
}

/// <summary>
/// The mappings themselves: each row's sequence run through the model its row carries (decoded once per model, see
/// <see cref="ModelCache"/>) from a zero state, one sequence at a time, as <c>unroll predict</c> runs them.
/// </summary>
internal static class RowMappings
{
    public static void ModelKey(UnrollNoInput source, UnrollModelKeyRow destination) => destination.ModelKey = InternalColumns.ModelKeyValue;

    public static void ScalarScore(UnrollSequenceRow source, UnrollScalarScoreRow destination)
    {
        var predictions = Run(source, out _);
        destination.Score = predictions[0];
    }

    public static void VectorScore(UnrollSequenceRow source, UnrollVectorScoreRow destination)
    {
        var predictions = Run(source, out _);
        destination.Score = Fill(destination.Score, predictions);
    }

    public static void Forecast(UnrollSequenceRow source, UnrollVectorScoreRow destination)
    {
        var predictions = Run(source, out var config);
        // Every step's prediction is the next step; the last one is the step after the sequence.
        destination.Score = Fill(destination.Score, predictions[^config.OutputSize..]);
    }

    public static void Classes(UnrollSequenceRow source, UnrollClassRow destination)
    {
        var logits = Run(source, out _);
        var probabilities = destination.Score.Length == logits.Length ? destination.Score : new float[logits.Length];
        destination.PredictedLabel = (uint)Softmax(logits, probabilities) + 1;
        destination.Score = probabilities;
    }

    /// <summary>
    /// Softmax with the largest logit subtracted, in double as <c>unroll predict</c> computes it; returns the index of the
    /// largest logit (the first of equals).
    /// </summary>
    internal static int Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        float max = float.NegativeInfinity;
        int best = 0;
        for (int c = 0; c < logits.Length; c++)
        {
            (max, best) = logits[c] > max ? (logits[c], c) : (max, best);
        }

        double sum = 0;
        for (int c = 0; c < logits.Length; c++)
        {
            sum += Math.Exp(logits[c] - max);
        }

        for (int c = 0; c < logits.Length; c++)
        {
            probabilities[c] = (float)(Math.Exp(logits[c] - max) / sum);
        }

        return best;
    }

    private static float[] Fill(float[] reused, ReadOnlySpan<float> values)
    {
        var result = reused.Length == values.Length ? reused : new float[values.Length];
        values.CopyTo(result);
        return result;
    }

    // The predictions of one sequence: [T, O] for per-step models, [O] for last-step ones.
    private static float[] Run(UnrollSequenceRow source, out ModelConfig config)
    {
        var model = ModelCache.Get(source.Model);
        config = model.Config;
        var features = source.Features;
        int width = HeadLoss.InputWidth(config), length = features.Length;
        if (length == 0 || length % width != 0)
        {
            throw new UnrollException(
                $"{model.FeatureColumn}: expected a whole number of steps of {width} value{(width == 1 ? string.Empty : "s")} (T * {width}, T >= 1), got {length} values.");
        }

        var x = new float[length];
        features.CopyTo(x);
        for (int i = 0; i < x.Length; i++)
        {
            if (!float.IsFinite(x[i]))
            {
                throw new UnrollException($"{model.FeatureColumn}: expected finite values, got {x[i]} at position {i} (step {i / width}).");
            }
        }

        return model.Predict(x, length / width);
    }
}

/// <summary>
/// Models decoded from the base64 safetensors text a row carries, kept for as long as they are used: every row of a
/// chain carries the same text (the value map hands out the one value it holds), so the model is decoded once, not per
/// row. The text is looked up first by the object that holds it (free), then by a digest of its contents (a new cursor
/// may hand out a copy). Each entry lends a model instance to one row at a time, so concurrent cursors never share one.
/// </summary>
internal static class ModelCache
{
    private static readonly ConditionalWeakTable<object, CachedModel> ByOwner = new();
    private static readonly Dictionary<string, WeakReference<CachedModel>> ByContent = new(StringComparer.Ordinal);

    /// <summary>How many times a model was decoded (tests check that it happens once per model).</summary>
    internal static int Decodes;

    public static CachedModel Get(ReadOnlyMemory<char> text)
    {
        object? owner = MemoryMarshal.TryGetString(text, out string? s, out _, out _) ? s
            : MemoryMarshal.TryGetArray(text, out ArraySegment<char> segment) ? segment.Array : null;
        if (owner is not null && ByOwner.TryGetValue(owner, out var cached))
        {
            return cached;
        }

        string digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(MemoryMarshal.AsBytes(text.Span)));
        lock (ByContent)
        {
            // Cursors that start together (ML.NET runs parallel ones) wait for one decode instead of each doing it.
            if (!ByContent.TryGetValue(digest, out var known) || !known.TryGetTarget(out cached))
            {
                Interlocked.Increment(ref Decodes);
                cached = CachedModel.Decode(text);
                ByContent[digest] = new WeakReference<CachedModel>(cached);
            }
        }

        if (owner is not null)
        {
            ByOwner.AddOrUpdate(owner, cached);
        }

        return cached;
    }
}

/// <summary>A decoded model: its config and weights, and instances lent to one row at a time.</summary>
internal sealed class CachedModel
{
    private readonly System.Collections.Concurrent.ConcurrentBag<IRecurrentModel<float>> _idle = [];
    private readonly float[] _weights;

    private CachedModel(IRecurrentModel<float> model, string featureColumn)
    {
        Config = model.Config;
        FeatureColumn = featureColumn;
        _weights = model.Parameters.Values;
        _idle.Add(model);
    }

    public ModelConfig Config { get; }

    /// <summary>The user's name of the feature column, for messages.</summary>
    public string FeatureColumn { get; }

    public static CachedModel Decode(ReadOnlyMemory<char> text)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text.ToString());
        }
        catch (FormatException e)
        {
            throw new UnrollException($"{InternalColumns.Model}: expected an Unroll model file in base64, got text that is not base64 ({text.Length} characters).", e);
        }

        var loaded = ModelBytes.Read(bytes);
        return new CachedModel(loaded.Model, loaded.Metadata.GetValueOrDefault(ModelBytes.FeatureColumnKey) ?? "features");
    }

    /// <summary>The predictions of one sequence of <paramref name="steps"/> steps, run from a zero state.</summary>
    public float[] Predict(float[] inputs, int steps)
    {
        if (!_idle.TryTake(out var model))
        {
            model = RecurrentModels.Create<float>(Config);
            _weights.CopyTo(model.Parameters.Values, 0);
        }

        try
        {
            model.Training = false;
            model.Run(inputs, ReadOnlySpan<float>.Empty, steps, batch: 1);
            return model.Predictions.ToArray();
        }
        finally
        {
            _idle.Add(model);
        }
    }
}
