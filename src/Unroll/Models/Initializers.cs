using System.Numerics;
using Unroll.Cells;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// Weight initialisations. Each acts on a row-major matrix given as a span and its shape, in
/// PyTorch's [out, in] convention (fan_in = columns, fan_out = rows), so it works for any
/// parameter of any model. Stacked gate matrices (LSTM [4H, C], GRU [3H, C]) are initialised one
/// H x C gate block at a time where the block structure matters (orthogonal, identity,
/// normal-scaled), as Keras and PyTorch users do by hand. Every draw comes from the
/// <see cref="Random"/> passed in, so a seed fixes the result; the arithmetic is in double and
/// rounded once to T.
/// </summary>
public static class Initializers
{
    /// <summary>
    /// PyTorch's defaults: every torch.nn.RNN/LSTM/GRU parameter ~ U(-1/sqrt(H), 1/sqrt(H)); the
    /// head as nn.Linear, weight and bias ~ U(-1/sqrt(F), 1/sqrt(F)) with F its fan-in (H, or 2H
    /// when bidirectional); an embedding as nn.Embedding, N(0, 1).
    /// </summary>
    public static void PyTorchDefault<T>(IRecurrentModel<T> model, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(random);
        double recurrentBound = 1.0 / Math.Sqrt(model.Config.HiddenSize);
        double headBound = 1.0 / Math.Sqrt(model.Parameters.View(SequenceModel<T>.HeadWeightName).Shape[1]);
        foreach (var view in model.Parameters.Views)
        {
            var values = model.Parameters.Values.AsSpan(view.Offset, view.Length);
            if (view.Name == SequenceModel<T>.EmbeddingName)
            {
                Normal(values, 0, 1, random);
            }
            else
            {
                double bound = view.Name.StartsWith("head.", StringComparison.Ordinal) ? headBound : recurrentBound;
                Uniform(values, -bound, bound, random);
            }
        }
    }

