using System.Globalization;
using System.Xml.Linq;

namespace Unroll.Cli.Tests;

public class ExplainCommandTests
{
    [Fact]
    public void EigenShowsVanishingHoldingAndExplodingAndWritesThePlot()
    {
        using var temp = new TempDirectory();
        var (code, output, error) = CliRunner.Run("explain", "eigen", "--steps", "40", "-o", temp.Path);
        Assert.True(code == 0, error);
        var last = output.Split('\n').Single(line => line.TrimStart().StartsWith("40 ", StringComparison.Ordinal));
        var norms = last.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => w.Contains('E', StringComparison.Ordinal))
            .Select(w => double.Parse(w, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(3, norms.Length);
        Assert.True(norms[0] < 0.1 && norms[2] > 10 && norms[1] is > 0.01 and < 1, last);
        var svg = XDocument.Parse(File.ReadAllText(Path.Combine(temp.Path, "eigen.svg")));
        Assert.Contains("|lambda_1| = 1.1", svg.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void EulerShowsTheExactAndLearnedEigenvalues()
    {
        var (code, output, error) = CliRunner.Run("explain", "euler");
        Assert.True(code == 0, error);
        // sqrt(1 + dt^2/m) = 1.004988 for dt = 0.1, m = 1: in the exact and the learned line of explicit Euler.
        Assert.Equal(4, output.Split("|lambda| = 1.004988").Length - 1);
        Assert.Contains("learned W", output, StringComparison.Ordinal);
    }

    [Fact]
    public void EulerRefusesAnImpossibleTimeStep()
    {
        var (code, _, error) = CliRunner.Run("explain", "euler", "--dt", "0");
        Assert.Equal(1, code);
        Assert.Contains("dt", error, StringComparison.Ordinal);
    }

    [Fact]
    public void BadSizeIsRefused()
    {
        var (code, _, error) = CliRunner.Run("explain", "eigen", "--size", "0");
        Assert.Equal(1, code);
        Assert.Contains("size", error, StringComparison.Ordinal);
    }
}
