using System.Globalization;
using System.Text.Json;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>
/// How a run writes its directory, kept in its checkpoints so that <c>--resume</c> runs it the same way:
/// the checkpoint interval, the time budget and the training time spent so far.
/// </summary>
internal sealed record RunSettings
{
    /// <summary>The metadata key in checkpoints.</summary>
    public const string MetadataKey = "unroll.run";

    /// <summary>The default checkpoint interval.</summary>
    public const int DefaultCheckpointEvery = 500;

    /// <summary>Write checkpoint.safetensors every this many steps (and at the end).</summary>
    public int CheckpointEvery { get; init; } = DefaultCheckpointEvery;

    /// <summary>The run's time budget in seconds of training, or null for none.</summary>
    public double? TimeLimitSeconds { get; init; }

    /// <summary>Training time spent before the last checkpoint, in seconds.</summary>
    public double TrainingSeconds { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }, IO.EnumNames.Numbers, CliJsonContext.Default, Tasks.TaskJson.Enums);

    /// <summary>Checks the values.</summary>
    /// <exception cref="UnrollException">A value is out of range.</exception>
    public void Validate()
    {
        if (CheckpointEvery < 1)
        {
            throw new UnrollException($"--checkpoint-every: expected at least 1, got {CheckpointEvery}.");
        }

        if (TimeLimitSeconds is { } limit && !(limit > 0 && limit <= 1000 * 86400.0))
        {
            throw new UnrollException($"--time-limit: expected a duration above zero and at most 1000 days, got {limit} s.");
        }

        if (!(TrainingSeconds >= 0) || double.IsInfinity(TrainingSeconds))
        {
            throw new UnrollException($"training time: expected a finite number of seconds >= 0, got {TrainingSeconds}.");
        }
    }

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<RunSettings>(JsonOptions));

    /// <summary>Reads settings written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or a value is out of range.</exception>
    public static RunSettings FromJson(string json, string path)
    {
        try
        {
            var settings = IO.Json.Deserialize(json, JsonOptions, new RunSettings())
                ?? throw new UnrollException($"{path}: '{MetadataKey}' is null; expected the run's settings.");
            settings.Validate();
            return settings;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"{path}: '{MetadataKey}' is not the JSON of run settings ({e.Message}).", e);
        }
        catch (UnrollException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }
    }
}

/// <summary>
/// The run directory of one training run, held under an exclusive lock for as long as the run lasts: a
/// second run into the same directory fails at once, default names never collide, an unfinished run is
/// never replaced without --overwrite, and leftovers of a killed write are removed.
/// </summary>
internal sealed class RunDirectory : IDisposable
{
    /// <summary>The model file's name.</summary>
    public const string ModelFileName = "model.safetensors";

    /// <summary>The metrics file's name.</summary>
    public const string MetricsFileName = "metrics.csv";

    /// <summary>The evaluation's file name.</summary>
    public const string EvaluationFileName = "evaluation.json";

    /// <summary>The best model's file name: the weights of the step with the lowest validation loss.</summary>
    public const string BestModelFileName = "best.safetensors";

    /// <summary>The best model's evaluation's file name.</summary>
    public const string BestEvaluationFileName = "best-evaluation.json";

    /// <summary>The lock file's name (kept: removing a locked file would let a later run lock a new one beside it).</summary>
    public const string LockFileName = ".lock";

    /// <summary>Every file a run writes, removed by --overwrite (nothing else in the directory is touched).</summary>
    private static readonly string[] RunFiles =
    [
        ModelFileName, Checkpoint.FileName, MetricsFileName, EvaluationFileName, BestModelFileName, BestEvaluationFileName, "loss.svg", "forecast.svg", "eigenvalues.svg",
        "gradient-flow.svg", "jacobian.svg", "spectra-over-training.svg", Reports.RunReport.FileName,
    ];

    private readonly FileStream _lock;

    private RunDirectory(string path, FileStream lockStream)
    {
        Path = path;
        _lock = lockStream;
    }

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>model.safetensors in it.</summary>
    public string ModelPath => File(ModelFileName);

    /// <summary>checkpoint.safetensors in it.</summary>
    public string CheckpointPath => File(Checkpoint.FileName);

    /// <summary>metrics.csv in it.</summary>
    public string MetricsPath => File(MetricsFileName);

