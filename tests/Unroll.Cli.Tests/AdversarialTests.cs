using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Unroll.IO;
using Unroll.Tests.Fuzzing;
using Xunit.Abstractions;

namespace Unroll.Cli.Tests;

/// <summary>
/// Runs of every data source, written once for the campaigns below: a finished run (model, checkpoint and
/// the rest of its directory) and an unfinished one (its checkpoint alone) per source.
/// </summary>
public sealed class SourceRuns : IDisposable
{
    private readonly TempDirectory _temp = new();

    public SourceRuns()
    {
        Data = _temp.File("data");
        Directory.CreateDirectory(Data);
        PipelineTests.WriteData(Data);
        foreach (string source in PipelineTests.SourceNames)
        {
            string run = _temp.File(source);
            var (code, _, error) = CliRunner.Run([.. PipelineTests.Arguments(source, Data, 6), "-o", run, "--checkpoint-every", "3"]);
            if (code != 0)
            {
                throw new InvalidOperationException($"the {source} run failed: {error}");
            }

            Runs[source] = run;
        }
    }

    /// <summary>The data files the runs read.</summary>
    public string Data { get; }

    /// <summary>Each source's run directory.</summary>
    public Dictionary<string, string> Runs { get; } = new(StringComparer.Ordinal);

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// The adversarial campaign: the model file and checkpoint of every source with their metadata edited field
/// by field (each JSON value replaced by a wrong type, an extreme number, an empty value, or removed), and
/// every command run on them; every command on hostile paths. The contract for every run: exit 0, or exit 1
/// or 2 with one "error:" line and no stack trace; no unhandled exception; at most 1 GiB allocated and 30 s
/// taken; and a value of the wrong type in the model's config or its data description is refused, never
/// taken (exit 0 on such input is a failure). Seeded and time-bounded: UNROLL_FUZZ_SECONDS (default 3,
/// times 4 here) and UNROLL_FUZZ_SEED as the other campaigns.
/// </summary>
public sealed class AdversarialTests(SourceRuns runs, ITestOutputHelper log) : IClassFixture<SourceRuns>, IDisposable
{
    private const long AllocationLimit = 1L << 30;
    private static readonly TimeSpan SlowCommand = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private enum Corruption
    {
        // The value keeps its JSON type or is left out: the file may still describe a valid run.
        Plausible,

        // A value of another JSON type where the reader expects a number, string, array or object: never valid.
        WrongType,
    }

    [Fact]
    public void EveryCommandOnMetadataEditedFieldByField()
    {
        var random = new Random(Fuzzer.Seed);
        var budget = Fuzzer.Budget * 4;
        var cases = Cases().ToList();
        var clock = Stopwatch.StartNew();
        int runsCount = 0, refused = 0, accepted = 0;
        var failures = new List<string>();
        var tried = new HashSet<int>();
        while ((clock.Elapsed < budget || runsCount < 40) && tried.Count < cases.Count)
        {
            int index = random.Next(cases.Count);
            if (!tried.Add(index))
            {
                continue;
            }

            var (source, file, key, path, mutation, corruption) = cases[index];
            string directory = _temp.File($"case-{index}");
            Directory.CreateDirectory(directory);
            foreach (string name in Directory.GetFiles(runs.Runs[source]))
            {
                File.Copy(name, Path.Combine(directory, Path.GetFileName(name)));
            }

            string target = Path.Combine(directory, file);
            var stored = SafeTensors.Read(target);
            var metadata = stored.Metadata.ToDictionary(StringComparer.Ordinal);
            metadata[key] = Mutate(metadata[key], path, mutation);
            SafeTensors.Write(target, stored.Tensors, metadata);
            if (file == "checkpoint.safetensors")
            {
                File.Delete(Path.Combine(directory, "model.safetensors"));
            }

            foreach (var command in Commands(source, directory, file))
            {
                runsCount++;
                string what = $"{source} {file} {key}{path} = {mutation}: unroll {string.Join(' ', command)}";
                var (code, error, failure) = RunOne(command);
                if (failure is not null)
                {
                    failures.Add($"{what}: {failure}");
                }
                else if (code == 0)
                {
                    accepted++;
                    bool read = key is "unroll.config" || !command[0].StartsWith("report", StringComparison.Ordinal);
                    if (corruption == Corruption.WrongType && read && (key == "unroll.config" || key == TaskKey(source)))
                    {
                        failures.Add($"{what}: exit 0 on a value of the wrong type");
                    }
                }
                else
                {
                    refused++;
                }
            }
        }

        string summary = string.Create(CultureInfo.InvariantCulture,
            $"adversarial metadata: {tried.Count} of {cases.Count} edits, {runsCount} command runs ({accepted} exit 0, {refused} refused with one error line, {failures.Count} failures) in {clock.Elapsed.TotalSeconds:F1} s");
        log.WriteLine(summary);
        Assert.True(failures.Count == 0, $"{summary}\n{string.Join("\n", failures.Take(10))}");
    }

