using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Unroll.Tests.Fuzzing;

/// <summary>
/// A reader under test: valid example inputs (the seeds the mutations start from) and how to read
/// one input from a file. The contract checked for every input: the reader returns normally or
/// throws <see cref="UnrollException"/> with a message; any other exception, an input that takes
/// longer than <see cref="SlowInput"/> or allocates more than <see cref="AllocationLimit"/> is a failure.
/// </summary>
/// <param name="Name">Shown in reports, e.g. "safetensors".</param>
/// <param name="Seeds">Valid inputs; each must be accepted as it is.</param>
/// <param name="Read">Reads the file at the given path (the call under test).</param>
public sealed record FuzzTarget(string Name, IReadOnlyList<byte[]> Seeds, Action<string> Read)
{
    /// <summary>The temporary file's extension (some readers look at it).</summary>
    public string Extension { get; init; } = ".bin";

    /// <summary>Also apply mutations that make sense for text (numbers, delimiters, tokens).</summary>
    public bool Text { get; init; }

    /// <summary>The most one input may allocate: a fixed allowance plus a multiple of the input's length.</summary>
    public Func<int, long> AllocationLimit { get; init; } = length => (32L << 20) + (64L * length);

    /// <summary>Whether to check allocations (off where the call legitimately allocates a lot, such as a training run).</summary>
    public bool CheckAllocations { get; init; } = true;

    /// <summary>An input that takes longer than this is reported as a (near-)hang.</summary>
    public TimeSpan SlowInput { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Multiplies the time budget, for targets whose inputs are slow (a CLI run trains a model).</summary>
    public double BudgetFactor { get; init; } = 1;

    /// <summary>Extra, format-aware mutations (forged fields); applied alongside the generic ones.</summary>
    public IReadOnlyList<Func<byte[], Random, byte[]>> Forgers { get; init; } = [];
}

/// <summary>What a campaign tried and found.</summary>
public sealed record FuzzReport(string Target, int Inputs, int Accepted, int Refused, TimeSpan Elapsed, IReadOnlyList<string> Failures)
{
    /// <summary>One line for the test log and docs/fuzzing.md.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"fuzz {Target}: {Inputs} inputs ({Accepted} accepted, {Refused} refused with UnrollException, {Failures.Count} failures) in {Elapsed.TotalSeconds:F1} s");
}

/// <summary>
/// A seeded mutation fuzzer. Budget: <c>UNROLL_FUZZ_SECONDS</c> per target (default 3) and at most
/// <c>UNROLL_FUZZ_ITERATIONS</c> inputs (default 100000); <c>UNROLL_FUZZ_SEED</c> changes the seed.
/// The same seed and iteration count give the same inputs.
/// </summary>
public static class Fuzzer
{
    private static readonly string[] NumberTokens =
    [
        "-1", "0", "1", "-0", "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807", "18446744073709551616",
        "99999999999999999999999", "1e309", "-1e309", "1e-400", "NaN", "nan", "Infinity", "-Infinity", "inf", "1.5", "0x10", "1e2", "",
    ];

    private static readonly string[] TextTokens =
    [
        ",", "\"", "'", "\n", "\r\n", "\r", "{", "}", "[", "]", ":", "(", ")", "null", "true", "\0", "\uFEFF", "é", "\\", "\\u0000", " ", "\t", ",,", "#",
    ];

    private static readonly ulong[] InterestingIntegers =
    [
        0, 1, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 1UL << 53, long.MaxValue, ulong.MaxValue, 100L * 1024 * 1024,
    ];