    /// <summary>A file in the directory.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>
    /// The directory of a new run: <paramref name="requested"/>, or runs/&lt;source&gt;-&lt;time&gt; (with -2, -3, ...
    /// when taken). A directory holding a run (finished or not) is refused unless <paramref name="overwrite"/>,
    /// which removes that run's files and nothing else.
    /// </summary>
    /// <exception cref="UnrollException">The directory is a file, cannot be written, is locked by another run, or holds a run.</exception>
    public static RunDirectory CreateNew(string requested, string source, bool overwrite, string root = "runs")
    {
        if (string.IsNullOrWhiteSpace(requested))
        {
            string stem = System.IO.Path.Combine(root, source + "-" + DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            for (int n = 1; n < 1000; n++)
            {
                string candidate = n == 1 ? stem : $"{stem}-{n}";
                if (Directory.Exists(candidate) || System.IO.File.Exists(candidate))
                {
                    continue;
                }

                Create(candidate, "--output");
                if (TryLock(candidate) is { } stream)
                {
                    return new RunDirectory(candidate, stream);
                }
            }

            throw new UnrollException($"--output: every default name {stem}[-2..999] is taken; pass --output DIR.");
        }

        Create(requested, "--output");
        var directory = new RunDirectory(requested, TryLock(requested) ?? throw InUse(requested, "--output"));
        try
        {
            directory.RemoveStaleTemporaryFiles();
            bool finished = System.IO.File.Exists(directory.ModelPath), started = System.IO.File.Exists(directory.CheckpointPath);
            // A run stopped (killed) before its first checkpoint leaves only what it writes at a validation: its best model.
            bool best = System.IO.File.Exists(directory.File(BestModelFileName)), begun = best || System.IO.File.Exists(directory.MetricsPath);
            if ((finished || started || begun) && !overwrite)
            {
                throw new UnrollException(finished
                    ? $"--output: '{requested}' already holds a finished run ({ModelFileName}); choose another directory or pass --overwrite to replace it."
                    : started
                        ? $"--output: '{requested}' holds an unfinished run ({Checkpoint.FileName}); continue it with --resume {requested}, or pass --overwrite to replace it."
                        : $"--output: '{requested}' holds a run that stopped before its first checkpoint (its {(best ? BestModelFileName : MetricsFileName)}, no {Checkpoint.FileName}); choose another directory or pass --overwrite to replace it.");
            }

            if (overwrite)
            {
                foreach (string name in RunFiles)
                {
                    System.IO.File.Delete(directory.File(name));
                }
            }

            return directory;
        }
        catch (Exception e)
        {
            directory.Dispose();
            if (e is IOException or UnauthorizedAccessException)
            {
                throw new UnrollException($"--output: cannot prepare '{requested}' ({e.Message}).", e);
            }

            throw;
        }
    }

    /// <summary>The directory of a run to continue, locked.</summary>
    /// <exception cref="UnrollException">There is no such directory, or another run holds it.</exception>
    public static RunDirectory OpenForResume(string path)
    {
        if (!Directory.Exists(path))
        {
            throw new UnrollException(System.IO.File.Exists(path)
                ? $"--resume: expected a run directory, got the file '{path}'."
                : $"--resume: no such run directory '{path}'.");
        }

        var directory = new RunDirectory(path, TryLock(path) ?? throw InUse(path, "--resume"));
        directory.RemoveStaleTemporaryFiles();
        return directory;
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _lock.Dispose();

    private static void Create(string path, string option)
    {
        if (System.IO.File.Exists(path))
        {
            throw new UnrollException($"{option}: expected a directory, got the file '{path}'.");
        }

        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UnrollException($"{option}: cannot create the run directory '{path}' ({e.Message}).", e);
        }
    }

    // An exclusive lock held through the open file (flock on Linux): released by the kernel when the
    // process ends, however it ends, so a killed run never leaves a directory locked.
    private static FileStream? TryLock(string directory)
    {
        string path = System.IO.Path.Combine(directory, LockFileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException) when (System.IO.File.Exists(path))
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UnrollException($"cannot write in the run directory '{directory}' ({e.Message}); expected a directory this user can write.", e);
        }
    }

    private static UnrollException InUse(string path, string option) =>
        new($"{option}: '{path}' is in use by another training run (it holds {System.IO.Path.Combine(path, LockFileName)}); wait for it to finish or choose another directory.");

    // Hidden temporary files of writes a kill interrupted (AtomicFile's .NAME.tmp-XXXX): under the lock no
    // write of this run is in flight, so they are leftovers.
    private void RemoveStaleTemporaryFiles()
    {
        foreach (string stale in Directory.EnumerateFiles(Path, ".*.tmp-*"))
        {
            System.IO.File.Delete(stale);
        }
    }
}
