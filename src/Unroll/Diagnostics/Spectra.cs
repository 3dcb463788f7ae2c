using System.Globalization;
using System.Numerics;
using Unroll.Cells;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Diagnostics;

/// <summary>The spectrum of one H x H recurrent block W of a model.</summary>
/// <param name="Parameter">The state-dict name of the weight, e.g. <c>rnn.weight_hh_l1_reverse</c>.</param>
/// <param name="Gate">The gate block within it: "i", "f", "g", "o" (LSTM), "r", "z", "n" (GRU), or "" (Elman).</param>
/// <param name="Layer">The layer, from 0.</param>
/// <param name="Reverse">Whether it belongs to the backward direction of a bidirectional layer.</param>
/// <param name="Eigenvalues">The H eigenvalues, sorted by decreasing modulus (see <see cref="Eigen.Eigenvalues"/>).</param>
/// <param name="SpectralRadius">max |lambda_i|: the long-run growth rate of h_t = W h_{t-1}.</param>
/// <param name="SingularValues">The H singular values in decreasing order.</param>
public sealed record WeightSpectrum(
    string Parameter,
    string Gate,
    int Layer,
    bool Reverse,
    Complex[] Eigenvalues,
    double SpectralRadius,
    double[] SingularValues)
{
    /// <summary>The largest singular value, the spectral norm ||W||_2 (at least the spectral radius).</summary>
    public double LargestSingularValue => SingularValues.Length == 0 ? 0.0 : SingularValues[0];
}

/// <summary>
/// What the vanishing/exploding-gradient bound says about an Elman recurrent matrix W
/// (see <see cref="Spectra.Classify(double, Activation)"/>).
/// </summary>
public enum GradientRegime
{
    /// <summary>sigma_1(W) &lt; 1/gamma: every Jacobian product dh_t/dh_k shrinks geometrically with t - k.</summary>
    VanishingGuaranteed,

    /// <summary>sigma_1(W) &gt; 1/gamma: the necessary condition for exploding gradients holds (explosion is possible, not certain).</summary>
    MayExplode,

    /// <summary>sigma_1(W) = 1/gamma exactly: neither condition holds.</summary>
    Neither,
}

/// <summary>
/// Eigenvalues and singular values of a model's recurrent weights, per layer, direction and gate:
/// the view of section 4 of the notes. With h_t = W h_{t-1}, h_t = W^t h_0 = sum_i alpha_i
/// lambda_i^t w_i, so the largest |lambda| decides whether the state explodes (&gt; 1), vanishes
/// (&lt; 1) or holds (= 1); with a nonlinearity f, ||dh_j/dh_{j-1}|| = ||diag(f'(z_j)) W|| &lt;=
/// gamma sigma_1(W), which gives the sufficient and necessary conditions of
/// <see cref="Classify(double, Activation)"/>.
/// </summary>
public static class Spectra
{
    private static readonly string[] LstmGates = ["i", "f", "g", "o"];
    private static readonly string[] GruGates = ["r", "z", "n"];
    private static readonly string[] ElmanGates = [""];

    /// <summary>
    /// The spectrum of every H x H block of every recurrent weight <c>rnn.weight_hh_l{k}</c> (and
    /// <c>rnn.weight_hh_l{k}_reverse</c>) of <paramref name="model"/>, ordered by layer, then
    /// direction (forward first), then gate in PyTorch's block order (i, f, g, o for the LSTM;
    /// r, z, n for the GRU; one block "" for the Elman cell). Block g is rows g H .. (g + 1) H - 1
    /// of the [G H, H] weight, the matrix that multiplies h_{t-1} in that gate's pre-activation.
    /// The Jordan network has no square recurrent weight (its <c>rnn.weight_yh_l0</c> is [H, O]),
    /// so it gives an empty list; so do minGRU and minLSTM, whose recurrence diag(a_t) depends on the input and has no
    /// weight. For the LRU the eigenvalues are the parameters lambda (see <see cref="LruSpectra{T}"/>).
    /// Computed in double whatever <typeparamref name="T"/> is.
    /// </summary>
    /// <exception cref="UnrollException">A weight is missing, has the wrong shape, or has a NaN or infinite entry.</exception>
    public static IReadOnlyList<WeightSpectrum> Of<T>(IRecurrentModel<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        var config = model.Config;
        if (config.Cell is CellKind.MinGru or CellKind.MinLstm)
        {
            return [];
        }

        if (config.Cell == CellKind.Lru)
        {
            return LruSpectra(model);
        }

        string[] gates = config.Cell switch
        {
            CellKind.Lstm => LstmGates,
            CellKind.Gru => GruGates,
            _ => ElmanGates,
        };
        var blocks = RecurrentBlocks.Of(model);
        foreach (var block in blocks)
        {
            if (!Array.TrueForAll(block.Matrix, double.IsFinite))
            {
                // Throws the message that names the weight, here on the calling thread.
                OfMatrix(block.Parameter, gates[block.Gate], block.Layer, block.Reverse, block.Matrix, block.Size);
            }
        }

        // The blocks are independent (each an O(n^3) decomposition in double): one part each, over the kernel threads.
        var spectra = new WeightSpectrum[blocks.Count];
        Kernels.WorkerPool.Run(new BlockJob(blocks, gates, spectra), blocks.Count);
        return spectra;
    }