    [Fact]
    public void EveryCommandOnHostilePaths()
    {
        string model = Path.Combine(runs.Runs["oscillator"], "model.safetensors");
        File.WriteAllText(_temp.File("file"), "x");
        // A FIFO of the test's own stands for every special file an output might name: a real device such as
        // /dev/null is only ever read here, so a regression cannot replace it on the machine running the tests.
        string fifo = _temp.File("fifo");
        if (OperatingSystem.IsLinux())
        {
            using var mkfifo = Process.Start("mkfifo", [fifo]);
            mkfifo.WaitForExit();
        }

        string[] paths =
        [
            _temp.File("missing"), _temp.Path, Path.Combine(_temp.File("file"), "below-a-file"), string.Empty, " ", new string('a', 5000),
            _temp.File("line\nbreak"), fifo, "-",
        ];
        var failures = new List<string>();
        int count = 0;
        foreach (string path in paths)
        {
            string[][] commands =
            [
                ["eval", path], ["diagnose", path], ["predict", model, "--input", path], ["predict", path, "--input", path], ["report", path],
                ["sample", path], ["export", path, "--onnx", _temp.File("out.onnx")], ["export", model, "--onnx", path],
                ["train", "--resume", path], ["train", "text", path, "-o", _temp.File("t")], ["train", "csv", path, "--inputs", "a", "--targets", "b", "-o", _temp.File("c")],
                ["train", "fashion-mnist", "--data-dir", path, "-o", _temp.File("f")], ["train", "--init-from", path, "--steps", "1", "-o", _temp.File("i")],
                ["train", "-o", path, "--steps", "1", "--hidden", "2", "--train-count", "2", "--seq-length", "4"], ["import", path, "--from", "pytorch", "-o", _temp.File("m")],
            ];
            foreach (var command in commands)
            {
                count++;
                var (code, _, failure) = RunOne(command);
                if (failure is not null)
                {
                    failures.Add($"unroll {string.Join(' ', command)}: {failure}");
                }
                else if (code == 0 && command[0] is "eval" or "diagnose" or "sample" or "report" && path.Length > 0)
                {
                    failures.Add($"unroll {string.Join(' ', command)}: exit 0 on a path that is not a model or run");
                }
            }
        }

        if (OperatingSystem.IsLinux())
        {
            foreach (var command in new[]
            {
                new[] { "eval", "/dev/zero" }, ["predict", model, "--input", "/dev/zero"], ["train", "text", "/dev/zero", "-o", _temp.File("z")],
                ["train", "csv", "/dev/urandom", "--inputs", "a", "--targets", "b", "-o", _temp.File("u")], ["import", "/dev/zero", "--from", "keras", "-o", _temp.File("k")],
            })
            {
                count++;
                var (code, _, failure) = RunOne(command);
                if (failure is not null || code == 0)
                {
                    failures.Add($"unroll {string.Join(' ', command)}: {failure ?? "exit 0 reading a device"}");
                }
            }

            Assert.True(new FileInfo(fifo).Exists && InputFile.Kind(fifo) == "FIFO", "an output replaced the FIFO it was given");
        }

        log.WriteLine($"adversarial paths: {count} command runs, {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    // The checks of one command run; the failure, or null.
    private static (int Code, string Error, string? Failure) RunOne(string[] command)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        int code;
        string output, error;
        try
        {
            (code, output, error) = CliRunner.Run(command);
        }
        catch (Exception e)
        {
            return (-1, string.Empty, $"unhandled {e.GetType().Name}: {e.Message}");
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllocationLimit)
        {
            return (code, error, $"allocated {allocated >> 20} MiB");
        }

        if (clock.Elapsed > SlowCommand)
        {
            return (code, error, $"took {clock.Elapsed.TotalSeconds:F0} s");
        }

        if (code is not (0 or 1 or 2 or 130))
        {
            return (code, error, $"exit {code}");
        }

        if (code != 0)
        {
            var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length == 0 || !lines[0].StartsWith("error: ", StringComparison.Ordinal) || lines.Count(l => l.StartsWith("error:", StringComparison.Ordinal)) != 1
                || error.Contains("   at ", StringComparison.Ordinal))
            {
                return (code, error, $"exit {code} without one clean error line: {error}{output}");
            }
        }

        return (code, error, null);
    }

    private static string TaskKey(string source) => source switch
    {
        "oscillator" => "unroll.data",
        "adding" or "copy" or "temporal-order" => "unroll.task",
        "text-char" or "text-word" => "unroll.corpus",
        "fashion-mnist" => "unroll.images",
        "forecast" => "unroll.forecast",
        _ => "unroll.csv",
    };

