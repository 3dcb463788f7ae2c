namespace Unroll.Cli.Tests;

public class SmokeTests
{
    [Fact]
    public void Placeholder() => Assert.True(typeof(Unroll.UnrollException).IsClass);
}
