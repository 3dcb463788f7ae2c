using Unroll.Tensors;
namespace Unroll.Models;

/// <summary>The weight initialisations; <see cref="InitSettings"/> carries the number each one takes.</summary>
public enum InitKind
{
    /// <summary>PyTorch's default for recurrent layers: U(-1/sqrt(H), 1/sqrt(H)).</summary>
    Default,

    /// <summary>U(-bound, bound).</summary>
    Uniform,

    /// <summary>N(0, std^2).</summary>
    Normal,

    /// <summary>N(0, s^2 / fan_in): a square block then has spectral radius close to s (circular law).</summary>
    NormalScaled,

    /// <summary>Glorot and Bengio (2010): U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    XavierUniform,

    /// <summary>Glorot and Bengio (2010): N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).</summary>
    XavierNormal,

    /// <summary>Saxe, McClelland and Ganguli (2014): gain * Q from the QR decomposition of a Gaussian matrix.</summary>
    Orthogonal,

    /// <summary>Le, Jaitly and Hinton (2015): scale * I (the leading identity for a non-square block).</summary>
    Identity,

    /// <summary>Every value 0.</summary>
    Zeros,
}