    /// <summary>The time budget per target.</summary>
    public static TimeSpan Budget =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("UNROLL_FUZZ_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 3);

    /// <summary>The most inputs per target.</summary>
    public static int MaxInputs =>
        int.TryParse(Environment.GetEnvironmentVariable("UNROLL_FUZZ_ITERATIONS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 100_000;

    /// <summary>The seed of the mutations (default 1).</summary>
    public static int Seed =>
        int.TryParse(Environment.GetEnvironmentVariable("UNROLL_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 1;

    /// <summary>
    /// Runs the seeds and then mutated inputs through the target until the budget is spent, on a
    /// separate thread so that a hang fails the test instead of stalling it.
    /// </summary>
    public static FuzzReport Run(FuzzTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        FuzzReport? report = null;
        Exception? crash = null;
        int current = 0;
        var thread = new Thread(() =>
        {
            try
            {
                report = RunOnThisThread(target, i => current = i);
            }
            catch (Exception e)
            {
                crash = e;
            }
        }, maxStackSize: 16 << 20);
        thread.Start();
        var budget = Budget * target.BudgetFactor;
        if (!thread.Join(budget + TimeSpan.FromSeconds(60)))
        {
            throw new TimeoutException($"fuzz {target.Name}: input {current} has not finished after {budget.TotalSeconds + 60} s (a hang); rerun with UNROLL_FUZZ_SEED={Seed} to reproduce");
        }

        if (crash is not null)
        {
            throw new InvalidOperationException($"fuzz {target.Name}: the harness failed: {crash}", crash);
        }

        return report!;
    }

    private static FuzzReport RunOnThisThread(FuzzTarget target, Action<int> progress)
    {
        var random = new Random(Seed);
        string directory = Path.Combine(Path.GetTempPath(), "unroll-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "input" + target.Extension);
        var failures = new List<string>();
        int accepted = 0, refused = 0, inputs = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            // The seeds must pass, or the campaign would only exercise the first error check.
            foreach (var seed in target.Seeds)
            {
                File.WriteAllBytes(path, seed);
                target.Read(path);
            }

            var budget = Budget * target.BudgetFactor;
            while (inputs < MaxInputs && (clock.Elapsed < budget || inputs < target.Seeds.Count))
            {
                progress(inputs);
                byte[] input = inputs < target.Seeds.Count ? target.Seeds[inputs] : Mutate(target, random);
                inputs++;
                File.WriteAllBytes(path, input);
                long before = GC.GetAllocatedBytesForCurrentThread();
                var started = clock.Elapsed;
                string? failure = null;
                try
                {
                    target.Read(path);
                    accepted++;
                }
                catch (UnrollException e) when (!string.IsNullOrWhiteSpace(e.Message))
                {
                    refused++;
                }
                catch (Exception e)
                {
                    failure = $"{e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";
                }

                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                var took = clock.Elapsed - started;
                if (failure is null && target.CheckAllocations && allocated > target.AllocationLimit(input.Length))
                {
                    failure = $"allocated {allocated} bytes for an input of {input.Length} bytes";
                }

                if (failure is null && took > target.SlowInput)
                {
                    failure = $"took {took.TotalSeconds:F1} s";
                }

                if (failure is not null)
                {
                    string saved = Path.Combine(Path.GetTempPath(), $"unroll-fuzz-{target.Name}-{Seed}-{inputs}{target.Extension}");
                    File.WriteAllBytes(saved, input);
                    failures.Add($"input {inputs} (saved as {saved}): {failure}");
                }
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }

        return new FuzzReport(target.Name, inputs, accepted, refused, clock.Elapsed, failures);
    }

    /// <summary>One to four stacked mutations of a seed, or (rarely) random bytes.</summary>
    public static byte[] Mutate(FuzzTarget target, Random random)
    {
        if (random.Next(64) == 0)
        {
            return RandomBytes(random, random.Next(0, 256));
        }

        byte[] data = target.Seeds[random.Next(target.Seeds.Count)];
        int rounds = 1 + random.Next(4);
        for (int round = 0; round < rounds; round++)
        {
            int kinds = 9 + (target.Text ? 3 : 0) + (target.Forgers.Count > 0 ? 3 : 0);
            int kind = random.Next(kinds);
            data = kind switch
            {
                0 => FlipBits(data, random),
                1 => SetByte(data, random),
                2 => data[..random.Next(data.Length + 1)],
                3 => [.. data, .. RandomBytes(random, 1 + random.Next(64))],
                4 => DeleteRange(data, random),
                5 => DuplicateRange(data, random),
                6 => Splice(data, target.Seeds[random.Next(target.Seeds.Count)], random),
                7 => WriteInteger(data, random),
                8 => FlipBits(data, random),
                9 => ReplaceNumber(data, random),
                10 => InsertToken(data, random),
                11 => SwapWords(data, random),
                _ => target.Forgers[random.Next(target.Forgers.Count)](data, random),
            };
        }

        return data;
    }

    /// <summary>One text mutation (a number replaced, a token inserted, a word moved), for forgers of embedded text.</summary>
    public static byte[] MutateText(byte[] data, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return random.Next(3) switch
        {
            0 => ReplaceNumber(data, random),
            1 => InsertToken(data, random),
            _ => SwapWords(data, random),
        };
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] FlipBits(byte[] data, Random random)
    {
        if (data.Length == 0)
        {
            return data;
        }

        var copy = (byte[])data.Clone();
        for (int i = 1 + random.Next(8); i > 0; i--)
        {
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        }

        return copy;
    }

    private static byte[] SetByte(byte[] data, Random random)
    {
        if (data.Length == 0)
        {
            return data;
        }

        var copy = (byte[])data.Clone();
        copy[random.Next(copy.Length)] = (byte)InterestingIntegers[random.Next(InterestingIntegers.Length)];
        return copy;
    }

    private static byte[] DeleteRange(byte[] data, Random random)
    {
        if (data.Length == 0)
        {
            return data;
        }

        int start = random.Next(data.Length);
        int length = 1 + random.Next(Math.Min(64, data.Length - start));
        return [.. data[..start], .. data[(start + length)..]];
    }

    private static byte[] DuplicateRange(byte[] data, Random random)
    {
        if (data.Length == 0)
        {
            return data;
        }

        int start = random.Next(data.Length);
        int length = 1 + random.Next(Math.Min(64, data.Length - start));
        int at = random.Next(data.Length + 1);
        return [.. data[..at], .. data.AsSpan(start, length), .. data[at..]];
    }

    private static byte[] Splice(byte[] data, byte[] other, Random random) =>
        [.. data[..random.Next(data.Length + 1)], .. other[random.Next(other.Length + 1)..]];

    /// <summary>A forged size or offset: a 2-, 4- or 8-byte little-endian integer written over the input.</summary>
    private static byte[] WriteInteger(byte[] data, Random random)
    {
        int width = random.Next(3) switch { 0 => 2, 1 => 4, _ => 8 };
        if (data.Length < width)
        {
            return data;
        }

        var copy = (byte[])data.Clone();
        ulong value = random.Next(4) == 0 ? (ulong)(data.Length + random.Next(-16, 17)) : InterestingIntegers[random.Next(InterestingIntegers.Length)];
        // Sizes sit at the start of binary headers more often than anywhere else.
        int at = random.Next(2) == 0 ? random.Next(Math.Min(16, data.Length - width + 1)) : random.Next(data.Length - width + 1);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        bytes[..width].CopyTo(copy.AsSpan(at));
        return copy;
    }

    /// <summary>Replaces a run of digits (with sign, point and exponent) by a huge, negative, NaN or empty number.</summary>
    private static byte[] ReplaceNumber(byte[] data, Random random)
    {
        var numbers = new List<(int Start, int End)>();
        for (int i = 0; i < data.Length; i++)
        {
            if (char.IsAsciiDigit((char)data[i]))
            {
                int start = i;
                while (i < data.Length && (char.IsAsciiDigit((char)data[i]) || data[i] is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'-' or (byte)'+'))
                {
                    i++;
                }

                numbers.Add((start > 0 && data[start - 1] == '-' ? start - 1 : start, i));
            }
        }

        if (numbers.Count == 0)
        {
            return data;
        }

        var (from, to) = numbers[random.Next(numbers.Count)];
        return [.. data[..from], .. Encoding.ASCII.GetBytes(NumberTokens[random.Next(NumberTokens.Length)]), .. data[to..]];
    }

    private static byte[] InsertToken(byte[] data, Random random)
    {
        int at = random.Next(data.Length + 1);
        return [.. data[..at], .. Encoding.UTF8.GetBytes(TextTokens[random.Next(TextTokens.Length)]), .. data[at..]];
    }

    /// <summary>Copies a word of the input over another: keys and names moved to the wrong place.</summary>
    private static byte[] SwapWords(byte[] data, Random random)
    {
        var words = new List<(int Start, int End)>();
        for (int i = 0; i < data.Length; i++)
        {
            if (char.IsAsciiLetter((char)data[i]))
            {
                int start = i;
                while (i < data.Length && (char.IsAsciiLetterOrDigit((char)data[i]) || data[i] is (byte)'_' or (byte)'.'))
                {
                    i++;
                }

                words.Add((start, i));
            }
        }

        if (words.Count < 2)
        {
            return data;
        }

        var (from, to) = words[random.Next(words.Count)];
        var (sourceStart, sourceEnd) = words[random.Next(words.Count)];
        return [.. data[..from], .. data[sourceStart..sourceEnd], .. data[to..]];
    }
}
