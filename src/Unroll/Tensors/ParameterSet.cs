using System.Numerics;

namespace Unroll.Tensors;

/// <summary>One named parameter: where it lives in the flat buffer and its PyTorch shape.</summary>
/// <param name="Name">The PyTorch state_dict name, e.g. <c>rnn.weight_hh_l0</c>.</param>
/// <param name="Offset">The index of its first element in the flat buffer.</param>
/// <param name="Shape">Its shape, row-major, as in PyTorch.</param>
public sealed record ParameterView(string Name, int Offset, int[] Shape)
{
    /// <summary>The number of elements (the product of the shape).</summary>
    public int Length => Shape.Aggregate(1, (product, dimension) => product * dimension);

    /// <summary>The shape written as in PyTorch, e.g. <c>[5, 3]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// All parameters of a model in one flat buffer, with named views in PyTorch's names and shapes,
/// and a gradient buffer that mirrors it. Zeroing the gradients or an optimiser step is one loop
/// over the flat buffers.
/// </summary>
/// <typeparam name="T">float for training, double for gradient checks.</typeparam>
public sealed class ParameterSet<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<string, ParameterView> _byName;

    /// <summary>Lays out the given (name, shape) pairs one after the other.</summary>
    public ParameterSet(IEnumerable<(string Name, int[] Shape)> layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var views = new List<ParameterView>();
        int offset = 0;
        foreach (var (name, shape) in layout)
        {
            var view = new ParameterView(name, offset, (int[])shape.Clone());
            views.Add(view);
            offset += view.Length;
        }

        Views = views;
        _byName = views.ToDictionary(v => v.Name, StringComparer.Ordinal);
        Values = new T[offset];
        Gradients = new T[offset];
    }

    /// <summary>The named views, in layout order.</summary>
    public IReadOnlyList<ParameterView> Views { get; }

    /// <summary>Every parameter value, in layout order.</summary>
    public T[] Values { get; }

    /// <summary>Every gradient, mirroring <see cref="Values"/>; backward passes accumulate into it with +=.</summary>
    public T[] Gradients { get; }

    /// <summary>The total number of scalar parameters.</summary>
    public int Count => Values.Length;

    /// <summary>The view called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No parameter has that name.</exception>
    public ParameterView View(string name) =>
        _byName.TryGetValue(name, out var view)
            ? view
            : throw new KeyNotFoundException($"No parameter '{name}'; the model has {string.Join(", ", _byName.Keys)}.");

    /// <summary>Whether a parameter has that name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The values of one parameter.</summary>
    public Span<T> Value(string name) => Slice(Values, View(name));

    /// <summary>The gradient of one parameter.</summary>
    public Span<T> Gradient(string name) => Slice(Gradients, View(name));

    /// <summary>Sets every gradient to zero.</summary>
    public void ZeroGradients() => Array.Clear(Gradients);

    private static Span<T> Slice(T[] buffer, ParameterView view) => buffer.AsSpan(view.Offset, view.Length);
}
