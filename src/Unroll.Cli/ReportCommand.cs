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
            string path = RunReport.Write(parse.GetValue(directory)!, parse.GetValue(output));
            console.Output.WriteLine($"Wrote {path}");
            return CliApp.Success;
        });
        return command;
    }
}
