using System.Globalization;
using System.Numerics;
using Unroll.Cells;
using Unroll.Data;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Diagnostics;

/// <summary>
/// ||dh_t/dh_k||_2 against the lag t - k for one layer and direction of a model on real
/// sequences, beside the bound of Pascanu, Mikolov and Bengio (2013).
/// </summary>
/// <param name="Layer">The layer, from 0.</param>
/// <param name="Reverse">Whether this is the backward direction of a bidirectional layer (its lag is k - t).</param>
/// <param name="Cell">The cell.</param>
/// <param name="Sequences">How many sequences were measured.</param>
/// <param name="EndSteps">The end steps t (time indices) measured on every sequence.</param>
/// <param name="Norms">
/// Every measured spectral norm: <c>Norms[s][lag]</c> for sample s = sequence * EndSteps.Length + end
/// step index, lag = 0..<see cref="MaxLag"/> (lag 0 is the identity, norm 1).
/// </param>
/// <param name="GeometricMeanNorms">
/// Per lag, the geometric mean exp(mean log ||dh_t/dh_k||) over all samples: norms spread over
/// orders of magnitude, and the mean of logs is what the per-step rate describes. 0 when a sample is 0.
/// </param>
/// <param name="FittedRate">
/// exp(slope) of the least-squares line through (lag, log <see cref="GeometricMeanNorms"/>[lag]) for
/// lags 1..MaxLag with a positive mean (the same slope as a fit through every sample's logs): the
/// measured gain per step, &lt; 1 vanishing, &gt; 1 exploding. NaN with fewer than two such lags.
/// </param>
/// <param name="LargestSingularValue">beta_W = sigma_max(W_hh) for the Elman cell; NaN for gated cells.</param>
/// <param name="Gamma">The bound on |f'| of the Elman activation (1 for tanh, ReLU, identity; 1/4 for the sigmoid); NaN for gated cells.</param>
internal sealed record JacobianProfile(
    int Layer,
    bool Reverse,
    CellKind Cell,
    int Sequences,
    int[] EndSteps,
    double[][] Norms,
    double[] GeometricMeanNorms,
    double FittedRate,
    double LargestSingularValue,
    double Gamma)
{
    /// <summary>The largest lag measured.</summary>
    public int MaxLag => GeometricMeanNorms.Length - 1;

    /// <summary>
    /// beta_W gamma, the per-step factor of the bound ||dh_t/dh_k|| &lt;= (beta_W gamma)^(t-k), which
    /// holds for the Elman cell because dh_j/dh_{j-1} = diag(f'(z_j)) W_hh. For the LSTM and GRU it is
    /// not defined (NaN): their step Jacobian sums several gate paths, each a product of gate values,
    /// gate derivatives and a different W_hh block, not one matrix times a bounded derivative.
    /// </summary>
    public double BoundRate => LargestSingularValue * Gamma;

    /// <summary>The bound (beta_W gamma)^lag (NaN for gated cells).</summary>
    public double Bound(int lag) => Math.Pow(BoundRate, lag);
}

/// <summary>
/// Exact Jacobian products dh_t/dh_k of a trained recurrent layer on real sequences, and their
/// spectral norms against the lag t - k: the quantity behind vanishing and exploding gradients,
/// since dL_t/dh_k = dL_t/dh_t dh_t/dh_k.
/// </summary>
/// <remarks>
/// <para>
/// Computed in double from BPTT itself: the layer's direction is run up to step t as a one-layer
/// model, fed by the layer below's outputs (in evaluation mode, no dropout); H backward sweeps, the
/// i-th with dL/dh_t = e_i on its final state, give row i of dh_t/dh_k for every k &lt;= t at once
/// (the recorded dL/dh_k), batched as copies of the sequence (<see cref="SeedsPerPass"/> at a time)
/// and without the weight gradients. The spectral norm of each H x H matrix is its largest singular value
/// (<see cref="SingularValues.Largest"/>).
/// </para>
/// <para>
/// For the LSTM the state is the pair (h, c): dh_t/dh_k is taken with c_k held fixed as an
/// independent input, the path BPTT's dL/dh_k carries (h_k enters the gates at step k+1; c_k
/// reaches h_t through c_{k+1} = f c_k + i g, a separate path). For a reverse direction, t and k
/// are swapped in time (h_t depends on h_k for k &gt;= t) and the lag is k - t.
/// </para>
/// </remarks>
internal static class JacobianProducts
{
    /// <summary>
    /// The exact Jacobians dh_t/dh_k of one layer and direction, for k = t, t-1, ..., 0 (k = t, ...,
    /// T-1 for a reverse direction): <c>result[lag][((b * H) + i) * H + j] = d h_t[b, i] / d h_k[b, j]</c>
    /// with lag = |t - k|, for every sequence b of the batch.
    /// </summary>
    /// <param name="model">A model with dense inputs.</param>
    /// <param name="inputs">[T, B, I] time-major.</param>
    /// <param name="steps">T.</param>
    /// <param name="batch">B.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="direction">0 forward, 1 reverse.</param>
    /// <param name="endStep">t, the time index of the later state.</param>
    /// <exception cref="UnrollException">The model reads token ids.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The layer, direction or end step is out of range.</exception>
    public static double[][] Jacobians<T>(SequenceModel<T> model, ReadOnlySpan<T> inputs, int steps, int batch, int layer, int direction, int endStep)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(endStep);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(endStep, steps);
        var (sub, layerInputs, width) = Prepare(model, inputs, steps, batch, layer, direction);
        int hidden = model.Config.HiddenSize;
        bool reverse = direction == 1;
        int position = reverse ? steps - 1 - endStep : endStep;
        var result = new double[position + 1][];
        for (int lag = 0; lag <= position; lag++)
        {
            result[lag] = new double[batch * hidden * hidden];
        }

