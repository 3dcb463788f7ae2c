using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// What the trainer, the forecaster and the model file need from a recurrent model: the stacked
/// hidden-state networks (<see cref="SequenceModel{T}"/>) and the output-recurrent Jordan network
/// (<see cref="JordanModel{T}"/>) both provide it.
/// </summary>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public interface IRecurrentModel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The architecture and sizes.</summary>
    ModelConfig Config { get; }

    /// <summary>The parameters and their gradients.</summary>
    ParameterSet<T> Parameters { get; }

    /// <summary>Training mode: dropout between layers is active.</summary>
    bool Training { get; set; }

    /// <summary>The predictions of the last <see cref="Run"/>, [T, B, O].</summary>
    ReadOnlySpan<T> Predictions { get; }

    /// <summary>Seeds the random numbers the model draws while training (dropout masks).</summary>
    void SetDropoutSeed(int seed);

    /// <summary>The state of the model's random-number generator, for checkpoints that resume exactly.</summary>
    ulong RandomState { get; set; }

    /// <summary>
    /// Runs a batch of dense sequences ([T, B, I]) and keeps what backward needs. Models that feed
    /// their outputs back (the Jordan network) are given the true targets ([T, B, O]) instead
    /// (teacher forcing), or run free when <paramref name="targets"/> is empty; others ignore them.
    /// <paramref name="lengths"/> gives each sequence's length in [1, T] (empty when all have T steps): a
    /// sequence's state stops at its last step, as PyTorch's packed sequences.
    /// </summary>
    void Run(ReadOnlySpan<T> inputs, ReadOnlySpan<T> targets, int steps, int batch, ReadOnlySpan<int> lengths = default);

    /// <summary>Backpropagation through time for the last <see cref="Run"/>, adding into the parameter gradients.</summary>
    void Backward(ReadOnlySpan<T> predictionGradients);

    /// <summary>A zero state for step-by-step inference over <paramref name="batch"/> sequences.</summary>
    RecurrentState<T> CreateState(int batch);

    /// <summary>One step of inference: reads x_t ([B, I]) and the state, writes y_t ([B, O]) and the new state.</summary>
    void Step(ReadOnlySpan<T> input, RecurrentState<T> state, Span<T> output);
}

/// <summary>The state carried between inference steps: hidden states, LSTM cells, the previous output.</summary>
/// <typeparam name="T">The element type.</typeparam>
public sealed class RecurrentState<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a zero state.</summary>
    public RecurrentState(int batch, int hiddenLength, int cellLength, int outputLength)
    {
        Batch = batch;
        Hidden = new T[hiddenLength];
        Cell = new T[cellLength];
        Output = new T[outputLength];
    }

    /// <summary>Sequences in the batch.</summary>
    public int Batch { get; }

    /// <summary>Hidden states, [L, B, H] (empty for the Jordan network, whose state is its output).</summary>
    public T[] Hidden { get; }

    /// <summary>LSTM cells, [L, B, H] (empty for other cells).</summary>
    public T[] Cell { get; }

    /// <summary>The previous output y_{t-1}, [B, O] (used by the Jordan network).</summary>
    public T[] Output { get; }
}

/// <summary>Creates the model a config describes.</summary>
internal static class RecurrentModels
{
    /// <summary>A new model with zero parameters for <paramref name="config"/>.</summary>
    /// <exception cref="UnrollException">The config is invalid.</exception>
    public static IRecurrentModel<T> Create<T>(ModelConfig config)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Architecture == Architecture.Jordan ? new JordanModel<T>(config) : new SequenceModel<T>(config, initialize: false);
    }
}
