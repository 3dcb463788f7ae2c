using System.Numerics;

namespace Unroll.Training;

/// <summary>The optimisers offered by the trainer.</summary>
public enum OptimizerKind
{
    /// <summary>Plain gradient descent, theta &lt;- theta - lr * g.</summary>
    Sgd,

    /// <summary>Adam (Kingma and Ba 2015) with torch.optim.Adam's defaults and bias correction.</summary>
    Adam,
}

/// <summary>An update rule over the flat parameter buffer.</summary>
/// <typeparam name="T">The parameter type.</typeparam>
public interface IOptimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The learning rate used by the next <see cref="Step"/>.</summary>
    double LearningRate { get; set; }

    /// <summary>Updates <paramref name="parameters"/> in place from <paramref name="gradients"/>.</summary>
    void Step(Span<T> parameters, ReadOnlySpan<T> gradients);
}

/// <summary>Creates optimisers by kind.</summary>
public static class Optimizers
{
    /// <summary>Parses an optimiser name (sgd, adam).</summary>
    /// <exception cref="UnrollException">Unknown name.</exception>
    public static OptimizerKind Parse(string name) => name.Trim().ToUpperInvariant() switch
    {
        "SGD" => OptimizerKind.Sgd,
        "ADAM" => OptimizerKind.Adam,
        _ => throw new UnrollException($"optimizer: expected sgd or adam, got '{name}'."),
    };

    /// <summary>A new optimiser of the given kind for <paramref name="parameterCount"/> parameters.</summary>
    public static IOptimizer<T> Create<T>(OptimizerKind kind, double learningRate, int parameterCount)
        where T : unmanaged, IFloatingPointIeee754<T> => kind switch
        {
            OptimizerKind.Sgd => new Sgd<T>(learningRate),
            OptimizerKind.Adam => new Adam<T>(learningRate, parameterCount),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimiser."),
        };
}

/// <summary>Plain gradient descent as in the notes: <c>theta &lt;- theta - lr * grad</c>.</summary>
/// <typeparam name="T">The parameter type.</typeparam>
public sealed class Sgd<T> : IOptimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates the optimiser.</summary>
    public Sgd(double learningRate) => LearningRate = learningRate;

    /// <inheritdoc/>
    public double LearningRate { get; set; }

    /// <inheritdoc/>
    public void Step(Span<T> parameters, ReadOnlySpan<T> gradients)
    {
        T rate = T.CreateChecked(LearningRate);
        for (int i = 0; i < parameters.Length; i++)
        {
            parameters[i] -= rate * gradients[i];
        }
    }
}

/// <summary>
/// Adam as torch.optim.Adam (no weight decay, no amsgrad):
/// <code>
/// m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
/// theta -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
/// </code>
/// </summary>
/// <typeparam name="T">The parameter type.</typeparam>
public sealed class Adam<T> : IOptimizer<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _firstMoment;
    private readonly T[] _secondMoment;

    /// <summary>Creates the optimiser with zero moments.</summary>
    public Adam(double learningRate, int parameterCount, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        LearningRate = learningRate;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        _firstMoment = new T[parameterCount];
        _secondMoment = new T[parameterCount];
    }

    /// <inheritdoc/>
    public double LearningRate { get; set; }

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the denominator for stability.</summary>
    public double Epsilon { get; }

    /// <summary>Steps taken so far (t in the bias correction).</summary>
    public int StepCount { get; private set; }

    /// <inheritdoc/>
    public void Step(Span<T> parameters, ReadOnlySpan<T> gradients)
    {
        StepCount++;
        T beta1 = T.CreateChecked(Beta1), beta2 = T.CreateChecked(Beta2);
        T oneMinusBeta1 = T.One - beta1, oneMinusBeta2 = T.One - beta2;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double correction2 = 1 - Math.Pow(Beta2, StepCount);
        // torch: step_size = lr / bias_correction1; denom = sqrt(v) / sqrt(bias_correction2) + eps
        T stepSize = T.CreateChecked(LearningRate / correction1);
        T sqrtCorrection2 = T.CreateChecked(Math.Sqrt(correction2));
        T epsilon = T.CreateChecked(Epsilon);
        for (int i = 0; i < parameters.Length; i++)
        {
            T g = gradients[i];
            T m = _firstMoment[i] = (beta1 * _firstMoment[i]) + (oneMinusBeta1 * g);
            T v = _secondMoment[i] = (beta2 * _secondMoment[i]) + (oneMinusBeta2 * g * g);
            parameters[i] -= stepSize * m / ((T.Sqrt(v) / sqrtCorrection2) + epsilon);
        }
    }
}
