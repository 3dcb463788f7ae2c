using System.Text.Json.Serialization;
using Unroll.Cells;

namespace Unroll.Models;

/// <summary>The recurrent network a <see cref="ModelConfig"/> describes. Model files and the command line name it in lowercase ("lstm").</summary>
public enum Architecture
{
    /// <summary>Elman: <c>h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)</c>, as torch.nn.RNN.</summary>
    [JsonStringEnumMemberName("rnn")]
    Rnn,

    /// <summary>LSTM, as torch.nn.LSTM (gates i, f, g, o).</summary>
    [JsonStringEnumMemberName("lstm")]
    Lstm,

    /// <summary>GRU, as torch.nn.GRU (gates r, z, n, linear before reset).</summary>
    [JsonStringEnumMemberName("gru")]
    Gru,

    /// <summary>The output-recurrent (Jordan) network: the previous output fed back; teacher forcing in training.</summary>
    [JsonStringEnumMemberName("jordan")]
    Jordan,

    /// <summary>The Linear Recurrent Unit (Orvieto et al. 2023): a diagonal complex recurrence whose eigenvalues are its parameters.</summary>
    [JsonStringEnumMemberName("lru")]
    Lru,

    /// <summary>minGRU (Feng et al. 2024): gates from the input alone, trained by a scan.</summary>
    [JsonStringEnumMemberName("mingru")]
    MinGru,

    /// <summary>minLSTM (Feng et al. 2024): gates from the input alone, trained by a scan.</summary>
    [JsonStringEnumMemberName("minlstm")]
    MinLstm,
}

/// <summary>The architectures' names, as model files and the command line write them.</summary>
internal static class Architectures
{
    /// <summary>Every name, in the enum's order.</summary>
    public static readonly IReadOnlyList<string> Names = ["rnn", "lstm", "gru", "jordan", "lru", "mingru", "minlstm"];

    /// <summary>"rnn, lstm, gru, jordan, lru, mingru or minlstm".</summary>
    public static string Listed => string.Join(", ", Names.Take(Names.Count - 1)) + " or " + Names[^1];

    /// <summary>The lowercase name ("lstm").</summary>
    public static string Name(this Architecture architecture) => Names[(int)architecture];

    /// <summary>The architecture named <paramref name="name"/> (lowercase, as <see cref="Name"/> gives).</summary>
    /// <exception cref="UnrollException">Not one of <see cref="Names"/>; the message begins with <paramref name="what"/>.</exception>
    public static Architecture Parse(string? name, string what = "model")
    {
        int index = name is null ? -1 : Names.ToList().IndexOf(name);
        return index >= 0 ? (Architecture)index : throw new UnrollException($"{what}: expected architecture {Listed}, got '{name}'.");
    }

    /// <summary>The cell of each layer: the Jordan network's is the Elman cell.</summary>
    public static CellKind Cell(this Architecture architecture) => architecture switch
    {
        Architecture.Rnn or Architecture.Jordan => CellKind.Rnn,
        Architecture.Lstm => CellKind.Lstm,
        Architecture.Gru => CellKind.Gru,
        Architecture.Lru => CellKind.Lru,
        Architecture.MinGru => CellKind.MinGru,
        Architecture.MinLstm => CellKind.MinLstm,
        _ => throw new UnrollException($"model: expected architecture {Listed}, got {(int)architecture}."),
    };
}