    private IEnumerable<string[]> Commands(string source, string directory, string file)
    {
        string model = Path.Combine(directory, file);
        yield return ["eval", model];
        yield return ["diagnose", model, "-o", Path.Combine(directory, "plots")];
        yield return ["report", directory];
        string input = source switch
        {
            "text-char" or "text-word" => Path.Combine(runs.Data, "corpus.txt"),
            "fashion-mnist" => Path.Combine(runs.Data, "t10k-images-idx3-ubyte.gz"),
            "csv" => Path.Combine(runs.Data, "series.csv"),
            "forecast" => Path.Combine(runs.Data, "panel.csv"),
            _ => WriteLongFormat(directory, source),
        };
        yield return ["predict", model, "--input", input, "--output", Path.Combine(directory, "out.csv")];
        if (file == "checkpoint.safetensors")
        {
            // An edited step count can make a valid run of billions of steps: the campaign gives it ten seconds, and
            // checkpoints far apart (each holds every step's metrics).
            yield return ["train", "--resume", directory, "--time-limit", "10s", "--checkpoint-every", "100000"];
        }
    }

    private static string WriteLongFormat(string directory, string source)
    {
        string path = Path.Combine(directory, "in.csv");
        File.WriteAllText(path, source switch
        {
            "oscillator" => "seq,t,x,force\na,0,0.1,0\na,1,0.2,0\n",
            "adding" => "seq,t,value,marker\na,0,0.5,1\na,1,0.2,1\n",
            _ => "seq,t,token\na,0,1\na,1,2\n",
        });
        return path;
    }

    // Every (run, file, JSON metadata key, field path, mutation) of every source.
    private IEnumerable<(string Source, string File, string Key, string Path, string Mutation, Corruption Corruption)> Cases()
    {
        string[] files = ["model.safetensors", "checkpoint.safetensors"];
        foreach (var (source, run) in runs.Runs)
        {
            foreach (string file in files)
            {
                foreach (var (key, value) in SafeTensors.Read(Path.Combine(run, file)).Metadata)
                {
                    JsonNode? root;
                    try
                    {
                        root = JsonNode.Parse(value);
                    }
                    catch (System.Text.Json.JsonException)
                    {
                        continue; // not JSON (a fingerprint): the generic fuzzing covers text
                    }

                    yield return (source, file, key, string.Empty, "not json", Corruption.WrongType);
                    foreach (var (path, node) in Fields(root, string.Empty))
                    {
                        foreach (var (mutation, corruption) in Mutations(node))
                        {
                            yield return (source, file, key, path, mutation, corruption);
                        }
                    }
                }
            }
        }
    }

    private static IEnumerable<(string Path, JsonNode? Node)> Fields(JsonNode? node, string path)
    {
        if (node is JsonObject obj)
        {
            foreach (var (name, child) in obj.ToList())
            {
                yield return ($"{path}.{name}", child);
                foreach (var nested in Fields(child, $"{path}.{name}"))
                {
                    yield return nested;
                }
            }
        }
        else if (node is JsonArray array && array.Count > 0)
        {
            yield return ($"{path}[0]", array[0]);
        }
    }

    private static IEnumerable<(string Mutation, Corruption Corruption)> Mutations(JsonNode? node)
    {
        var kind = node?.GetValueKind();
        yield return ("remove", Corruption.Plausible);
        yield return ("null", Corruption.Plausible);
        if (kind == System.Text.Json.JsonValueKind.Number)
        {
            foreach (string number in new[] { "0", "-1", "2147483647", "-2147483648", "1e300", "0.5" })
            {
                yield return (number, Corruption.Plausible);
            }

            yield return ("\"x\"", Corruption.WrongType);
            yield return ("{}", Corruption.WrongType);
        }
        else if (kind == System.Text.Json.JsonValueKind.String)
        {
            yield return ("\"\"", Corruption.Plausible);
            yield return ("\"zz\"", Corruption.Plausible);
            yield return ("[]", Corruption.WrongType);
        }
        else if (kind == System.Text.Json.JsonValueKind.Array)
        {
            yield return ("[]", Corruption.Plausible);
            yield return ("7", Corruption.WrongType);
        }
        else if (kind is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False)
        {
            yield return ("\"yes\"", Corruption.WrongType);
        }
        else if (kind == System.Text.Json.JsonValueKind.Object)
        {
            yield return ("[]", Corruption.WrongType);
        }
    }

    private static string Mutate(string json, string path, string mutation)
    {
        if (mutation == "not json")
        {
            return "{not json";
        }

        var root = JsonNode.Parse(json)!;
        JsonNode? value = mutation is "remove" or "null" ? null : JsonNode.Parse(mutation);
        if (path.EndsWith("[0]", StringComparison.Ordinal))
        {
            var array = Navigate(root, path[..^3])!.AsArray();
            if (mutation == "remove")
            {
                array.RemoveAt(0);
            }
            else
            {
                array[0] = value;
            }

            return root.ToJsonString();
        }

        int dot = path.LastIndexOf('.');
        var parent = Navigate(root, path[..dot])!.AsObject();
        string name = path[(dot + 1)..];
        if (mutation == "remove")
        {
            parent.Remove(name);
        }
        else
        {
            parent[name] = value;
        }

        return root.ToJsonString();
    }

    // ".a.b[0].c" from the root.
    private static JsonNode? Navigate(JsonNode root, string path)
    {
        JsonNode? node = root;
        foreach (string part in path.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            node = part.EndsWith("[0]", StringComparison.Ordinal) ? node![part[..^3]]![0] : node![part];
        }

        return node;
    }
}
