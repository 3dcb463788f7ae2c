using System.CommandLine;
using System.Globalization;
using Unroll.Cells;
using Unroll.IO;
using Unroll.Models;
using Unroll.Onnx;

namespace Unroll.Cli;

/// <summary>
/// `unroll export MODEL --onnx out.onnx`: writes a trained model in another framework's format.
/// Each format is one entry of <see cref="Formats"/> (its option, its own switches and its writer),
/// so a new format is one more entry; several formats can be written in one call.
/// </summary>
internal static class ExportCommand
{
    /// <summary>
    /// A format `unroll export` writes: the option that names the output file, its help text, the
    /// format's own on/off switches (named after it, e.g. --onnx-lengths), and the writer, which
    /// converts the model (refusing with an <see cref="UnrollException"/> that names the model file
    /// what the format cannot express) and writes it atomically, returning one line that says what
    /// was written.
    /// </summary>
    private sealed record ExportFormat(string OptionName, string Description, IReadOnlyList<ExportSwitch> Switches, Func<ExportRequest, string> Write);

    /// <summary>An on/off choice of one format.</summary>
    private sealed record ExportSwitch(string Name, string Description);

    /// <summary>What a writer is given: the model, the file it came from, the path to write, and the names of its switches that are on.</summary>
    private sealed record ExportRequest(LoadedModel<float> Loaded, string ModelPath, string OutputPath, IReadOnlySet<string> Switches)
    {
        public IRecurrentModel<float> Model => Loaded.Model;
    }

    private const string OnnxLengths = "--onnx-lengths";
    private const string OnnxRequiredState = "--onnx-required-state";
    private const string Verify = "--verify";

    private static readonly ExportFormat[] Formats =
    [
        new(
            "--onnx",
            $"Write an ONNX model (opset {OnnxExporter.OpsetVersion}) to this path",
            [
                new(OnnxLengths, $"Give the ONNX model a second input '{OnnxExporter.LengthsInputName}' (int32 [batch]): each sequence's length, so one batch can hold sequences of different lengths"),
                new(OnnxRequiredState, $"Make the state inputs '{OnnxExporter.InitialStateName}' (and '{OnnxExporter.InitialCellName}') required, without the default of zeros: no ONNX Runtime warning on load, and runtimes that feed only required inputs (onnxruntime-node) can set them"),
                new(Verify, $"Run the exported model in ONNX Runtime on the model's own validation data (a seeded random input for a model without a task) and fail unless every output is within {OnnxVerification.Tolerance:G} x (1 + |value|) of Unroll's"),
            ],
            WriteOnnx),
    ];

    public static Command Create(CliConsole console)
    {
        var modelPath = new Argument<string>("model") { Description = "A model file, or a run directory (its best.safetensors, else its model.safetensors)" };
        var command = new Command("export", "Write a trained model in another format (ONNX), to run it without Unroll") { modelPath };
        var options = Formats.Select(format => (Format: format, Option: new Option<string>(format.OptionName) { Description = format.Description, HelpName = "path" })).ToList();
        var switches = Formats.SelectMany(format => format.Switches.Select(entry => (Format: format, Switch: new Option<bool>(entry.Name) { Description = entry.Description }))).ToList();
        foreach (var (_, option) in options)
        {
            command.Options.Add(option);
        }

        foreach (var (_, option) in switches)
        {
            command.Options.Add(option);
        }

        command.Validators.Add(result =>
        {
            // A format's switch without the format names the fix more precisely than "no format", so it comes first.
            foreach (var (format, option) in switches)
            {
                if (result.GetResult(option) is not null && result.GetResult(options.Single(entry => entry.Format == format).Option) is null)
                {
                    result.AddError($"{option.Name} applies to {format.OptionName}; expected {format.OptionName} PATH as well.");
                }
            }

            if (options.All(entry => result.GetResult(entry.Option) is null))
            {
                result.AddError($"export: expected an output format: {string.Join(" or ", Formats.Select(f => f.OptionName + " PATH"))}.");
            }
        });
        command.SetAction(parse =>
        {
            string path = ModelPaths.Resolve(parse.GetValue(modelPath)!, console);
            var loaded = ModelFile.Load(path);
            foreach (var (format, option) in options)
            {
                string? output = parse.GetValue(option);
                if (output is null)
                {
                    continue;
                }

                if (string.IsNullOrWhiteSpace(output))
                {
                    throw new UnrollException($"{format.OptionName}: expected the path of the file to write, got an empty value.");
                }

                OutputPaths.RefuseOverwritingInputs(output, format.OptionName, path);
                var on = switches.Where(entry => entry.Format == format && parse.GetValue(entry.Switch)).Select(entry => entry.Switch.Name).ToHashSet(StringComparer.Ordinal);
                console.Output.WriteLine(format.Write(new ExportRequest(loaded, path, output, on)));
            }

            return CliApp.Success;
        });
        return command;
    }

