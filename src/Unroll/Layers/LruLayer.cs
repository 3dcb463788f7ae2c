using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Unroll.Kernels;
using Unroll.Kernels.Gemm;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for Long Sequences",
/// arXiv:2303.06349) with the GELU and GLU of its block, one direction of one layer. Its width H is even and its state
/// is N = H/2 complex numbers, H reals, so it has the [B, H] shape of every other cell's state:
/// <code>
/// lambda_n = exp(-exp(nu_n) + i exp(theta_n))            |lambda_n| = exp(-exp(nu_n)) &lt; 1 for every real nu_n
/// gamma_n  = exp(gamma_log_n)                             initialised to sqrt(1 - |lambda_n|^2)
/// v_t = lambda * v_{t-1} + gamma * (B x_t)                B = B_re + i B_im [N, I]; v in C^N
/// y_t = Re(C v_t) + D x_t = C_re Re v_t - C_im Im v_t + D x_t     C = C_re + i C_im [H, N]; D [H, I] real
/// z_t = GELU(y_t) = 0.5 y (1 + tanh(sqrt(2/pi) (y + 0.044715 y^3)))
/// [a_t; g_t] = W_glu z_t + b_glu                          W_glu [2H, H], b_glu [2H]
/// out_t = a_t * sigmoid(g_t)                              the layer's output, [H]
/// </code>
/// Parameters, in the order they lie in the flat buffer (suffix <c>_l{k}</c>, <c>_reverse</c> for the backward
/// direction): <c>rnn.nu_log</c>, <c>rnn.theta_log</c>, <c>rnn.gamma_log</c> [N]; <c>rnn.B_re</c>, <c>rnn.B_im</c>
/// [N, I]; <c>rnn.D</c> [H, I]; <c>rnn.C_re</c>, <c>rnn.C_im</c> [H, N]; <c>rnn.weight_glu</c> [2H, H];
/// <c>rnn.bias_glu</c> [2H]. The eigenvalues of the recurrence are the lambda_n themselves.
/// </summary>
/// <remarks>
/// <para>
/// Differences from the paper's block: D is a full [H, I] matrix (the paper's diagonal D needs I = H, which the
/// first layer does not have), and there is no normalisation before the LRU and no residual connection around it,
/// since the layer's input and output widths differ in general; the linear path from the input is D x_t.
/// </para>
/// <para>
/// Training: B_re, B_im and D lie one after the other in the flat buffer, so x [B_re; B_im; D]^T is one GEMM for all
/// T*B rows before the scan; the scan over the states (<see cref="DiagonalComplexRecurrence{T}"/>) is split over the
/// worker threads; C, the GLU and their gradients are single GEMMs after it. Backward runs the adjoint scan
/// <c>q_t = e_t + conj(lambda) q_{t+1}</c> (q_t = dL/dRe v_t + i dL/dIm v_t), then
/// <c>dL/dlambda = sum_t conj(v_{t-1}) q_t</c> over the active steps, chained to nu and theta. States are T+1 blocks of
/// [B, H] as for the other layers (each row: N real parts, then N imaginary parts); a padded step keeps the state
/// and has a zero output.
/// </para>
/// </remarks>
/// <typeparam name="T">float or double.</typeparam>
internal sealed class LruLayer<T> : IRecurrentLayer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    // GELU's tanh approximation (Hendrycks and Gimpel 2016; torch.nn.functional.gelu(approximate="tanh")).
    private static readonly T GeluScale = T.CreateChecked(0.7978845608028654); // sqrt(2 / pi)
    private static readonly T GeluCubic = T.CreateChecked(0.044715);
    private static readonly T Half = T.CreateChecked(0.5);
    private static readonly T Three = T.CreateChecked(3.0);

    private readonly ParameterSet<T> _parameters;
    private readonly PassJob _job;
    private readonly LinearScan<T> _scan = new();
    private readonly DiagonalComplexRecurrence<T> _recurrence = new();

    private int[]? _tokens;
    private string? _embeddingName;
    private T[] _lambdaReal = [];
    private T[] _lambdaImaginary = [];
    private T[] _gamma = [];
    private T[] _lambdaGradientReal = [];
    private T[] _lambdaGradientImaginary = [];
    private T[] _gammaGradient = [];
    private T[] _projected = [];          // [T*B, 2H]: Re(Bx), Im(Bx), Dx; in backward their gradients
    private T[] _states = [];             // (T+1) blocks of [B, H]
    private T[] _outputs = [];            // y [T*B, H]
    private T[] _geluTanh = [];           // tanh(sqrt(2/pi)(y + 0.044715 y^3)) [T*B, H]
    private T[] _activations = [];        // z = GELU(y) [T*B, H]
    private T[] _glu = [];                // [a, sigmoid(g)] [T*B, 2H]; in backward their gradients
    private T[] _activationGradients = []; // dL/dz [T*B, H]
    private T[] _stateGradientsWork = []; // e, then q = dL/dv_t [T*B, H]
    private T[] _inputGradientScratch = [];
    private T[] _carry = [];
    private T[] _stateGradients = [];
    private double[] _stateGradientNorms = [];
    private int[] _lengths = [];
    private bool _hasLengths;
    private int _steps;
    private int _batch;

    private Pass _pass;
    private unsafe T* _outside;
    private int _outsideColumn;
    private int _outsideWidth;

    // Step-by-step inference.
    private T[] _stepProjected = [];
    private T[] _stepOutputs = [];
    private T[] _stepGlu = [];
    private T[] _stepTanh = [];

    public LruLayer(ParameterSet<T> parameters, int layer, bool reverse, int inputSize, int hidden)
    {
        if (hidden % 2 != 0)
        {
            throw new UnrollException($"lru: expected an even hidden size (N = H/2 complex states), got {hidden}.");
        }

        _parameters = parameters;
        Reverse = reverse;
        InputSize = inputSize;
        Hidden = hidden;
        Units = hidden / 2;
                NuLog = ParameterNames.Recurrent("nu_log", layer, reverse);
        ThetaLog = ParameterNames.Recurrent("theta_log", layer, reverse);
        GammaLog = ParameterNames.Recurrent("gamma_log", layer, reverse);
        BReal = ParameterNames.Recurrent("B_re", layer, reverse);
        BImaginary = ParameterNames.Recurrent("B_im", layer, reverse);
        D = ParameterNames.Recurrent("D", layer, reverse);
        CReal = ParameterNames.Recurrent("C_re", layer, reverse);
        CImaginary = ParameterNames.Recurrent("C_im", layer, reverse);
        WeightGlu = ParameterNames.Recurrent("weight_glu", layer, reverse);
        BiasGlu = ParameterNames.Recurrent("bias_glu", layer, reverse);

        // x [B_re; B_im; D]^T is one product only if the three lie one after the other.
        int projection = parameters.View(BReal).Offset;
        if (parameters.View(BImaginary).Offset != projection + (Units * inputSize) || parameters.View(D).Offset != projection + (hidden * inputSize))
        {
            throw new InvalidOperationException($"lru: expected {BReal}, {BImaginary} and {D} to lie one after the other in the parameter buffer.");
        }

        _job = new PassJob(this);
    }

    private enum Pass
    {
        Gelu,
        GluOutput,
        GluBackward,
        GeluBackward,
        ProjectedGradient,
        Reductions,
    }

    public bool Reverse { get; }

    public int InputSize { get; }

    /// <summary>H, the width of the output (and, in reals, of the state).</summary>
    public int Hidden { get; }

    /// <summary>N = H/2, the complex states.</summary>
    public int Units { get; }

    public string NuLog { get; }

    public string ThetaLog { get; }

    public string GammaLog { get; }

    public string BReal { get; }

    public string BImaginary { get; }

    public string D { get; }

    public string CReal { get; }

    public string CImaginary { get; }

    public string WeightGlu { get; }

    public string BiasGlu { get; }

    /// <inheritdoc/>
    public bool RecordStateGradientNorms { get; set; }

    /// <inheritdoc/>
    /// <remarks>The LRU layers' state Jacobians are diagonal and known in closed form: nothing measures them by BPTT.</remarks>
    public bool StateGradientsOnly
    {
        get => false;
        set => throw new NotSupportedException("The LRU layers have no state-gradients-only backward pass.");
    }

    /// <inheritdoc/>
    public ReadOnlySpan<double> StateGradientNorms => _stateGradientNorms.AsSpan(0, RecordStateGradientNorms ? _steps : 0);

    /// <inheritdoc/>
    public ReadOnlySpan<double> CellGradientNorms => [];

    /// <inheritdoc/>
    /// <remarks>For the LRU, dL/dRe v_t then dL/dIm v_t in each row.</remarks>
    public ReadOnlySpan<T> StateGradients => _stateGradients.AsSpan(0, RecordStateGradientNorms ? _steps * _batch * Hidden : 0);

    /// <inheritdoc/>
    public ReadOnlySpan<T> CellGradients => [];

    /// <inheritdoc/>
    public ReadOnlySpan<T> FinalState => _states.AsSpan((Reverse ? 0 : _steps) * _batch * Hidden, _batch * Hidden);

    /// <inheritdoc/>
    public ReadOnlySpan<T> FinalCell => [];

    /// <inheritdoc/>
    public ReadOnlySpan<T> InitialStateGradient => _carry.AsSpan(0, _batch * Hidden);

    /// <inheritdoc/>
    public ReadOnlySpan<T> InitialCellGradient => [];

    /// <summary>The (name, shape) pairs of one direction, in buffer order (see the class summary).</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(int layer, bool reverse, int inputSize, int hidden)
    {
                int units = hidden / 2;
        yield return (ParameterNames.Recurrent("nu_log", layer, reverse), [units]);
        yield return (ParameterNames.Recurrent("theta_log", layer, reverse), [units]);
        yield return (ParameterNames.Recurrent("gamma_log", layer, reverse), [units]);
        yield return (ParameterNames.Recurrent("B_re", layer, reverse), [units, inputSize]);
        yield return (ParameterNames.Recurrent("B_im", layer, reverse), [units, inputSize]);
        yield return (ParameterNames.Recurrent("D", layer, reverse), [hidden, inputSize]);
        yield return (ParameterNames.Recurrent("C_re", layer, reverse), [hidden, units]);
        yield return (ParameterNames.Recurrent("C_im", layer, reverse), [hidden, units]);
        yield return (ParameterNames.Recurrent("weight_glu", layer, reverse), [2 * hidden, hidden]);
        yield return (ParameterNames.Recurrent("bias_glu", layer, reverse), [2 * hidden]);
    }

    /// <summary>lambda_n = exp(-exp(nu_n) + i exp(theta_n)) of one direction, computed in double.</summary>
    public static Complex[] Eigenvalues(ParameterSet<T> parameters, int layer, bool reverse)
    {
        ArgumentNullException.ThrowIfNull(parameters);
                var nu = parameters.Value(ParameterNames.Recurrent("nu_log", layer, reverse));
        var theta = parameters.Value(ParameterNames.Recurrent("theta_log", layer, reverse));
        var eigenvalues = new Complex[nu.Length];
        for (int n = 0; n < nu.Length; n++)
        {
            eigenvalues[n] = Complex.FromPolarCoordinates(Math.Exp(-Math.Exp(double.CreateChecked(nu[n]))), Math.Exp(double.CreateChecked(theta[n])));
        }

        return eigenvalues;
    }

    /// <inheritdoc/>
    public void SetTokenInput(int[]? tokens, string? embeddingName, int vocabulary)
    {
        _tokens = tokens;
        _embeddingName = embeddingName;
    }

    /// <inheritdoc/>
    public void Forward(
        ReadOnlySpan<T> x, int steps, int batch, ReadOnlySpan<int> lengths,
        ReadOnlySpan<T> initialState, ReadOnlySpan<T> initialCell,
        Span<T> output, int outputColumn, int outputWidth)
    {
        Allocate(steps, batch, lengths);
        int hidden = Hidden, units = Units, block = batch * hidden, rows = steps * batch;
        ComputeEigenvalues();

        // forward: [Re(B x_t), Im(B x_t), D x_t] = x_t [B_re; B_im; D]^T, all T*B rows at once.
        var projected = _projected.AsSpan(0, rows * 2 * hidden);
        Gemm.Compute(Transpose.No, Transpose.Yes, rows, 2 * hidden, InputSize, T.One, x[..(rows * InputSize)], InputSize,
            ProjectionWeights(_parameters.Values), InputSize, T.Zero, projected, 2 * hidden);

        // forward: v_t = lambda v_{t-1} + gamma (B x_t) from v_0 = h0.
        var carry = _carry.AsSpan(0, block);
        if (initialState.IsEmpty)
        {
            carry.Clear();
        }
        else
        {
            initialState.CopyTo(carry);
        }

        carry.CopyTo(_states.AsSpan((Reverse ? steps : 0) * block, block));
        _recurrence.SetForward(steps, batch, units, _lambdaReal, _lambdaImaginary, _gamma, _projected, 2 * hidden,
            _states, outputShift: Reverse ? 0 : 1, _lengths, _hasLengths, backwardsInTime: Reverse);
        _scan.Run(_recurrence, carry, LinearScan<T>.PartsFor(_recurrence));

        // forward: y = D x + C_re Re v - C_im Im v, the states of all steps in time order being one [T*B, H] slice.
        var y = _outputs.AsSpan(0, rows * hidden);
        for (int r = 0; r < rows; r++)
        {
            projected.Slice((r * 2 * hidden) + hidden, hidden).CopyTo(y.Slice(r * hidden, hidden));
        }

        var states = CurrentStates(rows);
        Gemm.Compute(Transpose.No, Transpose.Yes, rows, hidden, units, T.One, states, hidden, _parameters.Value(CReal), units, T.One, y, hidden);
        Gemm.Compute(Transpose.No, Transpose.Yes, rows, hidden, units, -T.One, states[units..], hidden, _parameters.Value(CImaginary), units, T.One, y, hidden);

        // forward: z = GELU(y); [a; g] = W_glu z + b_glu; out = a sigmoid(g) (zero at padded steps).
        RunPass(Pass.Gelu, rows);
        Linear.Forward<T>(_activations.AsSpan(0, rows * hidden), rows, hidden, _parameters.Value(WeightGlu), _parameters.Value(BiasGlu), 2 * hidden,
            _glu.AsSpan(0, rows * 2 * hidden));
        unsafe
        {
            fixed (T* pointer = output)
            {
                SetOutside(pointer, outputColumn, outputWidth);
                RunPass(Pass.GluOutput, rows);
                SetOutside(null, 0, 0);
            }
        }
    }

    /// <inheritdoc/>
    public void Backward(
        ReadOnlySpan<T> x, ReadOnlySpan<T> outputGradient, int outputColumn, int outputWidth,
        Span<T> inputGradient, bool accumulateInputGradient,
        ReadOnlySpan<T> finalStateGradient, ReadOnlySpan<T> finalCellGradient)
    {
        RecurrentLayers.RejectFinalStateGradient("LRU", finalStateGradient, finalCellGradient);
        int steps = _steps, batch = _batch, hidden = Hidden, units = Units, block = batch * hidden, rows = steps * batch;

        // forward: out = a sigmoid(g)  =>  da = dout sigmoid(g), dg = dout a sigmoid(g) (1 - sigmoid(g)); zero at padded steps.
        unsafe
        {
            fixed (T* pointer = outputGradient)
            {
                SetOutside(pointer, outputColumn, outputWidth);
                RunPass(Pass.GluBackward, rows);
                SetOutside(null, 0, 0);
            }
        }

        // forward: [a; g] = W_glu z + b_glu  =>  dW_glu += d[a; g]^T z, db_glu += column sums, dz = d[a; g] W_glu.
        var activationGradients = _activationGradients.AsSpan(0, rows * hidden);
        Linear.Backward<T>(_activations.AsSpan(0, rows * hidden), rows, hidden, _parameters.Value(WeightGlu), 2 * hidden, _glu.AsSpan(0, rows * 2 * hidden),
            _parameters.Gradient(WeightGlu), _parameters.Gradient(BiasGlu), activationGradients);

        // forward: z = GELU(y)  =>  dy = dz GELU'(y), written into the D x columns of the projection gradient.
        RunPass(Pass.GeluBackward, rows);
        var projectedGradient = _projected.AsSpan(0, rows * 2 * hidden);
        var dy = projectedGradient[hidden..];

        // forward: y = C_re Re v - C_im Im v + ...  =>  dC_re += dy^T Re v, dC_im -= dy^T Im v,
        // and the direct part of dL/dv: e_re = dy C_re, e_im = -dy C_im.
        var states = CurrentStates(rows);
        Gemm.Compute(Transpose.Yes, Transpose.No, hidden, units, rows, T.One, dy, 2 * hidden, states, hidden, T.One, _parameters.Gradient(CReal), units);
        Gemm.Compute(Transpose.Yes, Transpose.No, hidden, units, rows, -T.One, dy, 2 * hidden, states[units..], hidden, T.One, _parameters.Gradient(CImaginary), units);
        var stateGradients = _stateGradientsWork.AsSpan(0, rows * hidden);
        Gemm.Compute(Transpose.No, Transpose.No, rows, units, hidden, T.One, dy, 2 * hidden, _parameters.Value(CReal), units, T.Zero, stateGradients, hidden);
        Gemm.Compute(Transpose.No, Transpose.No, rows, units, hidden, -T.One, dy, 2 * hidden, _parameters.Value(CImaginary), units, T.Zero, stateGradients[units..], hidden);

        // forward: v_t = lambda v_{t-1} + ...  =>  q_t = e_t + conj(lambda) q_{t+1}, against the forward order;
        // the carry left at the end is dL/dv_0.
        var carry = _carry.AsSpan(0, block);
        carry.Clear();
        _recurrence.SetAdjoint(steps, batch, units, _lambdaReal, _lambdaImaginary, _stateGradientsWork, _lengths, _hasLengths, backwardsInTime: !Reverse);
        _scan.Run(_recurrence, carry, LinearScan<T>.PartsFor(_recurrence));
        if (RecordStateGradientNorms)
        {
            Buffers.Grow(ref _stateGradients, rows * hidden);
            stateGradients.CopyTo(_stateGradients);
            for (int t = 0; t < steps; t++)
            {
                _stateGradientNorms[t] = RecurrentLayers.Norm<T>(stateGradients.Slice(t * block, block));
            }
        }

        // forward: v_t = lambda v_{t-1} + gamma p_t  =>  dlambda = sum conj(v_{t-1}) q_t, dgamma = sum Re(conj(p_t) q_t),
        // over the active steps (split over the threads by state unit, each summing its rows in order).
        RunPass(Pass.Reductions, units);
        ChainEigenvalueGradients();

        // forward: p_t = B x_t, v_t = ... + gamma p_t  =>  dp_t = gamma q_t (zero at padded steps), next to dy.
        RunPass(Pass.ProjectedGradient, rows);

        // forward: [p_re, p_im, D x] = x [B_re; B_im; D]^T  =>  d[B_re; B_im; D] += dP^T x, dx = dP [B_re; B_im; D].
        Gemm.Compute(Transpose.Yes, Transpose.No, 2 * hidden, InputSize, rows, T.One, projectedGradient, 2 * hidden, x[..(rows * InputSize)], InputSize,
            T.One, ProjectionWeights(_parameters.Gradients), InputSize);
        bool tokenInput = _embeddingName is not null;
        if (!tokenInput && inputGradient.IsEmpty)
        {
            return;
        }

        Span<T> dx = inputGradient;
        if (tokenInput)
        {
            Buffers.Grow(ref _inputGradientScratch, rows * InputSize);
            dx = _inputGradientScratch.AsSpan(0, rows * InputSize);
        }

        Gemm.Compute(Transpose.No, Transpose.No, rows, InputSize, 2 * hidden, T.One, projectedGradient, 2 * hidden, ProjectionWeights(_parameters.Values), InputSize,
            accumulateInputGradient && !tokenInput ? T.One : T.Zero, dx, InputSize);
        if (tokenInput)
        {
            // forward: x_r = E[token_r]  =>  dE[token_r] += dx_r
            RecurrentLayers.AddToEmbedding<T>(dx, _tokens.AsSpan(0, rows), InputSize, _parameters.Gradient(_embeddingName!));
        }
    }

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<T> x, int batch, Span<T> state, Span<T> cell)
    {
        int hidden = Hidden, units = Units;
        ComputeEigenvalues();
        Buffers.Grow(ref _stepProjected, batch * 2 * hidden);
        Buffers.Grow(ref _stepOutputs, batch * hidden);
        Buffers.Grow(ref _stepGlu, batch * 2 * hidden);
        Buffers.Grow(ref _stepTanh, hidden);
        var projected = _stepProjected.AsSpan(0, batch * 2 * hidden);
        Gemm.Compute(Transpose.No, Transpose.Yes, batch, 2 * hidden, InputSize, T.One, x, InputSize, ProjectionWeights(_parameters.Values), InputSize, T.Zero, projected, 2 * hidden);
        var y = _stepOutputs.AsSpan(0, batch * hidden);
        for (int b = 0; b < batch; b++)
        {
            var v = state.Slice(b * hidden, hidden);
            var p = projected.Slice(b * 2 * hidden, 2 * hidden);
            for (int n = 0; n < units; n++)
            {
                // v = lambda v + gamma p, as the scan computes it.
                T a = _lambdaReal[n], c = _lambdaImaginary[n], gain = _gamma[n], re = v[n], im = v[units + n];
                v[n] = ((a * re) - (c * im)) + (gain * p[n]);
                v[units + n] = ((c * re) + (a * im)) + (gain * p[units + n]);
            }

            p.Slice(hidden, hidden).CopyTo(y.Slice(b * hidden, hidden));
        }

        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, units, T.One, state, hidden, _parameters.Value(CReal), units, T.One, y, hidden);
        Gemm.Compute(Transpose.No, Transpose.Yes, batch, hidden, units, -T.One, state[units..], hidden, _parameters.Value(CImaginary), units, T.One, y, hidden);
        for (int r = 0; r < batch; r++)
        {
            Gelu(y.Slice(r * hidden, hidden), _stepTanh.AsSpan(0, hidden), y.Slice(r * hidden, hidden));
        }

        var glu = _stepGlu.AsSpan(0, batch * 2 * hidden);
        Linear.Forward<T>(y, batch, hidden, _parameters.Value(WeightGlu), _parameters.Value(BiasGlu), 2 * hidden, glu);
        for (int r = 0; r < batch; r++)
        {
            Glu(glu.Slice(r * 2 * hidden, 2 * hidden), y.Slice(r * hidden, hidden));
        }
    }

    /// <inheritdoc/>
    public ReadOnlySpan<T> StepOutput(ReadOnlySpan<T> state) => _stepOutputs.AsSpan(0, state.Length);

    private Span<T> ProjectionWeights(T[] buffer) => buffer.AsSpan(_parameters.View(BReal).Offset, 2 * Hidden * InputSize);

    // The states v_t of all steps in time order: blocks 1..T (forward) or 0..T-1 (reverse), [T*B, H].
    private Span<T> CurrentStates(int rows) => _states.AsSpan((Reverse ? 0 : 1) * _batch * Hidden, rows * Hidden);

    private void ComputeEigenvalues()
    {
        int units = Units;
        Buffers.Grow(ref _lambdaReal, units);
        Buffers.Grow(ref _lambdaImaginary, units);
        Buffers.Grow(ref _gamma, units);
        var nu = _parameters.Value(NuLog);
        var theta = _parameters.Value(ThetaLog);
        var gammaLog = _parameters.Value(GammaLog);
        for (int n = 0; n < units; n++)
        {
            // lambda = exp(-exp(nu)) (cos(exp(theta)) + i sin(exp(theta))), gamma = exp(gamma_log)
            T modulus = T.Exp(-T.Exp(nu[n])), phase = T.Exp(theta[n]);
            _lambdaReal[n] = modulus * T.Cos(phase);
            _lambdaImaginary[n] = modulus * T.Sin(phase);
            _gamma[n] = T.Exp(gammaLog[n]);
        }
    }

    private void ChainEigenvalueGradients()
    {
        var nu = _parameters.Value(NuLog);
        var theta = _parameters.Value(ThetaLog);
        var dNu = _parameters.Gradient(NuLog);
        var dTheta = _parameters.Gradient(ThetaLog);
        var dGammaLog = _parameters.Gradient(GammaLog);
        for (int n = 0; n < Units; n++)
        {
            T lr = _lambdaReal[n], li = _lambdaImaginary[n], dr = _lambdaGradientReal[n], di = _lambdaGradientImaginary[n];
            // forward: lambda = exp(-exp(nu)) e^{i phi}  =>  dlambda/dnu = -exp(nu) lambda  =>  dnu = -exp(nu) (dr lr + di li)
            dNu[n] -= T.Exp(nu[n]) * ((dr * lr) + (di * li));
            // forward: phi = exp(theta)  =>  dlambda/dtheta = i phi lambda  =>  dtheta = phi (di lr - dr li)
            dTheta[n] += T.Exp(theta[n]) * ((di * lr) - (dr * li));
            // forward: gamma = exp(gamma_log)  =>  dgamma_log = dgamma gamma
            dGammaLog[n] += _gammaGradient[n] * _gamma[n];
        }
    }

    private unsafe void SetOutside(T* pointer, int column, int width)
    {
        _outside = pointer;
        _outsideColumn = column;
        _outsideWidth = width;
    }

    private void RunPass(Pass pass, int count)
    {
        _pass = pass;
        long work = pass == Pass.Reductions ? (long)_steps * _batch * Hidden : (long)count * Hidden;
        WorkerPool.Run(_job, Math.Min(count, ParallelReductions.PartsFor(work)));
    }

    private bool IsActive(int t, int b) => !_hasLengths || t < _lengths[b];

    /// <summary>Part of the current pass: rows [first, end), or for the reductions state units [first, end).</summary>
    private unsafe void RunPart(int part, int parts)
    {
        int batch = _batch, hidden = Hidden, units = Units;
        if (_pass == Pass.Reductions)
        {
            var (firstUnit, endUnit) = ParallelReductions.Split(units, part, parts);
            SumEigenvalueGradients(firstUnit, endUnit);
            return;
        }

        var (first, end) = ParallelReductions.Split(_steps * batch, part, parts);
        for (int r = first; r < end; r++)
        {
            int t = r / batch, b = r - (t * batch);
            bool active = IsActive(t, b);
            var y = _outputs.AsSpan(r * hidden, hidden);
            var glu = _glu.AsSpan(r * 2 * hidden, 2 * hidden);
            switch (_pass)
            {
                case Pass.Gelu:
                    Gelu(y, _geluTanh.AsSpan(r * hidden, hidden), _activations.AsSpan(r * hidden, hidden));
                    break;
                case Pass.GluOutput:
                    var destination = new Span<T>(_outside + (r * _outsideWidth) + _outsideColumn, hidden);
                    Glu(glu, destination);
                    if (!active)
                    {
                        destination.Clear();
                    }

                    break;
                case Pass.GluBackward:
                    if (active)
                    {
                        GluBackward(glu, new ReadOnlySpan<T>(_outside + (r * _outsideWidth) + _outsideColumn, hidden));
                    }
                    else
                    {
                        glu.Clear();
                    }

                    break;
                case Pass.GeluBackward:
                    GeluBackward(y, _geluTanh.AsSpan(r * hidden, hidden), _activationGradients.AsSpan(r * hidden, hidden),
                        _projected.AsSpan((r * 2 * hidden) + hidden, hidden));
                    break;
                default:
                    // dp_t = gamma q_t at active steps.
                    var dp = _projected.AsSpan(r * 2 * hidden, hidden);
                    if (active)
                    {
                        var q = _stateGradientsWork.AsSpan(r * hidden, hidden);
                        var gamma = _gamma.AsSpan(0, units);
                        Multiply(gamma, q[..units], dp[..units]);
                        Multiply(gamma, q[units..], dp[units..]);
                    }
                    else
                    {
                        dp.Clear();
                    }

                    break;
            }
        }
    }

    // z = GELU(y) = 0.5 y (1 + tanh(k (y + c y^3))), keeping the tanh for backward (z may be y's own buffer).
    private static void Gelu(ReadOnlySpan<T> y, Span<T> tanhOut, Span<T> z)
    {
        int length = y.Length, j = 0;
        ref T y0 = ref MemoryMarshal.GetReference(y);
        ref T t0 = ref MemoryMarshal.GetReference(tanhOut);
        ref T z0 = ref MemoryMarshal.GetReference(z);
        if (Vector.IsHardwareAccelerated)
        {
            var scale = new Vector<T>(GeluScale);
            var cubic = new Vector<T>(GeluCubic);
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var v = Vector.LoadUnsafe(ref y0, (nuint)j);
                (scale * (v + (cubic * v * v * v))).StoreUnsafe(ref t0, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            T v = Unsafe.Add(ref y0, j);
            Unsafe.Add(ref t0, j) = GeluScale * (v + (GeluCubic * v * v * v));
        }

        Activations.TanhInPlace(tanhOut);
        j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var half = new Vector<T>(Half);
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                (half * Vector.LoadUnsafe(ref y0, (nuint)j) * (Vector<T>.One + Vector.LoadUnsafe(ref t0, (nuint)j))).StoreUnsafe(ref z0, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            Unsafe.Add(ref z0, j) = Half * Unsafe.Add(ref y0, j) * (T.One + Unsafe.Add(ref t0, j));
        }
    }

    // forward: z = 0.5 y (1 + th), th = tanh(k (y + c y^3))  =>  dy = dz (0.5 (1 + th) + 0.5 y (1 - th^2) k (1 + 3 c y^2))
    private static void GeluBackward(ReadOnlySpan<T> y, ReadOnlySpan<T> tanh, ReadOnlySpan<T> dz, Span<T> dy)
    {
        int length = y.Length, j = 0;
        ref T y0 = ref MemoryMarshal.GetReference(y);
        ref T t0 = ref MemoryMarshal.GetReference(tanh);
        ref T g0 = ref MemoryMarshal.GetReference(dz);
        ref T d0 = ref MemoryMarshal.GetReference(dy);
        if (Vector.IsHardwareAccelerated)
        {
            var half = new Vector<T>(Half);
            var scale = new Vector<T>(GeluScale);
            var cubic3 = new Vector<T>(Three * GeluCubic);
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var v = Vector.LoadUnsafe(ref y0, (nuint)j);
                var th = Vector.LoadUnsafe(ref t0, (nuint)j);
                var derivative = (half * (Vector<T>.One + th)) + (half * v * (Vector<T>.One - (th * th)) * scale * (Vector<T>.One + (cubic3 * v * v)));
                (Vector.LoadUnsafe(ref g0, (nuint)j) * derivative).StoreUnsafe(ref d0, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            T v = Unsafe.Add(ref y0, j), th = Unsafe.Add(ref t0, j);
            T derivative = (Half * (T.One + th)) + (Half * v * (T.One - (th * th)) * GeluScale * (T.One + (Three * GeluCubic * v * v)));
            Unsafe.Add(ref d0, j) = Unsafe.Add(ref g0, j) * derivative;
        }
    }

    // out = a sigmoid(g): glu holds [a, g] on entry and [a, sigmoid(g)] on exit.
    private void Glu(Span<T> glu, Span<T> output)
    {
        int hidden = Hidden;
        var a = glu[..hidden];
        var gate = glu[hidden..];
        Activations.SigmoidInPlace(gate);
        Multiply(a, gate, output);
    }

    // forward: out = a s, s = sigmoid(g)  =>  da = dout s, dg = dout a s (1 - s); glu holds [a, s] on entry, [da, dg] on exit.
    private void GluBackward(Span<T> glu, ReadOnlySpan<T> outputGradient)
    {
        int hidden = Hidden, j = 0;
        ref T a0 = ref MemoryMarshal.GetReference(glu);
        ref T s0 = ref Unsafe.Add(ref a0, hidden);
        ref T o0 = ref MemoryMarshal.GetReference(outputGradient);
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= hidden - Vector<T>.Count; j += Vector<T>.Count)
            {
                var a = Vector.LoadUnsafe(ref a0, (nuint)j);
                var s = Vector.LoadUnsafe(ref s0, (nuint)j);
                var dOut = Vector.LoadUnsafe(ref o0, (nuint)j);
                (dOut * s).StoreUnsafe(ref a0, (nuint)j);
                (dOut * a * s * (Vector<T>.One - s)).StoreUnsafe(ref s0, (nuint)j);
            }
        }

        for (; j < hidden; j++)
        {
            T a = Unsafe.Add(ref a0, j), s = Unsafe.Add(ref s0, j), dOut = Unsafe.Add(ref o0, j);
            Unsafe.Add(ref a0, j) = dOut * s;
            Unsafe.Add(ref s0, j) = dOut * a * s * (T.One - s);
        }
    }

    // product = a * b, element-wise.
    private static void Multiply(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> product)
    {
        int length = a.Length, j = 0;
        ref T a0 = ref MemoryMarshal.GetReference(a);
        ref T b0 = ref MemoryMarshal.GetReference(b);
        ref T p0 = ref MemoryMarshal.GetReference(product);
        if (Vector.IsHardwareAccelerated)
        {
            for (; j <= length - Vector<T>.Count; j += Vector<T>.Count)
            {
                (Vector.LoadUnsafe(ref a0, (nuint)j) * Vector.LoadUnsafe(ref b0, (nuint)j)).StoreUnsafe(ref p0, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            Unsafe.Add(ref p0, j) = Unsafe.Add(ref a0, j) * Unsafe.Add(ref b0, j);
        }
    }

    // For units [first, end): dlambda_re += q_re v'_re + q_im v'_im, dlambda_im += q_im v'_re - q_re v'_im,
    // dgamma += q_re p_re + q_im p_im, over the active rows in row order (v' = v_{t-1}, p = B x_t).
    private void SumEigenvalueGradients(int first, int end)
    {
        int batch = _batch, hidden = Hidden, units = Units, block = batch * hidden;
        var dr = _lambdaGradientReal.AsSpan(first, end - first);
        var di = _lambdaGradientImaginary.AsSpan(first, end - first);
        var dg = _gammaGradient.AsSpan(first, end - first);
        dr.Clear();
        di.Clear();
        dg.Clear();
        ref T dr0 = ref MemoryMarshal.GetReference(dr);
        ref T di0 = ref MemoryMarshal.GetReference(di);
        ref T dg0 = ref MemoryMarshal.GetReference(dg);
        int count = end - first;
        for (int t = 0; t < _steps; t++)
        {
            int previous = Reverse ? t + 1 : t;
            for (int b = 0; b < batch; b++)
            {
                if (!IsActive(t, b))
                {
                    continue;
                }

                int r = (t * batch) + b;
                ref T qr0 = ref _stateGradientsWork[(r * hidden) + first];
                ref T qi0 = ref Unsafe.Add(ref qr0, units);
                ref T vr0 = ref _states[(previous * block) + (b * hidden) + first];
                ref T vi0 = ref Unsafe.Add(ref vr0, units);
                ref T pr0 = ref _projected[(r * 2 * hidden) + first];
                ref T pi0 = ref Unsafe.Add(ref pr0, units);
                int n = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    for (; n <= count - Vector<T>.Count; n += Vector<T>.Count)
                    {
                        var qr = Vector.LoadUnsafe(ref qr0, (nuint)n);
                        var qi = Vector.LoadUnsafe(ref qi0, (nuint)n);
                        var vr = Vector.LoadUnsafe(ref vr0, (nuint)n);
                        var vi = Vector.LoadUnsafe(ref vi0, (nuint)n);
                        (Vector.LoadUnsafe(ref dr0, (nuint)n) + ((qr * vr) + (qi * vi))).StoreUnsafe(ref dr0, (nuint)n);
                        (Vector.LoadUnsafe(ref di0, (nuint)n) + ((qi * vr) - (qr * vi))).StoreUnsafe(ref di0, (nuint)n);
                        (Vector.LoadUnsafe(ref dg0, (nuint)n) + ((qr * Vector.LoadUnsafe(ref pr0, (nuint)n)) + (qi * Vector.LoadUnsafe(ref pi0, (nuint)n))))
                            .StoreUnsafe(ref dg0, (nuint)n);
                    }
                }

                for (; n < count; n++)
                {
                    T qr = Unsafe.Add(ref qr0, n), qi = Unsafe.Add(ref qi0, n), vr = Unsafe.Add(ref vr0, n), vi = Unsafe.Add(ref vi0, n);
                    Unsafe.Add(ref dr0, n) += (qr * vr) + (qi * vi);
                    Unsafe.Add(ref di0, n) += (qi * vr) - (qr * vi);
                    Unsafe.Add(ref dg0, n) += (qr * Unsafe.Add(ref pr0, n)) + (qi * Unsafe.Add(ref pi0, n));
                }
            }
        }
    }

    private void Allocate(int steps, int batch, ReadOnlySpan<int> lengths)
    {
        _steps = steps;
        _batch = batch;
        int hidden = Hidden, rows = steps * batch;
        Buffers.Grow(ref _projected, rows * 2 * hidden);
        Buffers.Grow(ref _states, (rows + batch) * hidden);
        Buffers.Grow(ref _outputs, rows * hidden);
        Buffers.Grow(ref _geluTanh, rows * hidden);
        Buffers.Grow(ref _activations, rows * hidden);
        Buffers.Grow(ref _glu, rows * 2 * hidden);
        Buffers.Grow(ref _activationGradients, rows * hidden);
        Buffers.Grow(ref _stateGradientsWork, rows * hidden);
        Buffers.Grow(ref _carry, batch * hidden);
        Buffers.Grow(ref _lambdaGradientReal, Units);
        Buffers.Grow(ref _lambdaGradientImaginary, Units);
        Buffers.Grow(ref _gammaGradient, Units);
        Buffers.Grow(ref _stateGradientNorms, steps);
        _hasLengths = !lengths.IsEmpty;
        if (_hasLengths)
        {
            Buffers.Grow(ref _lengths, batch);
            lengths.CopyTo(_lengths);
        }
    }

    /// <summary>A pass as a reusable job, so that running one allocates nothing.</summary>
    private sealed class PassJob(LruLayer<T> layer) : IParallelJob
    {
        public void Run(int part, int parts) => layer.RunPart(part, parts);
    }
}
