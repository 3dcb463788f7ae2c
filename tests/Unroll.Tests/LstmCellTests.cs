using Unroll.Cells;
using Unroll.Kernels;

namespace Unroll.Tests;

public sealed class LstmCellTests
{
    /// <summary>
    /// The float forward of one row against the cell's equations element by element (the scalar fast sigmoid and tanh,
    /// c = f c_prev + i g rounded as a product, a product and a sum): equal bit for bit whether the row runs the fused
    /// 16-unit loop (48 units on an AVX-512 CPU) or the pass-per-stage loops (40 units, or no AVX-512).
    /// </summary>
    [Theory]
    [InlineData(48)]
    [InlineData(40)]
    public void FloatForwardMatchesTheEquationsBitForBit(int units)
    {
        var random = new Random(units);
        float[] gates = Values(random, 4 * units, 6), previousMemory = Values(random, units, 3);
        float[] memory = new float[units], saved = new float[units], state = new float[units];
        float[] original = (float[])gates.Clone();
        new LstmCell().Forward(new CellForwardRow<float>(units, units, units, gates, [], saved, [], previousMemory, state, memory));

        for (int u = 0; u < units; u++)
        {
            float i = FastMath.Sigmoid(original[u]), f = FastMath.Sigmoid(original[units + u]);
            float g = FastMath.Tanh(original[(2 * units) + u]), o = FastMath.Sigmoid(original[(3 * units) + u]);
            float fc = f * previousMemory[u], ig = i * g;
            float c = fc + ig, t = FastMath.Tanh(c);
            Assert.Equal([i, f, g, o], new[] { gates[u], gates[units + u], gates[(2 * units) + u], gates[(3 * units) + u] });
            Assert.Equal(c, memory[u]);
            Assert.Equal(t, saved[u]);
            Assert.Equal(o * t, state[u]);
        }
    }

    private static float[] Values(Random random, int count, double scale)
    {
        var values = new float[count];
        for (int j = 0; j < count; j++)
        {
            values[j] = (float)(scale * ((2 * random.NextDouble()) - 1));
        }

        return values;
    }
}
