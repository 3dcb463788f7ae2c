using System.CommandLine;
using Unroll.Cli.Reports;

namespace Unroll.Cli;

/// <summary>`unroll report RUN_DIR`: (re)builds the self-contained HTML report of a run directory.</summary>
internal static class ReportCommand
{
    public static Command Create(CliConsole console)
    {
        var directory = new Argument<string>("run-dir") { Description = "A run directory written by unroll train" };
        var output = Options.Make("--output", $"Where to write the report (default RUN_DIR/{RunReport.FileName})", string.Empty);
        output.Aliases.Add("-o");
        var command = new Command("report", "Write the run's self-contained HTML report: summary, evaluation, every plot, diagnostics, configuration")
        {
            directory, output,
        };
        command.SetAction(parse =>
        {
            string run = parse.GetValue(directory)!, target = parse.GetValue(output)!;
            if (target.Length > 0 && Directory.Exists(run))
            {
                // The report is built from the run's files: writing it over one of them would destroy it.
                OutputPaths.RefuseOverwritingInputs(target, "--output", [.. Directory.GetFiles(run).Where(f => Path.GetFileName(f) != RunReport.FileName)]);
            }

            string path = RunReport.Write(run, target);
            console.Output.WriteLine($"Wrote {path}");
            return CliApp.Success;
        });
        return command;
    }
}
