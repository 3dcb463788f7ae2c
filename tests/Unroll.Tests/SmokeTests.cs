namespace Unroll.Tests;

public class SmokeTests
{
    [Fact]
    public void ExceptionKeepsMessage() => Assert.Equal("x", new UnrollException("x").Message);
}
