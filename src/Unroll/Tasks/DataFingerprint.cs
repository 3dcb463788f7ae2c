using System.Security.Cryptography;

namespace Unroll.Tasks;

/// <summary>
/// The SHA-256 of the files a run trained on, stored with the model (<see cref="MetadataKey"/>) so that a
/// resumed run refuses data that changed under it instead of continuing on something else.
/// </summary>
internal static class DataFingerprint
{
    /// <summary>The metadata key of the fingerprint.</summary>
    public const string MetadataKey = "unroll.data-sha256";

    /// <summary>The hexadecimal SHA-256 of the files' contents, in order.</summary>
    /// <exception cref="UnrollException">A file cannot be read.</exception>
    public static string Of(params string[] paths)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        foreach (string path in paths)
        {
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                int read;
                while ((read = stream.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UnrollException($"{path}: cannot be read ({e.Message}).", e);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Checks that the files still have the fingerprint a run recorded (nothing to check when it recorded none).</summary>
    /// <exception cref="UnrollException">A file is gone or the contents differ.</exception>
    public static void Check(string what, string? expected, params string[] paths)
    {
        if (expected is null)
        {
            return;
        }

        foreach (string path in paths)
        {
            if (!File.Exists(path))
            {
                throw new UnrollException($"{path}: the run's data file no longer exists; expected the file it started on.");
            }
        }

        if (Of(paths) != expected)
        {
            throw new UnrollException($"{what}: the data changed since the run started (its SHA-256 differs from the one recorded); a resumed run must read the same data. Start a new run, or use --init-from to continue from the weights.");
        }
    }
}