        for (int b = 0; b < batch; b++)
        {
            var perLag = SequenceJacobians(sub, layerInputs, steps, batch, width, b, position);
            for (int lag = 0; lag <= position; lag++)
            {
                perLag[lag].CopyTo(result[lag].AsSpan(b * hidden * hidden));
            }
        }

        return result;
    }

    /// <summary>
    /// The Jacobian profile of every layer and direction (by layer, forward before reverse) over a
    /// batch of dense sequences: the spectral norm of dh_t/dh_k for every sequence, every end step
    /// and every lag 0..MaxLag, their geometric mean per lag, the fitted rate and the bound.
    /// </summary>
    /// <param name="model">A model with dense inputs.</param>
    /// <param name="inputs">[T, B, I] time-major.</param>
    /// <param name="steps">T.</param>
    /// <param name="batch">B, the sequences averaged over.</param>
    /// <param name="endSteps">
    /// How many end steps per sequence, at least 1: in the direction's own order the last step, then
    /// every floor(T / (2 n)) steps earlier, so all lie in the second half of the sequence.
    /// </param>
    /// <param name="maxLag">The largest lag, or null for the most every end step allows (the earliest end step's position).</param>
    /// <exception cref="UnrollException">The model reads token ids, or an argument is out of range.</exception>
    public static IReadOnlyList<JacobianProfile> Measure<T>(SequenceModel<T> model, ReadOnlySpan<T> inputs, int steps, int batch, int endSteps = 3, int? maxLag = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (endSteps < 1)
        {
            throw new UnrollException($"jacobian products: expected at least 1 end step, got {endSteps}.");
        }

        if (maxLag is < 0)
        {
            throw new UnrollException($"jacobian products: expected a maximum lag of at least 0, got {maxLag}.");
        }

        var config = model.Config;
        int hidden = config.HiddenSize;
        int spacing = Math.Max(1, steps / (2 * endSteps));
        var positions = Enumerable.Range(0, endSteps).Select(e => steps - 1 - (e * spacing)).Where(p => p >= 0).Distinct().ToArray();
        int lags = Math.Min(positions.Min(), maxLag ?? int.MaxValue);
        var spectra = config.Cell == CellKind.Rnn ? Spectra.Of(model) : [];
        var profiles = new List<JacobianProfile>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int direction = 0; direction < config.Directions; direction++)
            {
                bool reverse = direction == 1;
                var (sub, layerInputs, width) = Prepare(model, inputs, steps, batch, layer, direction);
                var norms = new double[batch * positions.Length][];
                for (int b = 0; b < batch; b++)
                {
                    for (int e = 0; e < positions.Length; e++)
                    {
                        var perLag = SequenceJacobians(sub, layerInputs, steps, batch, width, b, positions[e], lags);
                        var sample = new double[lags + 1];
                        for (int lag = 0; lag <= lags; lag++)
                        {
                            sample[lag] = SingularValues.Largest(perLag[lag], hidden, hidden, 1e-10);
                        }

                        norms[(b * positions.Length) + e] = sample;
                    }
                }

                var mean = new double[lags + 1];
                for (int lag = 0; lag <= lags; lag++)
                {
                    double sum = 0;
                    foreach (var sample in norms)
                    {
                        sum += Math.Log(sample[lag]);
                    }

                    mean[lag] = Math.Exp(sum / norms.Length);
                }

                double beta = double.NaN, gamma = double.NaN;
                if (config.Cell == CellKind.Rnn)
                {
                    beta = spectra.Single(s => s.Layer == layer && s.Reverse == reverse).LargestSingularValue;
                    gamma = Spectra.VanishingBound(config.Activation);
                }

                var endTimes = positions.Select(p => reverse ? steps - 1 - p : p).ToArray();
                profiles.Add(new JacobianProfile(layer, reverse, config.Cell, batch, endTimes, norms, mean, FitRate(mean), beta, gamma));
            }
        }

        return profiles;
    }

    /// <summary>
    /// <see cref="Measure{T}(SequenceModel{T}, ReadOnlySpan{T}, int, int, int, int?)"/> over the first
    /// <paramref name="sequences"/> sequences of <paramref name="data"/> (all of them when it has fewer).
    /// </summary>
    /// <exception cref="UnrollException">The data does not fit the model, or as the other overload.</exception>
    public static IReadOnlyList<JacobianProfile> Measure<T>(SequenceModel<T> model, SequenceSet data, int sequences = 4, int endSteps = 3, int? maxLag = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var (inputs, _, batch) = GradientFlow.Batch<T>(model.Config, data, sequences, "jacobian products");
        return Measure(model, inputs, data.Length, batch, endSteps, maxLag);
    }

    /// <summary>
    /// exp(slope) of the least-squares line through (lag, log norm[lag]) over lags &gt;= 1 with a
    /// positive, finite norm; NaN with fewer than two such lags.
    /// </summary>
    public static double FitRate(IReadOnlyList<double> norms)
    {
        ArgumentNullException.ThrowIfNull(norms);
        double n = 0, sumX = 0, sumY = 0, sumXX = 0, sumXY = 0;
        for (int lag = 1; lag < norms.Count; lag++)
        {
            double value = norms[lag];
            if (value > 0 && double.IsFinite(value))
            {
                double y = Math.Log(value);
                n++;
                sumX += lag;
                sumY += y;
                sumXX += (double)lag * lag;
                sumXY += lag * y;
            }
        }

        if (n < 2)
        {
            return double.NaN;
        }

        double slope = ((n * sumXY) - (sumX * sumY)) / ((n * sumXX) - (sumX * sumX));
        return Math.Exp(slope);
    }

    // The direction as a one-layer, forward, double model with an identity head, and its inputs
    // [T, B, width] (time-reversed for a reverse direction).
    private static (SequenceModel<double> Sub, double[] Inputs, int Width) Prepare<T>(
        SequenceModel<T> model, ReadOnlySpan<T> inputs, int steps, int batch, int layer, int direction)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = model.Config;
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, config.Layers);
        ArgumentOutOfRangeException.ThrowIfNegative(direction);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(direction, config.Directions);
        int columns = Training.HeadLoss.InputWidth(config);
        if (steps < 1 || batch < 1 || inputs.Length != steps * batch * columns)
        {
            throw new ArgumentException($"Expected inputs of shape [T={steps}, B={batch}, {columns}], got {inputs.Length} values.", nameof(inputs));
        }

        int hidden = config.HiddenSize;
        var converted = new double[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            converted[i] = double.CreateChecked(inputs[i]);
        }

        double[] layerInputs;
        int width;
        if (layer == 0 && config.VocabularySize == 0)
        {
            width = config.InputSize;
            layerInputs = converted;
        }
        else if (layer == 0)
        {
            // Token ids: the first layer reads their embedding rows.
            width = config.InputSize;
            layerInputs = new double[steps * batch * width];
            var embedding = model.Parameters.Value(SequenceModel<T>.EmbeddingName);
            for (int r = 0; r < steps * batch; r++)
            {
                int token = (int)converted[r];
                if ((uint)token >= (uint)config.VocabularySize || token != converted[r])
                {
                    throw new ArgumentException($"Expected token ids in [0, {config.VocabularySize}), got {converted[r]} at position {r}.", nameof(inputs));
                }

                Copy(embedding.Slice(token * width, width), layerInputs.AsSpan(r * width, width));
            }
        }
        else
        {
            // The layers below, in double, without dropout: their outputs are this layer's inputs.
            var below = new SequenceModel<double>(config with { Layers = layer, Dropout = 0, OutputSize = 1, OutputNames = [], Pooling = Pooling.EveryStep, Head = HeadKind.Regression }, initialize: false);
            foreach (var view in below.Parameters.Views)
            {
                if (view.Name.StartsWith("rnn.", StringComparison.Ordinal) || view.Name == SequenceModel<T>.EmbeddingName)
                {
                    Copy(model.Parameters.Value(view.Name), below.Parameters.Value(view.Name));
                }
            }

            below.ForwardColumns(converted, steps, batch);
            layerInputs = below.States.ToArray();
            width = config.Directions * hidden;
        }

        if (direction == 1)
        {
            var reversed = new double[layerInputs.Length];
            int row = batch * width;
            for (int t = 0; t < steps; t++)
            {
                layerInputs.AsSpan((steps - 1 - t) * row, row).CopyTo(reversed.AsSpan(t * row, row));
            }

            layerInputs = reversed;
        }

        // Many-to-one, so that the head runs on the last step alone: the seeds enter as dL/dh_n (SequenceJacobians).
        var sub = new SequenceModel<double>(new ModelConfig
        {
            Architecture = config.Architecture,
            Activation = config.Activation,
            InputSize = width,
            HiddenSize = hidden,
            OutputSize = hidden,
            Pooling = Pooling.LastStep,
        }, initialize: false);
        string suffix = string.Create(CultureInfo.InvariantCulture, $"_l{layer}{(direction == 1 ? "_reverse" : string.Empty)}");
        foreach (var name in new[] { "weight_ih", "weight_hh", "bias_ih", "bias_hh" })
        {
            Copy(model.Parameters.Value($"rnn.{name}{suffix}"), sub.Parameters.Value($"rnn.{name}_l0"));
        }

        var head = sub.Parameters.Value(SequenceModel<double>.HeadWeightName);
        for (int i = 0; i < hidden; i++)
        {
            head[(i * hidden) + i] = 1;
        }

        sub.RecordGradientFlow = true;
        sub.StateGradientsOnly = true;
        return (sub, layerInputs, width);
    }

    /// <summary>
    /// How many of the H seeds one forward and backward pass carries: the passes' buffers grow with T * copies * 4H,
    /// which for all H = 512 copies of a 100-step LSTM came to 7 GB in double.
    /// </summary>
    internal static int SeedsPerPass { get; set; } = 64;

    // dh_p/dh_{p-lag} for sequence b at position p (forward order), lag = 0..maxLag: forward and backward passes over
    // copies of the sequence up to p, copy i seeded with dL/dh_p = e_i (h_p is the final state), SeedsPerPass at a time.
    private static double[][] SequenceJacobians(SequenceModel<double> sub, double[] layerInputs, int steps, int batch, int width, int b, int position, int maxLag = int.MaxValue)
    {
        int hidden = sub.Config.HiddenSize, length = position + 1;
        int lags = Math.Min(position, maxLag);
        var result = new double[lags + 1][];
        for (int lag = 0; lag <= lags; lag++)
        {
            result[lag] = new double[hidden * hidden];
        }

        int perPass = Math.Min(hidden, SeedsPerPass);
        var copies = new double[length * perPass * width];
        var seed = new double[perPass * hidden];
        for (int first = 0; first < hidden; first += perPass)
        {
            int count = Math.Min(perPass, hidden - first);
            for (int t = 0; t < length; t++)
            {
                var source = layerInputs.AsSpan(((t * batch) + b) * width, width);
                for (int i = 0; i < count; i++)
                {
                    source.CopyTo(copies.AsSpan(((t * count) + i) * width, width));
                }
            }

            sub.Forward(copies.AsSpan(0, length * count * width), length, count);
            var seeds = seed.AsSpan(0, count * hidden);
            seeds.Clear();
            for (int i = 0; i < count; i++)
            {
                seeds[(i * hidden) + first + i] = 1;
            }

            sub.Backward([], seeds, []);
            var gradients = sub.StateGradients(0);
            for (int lag = 0; lag <= lags; lag++)
            {
                // Row first + i of dh_p/dh_k is copy i's dL/dh_k, k = p - lag.
                gradients.Slice((position - lag) * count * hidden, count * hidden).CopyTo(result[lag].AsSpan(first * hidden));
            }
        }

        return result;
    }

    private static void Copy<TSource>(ReadOnlySpan<TSource> source, Span<double> destination)
        where TSource : unmanaged, IFloatingPointIeee754<TSource>
    {
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = double.CreateChecked(source[i]);
        }
    }
}