    /// <summary>
    /// The initialisation every new model gets: PyTorch's defaults (<see cref="PyTorchDefault{T}"/>) for the Elman,
    /// LSTM, GRU and Jordan networks; for the LRU, minGRU and minLSTM, which PyTorch does not have, their papers'
    /// (the LRU's eigenvalues uniform on the ring 0.9 &lt;= |lambda| &lt;= 0.999 with phases up to pi/10, the min-cells'
    /// input weights as nn.Linear's), with the head and an embedding as PyTorch's.
    /// </summary>
    public static void Default<T>(IRecurrentModel<T> model, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Config.Cell is CellKind.Lru or CellKind.MinGru or CellKind.MinLstm)
        {
            ScanCellInitializers.Initialize(model, random);
        }
        else
        {
            PyTorchDefault(model, random);
        }
    }

    /// <summary>
    /// PyTorch's defaults (<see cref="PyTorchDefault{T}"/>), then every hidden-to-hidden weight
    /// (<c>*.weight_hh_l*</c>) initialised by <paramref name="hiddenToHidden"/> and every
    /// input-to-hidden weight (<c>*.weight_ih_l*</c>) by <paramref name="inputToHidden"/>, gate
    /// block by gate block. A <see cref="InitKind.Default"/> setting leaves its weights as drawn,
    /// so with both default the result is exactly that of <see cref="PyTorchDefault{T}"/>.
    /// </summary>
    /// <exception cref="UnrollException">A setting does not apply to the weight (see <see cref="Apply{T}"/>).</exception>
    public static void Initialize<T>(
        IRecurrentModel<T> model, InitSettings hiddenToHidden, InitSettings inputToHidden, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(hiddenToHidden);
        ArgumentNullException.ThrowIfNull(inputToHidden);
        PyTorchDefault(model, random);
        int gateBlocks = GateBlocks(model.Config.Architecture);
        foreach (var view in model.Parameters.Views)
        {
            var settings = view.Name.Contains(".weight_hh_l", StringComparison.Ordinal) ? hiddenToHidden
                : view.Name.Contains(".weight_ih_l", StringComparison.Ordinal) ? inputToHidden
                : null;
            if (settings is not null && settings.Kind != InitKind.Default)
            {
                Apply(model.Parameters, view.Name, settings, gateBlocks, random);
            }
        }
    }

    /// <summary>
    /// Sets every LSTM layer's forget-gate bias so that b_ih + b_hh = <paramref name="value"/> in the
    /// f block (gate order i, f, g, o): b_ih's f block to the value and b_hh's to zero. 1 is the
    /// choice of Keras (unit_forget_bias) and char-rnn (Gers, Schmidhuber and Cummins 2000;
    /// Jozefowicz, Zaremba and Sutskever 2015): the cell starts by remembering.
    /// </summary>
    /// <exception cref="UnrollException">The model is not an LSTM.</exception>
    public static void SetForgetGateBias<T>(IRecurrentModel<T> model, double value)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Config.Architecture != Architecture.Lstm)
        {
            throw new UnrollException($"forget-bias: expected an lstm model, got {model.Config.Architecture.Name()}.");
        }

        int hidden = model.Config.HiddenSize;
        foreach (var view in model.Parameters.Views)
        {
            bool input = view.Name.StartsWith("rnn.bias_ih_l", StringComparison.Ordinal);
            bool recurrent = view.Name.StartsWith("rnn.bias_hh_l", StringComparison.Ordinal);
            if (input || recurrent)
            {
                model.Parameters.Values.AsSpan(view.Offset + hidden, hidden).Fill(input ? T.CreateChecked(value) : T.Zero);
            }
        }
    }

    /// <summary>The number of gate blocks stacked in an architecture's weights: rnn 1, gru 3, lstm 4.</summary>
    /// <exception cref="UnrollException">The architecture is not one of these.</exception>
    internal static int GateBlocks(Architecture architecture) => architecture switch
    {
        Architecture.Rnn or Architecture.Jordan => 1,
        Architecture.Gru => 3,
        Architecture.Lstm => 4,
        _ => throw new UnrollException($"architecture: expected rnn, gru or lstm, got '{architecture.Name()}'."),
    };

    /// <summary>
    /// Initialises the parameter called <paramref name="name"/>, whose first dimension stacks
    /// <paramref name="gateBlocks"/> gate blocks (1 for an RNN, 4 for an LSTM, 3 for a GRU).
    /// A matrix [gateBlocks * H, C] is filled as by <see cref="Fill{T}"/>; a vector [gateBlocks * H]
    /// (a bias) takes the element-wise kinds only (default, uniform, normal, zeros).
    /// </summary>
    /// <exception cref="UnrollException">
    /// No parameter has that name, or a matrix initialisation (Xavier, orthogonal, identity,
    /// normal-scaled) was asked of a vector.
    /// </exception>
    /// <exception cref="ArgumentException">The first dimension is not a multiple of <paramref name="gateBlocks"/>.</exception>
    internal static void Apply<T>(ParameterSet<T> parameters, string name, InitSettings settings, int gateBlocks, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(settings);
        if (!parameters.Contains(name))
        {
            throw new UnrollException(
                $"init: expected a parameter named one of {string.Join(", ", parameters.Views.Select(v => v.Name))}; got '{name}'.");
        }

        var view = parameters.View(name);
        int rows = view.Shape.Length == 0 ? 1 : view.Shape[0];
        int columns = view.Shape.Length == 0 ? 1 : view.Length / Math.Max(rows, 1);
        if (view.Shape.Length < 2 && settings.Kind is not (InitKind.Default or InitKind.Uniform or InitKind.Normal or InitKind.Zeros))
        {
            throw new UnrollException(
                $"init '{settings}' for {name}: expected a matrix, got shape {view.ShapeText}; vectors take default, uniform, normal or zeros.");
        }

        Fill(parameters.Value(name), rows, columns, settings, random, gateBlocks);
    }

    /// <summary>
    /// Fills the row-major <paramref name="rows"/> x <paramref name="columns"/> matrix
    /// <paramref name="values"/>, made of <paramref name="gateBlocks"/> blocks of
    /// H = rows / gateBlocks rows stacked on top of each other:
    /// <list type="bullet">
    /// <item>default: U(-1/sqrt(H), 1/sqrt(H)), PyTorch's recurrent layers;</item>
    /// <item>uniform:b: U(-b, b); normal:s: N(0, s^2); zeros: 0;</item>
    /// <item>normal-scaled:s: N(0, s^2 / columns), per block, so a square block has spectral radius about s;</item>
    /// <item>xavier-uniform, xavier-normal: over the whole matrix, fan_in = columns, fan_out = rows,
    /// as torch.nn.init applied to the stacked parameter (and Keras's glorot on its kernel);</item>
    /// <item>orthogonal:g, identity:s: per H x columns block.</item>
    /// </list>
    /// </summary>
    /// <exception cref="ArgumentException">The sizes do not fit.</exception>
    internal static void Fill<T>(Span<T> values, int rows, int columns, InitSettings settings, Random random, int gateBlocks = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentOutOfRangeException.ThrowIfLessThan(gateBlocks, 1);
        if (values.Length != rows * columns)
        {
            throw new ArgumentException($"Expected {rows * columns} values for {rows} x {columns}, got {values.Length}.", nameof(values));
        }

        if (rows % gateBlocks != 0)
        {
            throw new ArgumentException($"{rows} rows do not split into {gateBlocks} gate blocks.", nameof(gateBlocks));
        }

        int blockRows = rows / gateBlocks;
        int blockLength = blockRows * columns;
        switch (settings.Kind)
        {
            case InitKind.Default:
                double bound = blockRows == 0 ? 0 : 1.0 / Math.Sqrt(blockRows);
                Uniform(values, -bound, bound, random);
                break;
            case InitKind.Uniform:
                Uniform(values, -settings.Bound, settings.Bound, random);
                break;
            case InitKind.Normal:
                Normal(values, 0.0, settings.Std, random);
                break;
            case InitKind.Zeros:
                values.Clear();
                break;
            case InitKind.XavierUniform:
                XavierUniform(values, rows, columns, settings.Gain, random);
                break;
            case InitKind.XavierNormal:
                XavierNormal(values, rows, columns, settings.Gain, random);
                break;
            case InitKind.NormalScaled:
                for (int block = 0; block < gateBlocks; block++)
                {
                    NormalScaled(values.Slice(block * blockLength, blockLength), blockRows, columns, settings.Gain, random);
                }

                break;
            case InitKind.Orthogonal:
                for (int block = 0; block < gateBlocks; block++)
                {
                    Orthogonal(values.Slice(block * blockLength, blockLength), blockRows, columns, settings.Gain, random);
                }

                break;
            case InitKind.Identity:
                for (int block = 0; block < gateBlocks; block++)
                {
                    Identity(values.Slice(block * blockLength, blockLength), blockRows, columns, settings.Gain);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(settings), settings.Kind, "Unknown initialisation kind.");
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

    /// <summary>Fills <paramref name="values"/> with independent draws from N(mean, std^2) (Box-Muller, <see cref="Gaussian"/>).</summary>
    public static void Normal<T>(Span<T> values, double mean, double std, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var draws = new double[values.Length];
        Gaussian.Fill(draws, random);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = T.CreateChecked(mean + (std * draws[i]));
        }
    }

    /// <summary>
    /// W ~ N(0, s^2 / columns) for a rows x columns matrix. For a square n x n matrix the
    /// eigenvalues then fill the disc of radius s (Girko's circular law), so s sets the spectral
    /// radius that decides whether h_t = W h_{t-1} vanishes (s &lt; 1) or explodes (s &gt; 1).
    /// </summary>
    public static void NormalScaled<T>(Span<T> values, int rows, int columns, double s, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(values, rows, columns);
        Normal(values, 0.0, columns == 0 ? 0.0 : s / Math.Sqrt(columns), random);
    }

    /// <summary>
    /// Glorot and Bengio (2010), as torch.nn.init.xavier_uniform_: U(-a, a) with
    /// a = gain * sqrt(6 / (fan_in + fan_out)), fan_in = columns, fan_out = rows; the variance
    /// a^2 / 3 = gain^2 * 2 / (fan_in + fan_out).
    /// </summary>
    public static void XavierUniform<T>(Span<T> values, int rows, int columns, double gain, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(values, rows, columns);
        double bound = rows + columns == 0 ? 0 : gain * Math.Sqrt(6.0 / (rows + columns));
        Uniform(values, -bound, bound, random);
    }

    /// <summary>
    /// Glorot and Bengio (2010), as torch.nn.init.xavier_normal_: N(0, std^2) with
    /// std = gain * sqrt(2 / (fan_in + fan_out)), fan_in = columns, fan_out = rows.
    /// </summary>
    public static void XavierNormal<T>(Span<T> values, int rows, int columns, double gain, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(values, rows, columns);
        double std = rows + columns == 0 ? 0 : gain * Math.Sqrt(2.0 / (rows + columns));
        Normal(values, 0.0, std, random);
    }

    /// <summary>
    /// A (semi-)orthogonal matrix times <paramref name="gain"/>, as torch.nn.init.orthogonal_
    /// (Saxe, McClelland and Ganguli 2014): draw a rows x columns matrix of N(0, 1) values
    /// (row-major, by <see cref="Gaussian.Fill"/>), transpose it if rows &lt; columns, take its
    /// thin QR decomposition A = Q R (<see cref="HouseholderQr"/>), multiply each column of Q by
    /// the sign of R's diagonal entry so that R has a positive diagonal and Q is distributed
    /// uniformly (Haar) on the orthogonal matrices (Mezzadri 2007), and transpose back.
    /// The result has orthonormal columns if rows &gt;= columns and orthonormal rows otherwise;
    /// a square one has every eigenvalue on the unit circle, |lambda| = 1.
    /// </summary>
    public static void Orthogonal<T>(Span<T> values, int rows, int columns, double gain, Random random)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(values, rows, columns);
        if (values.IsEmpty)
        {
            return;
        }

        var gaussian = new double[rows * columns];
        Gaussian.Fill(gaussian, random);
        bool transposed = rows < columns;
        int tall = transposed ? columns : rows;
        int wide = transposed ? rows : columns;
        var tallMatrix = transposed ? Transpose(gaussian, rows, columns) : gaussian;

        var (q, r) = HouseholderQr.Decompose(tallMatrix, tall, wide);
        for (int j = 0; j < wide; j++)
        {
            // sign(0) is taken as +1: with probability one R's diagonal has no zero.
            double sign = r[(j * wide) + j] < 0 ? -1.0 : 1.0;
            for (int i = 0; i < tall; i++)
            {
                q[(i * wide) + j] *= sign * gain;
            }
        }

        var result = transposed ? Transpose(q, tall, wide) : q;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = T.CreateChecked(result[i]);
        }
    }

    /// <summary>
    /// <paramref name="scale"/> times the identity, as torch.nn.init.eye_ (which keeps the
    /// leading identity of a non-square matrix: 1 at (i, i) for i &lt; min(rows, columns)).
    /// With scale 1 and ReLU this is the IRNN of Le, Jaitly and Hinton (2015): at the start
    /// h_t = relu(h_{t-1} + W_x x_t + b) carries the state forward unchanged, and the Jacobian
    /// dh_t/dh_{t-1} is the identity on active units, so gradients neither vanish nor explode.
    /// </summary>
    public static void Identity<T>(Span<T> values, int rows, int columns, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckShape(values, rows, columns);
        values.Clear();
        T diagonal = T.CreateChecked(scale);
        for (int i = 0; i < Math.Min(rows, columns); i++)
        {
            values[(i * columns) + i] = diagonal;
        }
    }

    private static double[] Transpose(double[] matrix, int rows, int columns)
    {
        var transposed = new double[matrix.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                transposed[(j * rows) + i] = matrix[(i * columns) + j];
            }
        }

        return transposed;
    }

    private static void CheckShape<T>(Span<T> values, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (values.Length != rows * columns)
        {
            throw new ArgumentException($"Expected {rows * columns} values for {rows} x {columns}, got {values.Length}.", nameof(values));
        }
    }
}
