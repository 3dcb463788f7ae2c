using Unroll.Models;

namespace Unroll.Tests;

/// <summary>The library's public surface stays small, and docs/api.md lists every public type.</summary>
public sealed class PublicSurfaceTests
{
    private static string RepositoryRoot()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Unroll.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("the repository root (Unroll.slnx) is not above the test's directory");
        }

        return root;
    }

    [Fact]
    public void FewerThanFiftyPublicTypesEachListedInTheApiPage()
    {
        var exported = typeof(ModelConfig).Assembly.GetExportedTypes().Select(t => t.FullName!.Split('`')[0]).Order(StringComparer.Ordinal).ToList();
        Assert.True(exported.Count < 50, $"{exported.Count} public types; keep the surface below 50 (make helpers internal):\n" + string.Join("\n", exported));

        string page = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "api.md"));
        var missing = exported.Where(name => !page.Contains($"`{name}", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "public types missing from docs/api.md:\n" + string.Join("\n", missing));
        Assert.Contains($"{exported.Count} public types", page, StringComparison.Ordinal);
    }

    [Fact]
    public void TheReadmesCSharpExampleIsTheTrainAndPredictSample()
    {
        string root = RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        int start = readme.IndexOf("```csharp\n", StringComparison.Ordinal) + "```csharp\n".Length;
        var shown = readme[start..readme.IndexOf("```", start, StringComparison.Ordinal)].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var sample = File.ReadAllLines(Path.Combine(root, "samples", "train-predict.cs")).Select(l => l.Trim()).ToList();

        // Every line the README shows is a line of the sample, in the same order.
        int at = 0;
        foreach (string line in shown)
        {
            int found = sample.IndexOf(line, at);
            Assert.True(found >= 0, $"README.md's C# example has a line that samples/train-predict.cs does not have after line {at}: {line}");
            at = found + 1;
        }

        Assert.True(shown.Count >= 5);
    }

    [Fact]
    public void TheCustomCellSampleRunsTheCellTheTestsCheck()
    {
        string root = RepositoryRoot();
        string tests = File.ReadAllText(Path.Combine(root, "tests", "Unroll.Tests", "CustomCellTests.cs"));
        int start = tests.IndexOf("public readonly struct CifgLstmCell", StringComparison.Ordinal);
        int end = tests.IndexOf("/// <summary>A cell written outside the library", StringComparison.Ordinal);
        var cell = tests[start..end].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var sample = File.ReadAllLines(Path.Combine(root, "samples", "custom-cell.cs")).Select(l => l.Trim()).ToList();
        int at = sample.IndexOf(cell[0]);
        Assert.True(at >= 0, "samples/custom-cell.cs does not declare CifgLstmCell as the tests do");
        Assert.Equal(cell, sample.Skip(at).Where(l => l.Length > 0).Take(cell.Count));
    }
}
