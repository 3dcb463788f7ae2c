using System.Numerics;

namespace Unroll.Kernels;

/// <summary>The element-wise non-linearity f of a recurrent cell, <c>h = f(z)</c>.</summary>
public enum Activation
{
    /// <summary>f(z) = tanh(z); f'(z) = 1 - h^2. Bounded, |f'| &lt;= 1 (gamma = 1 in the vanishing-gradient bound).</summary>
    Tanh,

    /// <summary>f(z) = 1 / (1 + e^-z); f'(z) = h (1 - h). |f'| &lt;= 1/4 (gamma = 1/4).</summary>
    Sigmoid,

    /// <summary>f(z) = max(0, z); f'(z) = 1 where h &gt; 0, else 0 (the IRNN's activation).</summary>
    Relu,

    /// <summary>f(z) = z; f'(z) = 1. A linear RNN: h_t = W h_{t-1} + U x_t, as the Euler integrator.</summary>
    Identity,
}

/// <summary>
/// Activations applied in place, and their derivatives expressed through the saved output
/// h = f(z) (so the backward pass needs no copy of z).
/// </summary>
public static class Activations
{
    /// <summary>Parses an activation name as written on the command line or in a config (tanh, sigmoid, relu, identity).</summary>
    /// <exception cref="UnrollException">The name is not one of the four.</exception>
    public static Activation Parse(string name) => name.Trim().ToUpperInvariant() switch
    {
        "TANH" => Activation.Tanh,
        "SIGMOID" => Activation.Sigmoid,
        "RELU" => Activation.Relu,
        "IDENTITY" or "LINEAR" => Activation.Identity,
        _ => throw new UnrollException($"activation: expected tanh, sigmoid, relu or identity, got '{name}'."),
    };

    /// <summary>The lower-case name used in configs and on the command line.</summary>
    public static string Name(Activation activation) => activation switch
    {
        Activation.Tanh => "tanh",
        Activation.Sigmoid => "sigmoid",
        Activation.Relu => "relu",
        Activation.Identity => "identity",
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    /// <summary>Overwrites every z with f(z).</summary>
    public static void ApplyInPlace<T>(Activation activation, Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (activation)
        {
            case Activation.Tanh:
                TanhInPlace(values);
                break;
            case Activation.Sigmoid:
                SigmoidInPlace(values);
                break;
            case Activation.Relu:
                for (int i = 0; i < values.Length; i++)
                {
                    // max(0, z) that keeps NaN visible instead of mapping it to 0.
                    if (values[i] < T.Zero)
                    {
                        values[i] = T.Zero;
                    }
                }

                break;
            case Activation.Identity:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>
    /// Turns dL/dh into dL/dz in place, using the saved outputs h = f(z):
    /// tanh: dz = dh (1 - h^2); sigmoid: dz = dh h (1 - h); relu: dz = dh [h &gt; 0]; identity: dz = dh.
    /// </summary>
    public static void BackwardInPlace<T>(Activation activation, ReadOnlySpan<T> outputs, Span<T> gradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (outputs.Length != gradients.Length)
        {
            throw new ArgumentException($"Expected outputs and gradients of equal length, got {outputs.Length} and {gradients.Length}.");
        }

        switch (activation)
        {
            case Activation.Tanh:
                for (int i = TanhBackwardVectors(outputs, gradients); i < gradients.Length; i++)
                {
                    T h = outputs[i];
                    gradients[i] *= T.One - (h * h);
                }

                break;
            case Activation.Sigmoid:
                for (int i = 0; i < gradients.Length; i++)
                {
                    T h = outputs[i];
                    gradients[i] *= h * (T.One - h);
                }

                break;
            case Activation.Relu:
                for (int i = 0; i < gradients.Length; i++)
                {
                    if (!(outputs[i] > T.Zero))
                    {
                        gradients[i] = T.Zero;
                    }
                }

                break;
            case Activation.Identity:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
    }

    /// <summary>dz = dh (1 - h^2) on whole vectors (the scalar loop's operations, in its order); returns where the tail starts.</summary>
    private static int TanhBackwardVectors<T>(ReadOnlySpan<T> outputs, Span<T> gradients)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Vector.IsHardwareAccelerated)
        {
            return 0;
        }

        ref T h = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(outputs);
        ref T g = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(gradients);
        int i = 0;
        for (; i <= gradients.Length - Vector<T>.Count; i += Vector<T>.Count)
        {
            var value = Vector.LoadUnsafe(ref h, (nuint)i);
            (Vector.LoadUnsafe(ref g, (nuint)i) * (Vector<T>.One - (value * value))).StoreUnsafe(ref g, (nuint)i);
        }

        return i;
    }

    /// <summary>
    /// tanh over a span, in place. In float it uses <see cref="FastMath.Tanh(ReadOnlySpan{float}, Span{float})"/>
    /// (a vectorised rational approximation whose error is stated and tested in FastMathTests); in
    /// double the exact function, so finite-difference checks see the true derivative.
    /// </summary>
    public static void TanhInPlace<T>(Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(values);
            FastMath.Tanh(floats, floats);
            return;
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = T.Tanh(values[i]);
        }
    }

    /// <summary>The logistic function over a span, in place: fast in float, exact in double (as <see cref="TanhInPlace{T}"/>).</summary>
    public static void SigmoidInPlace<T>(Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var floats = System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(values);
            FastMath.Sigmoid(floats, floats);
            return;
        }

        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Sigmoid(values[i]);
        }
    }

    /// <summary>The logistic function, computed without overflow for large |z|.</summary>
    public static T Sigmoid<T>(T z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // For z < 0 use e^z / (1 + e^z) so that e^-z never overflows.
        if (z >= T.Zero)
        {
            return T.One / (T.One + T.Exp(-z));
        }

        T e = T.Exp(z);
        return e / (T.One + e);
    }
}
