using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data.Tasks;

/// <summary>
/// The copy-memory task of Arjovsky, Shah and Bengio (2016, section 4.1): tokens 0 = blank,
/// 1..8 = the eight data categories, 9 = the delimiter. A sequence has T + 20 steps: 10 symbols drawn
/// uniformly from the categories, T - 1 blanks, the delimiter, and 10 more blanks. The target at
/// every step is blank (class 0) except at the last 10 steps, which must reproduce the 10 symbols in
/// order: the network must remember them across T steps.
/// </summary>
/// <remarks>
/// Baseline (the memoryless strategy of Arjovsky et al.): predict blank for the first T + 10 steps,
/// which is certain, and a uniform distribution over the categories for the last 10. Its
/// cross-entropy per step is <c>10 log 8 / (T + 20)</c> and its accuracy, counting one in eight of
/// the recalled symbols right, <c>(T + 10 + 10/8) / (T + 20)</c>.
/// </remarks>
internal sealed class CopyMemory : SequenceTask
{
    /// <summary>The CLI name.</summary>
    public const string TaskName = "copy";

    /// <summary>Symbols to remember.</summary>
    public const int RecallCount = 10;

    /// <summary>Data categories the symbols are drawn from (tokens 1..8).</summary>
    public const int Categories = 8;

    /// <summary>The blank token and class.</summary>
    public const int Blank = 0;

    /// <summary>The delimiter token: recall starts after it.</summary>
    public const int Delimiter = Categories + 1;

    /// <summary>Creates the task with a delay of <paramref name="delay"/> &gt;= 1 blanks (T).</summary>
    /// <exception cref="UnrollException">The delay is out of range.</exception>
    public CopyMemory(int delay) : base(CheckLength(TaskName, delay, 1)) { }

    /// <inheritdoc/>
    public override string Name => TaskName;

    /// <inheritdoc/>
    public override int SequenceLength => Length + (2 * RecallCount);

    /// <inheritdoc/>
    public override IReadOnlyList<string> InputNames { get; } = ["token"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> TargetNames { get; } = ["class"];

    /// <summary>Blank, the 8 categories and the delimiter.</summary>
    public override int VocabularySize => Categories + 2;

    /// <summary>Blank and the 8 categories (the delimiter is never a target).</summary>
    public override int OutputSize => Categories + 1;

    /// <inheritdoc/>
    public override HeadKind Head => HeadKind.Classification;

    /// <inheritdoc/>
    public override Pooling Pooling => Pooling.EveryStep;

    /// <summary>Recall steps times the entropy of one uniform category, spread over every step.</summary>
    public override double BaselineLoss => RecallCount * Math.Log(Categories) / SequenceLength;

    /// <summary>Every blank right and one in <see cref="Categories"/> of the recalled symbols.</summary>
    public override double BaselineAccuracy => (SequenceLength - RecallCount + ((double)RecallCount / Categories)) / SequenceLength;

    /// <inheritdoc/>
    public override string BaselineDescription => $"blank until the delimiter, then uniform over the {Categories} categories";

    /// <inheritdoc/>
    protected override void Fill(Span<double> inputs, Span<double> targets, SplitMix64 random)
    {
        inputs.Fill(Blank);
        targets.Fill(Blank);
        int recallStart = Length + RecallCount;
        for (int i = 0; i < RecallCount; i++)
        {
            int symbol = 1 + random.Next(Categories);
            inputs[i] = symbol;
            targets[recallStart + i] = symbol;
        }

        inputs[recallStart - 1] = Delimiter;
    }
}