    private static string WriteOnnx(ExportRequest request)
    {
        byte[] bytes;
        var options = new OnnxExportOptions
        {
            SequenceLengths = request.Switches.Contains(OnnxLengths),
            RequiredInitialStates = request.Switches.Contains(OnnxRequiredState),
        };
        try
        {
            bytes = OnnxExporter.ToBytes(request.Model, options);
        }
        catch (UnrollException e)
        {
            throw new UnrollException($"{request.ModelPath}: {e.Message}", e);
        }

        string output = request.OutputPath;
        AtomicFile.WriteAllBytes(output, bytes);
        var config = request.Model.Config;
        string input = config.VocabularySize > 0
            ? $"'{OnnxExporter.TokenInputName}' int64 [time, batch]"
            : $"'{OnnxExporter.DenseInputName}' float [time, batch, {config.InputSize}]";
        if (request.Switches.Contains(OnnxLengths))
        {
            input = $"inputs {input} and '{OnnxExporter.LengthsInputName}' int32 [batch]";
        }
        else
        {
            input = $"input {input}";
        }

        string result = config.Pooling == Pooling.LastStep ? $"[batch, {config.OutputSize}]" : $"[time, batch, {config.OutputSize}]";
        bool lstm = CellKinds.HasCellState(config.Cell);
        string initial = lstm ? $"'{OnnxExporter.InitialStateName}' and '{OnnxExporter.InitialCellName}'" : $"'{OnnxExporter.InitialStateName}'";
        string final = lstm ? $"'{OnnxExporter.FinalStateName}' and '{OnnxExporter.FinalCellName}'" : $"'{OnnxExporter.FinalStateName}'";
        string state = $"float [{config.Layers * config.Directions}, batch, {config.HiddenSize}]";
        string written = $"Wrote {output} (ONNX opset {OnnxExporter.OpsetVersion}): {input}, output '{OnnxExporter.OutputName(config)}' float {result}; "
            + $"state inputs {initial} {state} ({(request.Switches.Contains(OnnxRequiredState) ? "required" : "zeros when left out")}), state outputs {final}.";
        return request.Switches.Contains(Verify) ? written + Environment.NewLine + VerifyOnnx(request, bytes, options) : written;
    }

    // The written file run in ONNX Runtime beside Unroll's forward pass; above the tolerance the command fails (the file stays, to inspect).
    private static string VerifyOnnx(ExportRequest request, byte[] onnx, OnnxExportOptions options)
    {
        var input = OnnxVerification.Data(request.Loaded, request.ModelPath);
        var comparison = OnnxVerification.Verify(request.Model, onnx, options, input);
        string figures = string.Create(CultureInfo.InvariantCulture,
            $"largest |ONNX Runtime - Unroll| {comparison.MaxAbsolute:G3}, largest relative difference {comparison.MaxRelative:G3} over {comparison.Values} values of {input.Description}");
        return comparison.Failure is null
            ? string.Create(CultureInfo.InvariantCulture, $"Verified in ONNX Runtime: {figures}; within the tolerance {OnnxVerification.Tolerance:G} x (1 + |value|).")
            : throw new UnrollException(string.Create(CultureInfo.InvariantCulture,
                $"--verify: {request.OutputPath} does not compute what {request.ModelPath} computes: {comparison.Failure}, beyond the tolerance {OnnxVerification.Tolerance:G} x (1 + |value|) ({figures}). The file was written; please report this with the model."));
    }
}
