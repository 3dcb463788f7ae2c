using Microsoft.ML;
using Microsoft.ML.Data;
using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.ML;

/// <summary>
/// The rows of an <see cref="IDataView"/> as sequences for training: each row's features (T * I values) and its target
/// laid out as <see cref="Training.Trainer"/> reads it (per step, [T, W]: W = O values, or 1 class id). Rows of the same length
/// form one <see cref="SequenceSet"/>.
/// </summary>
internal sealed class SequenceData
{
    private SequenceData(List<(float[] Inputs, float[] Targets)> rows, int inputSize, int outputSize, int targetWidth, bool scalarLabel, IReadOnlyList<string> classNames)
    {
        Rows = rows;
        ClassNames = classNames;
        InputSize = inputSize;
        OutputSize = outputSize;
        TargetWidth = targetWidth;
        ScalarLabel = scalarLabel;
    }

    /// <summary>Each row's inputs [T, I] and targets [T, W].</summary>
    public List<(float[] Inputs, float[] Targets)> Rows { get; }

    public int InputSize { get; }

    /// <summary>O, the model's outputs per answer (classes for classification).</summary>
    public int OutputSize { get; }

    /// <summary>W, the target columns per step (O, or 1 for a class id).</summary>
    public int TargetWidth { get; }

    /// <summary>Whether the label is one float per row (the output is then one float too).</summary>
    public bool ScalarLabel { get; }

    /// <summary>A classifier's class names in key order: the label's key values as text, or "1" to "K" when it has none.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The sequences of <paramref name="indices"/>, grouped by length, shortest first.</summary>
    public List<SequenceSet> Sets(IEnumerable<int> indices)
    {
        var inputNames = Enumerable.Range(0, InputSize).Select(i => $"x{i}").ToArray();
        var targetNames = Enumerable.Range(0, TargetWidth).Select(i => $"y{i}").ToArray();
        return indices.GroupBy(i => Rows[i].Inputs.Length / InputSize).OrderBy(g => g.Key).Select(group =>
        {
            var members = group.ToList();
            var inputs = members.SelectMany(i => Rows[i].Inputs).Select(v => (double)v).ToArray();
            var targets = members.SelectMany(i => Rows[i].Targets).Select(v => (double)v).ToArray();
            return new SequenceSet(members.Count, group.Key, inputNames, targetNames, inputs, targets);
        }).ToList();
    }

    /// <summary>Reads the feature and label columns of every row.</summary>
    /// <exception cref="UnrollException">A column is missing or of another type, or a row holds no whole number of steps or a value that is not finite.</exception>
    public static SequenceData Read(IDataView data, UnrollSequenceOptions options, SequenceTarget target)
    {
        int inputSize = options.InputSize;
        var features = FeatureColumn(data.Schema, options.FeatureColumnName);
        DataViewSchema.Column? label = target == SequenceTarget.Forecasting ? null : LabelColumn(data.Schema, options.LabelColumnName, target);
        var active = label is { } l ? new[] { features, l } : new[] { features };
        var rows = new List<(float[], float[])>();
        using var cursor = data.GetRowCursor(active);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
        ValueGetter<float>? getScalar = null;
        ValueGetter<VBuffer<float>>? getVector = null;
        ValueGetter<uint>? getKey = null;
        bool scalarLabel = false;
        int classes = 0;
        switch (label?.Type)
        {
            case KeyDataViewType key:
                getKey = cursor.GetGetter<uint>(label.Value);
                classes = checked((int)key.Count);
                break;
            case VectorDataViewType:
                getVector = cursor.GetGetter<VBuffer<float>>(label!.Value);
                break;
            case not null:
                getScalar = cursor.GetGetter<float>(label!.Value);
                scalarLabel = true;
                break;
        }

        VBuffer<float> featureValues = default, labelValues = default;
        int outputSize = target switch
        {
            SequenceTarget.SequenceClassification => classes,
            SequenceTarget.Forecasting => inputSize,
            _ => scalarLabel ? 1 : 0, // a vector label's width comes from the first row
        };
        long row = -1;
        while (cursor.MoveNext())
        {
            row++;
            getFeatures(ref featureValues);
            var x = Finite(featureValues.DenseValues().ToArray(), options.FeatureColumnName, row);
            if (x.Length == 0 || x.Length % inputSize != 0)
            {
                throw new UnrollException(
                    $"{options.FeatureColumnName}, row {row}: expected a whole number of steps of InputSize = {inputSize} values (T * {inputSize}, T >= 1), got {x.Length} values.");
            }

            int steps = x.Length / inputSize;
            if (target == SequenceTarget.Forecasting && steps < 2)
            {
                throw new UnrollException($"{options.FeatureColumnName}, row {row}: forecasting learns each step from the ones before it; expected at least 2 steps, got {steps}.");
            }

            float[] y;
            switch (target)
            {
                case SequenceTarget.Forecasting:
                    // Inputs are steps 0..T-2, targets steps 1..T-1: every step predicts the next.
                    y = x[inputSize..];
                    x = x[..^inputSize];
                    break;
                case SequenceTarget.SequenceClassification:
                    uint keyValue = 0;
                    getKey!(ref keyValue);
                    if (keyValue == 0 || keyValue > classes)
                    {
                        throw new UnrollException($"{options.LabelColumnName}, row {row}: expected a class (a key from 1 to {classes}), got {(keyValue == 0 ? "a missing value" : keyValue.ToString(System.Globalization.CultureInfo.InvariantCulture))}.");
                    }

                    // The class id at every step: the last-step head reads only step T-1's.
                    y = Enumerable.Repeat((float)(keyValue - 1), steps).ToArray();
                    break;
                default:
                    float[] values;
                    if (getScalar is not null)
                    {
                        float value = 0;
                        getScalar(ref value);
                        values = [value];
                    }
                    else
                    {
                        getVector!(ref labelValues);
                        values = labelValues.DenseValues().ToArray();
                    }

                    values = Finite(values, options.LabelColumnName, row);
                    y = target == SequenceTarget.StepRegression ? StepTargets(values, steps, ref outputSize, options.LabelColumnName, row) : SequenceTargets(values, steps, ref outputSize, options.LabelColumnName, row);
                    break;
            }

            rows.Add((x, y));
        }

        if (rows.Count == 0)
        {
            throw new UnrollException($"training data: expected at least one row, got none.");
        }

        int targetWidth = target == SequenceTarget.SequenceClassification ? 1 : outputSize;
        var classNames = target == SequenceTarget.SequenceClassification ? KeyNames(label!.Value, classes) : [];
        return new SequenceData(rows, inputSize, outputSize, targetWidth, scalarLabel, classNames);
    }

