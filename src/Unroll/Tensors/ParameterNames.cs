using System.Globalization;

namespace Unroll.Tensors;

/// <summary>
/// The state-dict names of a model's parameters, built in this one place: torch.nn.RNN/LSTM/GRU's
/// <c>weight_ih_l{k}</c>, <c>weight_hh_l{k}</c>, <c>bias_ih_l{k}</c>, <c>bias_hh_l{k}</c> (with <c>_reverse</c> for the
/// backward direction of a bidirectional layer) under the prefix <c>rnn.</c>, the head's <c>head.weight</c> and
/// <c>head.bias</c>, and the token embedding's <c>embedding.weight</c>.
/// </summary>
internal static class ParameterNames
{
    /// <summary>The prefix of every recurrent layer's parameters.</summary>
    public const string RecurrentPrefix = "rnn.";

    /// <summary>The head's weight, [O, D*H].</summary>
    public const string HeadWeight = "head.weight";

    /// <summary>The head's bias, [O].</summary>
    public const string HeadBias = "head.bias";

    /// <summary>The token embedding, [V, I].</summary>
    public const string Embedding = "embedding.weight";

    /// <summary>The suffix of a layer and direction as PyTorch writes it: <c>_l1</c>, <c>_l0_reverse</c>.</summary>
    public static string Suffix(int layer, bool reverse = false) =>
        string.Create(CultureInfo.InvariantCulture, $"_l{layer}") + (reverse ? "_reverse" : string.Empty);

    /// <summary>The name of a recurrent layer's parameter <paramref name="stem"/>: <c>rnn.{stem}_l{layer}[_reverse]</c>.</summary>
    public static string Recurrent(string stem, int layer, bool reverse = false) => RecurrentPrefix + stem + Suffix(layer, reverse);

    /// <summary><c>rnn.weight_ih_l{layer}[_reverse]</c>, the input weights [G*H, I].</summary>
    public static string WeightIh(int layer, bool reverse = false) => Recurrent("weight_ih", layer, reverse);

    /// <summary><c>rnn.weight_hh_l{layer}[_reverse]</c>, the recurrent weights [G*H, H].</summary>
    public static string WeightHh(int layer, bool reverse = false) => Recurrent("weight_hh", layer, reverse);

    /// <summary><c>rnn.bias_ih_l{layer}[_reverse]</c>, [G*H].</summary>
    public static string BiasIh(int layer, bool reverse = false) => Recurrent("bias_ih", layer, reverse);

    /// <summary><c>rnn.bias_hh_l{layer}[_reverse]</c>, [G*H].</summary>
    public static string BiasHh(int layer, bool reverse = false) => Recurrent("bias_hh", layer, reverse);
}