    /// <summary>
    /// The LRU's eigenvalues, which are its parameters: for every layer and direction, lambda_n =
    /// exp(-exp(nu_n) + i exp(theta_n)) of the diagonal recurrence v_t = diag(lambda) v_{t-1} + ..., labelled with
    /// the parameter <c>rnn.nu_log_l{k}</c> (and <c>_reverse</c>) and gate "lambda". A diagonal matrix's singular
    /// values are the moduli |lambda_n|, so the spectral radius equals the largest singular value.
    /// </summary>
    private static List<WeightSpectrum> LruSpectra<T>(IRecurrentModel<T> model)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var config = model.Config;
        var spectra = new List<WeightSpectrum>();
        for (int layer = 0; layer < config.Layers; layer++)
        {
            for (int direction = 0; direction < config.Directions; direction++)
            {
                bool reverse = direction == 1;
                string name = string.Create(CultureInfo.InvariantCulture, $"rnn.nu_log_l{layer}{(reverse ? "_reverse" : "")}");
                if (!model.Parameters.Contains(name))
                {
                    throw new UnrollException($"spectra: expected a parameter '{name}' in the lru model, got none.");
                }

                var eigenvalues = Layers.LruLayer<T>.Eigenvalues(model.Parameters, layer, reverse);
                if (eigenvalues.Any(e => !double.IsFinite(e.Real) || !double.IsFinite(e.Imaginary)))
                {
                    throw new UnrollException($"spectra: expected finite eigenvalues from '{name}', got NaN or infinity.");
                }

                var sorted = eigenvalues.OrderByDescending(e => e.Magnitude).ToArray();
                double[] moduli = sorted.Select(e => e.Magnitude).ToArray();
                spectra.Add(new WeightSpectrum(name, "lambda", layer, reverse, sorted, moduli.Length == 0 ? 0.0 : moduli[0], moduli));
            }
        }

        return spectra;
    }

    private sealed class BlockJob(List<RecurrentBlock> blocks, string[] gates, WeightSpectrum[] spectra) : Kernels.IParallelJob
    {
        public void Run(int part, int parts)
        {
            var block = blocks[part];
            spectra[part] = OfMatrix(block.Parameter, gates[block.Gate], block.Layer, block.Reverse, block.Matrix, block.Size);
        }
    }

    /// <summary>The spectrum of one row-major n x n matrix, labelled as given.</summary>
    /// <exception cref="ArgumentException">The matrix does not have n * n values.</exception>
    /// <exception cref="UnrollException">The matrix has a NaN or infinite entry.</exception>
    public static WeightSpectrum OfMatrix(string parameter, string gate, int layer, bool reverse, double[] matrix, int n)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(gate);
        var eigenvalues = Eigen.Eigenvalues(matrix, n);
        double radius = eigenvalues.Length == 0 ? 0.0 : eigenvalues[0].Magnitude;
        return new WeightSpectrum(parameter, gate, layer, reverse, eigenvalues, radius, SingularValues.Of(matrix, n, n));
    }

    /// <summary>
    /// gamma, the bound on |f'(z)| of the Elman activation f: 1 for tanh (f' = 1 - tanh^2),
    /// ReLU (f' is 0 or 1) and the identity; 1/4 for the logistic sigmoid (f' = s (1 - s)).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined activation.</exception>
    public static double VanishingBound(Activation activation) => activation switch
    {
        Activation.Tanh or Activation.Relu or Activation.Identity => 1.0,
        Activation.Sigmoid => 0.25,
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Expected tanh, sigmoid, relu or identity."),
    };

    /// <summary>
    /// Classifies an Elman recurrent matrix by the bound of Pascanu, Mikolov and Bengio (2013)
    /// as the notes state it: since ||dh_j/dh_{j-1}|| = ||diag(f'(z_j)) W|| &lt;= gamma sigma_1,
    /// with gamma = <see cref="VanishingBound"/> and sigma_1 the largest singular value of W,
    /// <list type="bullet">
    /// <item><description>sigma_1 &lt; 1/gamma is <em>sufficient</em> for vanishing:
    /// ||dh_t/dh_k|| &lt;= (gamma sigma_1)^(t-k) -&gt; 0 for every input
    /// (<see cref="GradientRegime.VanishingGuaranteed"/>);</description></item>
    /// <item><description>sigma_1 &gt; 1/gamma is <em>necessary</em> for exploding, but does not
    /// imply it (<see cref="GradientRegime.MayExplode"/>);</description></item>
    /// <item><description>sigma_1 = 1/gamma exactly: neither (<see cref="GradientRegime.Neither"/>).</description></item>
    /// </list>
    /// The bound is for the Elman cell only; the gates of an LSTM or GRU change the Jacobian.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The singular value is negative or NaN, or the activation is not defined.</exception>
    public static GradientRegime Classify(double largestSingularValue, Activation activation)
    {
        if (!(largestSingularValue >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(largestSingularValue), largestSingularValue, "Expected a non-negative singular value.");
        }

        double threshold = 1.0 / VanishingBound(activation);
        return largestSingularValue < threshold ? GradientRegime.VanishingGuaranteed
            : largestSingularValue > threshold ? GradientRegime.MayExplode
            : GradientRegime.Neither;
    }

    /// <summary>
    /// <see cref="Classify(double, Activation)"/> applied to the largest singular value of an Elman
    /// block (its <see cref="WeightSpectrum.Gate"/> is "").
    /// </summary>
    /// <exception cref="ArgumentException">The spectrum is of an LSTM or GRU gate block, to which the bound does not apply.</exception>
    public static GradientRegime Classify(WeightSpectrum spectrum, Activation activation)
    {
        ArgumentNullException.ThrowIfNull(spectrum);
        if (spectrum.Gate.Length != 0)
        {
            throw new ArgumentException(
                $"Expected an Elman recurrent matrix, got gate '{spectrum.Gate}' of {spectrum.Parameter}; the bound sigma_1 vs 1/gamma holds for the Elman cell only.",
                nameof(spectrum));
        }

        return Classify(spectrum.LargestSingularValue, activation);
    }
}