    /// <summary>The feature column: a vector of float.</summary>
    public static DataViewSchema.Column FeatureColumn(DataViewSchema schema, string name)
    {
        var column = Column(schema, name, "FeatureColumnName");
        if (column.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Single)
        {
            throw new UnrollException($"{name}: expected a vector of float (T * InputSize values per row), got a column of type {column.Type}.");
        }

        return column;
    }

    /// <summary>The label column the target needs: a key for classification, a float or vector of float for regression.</summary>
    public static DataViewSchema.Column LabelColumn(DataViewSchema schema, string name, SequenceTarget target)
    {
        var column = Column(schema, name, "LabelColumnName");
        var type = column.Type;
        bool fits = target switch
        {
            SequenceTarget.SequenceClassification => type is KeyDataViewType { Count: > 0 and <= int.MaxValue },
            SequenceTarget.StepRegression => type is VectorDataViewType { ItemType: var item } && item == NumberDataViewType.Single,
            _ => type == NumberDataViewType.Single || (type is VectorDataViewType { ItemType: var item2 } && item2 == NumberDataViewType.Single),
        };
        if (!fits)
        {
            string expected = target switch
            {
                SequenceTarget.SequenceClassification => "a key (convert the labels with mlContext.Transforms.Conversion.MapValueToKey)",
                SequenceTarget.StepRegression => "a vector of float (T * O values per row)",
                _ => "a float or a vector of float",
            };
            throw new UnrollException($"{name}: expected {expected}, got a column of type {type}.");
        }

        return column;
    }

    // The key values of a key column as text (what MapValueToKey recorded: the original labels), or "1" to "K".
    private static string[] KeyNames(DataViewSchema.Column label, int classes)
    {
        var type = label.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type as VectorDataViewType;
        string[]? names = type?.ItemType.RawType switch
        {
            var t when t == typeof(ReadOnlyMemory<char>) => Names<ReadOnlyMemory<char>>(label, v => v.ToString()),
            var t when t == typeof(float) => Names<float>(label, v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
            var t when t == typeof(double) => Names<double>(label, v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
            var t when t == typeof(int) => Names<int>(label, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            var t when t == typeof(uint) => Names<uint>(label, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            var t when t == typeof(long) => Names<long>(label, v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            var t when t == typeof(bool) => Names<bool>(label, v => v ? "true" : "false"),
            _ => null,
        };
        // The names become a key again, numbered in this order: they must be one per class and distinct.
        return names is not null && names.Length == classes && names.Distinct(StringComparer.Ordinal).Count() == classes
            ? names
            : [.. Enumerable.Range(1, classes).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture))];
    }

    private static string[] Names<T>(DataViewSchema.Column label, Func<T, string> text)
    {
        VBuffer<T> values = default;
        label.GetKeyValues(ref values);
        return [.. values.DenseValues().Select(text)];
    }

    private static DataViewSchema.Column Column(DataViewSchema schema, string name, string option)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new UnrollException($"{option}: expected the name of a column, got an empty one.");
        }

        return schema.GetColumnOrNull(name)
            ?? throw new UnrollException($"{option}: expected a column '{name}' in the data, got the columns {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"'{c.Name}'"))}.");
    }

    private static float[] Finite(float[] values, string column, long row)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new UnrollException($"{column}, row {row}: expected finite values, got {values[i]} at position {i}.");
            }
        }

        return values;
    }

    private static float[] SequenceTargets(float[] values, int steps, ref int outputSize, string column, long row)
    {
        if (outputSize == 0)
        {
            outputSize = values.Length;
        }

        if (values.Length != outputSize || outputSize == 0)
        {
            throw new UnrollException($"{column}, row {row}: expected {Math.Max(outputSize, 1)} value(s) per sequence, as the first row has, got {values.Length}.");
        }

        // The answer at every step: the last-step head reads only step T-1's.
        var y = new float[steps * outputSize];
        for (int t = 0; t < steps; t++)
        {
            values.CopyTo(y, t * outputSize);
        }

        return y;
    }

    private static float[] StepTargets(float[] values, int steps, ref int outputSize, string column, long row)
    {
        if (outputSize == 0)
        {
            if (values.Length == 0 || values.Length % steps != 0)
            {
                throw new UnrollException($"{column}, row {row}: expected O values for each of the row's {steps} steps (T * O), got {values.Length}.");
            }

            outputSize = values.Length / steps;
        }

        if (values.Length != steps * outputSize)
        {
            throw new UnrollException($"{column}, row {row}: expected {outputSize} value(s) for each of the row's {steps} steps ({steps * outputSize}), got {values.Length}.");
        }

        return values;
    }
}
