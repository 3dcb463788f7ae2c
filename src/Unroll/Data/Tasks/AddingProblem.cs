using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data.Tasks;

/// <summary>
/// The adding problem (Hochreiter and Schmidhuber 1997, experiment 4) in the two-channel form of
/// Le, Jaitly and Hinton (2015): every step carries a value <c>v_t ~ U[0, 1]</c> and a marker
/// <c>m_t</c> in {0, 1}; exactly two markers are 1, one at a uniform position in the first half
/// <c>[0, floor(T/2))</c> and one in the second half <c>[floor(T/2), T)</c>. The target, read at the
/// last step, is the sum of the two marked values (every step's target column holds it).
/// </summary>
/// <remarks>
/// Baseline: without memory of the marked values the best constant prediction is the mean of the
/// sum, <c>E[v_a + v_b] = 2 (lo + hi)/2 = 1</c>, and its MSE is the variance of the sum of two
/// independent uniforms, <c>2 (hi - lo)^2 / 12 = 1/6 ~ 0.1667</c>.
/// </remarks>
internal sealed class AddingProblem : SequenceTask
{
    /// <summary>The CLI name.</summary>
    public const string TaskName = "adding";

    /// <summary>Lower end of the value distribution.</summary>
    public const double ValueMin = 0;

    /// <summary>Upper end of the value distribution.</summary>
    public const double ValueMax = 1;

    /// <summary>Creates the task for sequences of <paramref name="length"/> &gt;= 2 steps.</summary>
    /// <exception cref="UnrollException">The length is out of range.</exception>
    public AddingProblem(int length) : base(CheckLength(TaskName, length, 2)) { }

    /// <inheritdoc/>
    public override string Name => TaskName;

    /// <inheritdoc/>
    public override int SequenceLength => Length;

    /// <inheritdoc/>
    public override IReadOnlyList<string> InputNames { get; } = ["value", "marker"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> TargetNames { get; } = ["sum"];

    /// <inheritdoc/>
    public override int VocabularySize => 0;

    /// <inheritdoc/>
    public override int OutputSize => 1;

    /// <inheritdoc/>
    public override HeadKind Head => HeadKind.Regression;

    /// <inheritdoc/>
    public override Pooling Pooling => Pooling.LastStep;

    /// <summary>The mean of the target, the best prediction without memory: twice the mean of one value.</summary>
    public static double MeanTarget => 2 * (ValueMin + ValueMax) / 2;

    /// <summary>The variance of the target: twice the variance of one uniform value, (hi - lo)^2 / 12.</summary>
    public override double BaselineLoss => 2 * (ValueMax - ValueMin) * (ValueMax - ValueMin) / 12;

    /// <inheritdoc/>
    public override string BaselineDescription => $"the mean sum, {MeanTarget}, for every sequence";

    /// <inheritdoc/>
    protected override void Fill(Span<double> inputs, Span<double> targets, SplitMix64 random)
    {
        int steps = Length, half = steps / 2;
        for (int t = 0; t < steps; t++)
        {
            inputs[2 * t] = ValueMin + ((ValueMax - ValueMin) * random.NextDouble());
            inputs[(2 * t) + 1] = 0;
        }

        int first = random.Next(half), second = half + random.Next(steps - half);
        inputs[(2 * first) + 1] = 1;
        inputs[(2 * second) + 1] = 1;
        targets.Fill(inputs[2 * first] + inputs[2 * second]);
    }
}
