using System.Numerics;
using Unroll.Cells;

namespace Unroll.Tests;

/// <summary>The vector walk the cells' maths is written with: every element once, whatever the count.</summary>
public class LanesTests
{
    [Fact]
    public void AnInPlaceUpdateReachesEveryElementExactlyOnceForEveryCount()
    {
        for (int count = 0; count <= (3 * Vector<float>.Count) + 1; count++)
        {
            // In place: x = 2x + y. An element visited twice (the overlapping last vector) would be doubled again.
            var x = Enumerable.Range(0, count + 3).Select(i => (float)i).ToArray();
            var y = Enumerable.Range(0, count + 3).Select(i => (float)(100 * i)).ToArray();
            var span = x.AsSpan(0, count);
            ReadOnlySpan<float> other = y.AsSpan(0, count);
            for (var lane = new Lanes<float>(count); lane.Next();)
            {
                lane.Store((lane.Load(span) * 2) + lane.Load(other), span);
            }

            for (int i = 0; i < x.Length; i++)
            {
                float expected = i < count ? (2 * i) + (100 * i) : i;
                Assert.True(expected == x[i], $"count {count}, element {i}: expected {expected}, got {x[i]}");
            }
        }
    }

    [Fact]
    public void TheUncheckedWalkOverFirstElementsDoesTheSame()
    {
        for (int count = 1; count <= (3 * Vector<double>.Count) + 1; count++)
        {
            var x = Enumerable.Range(0, count + 3).Select(i => (double)i).ToArray();
            var y = Enumerable.Range(0, count + 3).Select(i => (double)(100 * i)).ToArray();
            ref double x0 = ref x[0], y0 = ref y[0];
            for (var lane = new Lanes<double>(count); lane.Next();)
            {
                lane.Store((lane.Load(ref x0) * 2) + lane.Load(ref y0), ref x0);
            }

            for (int i = 0; i < x.Length; i++)
            {
                double expected = i < count ? (2 * i) + (100 * i) : i;
                Assert.True(expected == x[i], $"count {count}, element {i}: expected {expected}, got {x[i]}");
            }
        }
    }

    [Fact]
    public void ASpanShorterThanTheCountIsRefused()
    {
        var shortSpan = new double[Vector<double>.Count + 1];
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            for (var lane = new Lanes<double>((2 * Vector<double>.Count) + 1); lane.Next();)
            {
                lane.Store(lane.Load(shortSpan), shortSpan);
            }
        });
    }
}
