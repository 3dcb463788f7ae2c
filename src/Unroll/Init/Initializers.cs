using System.Numerics;
using Unroll.Models;

namespace Unroll.Init;

/// <summary>Weight initialisations.</summary>
public static class Initializers
{
    /// <summary>
    /// PyTorch's defaults: every torch.nn.RNN parameter ~ U(-1/sqrt(H), 1/sqrt(H)); the head as
    /// nn.Linear, weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (H is the head's fan-in).
    /// </summary>
    public static void PyTorchDefault<T>(SequenceModel<T> model, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(random);
        double bound = 1.0 / Math.Sqrt(model.Config.HiddenSize);
        foreach (var view in model.Parameters.Views)
        {
            Uniform(model.Parameters.Values.AsSpan(view.Offset, view.Length), -bound, bound, random);
        }
    }

    /// <summary>Fills <paramref name="values"/> with independent draws from U(low, high).</summary>
    public static void Uniform<T>(Span<T> values, double low, double high, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = T.CreateChecked(low + ((high - low) * random.NextDouble()));
        }
    }
}
