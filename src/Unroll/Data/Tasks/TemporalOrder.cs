using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data.Tasks;

/// <summary>
/// The temporal-order problem (Hochreiter and Schmidhuber 1997, experiment 6a; used at growing
/// lengths by Pascanu, Mikolov and Bengio 2013): tokens a, b, c, d (0-3) are distractors, B (4) and
/// E (5) open and close the sequence, and X (6), Y (7) are the relevant symbols. A sequence of T steps
/// is B, then distractors drawn uniformly, then E; two positions hold X or Y (each with probability
/// 1/2): t1 uniform in <c>[floor(T/10), floor(2T/10)]</c> and t2 uniform in <c>[floor(5T/10), floor(6T/10)]</c>
/// (for T = 100 the ranges 10-20 and 50-60 of the original). The class, read at the last step, is
/// the order of the two: XX = 0, XY = 1, YX = 2, YY = 3 (every step's target column holds it).
/// </summary>
/// <remarks>
/// Baseline: the four classes are equally likely and independent of everything but the two
/// relevant symbols, so without memory of them the best prediction is uniform: cross-entropy
/// <c>log 4</c>, accuracy 1/4.
/// </remarks>
internal sealed class TemporalOrder : SequenceTask
{
    /// <summary>The CLI name.</summary>
    public const string TaskName = "temporal-order";

    /// <summary>Distractor symbols a, b, c, d (tokens 0..3).</summary>
    public const int Distractors = 4;

    /// <summary>The start token B.</summary>
    public const int Begin = 4;

    /// <summary>The end token E.</summary>
    public const int End = 5;

    /// <summary>The relevant token X; Y is X + 1.</summary>
    public const int X = 6;

    /// <summary>Relevant symbols (X, Y).</summary>
    public const int RelevantSymbols = 2;

    /// <summary>Relevant positions in a sequence.</summary>
    public const int RelevantPositions = 2;

    /// <summary>Creates the task for sequences of <paramref name="length"/> &gt;= 10 steps.</summary>
    /// <exception cref="UnrollException">The length is out of range.</exception>
    public TemporalOrder(int length) : base(CheckLength(TaskName, length, 10)) { }

    /// <inheritdoc/>
    public override string Name => TaskName;

    /// <inheritdoc/>
    public override int SequenceLength => Length;

    /// <inheritdoc/>
    public override IReadOnlyList<string> InputNames { get; } = ["token"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> TargetNames { get; } = ["class"];

    /// <summary>a, b, c, d, B, E, X, Y.</summary>
    public override int VocabularySize => Distractors + 4;

    /// <summary>XX, XY, YX, YY: relevant symbols to the power of relevant positions.</summary>
    public override int OutputSize => (int)Math.Pow(RelevantSymbols, RelevantPositions);

    /// <inheritdoc/>
    public override HeadKind Head => HeadKind.Classification;

    /// <inheritdoc/>
    public override Pooling Pooling => Pooling.LastStep;

    /// <summary>The entropy of the uniform class, log C.</summary>
    public override double BaselineLoss => Math.Log(OutputSize);

    /// <summary>1/C.</summary>
    public override double BaselineAccuracy => 1.0 / OutputSize;

    /// <inheritdoc/>
    public override string BaselineDescription => $"uniform over the {OutputSize} classes";

    /// <summary>The range [first, last] of the first relevant position.</summary>
    public (int First, int Last) FirstRange => (Length / 10, 2 * Length / 10);

    /// <summary>The range [first, last] of the second relevant position.</summary>
    public (int First, int Last) SecondRange => (5 * Length / 10, 6 * Length / 10);

    /// <inheritdoc/>
    protected override void Fill(Span<double> inputs, Span<double> targets, SplitMix64 random)
    {
        int steps = Length;
        inputs[0] = Begin;
        inputs[steps - 1] = End;
        for (int t = 1; t < steps - 1; t++)
        {
            inputs[t] = random.Next(Distractors);
        }

        var (a, b) = FirstRange;
        var (c, d) = SecondRange;
        int first = a + random.Next(b - a + 1), second = c + random.Next(d - c + 1);
        int firstSymbol = random.Next(RelevantSymbols), secondSymbol = random.Next(RelevantSymbols);
        inputs[first] = X + firstSymbol;
        inputs[second] = X + secondSymbol;
        targets.Fill((RelevantSymbols * firstSymbol) + secondSymbol);
    }
}
