using System.Text.Json.Serialization;

namespace Unroll.Cli;

/// <summary>
/// The JSON the command writes and reads itself (diagnose --json, the run settings, the best model's step, an import's
/// origin), through metadata generated at build time, so that `unroll` compiles ahead of time without warnings.
/// </summary>
[JsonSerializable(typeof(DiagnoseCommand.Diagnosis))]
[JsonSerializable(typeof(Training.RunSettings))]
[JsonSerializable(typeof(Training.BestStep))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
