using System.CommandLine;
using System.Globalization;
using Unroll.Diagnostics;
using Unroll.IO;
using Unroll.Plots;

namespace Unroll.Cli;

/// <summary>`unroll explain eigen`: the notes' arguments, demonstrated.</summary>
internal static class ExplainCommand
{
    private static readonly double[] Moduli = [0.9, 1.0, 1.1];

    public static Command Create(CliConsole console)
    {
        var size = Options.Make("--size", "Size n of the n x n matrices W", 8);
        var steps = Options.Make("--steps", "Steps t of h_t = W h_{t-1} to follow", 60);
        var seed = Options.Make("--seed", "Seeds the matrices' eigenvectors and h_0", 1);
        var output = Options.Make("--output", "Directory to write eigen.svg into (no plot when absent)", string.Empty);
        output.Aliases.Add("-o");
        var eigen = new Command("eigen", "||W^t h_0|| against t for largest |lambda| below, at and above 1, beside lambda_max^t alone")
        {
            size, steps, seed, output,
        };
        eigen.SetAction(parse =>
        {
            int n = parse.GetValue(size), t = parse.GetValue(steps);
            var series = Moduli.Select(m => EigenDemonstration.Run(m, n, t, parse.GetValue(seed))).ToList();
            var text = console.Output;
            text.WriteLine("h_t = W h_{t-1} = W^t h_0 = sum_i alpha_i lambda_i^t w_i: the largest |lambda| takes over.");
            text.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"W: {n} x {n}, symmetric, other eigenvalues in [0.3, 0.8] x |lambda_1|; ||h_0|| = 1. Columns: ||W^t h_0|| (ratio to |alpha_1| |lambda_1|^t)."));
            text.WriteLine($"{"t",6}" + string.Concat(Moduli.Select(m => string.Create(CultureInfo.InvariantCulture, $"{"|lambda_1| = " + m.ToString("0.0", CultureInfo.InvariantCulture),28}"))));
            int every = Math.Max(1, t / 10);
            for (int step = 0; step <= t; step += every)
            {
                text.WriteLine($"{step,6}" + string.Concat(series.Select(s => string.Create(CultureInfo.InvariantCulture,
                    $"{s.Norms[step],14:0.000E+00} ({s.Norms[step] / s.DominantTerm[step],9:F4})  "))));
            }

            text.WriteLine("Below 1 the state (and, by the same product of Jacobians, the gradient) vanishes; above 1 it explodes; at 1 it holds.");
            string directory = parse.GetValue(output)!;
            if (directory.Length > 0)
            {
                Directory.CreateDirectory(directory);
                var chart = new Chart { Title = "||W^t h0|| against t", XLabel = "t", YLabel = "norm", LogY = true };
                var axis = Enumerable.Range(0, t + 1).Select(i => (double)i).ToList();
                foreach (var s in series)
                {
                    string label = s.LargestModulus.ToString("0.0", CultureInfo.InvariantCulture);
                    chart.AddLine($"|lambda_1| = {label}", axis, s.Norms);
                    chart.AddLine($"|alpha_1| {label}^t", axis, s.DominantTerm, dashed: true);
                }

                string path = Path.Combine(directory, "eigen.svg");
                AtomicFile.WriteAllText(path, chart.ToSvg());
                text.WriteLine($"Wrote {path}");
            }

            return CliApp.Success;
        });
        return new Command("explain", "Demonstrations of the arguments behind vanishing and exploding gradients") { eigen };
    }
}
