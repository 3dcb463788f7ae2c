using System.Globalization;
using System.Numerics;
using Unroll.Cells;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// The initialisations of the scan-trained cells: the LRU's ring initialisation (Orvieto et al. 2023, section 3.2
/// and appendix) and nn.Linear's default for the min-cells' input projections (as Feng et al. 2024 train them).
/// </summary>
internal static class ScanCellInitializers
{
    /// <summary>The smallest eigenvalue modulus of the LRU's initial ring: the paper's choice for long-range tasks.</summary>
    public const double DefaultRingMin = 0.9;

    /// <summary>The largest eigenvalue modulus of the LRU's initial ring: a time constant of about 1000 steps.</summary>
    public const double DefaultRingMax = 0.999;

    /// <summary>The largest initial eigenvalue phase: pi/10, the paper's restriction for its longest task (PathX).</summary>
    public const double DefaultMaxPhase = Math.PI / 10;

    /// <summary>
    /// Initialises every parameter of an LRU, minGRU or minLSTM model. The head and an embedding are drawn as by
    /// <see cref="Initializers.PyTorchDefault{T}"/>. The LRU, per layer and direction, with N = H/2 and fan-in I:
    /// <code>
    /// |lambda_n|^2 ~ U(r_min^2, r_max^2)   (uniform on the ring r_min &lt;= |lambda| &lt;= r_max in the complex plane)
    /// arg lambda_n ~ U(0, max_phase)
    /// nu_log = log(-log |lambda|),  theta_log = log(arg lambda),  gamma_log = log(sqrt(1 - |lambda|^2))
    /// B_re, B_im ~ N(0, 1/(2 I))    C_re, C_im ~ N(0, 1/N)    D ~ N(0, 1/I)
    /// W_glu, b_glu ~ U(-1/sqrt(H), 1/sqrt(H))    (nn.Linear(H, 2H))
    /// </code>
    /// The min-cells: <c>weight_ih</c> and <c>bias_ih</c> ~ U(-1/sqrt(I), 1/sqrt(I)), nn.Linear's default.
    /// The paper's code defaults are r_min = 0, r_max = 1, max phase 2 pi; its long-range experiments use
    /// r_min = 0.9, r_max = 0.999 and, for PathX, max phase pi/10, which are the defaults here.
    /// </summary>
    /// <exception cref="UnrollException">The model is not an LRU, minGRU or minLSTM, or the ring or phase is out of range.</exception>
    public static void Initialize<T>(
        IRecurrentModel<T> model, Random random,
        double ringMin = DefaultRingMin, double ringMax = DefaultRingMax, double maxPhase = DefaultMaxPhase)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(random);
        var config = model.Config;
        if (config.Architecture is not (Architecture.Lru or Architecture.MinGru or Architecture.MinLstm))
        {
            throw new UnrollException($"init: expected an lru, mingru or minlstm model, got {config.Architecture.Name()}.");
        }

        if (!(ringMin >= 0 && ringMin <= ringMax && ringMax > 0 && ringMax < 1))
        {
            throw new UnrollException(string.Create(CultureInfo.InvariantCulture,
                $"lru ring: expected 0 <= r_min <= r_max < 1 and r_max > 0, got r_min = {ringMin}, r_max = {ringMax}."));
        }

        if (!(maxPhase > 0 && maxPhase <= 2 * Math.PI))
        {
            throw new UnrollException(string.Create(CultureInfo.InvariantCulture, $"lru phase: expected a maximum phase in (0, 2 pi], got {maxPhase}."));
        }

        Initializers.PyTorchDefault(model, random);
        int hidden = config.HiddenSize, width = config.Directions * hidden;
        for (int layer = 0; layer < config.Layers; layer++)
        {
            int inputSize = layer == 0 ? config.InputSize : width;
            for (int direction = 0; direction < config.Directions; direction++)
            {
                if (config.Cell == CellKind.Lru)
                {
                    InitializeLru(model.Parameters, layer, direction == 1, inputSize, hidden, random, ringMin, ringMax, maxPhase);
                }
                else
                {
                    double bound = 1.0 / Math.Sqrt(inputSize);
                    Initializers.Uniform(model.Parameters.Value(ParameterNames.WeightIh(layer, direction == 1)), -bound, bound, random);
                    Initializers.Uniform(model.Parameters.Value(ParameterNames.BiasIh(layer, direction == 1)), -bound, bound, random);
                }
            }
        }
    }

    private static void InitializeLru<T>(
        ParameterSet<T> parameters, int layer, bool reverse, int inputSize, int hidden, Random random, double ringMin, double ringMax, double maxPhase)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int units = hidden / 2;
        var nu = parameters.Value(ParameterNames.Recurrent("nu_log", layer, reverse));
        var theta = parameters.Value(ParameterNames.Recurrent("theta_log", layer, reverse));
        var gamma = parameters.Value(ParameterNames.Recurrent("gamma_log", layer, reverse));
        for (int n = 0; n < units; n++)
        {
            // Draws in (0, 1], so that no logarithm below meets 0.
            double u1 = 1.0 - random.NextDouble(), u2 = 1.0 - random.NextDouble();
            double modulusSquared = (u1 * ((ringMax * ringMax) - (ringMin * ringMin))) + (ringMin * ringMin);
            // |lambda| = exp(-exp(nu))  =>  nu = log(-log |lambda|) = log(-0.5 log |lambda|^2)
            double nuLog = Math.Log(-0.5 * Math.Log(modulusSquared));
            nu[n] = T.CreateChecked(nuLog);
            theta[n] = T.CreateChecked(Math.Log(maxPhase * u2));
            double modulus = Math.Exp(-Math.Exp(nuLog));
            gamma[n] = T.CreateChecked(Math.Log(Math.Sqrt(1 - (modulus * modulus))));
        }

        Initializers.Normal(parameters.Value(ParameterNames.Recurrent("B_re", layer, reverse)), 0, 1.0 / Math.Sqrt(2.0 * inputSize), random);
        Initializers.Normal(parameters.Value(ParameterNames.Recurrent("B_im", layer, reverse)), 0, 1.0 / Math.Sqrt(2.0 * inputSize), random);
        Initializers.Normal(parameters.Value(ParameterNames.Recurrent("D", layer, reverse)), 0, 1.0 / Math.Sqrt(inputSize), random);
        Initializers.Normal(parameters.Value(ParameterNames.Recurrent("C_re", layer, reverse)), 0, 1.0 / Math.Sqrt(units), random);
        Initializers.Normal(parameters.Value(ParameterNames.Recurrent("C_im", layer, reverse)), 0, 1.0 / Math.Sqrt(units), random);
        double bound = 1.0 / Math.Sqrt(hidden);
        Initializers.Uniform(parameters.Value(ParameterNames.Recurrent("weight_glu", layer, reverse)), -bound, bound, random);
        Initializers.Uniform(parameters.Value(ParameterNames.Recurrent("bias_glu", layer, reverse)), -bound, bound, random);
    }
}
