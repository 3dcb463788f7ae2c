using System.Globalization;

namespace Unroll.Models;

/// <summary>
/// One weight initialisation: its kind and its number. Written on the command line as
/// <c>kind</c> or <c>kind:number</c>, e.g. <c>orthogonal:1.2</c>; see <see cref="Parse"/>.
/// </summary>
/// <param name="Kind">Which initialisation.</param>
/// <param name="Value">
/// The kind's number: the bound of <see cref="InitKind.Uniform"/>, the standard deviation of
/// <see cref="InitKind.Normal"/>, the s of <see cref="InitKind.NormalScaled"/>, the gain of the
/// Xavier kinds and of <see cref="InitKind.Orthogonal"/>, the scale of <see cref="InitKind.Identity"/>;
/// ignored by <see cref="InitKind.Default"/> and <see cref="InitKind.Zeros"/>.
/// </param>
public sealed record InitSettings(InitKind Kind, double Value = 1.0)
{
    /// <summary>The accepted spellings, as listed in error messages and help.</summary>
    public const string Accepted =
        "default, uniform:BOUND, normal:STD, normal-scaled[:S], xavier-uniform[:GAIN], xavier-normal[:GAIN], " +
        "orthogonal[:GAIN], identity[:SCALE], zeros";

    /// <summary>PyTorch's default.</summary>
    public static InitSettings Default { get; } = new(InitKind.Default);

    /// <summary>The bound of <see cref="InitKind.Uniform"/>.</summary>
    public double Bound => Value;

    /// <summary>The standard deviation of <see cref="InitKind.Normal"/>.</summary>
    public double Std => Value;

    /// <summary>The gain (or scale, or s) of the kinds that take one.</summary>
    public double Gain => Value;

    /// <summary>
    /// Reads a spec such as <c>default</c>, <c>uniform:0.1</c>, <c>normal:0.5</c>,
    /// <c>normal-scaled:1.5</c>, <c>xavier-uniform</c>, <c>xavier-normal:2</c>, <c>orthogonal</c>,
    /// <c>orthogonal:1.2</c>, <c>identity</c>, <c>identity:0.5</c> or <c>zeros</c> (case-insensitive).
    /// The bound, std and s must be positive; a gain or scale may be any finite number and is 1
    /// when left out.
    /// </summary>
    /// <param name="spec">The text given on the command line.</param>
    /// <param name="option">The option it was given for (e.g. <c>--init-hh</c>), named in errors.</param>
    /// <exception cref="UnrollException">The spec is unknown or its number is malformed.</exception>
    public static InitSettings Parse(string spec, string option = "--init")
    {
        ArgumentNullException.ThrowIfNull(spec);
        string text = spec.Trim();
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = (colon < 0 ? text : text[..colon]).ToLowerInvariant();
        string? number = colon < 0 ? null : text[(colon + 1)..];

        switch (name)
        {
            case "default":
                NoNumber(InitKind.Default);
                return Default;
            case "zeros":
                NoNumber(InitKind.Zeros);
                return new InitSettings(InitKind.Zeros);
            case "uniform":
                return new InitSettings(InitKind.Uniform, RequiredPositive("BOUND"));
            case "normal":
                return new InitSettings(InitKind.Normal, RequiredPositive("STD"));
            case "normal-scaled":
                return new InitSettings(InitKind.NormalScaled, number is null ? 1.0 : RequiredPositive("S"));
            case "xavier-uniform":
                return new InitSettings(InitKind.XavierUniform, OptionalFinite("GAIN"));
            case "xavier-normal":
                return new InitSettings(InitKind.XavierNormal, OptionalFinite("GAIN"));
            case "orthogonal":
                return new InitSettings(InitKind.Orthogonal, OptionalFinite("GAIN"));
            case "identity":
                return new InitSettings(InitKind.Identity, OptionalFinite("SCALE"));
            default:
                throw new UnrollException($"{option}: expected one of {Accepted}; got '{spec}'.");
        }

        void NoNumber(InitKind kind)
        {
            if (number is not null)
            {
                throw new UnrollException($"{option}: '{Name(kind)}' takes no number; got '{spec}'. Accepted: {Accepted}.");
            }
        }

        double RequiredPositive(string what)
        {
            double value = number is null ? double.NaN : ParseNumber(number);
            if (!(value > 0) || double.IsInfinity(value))
            {
                throw new UnrollException(
                    $"{option}: expected '{name}:{what}' with {what} a positive number; got '{spec}'. Accepted: {Accepted}.");
            }

            return value;
        }

        double OptionalFinite(string what)
        {
            if (number is null)
            {
                return 1.0;
            }

            double value = ParseNumber(number);
            if (!double.IsFinite(value))
            {
                throw new UnrollException(
                    $"{option}: expected '{name}' or '{name}:{what}' with {what} a finite number; got '{spec}'. Accepted: {Accepted}.");
            }

            return value;
        }

        static double ParseNumber(string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? value : double.NaN;
    }

    /// <summary>The spec's name for a kind, e.g. <c>xavier-uniform</c>.</summary>
    public static string Name(InitKind kind) => kind switch
    {
        InitKind.Default => "default",
        InitKind.Uniform => "uniform",
        InitKind.Normal => "normal",
        InitKind.NormalScaled => "normal-scaled",
        InitKind.XavierUniform => "xavier-uniform",
        InitKind.XavierNormal => "xavier-normal",
        InitKind.Orthogonal => "orthogonal",
        InitKind.Identity => "identity",
        InitKind.Zeros => "zeros",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown initialisation kind."),
    };

    /// <summary>The spec that <see cref="Parse"/> reads back to these settings, e.g. <c>orthogonal:1.2</c>.</summary>
    public override string ToString() =>
        Kind is InitKind.Default or InitKind.Zeros
            ? Name(Kind)
            : Name(Kind) + ":" + Value.ToString("R", CultureInfo.InvariantCulture);
}
