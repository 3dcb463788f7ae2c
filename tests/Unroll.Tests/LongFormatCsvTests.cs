using System.Text;
using Unroll.IO;

namespace Unroll.Tests.IO;

public class LongFormatCsvTests
{
    private static string WriteText(IoTestDirectory dir, string text, string name = "data.csv")
    {
        string path = dir.File(name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    private static void AssertRejected(string text, int line, params string[] fragments)
    {
        using var dir = new IoTestDirectory();
        string path = WriteText(dir, text);
        var error = Assert.Throws<UnrollException>(() => LongFormatCsv.Read(path));
        Assert.Contains($"{path}:{line}:", error.Message, StringComparison.Ordinal);
        foreach (string fragment in fragments)
        {
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ReadsSequencesInFileOrder()
    {
        using var dir = new IoTestDirectory();
        string path = WriteText(dir, "seq,t,x,y\nzeta,0,1,2\nzeta,1,3,4.5\nalpha,0,-1e-3,6\n");

        LongFormatTable table = LongFormatCsv.Read(path);

        Assert.Equal(new[] { "x", "y" }, table.Columns);
        Assert.Equal(path, table.Source);
        Assert.Equal(2, table.Sequences.Count);
        Assert.Equal("zeta", table.Sequences[0].Id);
        Assert.Equal(2, table.Sequences[0].Length);
        Assert.Equal(new[] { 1.0, 2.0, 3.0, 4.5 }, table.Sequences[0].Values);
        Assert.Equal("alpha", table.Sequences[1].Id);
        Assert.Equal(1, table.Sequences[1].Length);
        Assert.Equal(new[] { -0.001, 6.0 }, table.Sequences[1].Values);
    }

    [Fact]
    public void AcceptsCrLfWhitespaceQuotesBomAndBlankTrailingLines()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("crlf.csv");
        byte[] bom = { 0xEF, 0xBB, 0xBF };
        byte[] body = Encoding.UTF8.GetBytes(" seq , t , \"u\" \r\n s1 , 0 , 1.25 \r\n\"s1\",1, 2E2\r\n\r\n  \r\n");
        File.WriteAllBytes(path, bom.Concat(body).ToArray());

        LongFormatTable table = LongFormatCsv.Read(path);

        Assert.Equal(new[] { "u" }, table.Columns);
        LongFormatSequence s1 = Assert.Single(table.Sequences);
        Assert.Equal("s1", s1.Id);
        Assert.Equal(new[] { 1.25, 200.0 }, s1.Values);
    }

    [Fact]
    public void ColumnOrderInTheFileDoesNotChangeWhatColumnIndexFinds()
    {
        using var dir = new IoTestDirectory();
        LongFormatTable xy = LongFormatCsv.Read(WriteText(dir, "seq,t,x,y\na,0,1,10\na,1,2,20\n", "xy.csv"));
        LongFormatTable yx = LongFormatCsv.Read(WriteText(dir, "seq,t,y,x\na,0,10,1\na,1,20,2\n", "yx.csv"));

        Assert.Equal(0, xy.ColumnIndex("x"));
        Assert.Equal(1, yx.ColumnIndex("x"));
        foreach (LongFormatTable table in new[] { xy, yx })
        {
            int x = table.ColumnIndex("x"), y = table.ColumnIndex("y");
            LongFormatSequence a = table.Sequences[0];
            Assert.Equal(new[] { 1.0, 2.0 }, new[] { a.Values[x], a.Values[2 + x] });
            Assert.Equal(new[] { 10.0, 20.0 }, new[] { a.Values[y], a.Values[2 + y] });
        }
    }

    [Fact]
    public void ColumnIndexOfMissingColumnListsTheAvailableOnes()
    {
        using var dir = new IoTestDirectory();
        string path = WriteText(dir, "seq,t,x,y\na,0,1,2\n");
        var error = Assert.Throws<UnrollException>(() => LongFormatCsv.Read(path).ColumnIndex("z"));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("'z'", error.Message, StringComparison.Ordinal);
        Assert.Contains("x, y", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WritesTheDocumentedTextExactly()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("out.csv");
        LongFormatCsv.Write(path, new[] { "y0", "y1" }, new[]
        {
            new LongFormatSequence("b", 2, new[] { 1.5, -2.0, 0.25, 1e-5 }),
            new LongFormatSequence("a", 1, new[] { 100.0, 0.0 }),
        });

        Assert.Equal("seq,t,y0,y1\nb,0,1.5,-2\nb,1,0.25,1E-05\na,0,100,0\n", File.ReadAllText(path));
    }

    [Fact]
    public void RoundTripsValuesBitForBit()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("rt.csv");
        var random = new Random(3);
        double[] Values(int count) => Enumerable.Range(0, count).Select(_ => (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-30, 30))).ToArray();
        double[] special = { 0.1, 1.0 / 3.0, -0.0, double.Epsilon, double.MaxValue, -double.MinValue, 123456789.123456789 };
        var sequences = new[]
        {
            new LongFormatSequence("s-2", 7, special.Concat(Values(7)).ToArray()),
            new LongFormatSequence("s-1", 30, Values(60)),
        };

        LongFormatCsv.Write(path, new[] { "a", "b" }, sequences);
        LongFormatTable table = LongFormatCsv.Read(path);

        Assert.Equal(new[] { "a", "b" }, table.Columns);
        Assert.Equal(sequences.Select(s => (s.Id, s.Length)), table.Sequences.Select(s => (s.Id, s.Length)));
        for (int i = 0; i < sequences.Length; i++)
        {
            Assert.Equal(
                sequences[i].Values.Select(BitConverter.DoubleToInt64Bits),
                table.Sequences[i].Values.Select(BitConverter.DoubleToInt64Bits));
        }
    }

    [Fact]
    public void WriterRejectsWhatTheReaderCouldNotReadBack()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("w.csv");
        var ok = new LongFormatSequence("a", 1, new[] { 1.0 });
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "x" }, new[] { new LongFormatSequence("a", 1, new[] { double.NaN }) }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "x" }, new[] { new LongFormatSequence("a", 1, new[] { 1.0, 2.0 }) }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "x" }, new[] { ok, ok }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "x" }, new[] { new LongFormatSequence("a,b", 1, new[] { 1.0 }) }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "x", "x" }, new[] { new LongFormatSequence("a", 1, new[] { 1.0, 2.0 }) }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, new[] { "t" }, new[] { ok }));
        Assert.Throws<UnrollException>(() => LongFormatCsv.Write(path, Array.Empty<string>(), Array.Empty<LongFormatSequence>()));
        Assert.Empty(dir.Entries());
    }

    [Fact]
    public void MissingFileIsReported()
    {
        using var dir = new IoTestDirectory();
        string path = dir.File("absent.csv");
        var error = Assert.Throws<UnrollException>(() => LongFormatCsv.Read(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\r\n  \n")]
    public void EmptyFileIsReported(string text)
    {
        using var dir = new IoTestDirectory();
        string path = WriteText(dir, text);
        var error = Assert.Throws<UnrollException>(() => LongFormatCsv.Read(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("t,seq,x\n")]
    [InlineData("id,t,x\na,0,1\n")]
    [InlineData("seq\n")]
    public void HeaderNotStartingWithSeqTIsReportedOnLineOne(string text) => AssertRejected(text, 1, "expected it to start with 'seq,t'");

    [Fact]
    public void HeaderWithoutValueColumnsIsReported() => AssertRejected("seq,t\na,0\n", 1, "no value columns");

    [Fact]
    public void DuplicateColumnIsReported() => AssertRejected("seq,t,x,y,x\n", 1, "'x'", "more than once");

    [Fact]
    public void ColumnNamedLikeSeqIsReported() => AssertRejected("seq,t,seq\n", 1, "'seq'");

    [Fact]
    public void EmptyColumnNameIsReported() => AssertRejected("seq,t,x,,y\n", 1, "empty");

    [Theory]
    [InlineData("seq,t,x,y\na,0,1,2\na,1,3\n", 3, "3 fields", "expected 4")]
    [InlineData("seq,t,x\na,0,1,2\n", 2, "4 fields", "expected 3")]
    public void WrongNumberOfFieldsIsReportedWithLine(string text, int line, string got, string expected) => AssertRejected(text, line, got, expected);

    [Theory]
    [InlineData("seq,t,x,speed\na,0,1,2\na,1,3,fast\n", 3, "'speed'", "'fast'", "expected a number")]
    [InlineData("seq,t,x,speed\na,0,1,2\na,1,3,\n", 3, "'speed'", "''", "expected a number")]
    [InlineData("seq,t,x,speed\na,0,1,2\na,1,1;5,2\n", 3, "'x'", "expected a number")]
    [InlineData("seq,t,x,speed\na,0,1,2\na,1,1,5,2\n", 3, "5 fields")]
    [InlineData("seq,t,x,speed\na,0,NaN,2\n", 2, "'x'", "finite")]
    [InlineData("seq,t,x,speed\na,0,1,Infinity\n", 2, "'speed'", "finite")]
    [InlineData("seq,t,x,speed\na,0,1,-Infinity\n", 2, "'speed'", "finite")]
    [InlineData("seq,t,x,speed\na,0,1e400,1\n", 2, "'x'", "finite")]
    public void BadValueIsReportedWithLineAndColumn(string text, int line, params string[] fragments) => AssertRejected(text, line, fragments);

    [Theory]
    [InlineData("seq,t,x\na,0,1\na,2,1\n", 3, "t=2 after t=0", "expected t=1")]
    [InlineData("seq,t,x\na,0,1\na,1,1\na,1,1\n", 4, "t=1 after t=1")]
    [InlineData("seq,t,x\na,1,1\n", 2, "starts at t=1", "expected t=0")]
    [InlineData("seq,t,x\na,0,1\nb,3,1\n", 3, "'b' starts at t=3")]
    [InlineData("seq,t,x\na,0,1\na,-1,1\n", 3, "'-1'", "non-negative integer")]
    [InlineData("seq,t,x\na,0,1\na,1.0,1\n", 3, "'1.0'")]
    [InlineData("seq,t,x\na,zero,1\n", 2, "'zero'")]
    public void StepOutOfOrderIsReportedWithLine(string text, int line, params string[] fragments) => AssertRejected(text, line, fragments);

    [Fact]
    public void SequenceSplitApartIsReportedWithBothPlaces() =>
        AssertRejected("seq,t,x\na,0,1\na,1,1\nb,0,1\na,2,1\n", 5, "'a'", "lines 2-3", "contiguous");

    [Fact]
    public void SequenceOfOneRowSplitApartNamesItsLine() =>
        AssertRejected("seq,t,x\na,0,1\nb,0,1\na,1,1\n", 4, "'a'", "(line 2 and again here)");

    [Fact]
    public void BlankLineInTheMiddleIsReported() => AssertRejected("seq,t,x\na,0,1\n\na,1,1\n", 3, "blank");

    [Fact]
    public void EmptySequenceIdIsReported() => AssertRejected("seq,t,x\na,0,1\n ,0,1\n", 3, "seq is empty");
}
