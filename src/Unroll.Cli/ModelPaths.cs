using System.Globalization;
using System.Text.Json;
using Unroll.Cli.Training;
using Unroll.IO;

namespace Unroll.Cli;

/// <summary>
/// The model a command reads: a model file, or a run directory, whose best model (best.safetensors: the lowest
/// validation loss) is used when it has one, else its last (model.safetensors). The command says which on
/// standard error, so that standard output stays what it prints.
/// </summary>
internal static class ModelPaths
{
    /// <summary>The model file <paramref name="path"/> names, saying which when it is a run directory or a best model.</summary>
    /// <exception cref="UnrollException">A directory holds no model.</exception>
    public static string Resolve(string path, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        if (!Directory.Exists(path))
        {
            if (File.Exists(path) && Best(path) is { } note)
            {
                console.Error.WriteLine($"{path}: the best model of its run ({note}).");
            }

            return path;
        }

        string best = Path.Combine(path, RunDirectory.BestModelFileName), last = Path.Combine(path, RunDirectory.ModelFileName);
        if (File.Exists(best))
        {
            console.Error.WriteLine($"Using {best}, the best model of the run ({Best(best) ?? "lowest validation loss"}; the last is {RunDirectory.ModelFileName}).");
            return best;
        }

        if (File.Exists(last))
        {
            console.Error.WriteLine($"Using {last}, the run's last model (it has no {RunDirectory.BestModelFileName}).");
            return last;
        }

        throw new UnrollException($"{path}: a directory without {RunDirectory.ModelFileName} or {RunDirectory.BestModelFileName}; expected a model file or a run directory written by unroll train.");
    }

    // "step N, validation loss X" from a best model's metadata, or null for another file.
    private static string? Best(string path)
    {
        try
        {
            if (!SafeTensors.Read(path).Metadata.TryGetValue(BestModelObserver.BestKey, out var json))
            {
                return null;
            }

            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            return root.TryGetProperty("step", out var step) && step.TryGetInt32(out int s) && root.TryGetProperty("validationLoss", out var loss) && loss.TryGetDouble(out double l)
                ? string.Create(CultureInfo.InvariantCulture, $"step {s}, validation loss {Tasks.Evaluation.Format(l)}")
                : null;
        }
        catch (Exception e) when (e is UnrollException or JsonException)
        {
            return null; // the command that reads the file reports what is wrong with it
        }
    }
}
