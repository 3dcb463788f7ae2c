using Unroll.Models;

namespace Unroll.Tests;

/// <summary>The library's namespaces form layers: no namespace uses one that uses it back, directly or through others.</summary>
public sealed class LayeringTests
{
    [Fact]
    public void NoNamespaceCycle()
    {
        var graph = NamespaceGraph.Read(typeof(ModelConfig).Assembly.Location, "Unroll");
        var cycles = NamespaceGraph.Cycles(graph);
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", cycles));
    }

    /// <summary>The layers, lowest first (docs/architecture.md): a namespace may use only those before it.</summary>
    private static readonly string[] Layers =
    [
        "Unroll", "Unroll.IO", "Unroll.Tensors", "Unroll.Kernels", "Unroll.Cells", "Unroll.Layers",
        "Unroll.Models", "Unroll.Inference", "Unroll.Training", "Unroll.Diagnostics", "Unroll.Data", "Unroll.Forecasts", "Unroll.Tasks",
    ];

    [Fact]
    public void EveryNamespaceUsesOnlyTheLayersBelowIt()
    {
        var graph = NamespaceGraph.Read(typeof(ModelConfig).Assembly.Location, "Unroll");
        var upward = new List<string>();
        foreach (var (user, uses) in graph)
        {
            int level = Array.IndexOf(Layers, user);
            Assert.True(level >= 0, $"namespace {user} is not in the list of layers; place it there and in docs/architecture.md");
            upward.AddRange(uses.Where(u => Array.IndexOf(Layers, u.Key) > level).Select(u => $"{user} -> {u.Key} ({u.Value})"));
        }

        Assert.True(upward.Count == 0, "uses of a higher layer:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void TheGraphReaderSeesKnownUses()
    {
        // Models use Tensors (ParameterSet) in signatures, and Training uses Models; a reader that missed
        // either would make the cycle test pass vacuously.
        var graph = NamespaceGraph.Read(typeof(ModelConfig).Assembly.Location, "Unroll");
        Assert.Contains("Unroll.Tensors", graph["Unroll.Models"].Keys);
        Assert.Contains("Unroll.Models", graph["Unroll.Training"].Keys);
    }
}
