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

    /// <summary>The inference update of one row (c in place, no saved activations) against the same equations, 48 units.</summary>
    [Fact]
    public void InferenceUpdateMatchesTheEquationsBitForBit()
    {
        const int units = 48;
        var random = new Random(5);
        float[] gates = Values(random, 4 * units, 6), memory = Values(random, units, 3), state = new float[units];
        float[] previousMemory = (float[])memory.Clone();
        LstmCell.Update(units, gates, memory, state);

        for (int u = 0; u < units; u++)
        {
            float i = FastMath.Sigmoid(gates[u]), f = FastMath.Sigmoid(gates[units + u]);
            float g = FastMath.Tanh(gates[(2 * units) + u]), o = FastMath.Sigmoid(gates[(3 * units) + u]);
            float fc = f * previousMemory[u], ig = i * g;
            float c = fc + ig;
            Assert.Equal(c, memory[u]);
            Assert.Equal(o * FastMath.Tanh(c), state[u]);
        }
    }

    /// <summary>The float backward of one row against its equations element by element, as the forward above (48 and 40 units).</summary>
    [Theory]
    [InlineData(48)]
    [InlineData(40)]
    public void FloatBackwardMatchesTheEquationsBitForBit(int units)
    {
        var random = new Random(units + 1);
        float[] gates = Values(random, 4 * units, 1), saved = Values(random, units, 1), previousMemory = Values(random, units, 3);
        float[] stateGradient = Values(random, units, 2), memoryGradient = Values(random, units, 2);
        float[] incoming = (float[])memoryGradient.Clone();
        float[] gateGradients = new float[4 * units];
        new LstmCell().Backward(new CellBackwardRow<float>(
            units, units, units, gates, saved, [], previousMemory, stateGradient, memoryGradient, gateGradients, [], []));

        for (int u = 0; u < units; u++)
        {
            float i = gates[u], f = gates[units + u], g = gates[(2 * units) + u], o = gates[(3 * units) + u];
            float t = saved[u], dh = stateGradient[u];
            float dCell = incoming[u] + (dh * o * (1 - (t * t)));
            Assert.Equal(dCell * f, memoryGradient[u]);
            Assert.Equal(dCell * g * i * (1 - i), gateGradients[u]);
            Assert.Equal(dCell * previousMemory[u] * f * (1 - f), gateGradients[units + u]);
            Assert.Equal(dCell * i * (1 - (g * g)), gateGradients[(2 * units) + u]);
            Assert.Equal(dh * t * o * (1 - o), gateGradients[(3 * units) + u]);
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
