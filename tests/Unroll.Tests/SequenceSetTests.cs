using Unroll.Data;
using Unroll.Training;

namespace Unroll.Tests;

public class SequenceSetTests
{
    /// <summary>3 sequences, 4 steps, 2 inputs, 1 target; value encodes (n, t, c) as 100 n + 10 t + c.</summary>
    private static SequenceSet Encoded()
    {
        const int count = 3, length = 4;
        var inputs = new double[count * length * 2];
        var targets = new double[count * length];
        for (int n = 0; n < count; n++)
        {
            for (int t = 0; t < length; t++)
            {
                inputs[(((n * length) + t) * 2) + 0] = (100 * n) + (10 * t);
                inputs[(((n * length) + t) * 2) + 1] = (100 * n) + (10 * t) + 1;
                targets[(n * length) + t] = -((100 * n) + (10 * t));
            }
        }

        return new SequenceSet(count, length, ["a", "b"], ["y"], inputs, targets);
    }

    [Fact]
    public void ReportsItsShapeAndNames()
    {
        SequenceSet set = Encoded();
        Assert.Equal(3, set.Count);
        Assert.Equal(4, set.Length);
        Assert.Equal(2, set.InputSize);
        Assert.Equal(1, set.TargetSize);
        Assert.Equal(["a", "b"], set.InputNames);
        Assert.Equal(["y"], set.TargetNames);
        Assert.Equal(24, set.Inputs.Length);
        Assert.Equal(12, set.Targets.Length);
        Assert.Equal(211, set.Input(2, 1, 1));
        Assert.Equal(-130, set.Target(1, 3, 0));
        Assert.Equal(1, set.InputColumn("b"));
        Assert.Equal(0, set.TargetColumn("y"));
    }

    [Fact]
    public void CopyBatchTimeMajorPutsStepsOutermost()
    {
        SequenceSet set = Encoded();
        int[] batch = [2, 0];
        var inputs = new float[4 * 2 * 2];
        var targets = new float[4 * 2 * 1];
        set.CopyBatchTimeMajor<float>(batch, inputs, targets);
        for (int t = 0; t < 4; t++)
        {
            for (int b = 0; b < 2; b++)
            {
                int n = batch[b];
                Assert.Equal((100 * n) + (10 * t), inputs[(((t * 2) + b) * 2) + 0]);
                Assert.Equal((100 * n) + (10 * t) + 1, inputs[(((t * 2) + b) * 2) + 1]);
                Assert.Equal(-((100 * n) + (10 * t)), targets[(t * 2) + b]);
            }
        }
    }

    [Fact]
    public void CopyBatchTimeMajorConvertsToFloatAndKeepsDoubleExact()
    {
        double third = 1.0 / 3.0;
        var set = new SequenceSet(1, 1, ["a"], ["y"], [third], [1e-300]);
        var f = new float[1];
        var ft = new float[1];
        set.CopyBatchTimeMajor<float>([0], f, ft);
        Assert.Equal((float)third, f[0]);
        Assert.Equal(0f, ft[0]); // underflows in float
        var d = new double[1];
        var dt = new double[1];
        set.CopyBatchTimeMajor<double>([0], d, dt);
        Assert.Equal(third, d[0]);
        Assert.Equal(1e-300, dt[0]);
    }

    [Fact]
    public void CopyBatchTimeMajorRejectsBadIndicesAndBuffers()
    {
        SequenceSet set = Encoded();
        Assert.Throws<ArgumentOutOfRangeException>(() => set.CopyBatchTimeMajor<double>([3], new double[8], new double[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.CopyBatchTimeMajor<double>([-1], new double[8], new double[4]));
        Assert.Throws<ArgumentException>(() => set.CopyBatchTimeMajor<double>([0], new double[7], new double[4]));
        Assert.Throws<ArgumentException>(() => set.CopyBatchTimeMajor<double>([0], new double[8], new double[5]));
    }

    [Fact]
    public void RejectsNaNNamingSequenceStepAndColumn()
    {
        var inputs = new double[3 * 4 * 2];
        inputs[(((2 * 4) + 1) * 2) + 1] = double.NaN; // sequence 2, step 1, column "b"
        var error = Assert.Throws<UnrollException>(() => new SequenceSet(3, 4, ["a", "b"], ["y"], inputs, new double[12]));
        Assert.Equal("Sequence set: sequence 2, step 1, input column 'b': expected a finite value, got NaN.", error.Message);

        var targets = new double[12];
        targets[(1 * 4) + 3] = double.NegativeInfinity; // sequence 1, step 3
        error = Assert.Throws<UnrollException>(() => new SequenceSet(3, 4, ["a", "b"], ["y"], new double[24], targets));
        Assert.Equal("Sequence set: sequence 1, step 3, target column 'y': expected a finite value, got -Infinity.", error.Message);
    }

    [Fact]
    public void RejectsMismatchedSizesAndEmptyNames()
    {
        var error = Assert.Throws<UnrollException>(() => new SequenceSet(2, 3, ["a"], ["y"], new double[5], new double[6]));
        Assert.Equal("Sequence set: expected 6 input values (2 sequences x 3 steps x 1 columns), got 5.", error.Message);
        Assert.Throws<UnrollException>(() => new SequenceSet(2, 3, ["a"], ["y"], new double[6], new double[7]));
        Assert.Throws<UnrollException>(() => new SequenceSet(2, 0, ["a"], ["y"], [], []));
        Assert.Throws<UnrollException>(() => new SequenceSet(1, 1, [], ["y"], [], [0.0]));
        Assert.Throws<UnrollException>(() => new SequenceSet(1, 1, [""], ["y"], [0.0], [0.0]));
        Assert.Contains("'z'", Assert.Throws<UnrollException>(() => Encoded().TargetColumn("z")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CopiesItsInputSoLaterChangesDoNotLeakIn()
    {
        double[] inputs = [1, 2];
        var set = new SequenceSet(1, 2, ["a"], ["y"], inputs, [0.0, 0.0]);
        inputs[0] = 99;
        Assert.Equal(1, set.Input(0, 0, 0));
    }

    [Fact]
    public void SliceKeepsTheChosenSequences()
    {
        SequenceSet slice = Encoded().Slice(1, 2);
        Assert.Equal(2, slice.Count);
        Assert.Equal(100, slice.Input(0, 0, 0));
        Assert.Equal(231, slice.Input(1, 3, 1));
        Assert.Equal(-200, slice.Target(1, 0, 0));
        Assert.Equal(0, Encoded().Slice(3, 0).Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => Encoded().Slice(2, 2));
    }
}
